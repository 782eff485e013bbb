//! Every refused step writes nothing: parameters and state keep their bits.

use fadam_core::{
    Buffer, ConfigError, Error, FAdamConfig, Hyperparameter, PartialSums, Reduction, State,
    StateMut, Tensor, step, step_model,
};
use proptest::prelude::*;

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// A model of several tensors after two good steps.
/// Parameters, gradients and states of each tensor.
type Model = (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<State<f32>>);

fn model(sizes: &[usize]) -> Model {
    let params: Vec<Vec<f32>> = sizes
        .iter()
        .map(|&n| (0..n).map(|i| (i as f32 * 0.37).sin()).collect())
        .collect();
    let grads: Vec<Vec<f32>> = sizes
        .iter()
        .map(|&n| (0..n).map(|i| (i as f32 * 0.11).cos() * 0.1).collect())
        .collect();
    let mut params = params;
    let mut states: Vec<State<f32>> = sizes.iter().map(|&n| State::new(n)).collect();
    for _ in 0..2 {
        step_all(FAdamConfig::new(), &mut params, &grads, &mut states).unwrap();
    }
    (params, grads, states)
}

/// One `step_model` of every tensor with `config`.
fn step_all(
    config: FAdamConfig,
    params: &mut [Vec<f32>],
    grads: &[Vec<f32>],
    states: &mut [State<f32>],
) -> Result<(), Error> {
    let mut tensors: Vec<_> = params
        .iter_mut()
        .zip(grads)
        .zip(states)
        .map(|((p, g), s)| Tensor::new(p, g, s.as_mut()))
        .collect();
    step_model(&[config], &mut tensors)
}

type Snapshot = (Vec<Vec<u32>>, Vec<State<f32>>);

fn snapshot(params: &[Vec<f32>], states: &[State<f32>]) -> Snapshot {
    (params.iter().map(|p| bits(p)).collect(), states.to_vec())
}

proptest! {
    /// A NaN or infinity anywhere in any tensor's gradient refuses the whole
    /// model step, names the tensor, and leaves every tensor untouched.
    #[test]
    fn non_finite_gradient_anywhere_writes_nothing(
        sizes in proptest::collection::vec(1usize..3000, 1..5),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        bad in prop_oneof![Just(f32::NAN), Just(f32::INFINITY), Just(f32::NEG_INFINITY)],
        maximize in any::<bool>(),
    ) {
        let (mut params, mut grads, mut states) = model(&sizes);
        let t = which.index(sizes.len());
        let i = at.index(sizes[t]);
        grads[t][i] = bad;
        let before = snapshot(&params, &states);
        let config = FAdamConfig::new().with_maximize(maximize);
        let err = step_all(config, &mut params, &grads, &mut states);
        prop_assert_eq!(err, Err(Error::NonFiniteGradient { tensor: t }));
        prop_assert_eq!(snapshot(&params, &states), before);
    }
}

#[test]
fn the_adam_mode_checks_gradients_too() {
    let mut theta = [1.0f32, 2.0, 3.0];
    let mut state = State::<f32>::new(3);
    let err = step(
        &FAdamConfig::adam(),
        &mut theta,
        &[0.1, f32::NAN, 0.3],
        state.as_mut(),
    );
    assert_eq!(err, Err(Error::NonFiniteGradient { tensor: 0 }));
    assert_eq!((theta, state), ([1.0, 2.0, 3.0], State::new(3)));
    // An L2 term that overflows makes the effective gradient infinite.
    let mut huge = [f32::MAX, 1.0];
    let config = FAdamConfig::adam().with_weight_decay(10.0);
    let err = step(&config, &mut huge, &[1.0, 1.0], State::new(2).as_mut());
    assert_eq!(err, Err(Error::NonFiniteGradient { tensor: 0 }));
    assert_eq!(huge, [f32::MAX, 1.0]);
}

#[test]
fn mismatched_lengths_are_named() {
    let (mut params, grads, mut states) = model(&[5, 7]);
    let before = snapshot(&params, &states);
    let short = vec![0.0f32; 6];
    let (p0, rest) = params.split_at_mut(1);
    let (s0, s_rest) = states.split_at_mut(1);
    let mut tensors = [
        Tensor::new(&mut p0[0], &grads[0], s0[0].as_mut()),
        Tensor::new(&mut rest[0], &short, s_rest[0].as_mut()),
    ];
    let err = step_model(&[FAdamConfig::new()], &mut tensors);
    assert_eq!(
        err,
        Err(Error::LengthMismatch {
            tensor: 1,
            buffer: Buffer::Gradient,
            expected: 7,
            found: 6
        })
    );
    assert_eq!(snapshot(&params, &states), before);

    // A single tensor whose momentum or Fisher slice has the wrong length.
    let mut theta = vec![1.0f32; 4];
    let mut t = 0u64;
    for (m_len, f_len, buffer, found) in [(4, 3, Buffer::Fisher, 3), (5, 4, Buffer::Momentum, 5)] {
        let (mut m, mut f) = (vec![0.0f32; m_len], vec![0.0f32; f_len]);
        let err = step(
            &FAdamConfig::new(),
            &mut theta,
            &[0.1; 4],
            StateMut::new(&mut m, &mut f, &mut t),
        );
        assert_eq!(
            err,
            Err(Error::LengthMismatch {
                tensor: 0,
                buffer,
                expected: 4,
                found
            })
        );
    }
    assert_eq!((theta, t), (vec![1.0; 4], 0));
}

#[test]
fn invalid_configs_and_groups_write_nothing() {
    let (mut params, grads, mut states) = model(&[3, 4]);
    let before = snapshot(&params, &states);
    let (p0, p1) = params.split_at_mut(1);
    let (s0, s1) = states.split_at_mut(1);
    let mut tensors = [
        Tensor::new(&mut p0[0], &grads[0], s0[0].as_mut()),
        Tensor::new(&mut p1[0], &grads[1], s1[0].as_mut()).with_group(1),
    ];
    let bad = FAdamConfig::new().with_eps(-1.0);
    let err = step_model(&[FAdamConfig::new(), bad], &mut tensors);
    let error = ConfigError {
        parameter: Hyperparameter::Epsilon,
        value: -1.0,
    };
    assert_eq!(err, Err(Error::Config { group: 1, error }));
    let err = step_model(&[FAdamConfig::new()], &mut tensors);
    assert_eq!(
        err,
        Err(Error::UnknownGroup {
            tensor: 1,
            group: 1,
            groups: 1
        })
    );
    assert_eq!(snapshot(&params, &states), before);
    assert_eq!(
        Error::Config { group: 1, error }.to_string(),
        "invalid config of group 1: epsilon (eps) must be finite and > 0, got -1"
    );
}

#[test]
fn step_counter_overflow_is_refused() {
    let mut theta = [1.0f64];
    let (mut m, mut f, mut t) = ([0.0], [0.0], u64::MAX);
    let err = step(
        &FAdamConfig::new(),
        &mut theta,
        &[0.5],
        StateMut::new(&mut m, &mut f, &mut t),
    );
    assert_eq!(err, Err(Error::StepOverflow { tensor: 0 }));
    assert_eq!((theta, t), ([1.0], u64::MAX));
}

#[test]
fn reduction_misuse_is_refused() {
    let config = FAdamConfig::new();
    let mut theta = [1.0f32, 2.0];
    let g = [0.1f32, 0.2];
    let (mut m, mut f, mut t) = ([0.0f32; 2], [0.0f32; 2], 0u64);
    let mut r = Reduction::<f32>::new(&config, 0, 2).unwrap();
    assert_eq!(
        r.apply(&mut theta, &g, StateMut::new(&mut m, &mut f, &mut t)),
        Err(Error::NotReady)
    );
    let half = r
        .partial_sums(&theta[..1], &g[..1], &m[..1], &f[..1])
        .unwrap();
    assert_eq!(
        r.absorb(half),
        Err(Error::ShardMismatch {
            expected: 2,
            found: 1
        })
    );
    let whole = r.partial_sums(&theta, &g, &m, &f).unwrap();
    r.absorb(whole).unwrap();
    assert!(r.is_ready());
    assert_eq!(r.partial_sums(&theta, &g, &m, &f), Err(Error::NotReady));
    assert_eq!(
        r.absorb(PartialSums::EMPTY),
        Err(Error::ShardMismatch {
            expected: 2,
            found: 0
        })
    );
    let mut stale = 5u64;
    let err = r.apply(&mut theta, &g, StateMut::new(&mut m, &mut f, &mut stale));
    assert_eq!(
        err,
        Err(Error::ShardMismatch {
            expected: 0,
            found: 5
        })
    );
    assert_eq!((theta, m, f), ([1.0, 2.0], [0.0; 2], [0.0; 2]));
    r.apply(&mut theta, &g, StateMut::new(&mut m, &mut f, &mut t))
        .unwrap();
    assert_eq!(t, 1);
}
