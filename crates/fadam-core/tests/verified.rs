//! The verified mark of an owned `State`: steps skip the state check only
//! for values nothing but steps and checked constructors wrote, refuse a
//! state written from the outside with nothing written, and give the same
//! bits either way.

use fadam_core::{
    Buffer, Error, FAdamConfig, PartialSums, Reduction, State, StateMut, Tensor, step, step_model,
};

fn configs() -> [FAdamConfig; 3] {
    [
        FAdamConfig::new(),
        FAdamConfig::adam(),
        FAdamConfig::adamw(),
    ]
}

/// Parameters and a gradient of `n` elements (several blocks, so that the
/// rayon build splits the passes).
fn data(n: usize) -> (Vec<f32>, Vec<f32>) {
    let theta = (0..n).map(|i| ((i % 97) as f32 - 48.0) * 0.01).collect();
    let grad = (0..n)
        .map(|i| ((i * 7 % 101) as f32 - 50.0) * 1e-3)
        .collect();
    (theta, grad)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn fresh_checked_and_stepped_states_are_verified() {
    assert!(State::<f32>::new(3).is_verified());
    let loaded = State::from_parts(vec![0.5f32, -1.0], vec![0.0, 2.0], 4).unwrap();
    assert!(loaded.is_verified());
    assert_eq!(
        State::from_parts(vec![0.0f32; 2], vec![0.0, -1.0], 4),
        Err(Error::InvalidState {
            tensor: 0,
            buffer: Buffer::Fisher
        })
    );
    assert_eq!(
        State::from_parts(vec![0.0f32; 2], vec![0.0], 4),
        Err(Error::LengthMismatch {
            tensor: 0,
            buffer: Buffer::Fisher,
            expected: 2,
            found: 1
        })
    );
    let (mut theta, grad) = data(5);
    let mut state = State::new(5);
    state.parts_mut();
    assert!(!state.is_verified());
    step(&FAdamConfig::new(), &mut theta, &grad, state.as_mut()).unwrap();
    assert!(state.is_verified(), "a checked step verifies the state");
    let mut m = vec![0.0f32; 5];
    let (mut f, mut t) = (m.clone(), 0);
    assert!(!StateMut::new(&mut m, &mut f, &mut t).is_verified());
}

#[test]
fn a_state_written_from_outside_is_refused_whole() {
    let n = 9 * fadam_core::REDUCTION_BLOCK + 5;
    for config in configs() {
        for (buffer, bad) in [
            (Buffer::Momentum, f32::NAN),
            (Buffer::Momentum, f32::INFINITY),
            (Buffer::Fisher, -1.0),
            (Buffer::Fisher, f32::NAN),
        ] {
            let (mut theta, grad) = data(n);
            let mut state = State::new(n);
            step(&config, &mut theta, &grad, state.as_mut()).unwrap();
            assert!(state.is_verified());
            let (m, f, _) = state.parts_mut();
            match buffer {
                Buffer::Momentum => m[n - 2] = bad,
                _ => f[n - 2] = bad,
            }
            let before = (bits(&theta), bits(state.momentum()), bits(state.fisher()));
            let err = step(&config, &mut theta, &grad, state.as_mut());
            assert_eq!(err, Err(Error::InvalidState { tensor: 0, buffer }));
            let after = (bits(&theta), bits(state.momentum()), bits(state.fisher()));
            assert_eq!(before, after, "{config:?} {bad}");
            assert_eq!(state.step(), 1);
            assert!(!state.is_verified(), "a refused state stays unverified");
            // Repaired, it steps again and is verified again.
            let (m, f, _) = state.parts_mut();
            (m[n - 2], f[n - 2]) = (0.0, 0.0);
            step(&config, &mut theta, &grad, state.as_mut()).unwrap();
            assert!(state.is_verified());
        }
    }
}

#[test]
fn a_model_step_refuses_one_tampered_tensor_with_nothing_written() {
    let (mut a, ga) = data(300);
    let (mut b, gb) = data(40);
    let (mut sa, mut sb) = (State::new(300), State::new(40));
    let groups = [FAdamConfig::new()];
    step_model(
        &groups,
        &mut [
            Tensor::new(&mut a, &ga, sa.as_mut()),
            Tensor::new(&mut b, &gb, sb.as_mut()),
        ],
    )
    .unwrap();
    sb.parts_mut().0[7] = f32::NEG_INFINITY;
    let before = (bits(&a), bits(&b), sa.clone(), sb.clone());
    let err = step_model(
        &groups,
        &mut [
            Tensor::new(&mut a, &ga, sa.as_mut()),
            Tensor::new(&mut b, &gb, sb.as_mut()),
        ],
    );
    assert_eq!(
        err,
        Err(Error::InvalidState {
            tensor: 1,
            buffer: Buffer::Momentum
        })
    );
    assert_eq!((bits(&a), bits(&b), sa.clone(), sb.clone()), before);
    assert!(sa.is_verified() && !sb.is_verified());
}

#[test]
fn a_non_finite_parameter_is_refused_with_a_verified_state() {
    for config in configs() {
        let (mut theta, grad) = data(70);
        let mut state = State::new(70);
        step(&config, &mut theta, &grad, state.as_mut()).unwrap();
        theta[69] = f32::NAN;
        let before = (bits(&theta), state.clone());
        let err = step(&config, &mut theta, &grad, state.as_mut());
        assert_eq!(err, Err(Error::NonFiniteParam { tensor: 0 }), "{config:?}");
        assert_eq!((bits(&theta), state), before);
    }
}

#[test]
fn verified_and_checked_steps_give_the_same_bits() {
    let n = 9 * fadam_core::REDUCTION_BLOCK + 77;
    for config in configs() {
        let (theta0, grad) = data(n);
        let (mut t1, mut t2) = (theta0.clone(), theta0);
        let mut owned = State::new(n);
        let (mut m, mut f, mut k) = (vec![0.0f32; n], vec![0.0f32; n], 0u64);
        for _ in 0..3 {
            step(&config, &mut t1, &grad, owned.as_mut()).unwrap();
            step(
                &config,
                &mut t2,
                &grad,
                StateMut::new(&mut m, &mut f, &mut k),
            )
            .unwrap();
        }
        assert_eq!(bits(&t1), bits(&t2), "{config:?}");
        assert_eq!(bits(owned.momentum()), bits(&m));
        assert_eq!(bits(owned.fisher()), bits(&f));
        assert_eq!(owned.step(), k);
    }
}

#[test]
fn a_sharded_apply_leaves_the_state_unverified() {
    let config = FAdamConfig::new();
    let (mut theta, grad) = data(6);
    let mut state = State::new(6);
    let mut r = Reduction::<f32>::new(&config, 0, 6).unwrap();
    while !r.is_ready() {
        let sums: PartialSums = r
            .partial_sums(&theta, &grad, state.momentum(), state.fisher())
            .unwrap();
        r.absorb(sums).unwrap();
    }
    r.apply(&mut theta, &grad, state.as_mut()).unwrap();
    assert!(!state.is_verified());
    step(&config, &mut theta, &grad, state.as_mut()).unwrap();
    assert!(state.is_verified());
}
