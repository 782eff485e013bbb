//! The host step on `flex` (`fadam_core::step` on the tensors' data): it
//! never writes through a buffer that another tensor shares, refuses a
//! state whose counts or length are wrong without a panic, and keeps the
//! state the tensor-operation step keeps, so the two can take turns.
//! (`conformance.rs` checks its bits against fadam-core.)

mod common;

use burn::optim::Optimizer;
use burn::tensor::{Device, Tensor};
use common::{tensor, values};
use fadam_burn::{FAdamConfig, FAdamState};
use fadam_core::State;
use fadam_testkit::close::{COMPOSED_F32_TOLERANCE, Floor, max_error};
use fadam_testkit::rng::{Draw, seeded};

fn bits<const D: usize>(t: &Tensor<D>) -> Vec<u32> {
    values(t).iter().map(|x| x.to_bits()).collect()
}

/// One host step taken on `[3]` tensors, its result and state.
fn stepped() -> (Tensor<1>, FAdamState<1>) {
    let device = Device::flex();
    let (theta, state) = FAdamConfig::new().build().step(
        1e-2,
        tensor(vec![1.0, -2.0, 3.0], [3], &device),
        tensor(vec![0.5, -0.5, 0.25], [3], &device),
        None,
    );
    (theta, state.unwrap())
}

/// Tensors that share their buffers with clones the caller keeps (as a
/// caller that holds a copy of its model does) are copied, not written.
#[test]
fn shared_buffers_are_not_written() {
    let device = Device::flex();
    let optim = FAdamConfig::new().build();
    let (theta, state) = stepped();
    let grad = tensor(vec![0.25, 0.5, -1.0], [3], &device);
    let kept = (theta.clone(), grad.clone(), state.clone());
    let before = (bits(&theta), bits(&grad), bits(&state.momentum));
    let fisher = bits(&state.fisher);
    let (after, after_state) = optim.step(1e-2, theta, grad, Some(state));
    let after_state = after_state.unwrap();
    assert_eq!((bits(&kept.0), bits(&kept.1)), (before.0.clone(), before.1));
    assert_eq!(bits(&kept.2.momentum), before.2);
    assert_eq!(bits(&kept.2.fisher), fisher);
    // And the step did move them.
    assert_ne!(bits(&after), before.0);
    assert_ne!(bits(&after_state.momentum), before.2);
    assert_ne!(bits(&after_state.fisher), fisher);
}

/// A state whose counts are not a whole number of refused steps in
/// `[0, calls]`, or whose momentum or Fisher diagonal has the wrong
/// length, refuses the step (counted, nothing written) instead of
/// panicking.
#[test]
fn an_inconsistent_state_refuses_the_step() {
    let device = Device::flex();
    let optim = FAdamConfig::new().build();
    let grad = || tensor(vec![0.5, -0.5, 0.25], [3], &device);
    let one = |v: f32| tensor(vec![v], [1], &device);
    type Edit = fn(&mut FAdamState<1>, &dyn Fn(f32) -> Tensor<1>, &Device);
    let cases: [(&str, Edit); 6] = [
        ("refused > calls", |s, one, _| s.refused = one(2.0)),
        ("fractional refused", |s, one, _| s.refused = one(0.5)),
        ("negative refused", |s, one, _| s.refused = one(-1.0)),
        ("NaN refused", |s, one, _| s.refused = one(f32::NAN)),
        ("short momentum", |s, _, d| {
            s.momentum = tensor(vec![0.0; 2], [2], d)
        }),
        ("long fisher", |s, _, d| {
            s.fisher = tensor(vec![0.0; 4], [4], d)
        }),
    ];
    for (name, edit) in cases {
        let (theta, mut state) = stepped();
        edit(&mut state, &one, &device);
        let refused = values(&state.refused)[0];
        let (after, after_state) = optim.step(1e-2, theta.clone(), grad(), Some(state.clone()));
        let after_state = after_state.unwrap();
        assert_eq!(bits(&after), bits(&theta), "{name}: parameters written");
        assert_eq!(bits(&after_state.momentum), bits(&state.momentum), "{name}");
        assert_eq!(bits(&after_state.fisher), bits(&state.fisher), "{name}");
        assert_eq!(bits(&after_state.bias_1), bits(&state.bias_1), "{name}");
        assert_eq!(bits(&after_state.bias_2), bits(&state.bias_2), "{name}");
        let counted = values(&after_state.refused)[0];
        assert!(counted.is_nan() || counted == refused + 1.0, "{name}");
        assert_eq!(after_state.calls, 2, "{name}");
    }
}

/// Steps alternate between the host and the tensor-operation step on the
/// same state, refused steps included: the counts and bias terms match
/// the tensor-operation step's own, and the values stay within its
/// tolerance of fadam-core's.
#[test]
fn the_two_steps_take_turns() {
    let device = Device::flex();
    let core = fadam_core::FAdamConfig::adam().with_lr(1e-2);
    let host = FAdamConfig::from_core(&core).build();
    let composed = host.clone().with_host_step(false);
    let mut rng = seeded(11);
    let mut theta = rng.vec_f32(24, 1.0);
    let mut state = State::<f32>::new(24);
    let mut burn_theta: Tensor<2> = tensor(theta.clone(), [4, 6], &device);
    let mut burn_state: Option<FAdamState<2>> = None;
    for step in 1..=12 {
        let mut grad = rng.vec_f32(24, 0.5);
        if step % 5 == 0 {
            grad[3] = f32::NAN;
        }
        let _ = fadam_core::step(&core, &mut theta, &grad, state.as_mut());
        let grad = tensor(grad, [4, 6], &device);
        // The composed step's counts from the same state, to compare.
        let (_, twin) = composed.step(
            core.lr,
            burn_theta.clone(),
            grad.clone(),
            burn_state.clone(),
        );
        let optim = if step % 2 == 0 { &host } else { &composed };
        let (t, s) = optim.step(core.lr, burn_theta, grad, burn_state);
        let (s, twin) = (s.unwrap(), twin.unwrap());
        assert_eq!(s.calls, twin.calls);
        assert_eq!(bits(&s.refused), bits(&twin.refused), "step {step}");
        assert_eq!(bits(&s.bias_1), bits(&twin.bias_1), "step {step}");
        assert_eq!(bits(&s.bias_2), bits(&twin.bias_2), "step {step}");
        assert_eq!(s.calls - values(&s.refused)[0] as u64, state.step());
        let error = max_error(&values(&t), &theta, Floor::Rms).0;
        assert!(error <= COMPOSED_F32_TOLERANCE, "step {step}: {error:e}");
        burn_theta = t;
        burn_state = Some(s);
    }
}
