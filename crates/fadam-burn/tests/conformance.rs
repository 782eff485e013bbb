//! The burn step against `fadam_core::step` (f32): every switch, ranks 1 to
//! 4, 20 steps, including an all-zero gradient, a gradient small enough for
//! the adaptive epsilon, and refused steps.

mod common;

use burn::optim::Optimizer;
use burn::tensor::{Device, Tensor};
use common::{tensor, values};
use fadam_burn::{FAdam, FAdamConfig, FAdamState};
use fadam_core::{EpsilonRule, Error, FAdamConfig as Core, State};
use fadam_testkit::close::{COMPOSED_F32_TOLERANCE, Floor, max_error};
use fadam_testkit::configs::every_switch;
use fadam_testkit::rng::{Draw, TestRng, seeded};

/// Relative to the larger of `|x|` and the tensor's RMS (see its docs).
const TOLERANCE: f64 = COMPOSED_F32_TOLERANCE;

/// The gradient of step `step` (1-based): varied scales, all zero at step 5,
/// tiny at step 9 (RMS below ε/ε₂, so the adaptive epsilon applies).
fn gradient(rng: &mut TestRng, n: usize, step: usize) -> Vec<f32> {
    match step {
        5 => vec![0.0; n],
        9 => rng.vec_f32(n, 1e-9),
        _ => rng.vec_f32(n, [0.1, 1.0, 3.0, 0.02][step % 4]),
    }
}

/// Runs core and burn side by side; `poison` lists steps whose gradient gets
/// a non-finite or overflowing element (core refuses them). Returns the
/// worst relative error of θ, m and f over all steps.
fn run<const D: usize>(core: &Core, shape: [usize; D], seed: u64, poison: &[(usize, f32)]) -> f64 {
    let device = Device::default();
    let optim: FAdam = FAdamConfig::from_core(core).build();
    let n: usize = shape.iter().product();
    let mut rng = seeded(seed);
    let mut theta = rng.vec_f32(n, 2.0);
    let mut state = State::<f32>::new(n);
    let mut burn_theta: Tensor<D> = tensor(theta.clone(), shape, &device);
    let mut burn_state: Option<FAdamState<D>> = None;
    let mut worst = 0.0f64;
    for step in 1..=20 {
        let mut grad = gradient(&mut rng, n, step);
        let poisoned = poison.iter().find(|&&(s, _)| s == step);
        if let Some(&(_, value)) = poisoned {
            grad[n / 2] = value;
        }
        let result = fadam_core::step(core, &mut theta, &grad, state.as_mut());
        match poisoned {
            Some(_) => assert!(
                matches!(
                    result,
                    Err(Error::NonFiniteGradient { .. } | Error::FisherOverflow { .. })
                ),
                "{result:?}"
            ),
            None => {
                result.unwrap();
            }
        }
        let (t, s) = optim.step(
            core.lr,
            burn_theta,
            tensor(grad, shape, &device),
            burn_state,
        );
        let s = s.unwrap();
        assert_eq!(t.dims(), shape);
        let errors = [
            max_error(&values(&t), &theta, Floor::Rms).0,
            max_error(&values(&s.momentum), state.momentum(), Floor::Rms).0,
            max_error(&values(&s.fisher), state.fisher(), Floor::Rms).0,
        ];
        for (what, e) in ["theta", "momentum", "fisher"].iter().zip(errors) {
            assert!(
                e <= TOLERANCE,
                "{core:?} shape {shape:?} step {step}: {what} off by {e:e}"
            );
            worst = worst.max(e);
        }
        let refused = values(&s.refused)[0] as u64;
        assert_eq!(s.calls, step as u64);
        assert_eq!(s.calls - refused, state.step(), "steps taken");
        burn_theta = t;
        burn_state = Some(s);
    }
    worst
}

fn run_all_ranks(core: &Core, poison: &[(usize, f32)]) -> f64 {
    let mut worst = run(core, [37], 1, poison);
    worst = worst.max(run(core, [6, 5], 2, poison));
    worst = worst.max(run(core, [2, 3, 4], 3, poison));
    worst.max(run(core, [2, 3, 2, 3], 4, poison))
}

#[test]
fn every_switch_matches_core() {
    for (name, core) in every_switch() {
        let worst = run_all_ranks(&core, &[]);
        eprintln!("{name:>28}: worst relative error {worst:.2e}");
    }
}

#[test]
fn refused_steps_match_core() {
    // NaN, +inf, -inf, and a finite gradient whose square overflows f32.
    let poison = [
        (3, f32::NAN),
        (7, f32::INFINITY),
        (8, f32::NEG_INFINITY),
        (12, 1e30),
    ];
    for (name, core) in every_switch() {
        let worst = run_all_ranks(&core, &poison);
        eprintln!("{name:>28}: worst relative error with refused steps {worst:.2e}");
    }
}

#[test]
fn a_refused_step_changes_nothing() {
    let device = Device::default();
    let optim = FAdamConfig::new().build();
    let theta = tensor(vec![1.0, -2.0, 3.0], [3], &device);
    let (theta, state) = optim.step(
        1e-2,
        theta,
        tensor(vec![0.5, -0.5, 0.25], [3], &device),
        None,
    );
    let state = state.unwrap();
    let (after, after_state) = optim.step(
        1e-2,
        theta.clone(),
        tensor(vec![0.5, f32::NAN, 0.25], [3], &device),
        Some(state.clone()),
    );
    let after_state = after_state.unwrap();
    assert_eq!(values(&after), values(&theta));
    assert_eq!(values(&after_state.momentum), values(&state.momentum));
    assert_eq!(values(&after_state.fisher), values(&state.fisher));
    assert_eq!(values(&after_state.bias_1), values(&state.bias_1));
    assert_eq!(values(&after_state.bias_2), values(&state.bias_2));
    assert_eq!(values(&after_state.refused), [1.0]);
    assert_eq!(after_state.calls, 2);
}

/// A first step with a tiny gradient: the adaptive epsilon is tiny and
/// `w = θ / d` is about 1e15.
#[test]
fn tiny_first_gradient_matches_core() {
    let device = Device::default();
    for core in [
        Core::new(),
        Core::new().with_epsilon_rule(EpsilonRule::PaperV3),
    ] {
        let core = core.with_lr(1e-2);
        let optim = FAdamConfig::from_core(&core).build();
        let mut rng = seeded(9);
        let mut theta = rng.vec_f32(64, 1.0);
        let grad = rng.vec_f32(64, 1e-15);
        let burn_theta = tensor(theta.clone(), [8, 8], &device);
        let mut state = State::<f32>::new(64);
        fadam_core::step(&core, &mut theta, &grad, state.as_mut()).unwrap();
        let (t, s) = optim.step(core.lr, burn_theta, tensor(grad, [8, 8], &device), None);
        let s = s.unwrap();
        assert!(max_error(&values(&t), &theta, Floor::Rms).0 <= TOLERANCE);
        assert!(max_error(&values(&s.momentum), state.momentum(), Floor::Rms).0 <= TOLERANCE);
    }
}

/// A gradient of about 1e-30: `e` is about 1e-32 and `w = θ / d` about
/// 1e32, whose square overflows f32. The step stays finite and within the
/// spec's bound `RMS(Δθ) <= η c (1 + λ)`. (fadam-core's f32 sums square
/// in f32, where these squares underflow to zero, so it takes `RMS(g) = 0`
/// here; the burn step's scaled RMS does not, so they are not compared.)
#[test]
fn subnormal_square_gradient_stays_finite() {
    let device = Device::default();
    let (lr, lambda) = (1e-2f64, 0.1f64);
    let optim = FAdamConfig::new().with_weight_decay(lambda).build();
    let mut rng = seeded(10);
    let theta = rng.vec_f32(64, 1.0);
    let grad = rng.vec_f32(64, 1e-30);
    let (t, s) = optim.step(
        lr,
        tensor(theta.clone(), [64], &device),
        tensor(grad, [64], &device),
        None,
    );
    let t = values(&t);
    assert!(
        t.iter()
            .chain(&values(&s.unwrap().momentum))
            .all(|x| x.is_finite())
    );
    let moved = (t
        .iter()
        .zip(&theta)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum::<f64>()
        / 64.0)
        .sqrt();
    assert!(
        moved > 0.0 && moved <= lr * (1.0 + lambda) * (1.0 + 1e-5),
        "{moved}"
    );
}

/// The zero-gradient fallback: at step 1 only the clipped natural weight
/// decay moves the parameters, `θ ← θ - η λ c θ / RMS(θ)`.
#[test]
fn zero_gradient_first_step() {
    let device = Device::default();
    let theta = vec![0.5f32, -1.0, 2.0, 0.25];
    let rms = (theta.iter().map(|x| x * x).sum::<f32>() / 4.0).sqrt();
    let (t, s) = FAdamConfig::new().build().step(
        1e-3,
        tensor(theta.clone(), [2, 2], &device),
        tensor(vec![0.0; 4], [2, 2], &device),
        None,
    );
    let s = s.unwrap();
    for (got, th) in values(&t).iter().zip(&theta) {
        let want = th - 1e-3 * 0.1 * th / rms;
        assert!((got - want).abs() <= 1e-6 * want.abs(), "{got} vs {want}");
    }
    assert!(values(&s.momentum).iter().all(|&m| m == 0.0));
    assert!(values(&s.fisher).iter().all(|&f| f == 0.0));
}

#[test]
fn empty_tensor_is_a_no_op() {
    let device = Device::default();
    let (t, s) = FAdamConfig::new().build().step(
        1e-3,
        tensor(vec![], [0, 3], &device),
        tensor(vec![], [0, 3], &device),
        None,
    );
    assert_eq!(t.dims(), [0, 3]);
    assert_eq!(s.unwrap().calls, 1);
}

/// `f64` parameters are updated in `f64`, with `f64` state: compare with
/// `fadam_core::step` in `f64`.
#[test]
fn f64_parameters_match_core_f64() {
    use burn::tensor::{DType, TensorData};
    let device = Device::default();
    if !device.supports_dtype(DType::F64) {
        eprintln!("{device:?} has no f64: skipped");
        return;
    }
    let f64_tensor =
        |v: Vec<f64>| Tensor::<2>::from_data(TensorData::new(v, [4, 5]), (&device, DType::F64));
    let f64_values = |t: &Tensor<2>| t.clone().into_data().try_to_vec::<f64>().unwrap();
    for core in [Core::new().with_lr(1e-2), Core::adam().with_lr(1e-2)] {
        let optim = FAdamConfig::from_core(&core).build();
        let mut rng = seeded(5);
        let mut theta: Vec<f64> = rng.vec_f32(20, 2.0).into_iter().map(f64::from).collect();
        let mut state = State::<f64>::new(20);
        let mut burn_theta = f64_tensor(theta.clone());
        let mut burn_state = None;
        for step in 1..=10 {
            let grad: Vec<f64> = gradient(&mut rng, 20, step)
                .into_iter()
                .map(f64::from)
                .collect();
            fadam_core::step(&core, &mut theta, &grad, state.as_mut()).unwrap();
            let (t, s) = optim.step(core.lr, burn_theta, f64_tensor(grad), burn_state);
            assert_eq!(t.dtype(), DType::F64);
            let got = f64_values(&t);
            for (a, b) in got.iter().zip(&theta) {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                    "step {step}: {a} vs {b}"
                );
            }
            burn_theta = t;
            burn_state = s;
        }
    }
}

/// `bf16` parameters keep their type and are updated in `f32`, with `f32`
/// state.
#[test]
fn half_parameters_keep_their_type_with_f32_state() {
    use burn::tensor::{DType, FloatDType};
    let device = Device::default();
    if !device.supports_dtype(DType::BF16) {
        eprintln!("{device:?} has no bf16: skipped");
        return;
    }
    let core = Core::new().with_lr(1e-2);
    let optim = FAdamConfig::from_core(&core).build();
    let theta = vec![0.5f32, -1.0, 2.0, 0.25];
    let grad = vec![0.25f32, 0.5, -1.0, 0.125];
    let half = |v: Vec<f32>| tensor(v, [4], &device).cast(FloatDType::BF16);
    let (t, s) = optim.step(core.lr, half(theta.clone()), half(grad.clone()), None);
    let s = s.unwrap();
    assert_eq!(t.dtype(), DType::BF16);
    assert_eq!(s.momentum.dtype(), DType::F32);
    let (mut want, mut state) = (theta, State::<f32>::new(4));
    fadam_core::step(&core, &mut want, &grad, state.as_mut()).unwrap();
    assert!(max_error(&values(&t), &want, Floor::Rms).0 <= 1e-2);
    assert!(max_error(&values(&s.momentum), state.momentum(), Floor::Rms).0 <= 1e-6);
}
