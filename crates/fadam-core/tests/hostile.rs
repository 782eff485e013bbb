//! Hostile inputs through the public API (issue 10): huge but valid
//! hyperparameters, non-finite parameters, invalid state, partial sums from
//! the outside. Every refusal leaves every byte as it was; every accepted
//! step with finite inputs writes no NaN.

use fadam_core::{
    Buffer, DecayMode, Error, FAdamConfig, MomentumMode, PartialSums, Real, Reduction, State, step,
};

fn modes() -> Vec<FAdamConfig> {
    let mut v = Vec::new();
    for momentum in [MomentumMode::Natural, MomentumMode::Adam] {
        for decay in [
            DecayMode::Natural,
            DecayMode::Decoupled,
            DecayMode::L2,
            DecayMode::None,
        ] {
            for clip in [Some(1.0), None] {
                for wd in [0.0, 0.1] {
                    let c = FAdamConfig::new()
                        .with_momentum(momentum)
                        .with_decay(decay)
                        .with_weight_decay(wd);
                    v.push(match clip {
                        Some(c0) => c.with_clip(c0),
                        None => c.without_clip(),
                    });
                }
            }
        }
    }
    v
}

fn params<T: Real + fadam_core::Param<State = T>>() -> Vec<T> {
    [0.5, -1.0, 0.0, 2.0, 1e-3, -3.0]
        .iter()
        .map(|&x| T::narrow(x))
        .collect()
}

/// One step over a copy; asserts all-or-nothing and no NaN on success.
fn check_step<T: Real + fadam_core::Param<State = T>>(
    config: &FAdamConfig,
    theta: &[T],
    grads: &[T],
    state: &State<T>,
) -> Result<(), Error> {
    let (mut t, mut s) = (theta.to_vec(), state.clone());
    let r = step(config, &mut t, grads, s.as_mut());
    match r {
        Ok(_) => {
            let finite_in = theta.iter().chain(grads).all(|x| x.is_finite());
            if finite_in {
                for x in t.iter().chain(s.momentum()).chain(s.fisher()) {
                    assert!(!x.is_nan(), "NaN written by {config:?}: {t:?} {s:?}");
                }
            }
            Ok(())
        }
        Err(e) => {
            let bits = |v: &[T]| v.iter().map(|x| x.wide().to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&t), bits(theta), "{e}");
            assert_eq!(bits(s.momentum()), bits(state.momentum()), "{e}");
            assert_eq!(bits(s.fisher()), bits(state.fisher()), "{e}");
            assert_eq!(s.step(), state.step());
            Err(e)
        }
    }
}

fn sweep<T: Real + fadam_core::Param<State = T>>(max_exp: i32) {
    let theta = params::<T>();
    let grads: Vec<T> = [0.1, -0.2, 0.0, 1.0, 3.0, -0.5]
        .iter()
        .map(|&x| T::narrow(x))
        .collect();
    let mut refused = 0;
    for config in modes() {
        for e in (-300..=max_exp).step_by(7).chain([max_exp]) {
            let x = libm::pow(10.0, f64::from(e));
            for c in [
                config.with_lr(x),
                config.with_weight_decay(x),
                config.with_lr(x).with_weight_decay(x),
            ] {
                let mut state = State::new(theta.len());
                for _ in 0..3 {
                    match check_step(&c, &theta, &grads, &state) {
                        Ok(()) => {
                            let mut t = theta.clone();
                            step(&c, &mut t, &grads, state.as_mut()).unwrap();
                        }
                        Err(Error::OutOfRange { .. }) => {
                            refused += 1;
                            break;
                        }
                        // The L2 term makes the effective gradient huge:
                        // refused for what it is, nothing written.
                        Err(Error::FisherOverflow { .. } | Error::NonFiniteGradient { .. }) => {
                            assert_eq!(c.decay, DecayMode::L2, "{c:?}");
                            break;
                        }
                        Err(e) => panic!("{c:?}: {e}"),
                    }
                }
            }
        }
    }
    assert!(refused > 0);
}

#[test]
fn huge_hyperparameters_never_write_nan_f32() {
    sweep::<f32>(38);
}

#[test]
fn huge_hyperparameters_never_write_nan_f64() {
    sweep::<f64>(300);
}

#[test]
fn issue_examples_are_refused_with_a_typed_error() {
    let theta = params::<f32>();
    let grads = vec![0.1f32; theta.len()];
    let state = State::new(theta.len());
    for config in [
        FAdamConfig::new().with_lr(1e39),
        FAdamConfig::new().with_weight_decay(1e39),
        FAdamConfig::new()
            .with_decay(DecayMode::L2)
            .with_weight_decay(1e39),
    ] {
        assert!(matches!(
            check_step(&config, &theta, &grads, &state),
            Err(Error::OutOfRange { group: 0, .. })
        ));
    }
    // The same configs are fine in f64.
    let theta64 = params::<f64>();
    let state64 = State::new(theta64.len());
    assert!(
        check_step(
            &FAdamConfig::new().with_lr(1e39),
            &theta64,
            &[0.1; 6],
            &state64
        )
        .is_ok()
    );
}

#[test]
fn non_finite_parameters_are_refused_in_every_mode() {
    for config in modes() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, 5] {
                let mut theta = params::<f32>();
                theta[at] = bad;
                let state = State::new(theta.len());
                let r = check_step(&config, &theta, &[0.1; 6], &state);
                assert_eq!(r, Err(Error::NonFiniteParam { tensor: 0 }), "{config:?}");
            }
        }
    }
}

#[test]
fn invalid_state_is_refused_in_every_mode() {
    let theta = params::<f64>();
    for config in modes() {
        for (buffer, bad) in [
            (Buffer::Momentum, f64::NAN),
            (Buffer::Momentum, f64::INFINITY),
            (Buffer::Momentum, f64::NEG_INFINITY),
            (Buffer::Fisher, -1e-300),
            (Buffer::Fisher, -2.0),
            (Buffer::Fisher, f64::NAN),
            (Buffer::Fisher, f64::INFINITY),
            (Buffer::Fisher, f64::NEG_INFINITY),
        ] {
            let mut state = State::new(theta.len());
            let (m, f, t) = state.parts_mut();
            *t = 4;
            f.fill(0.25);
            match buffer {
                Buffer::Momentum => m[3] = bad,
                _ => f[3] = bad,
            }
            let r = check_step(&config, &theta, &[0.1; 6], &state);
            assert_eq!(
                r,
                Err(Error::InvalidState { tensor: 0, buffer }),
                "{config:?} {bad}"
            );
        }
        // Negative zero is a valid Fisher value.
        let mut state = State::new(theta.len());
        state.parts_mut().1[1] = -0.0;
        assert!(check_step(&config, &theta, &[0.1; 6], &state).is_ok());
    }
}

#[test]
fn partial_sums_from_the_outside_are_checked() {
    let config = FAdamConfig::new();
    let (theta, g) = (params::<f32>(), vec![0.1f32; 6]);
    let (m, f) = (vec![0.0f32; 6], vec![0.0f32; 6]);
    let mut r = Reduction::<f32>::new(&config, 0, 6).unwrap();
    let sums = r.partial_sums(&theta, &g, &m, &f).unwrap();
    let words = sums.to_words();
    assert_eq!(PartialSums::from_words(words), Ok(sums));
    for i in [1, 3, 5] {
        for bad in [f64::NAN, -1.0, f64::INFINITY] {
            let mut w = words;
            w[i] = bad.to_bits();
            assert_eq!(PartialSums::from_words(w), Err(Error::InvalidPartialSums));
        }
    }
    // Counts that add past u64 are refused, not wrapped around.
    let mut w = words;
    w[0] = u64::MAX;
    let huge = PartialSums::from_words(w).unwrap();
    let total = huge.combine(&PartialSums::from_words(words).unwrap());
    assert_eq!(r.absorb(total), Err(Error::InvalidPartialSums));
    // A shard with invalid state refuses the step on every rank.
    let mut bad_m = m.clone();
    bad_m[2] = f32::NAN;
    let a = r
        .partial_sums(&theta[..3], &g[..3], &bad_m[..3], &f[..3])
        .unwrap();
    let b = r
        .partial_sums(&theta[3..], &g[3..], &m[3..], &f[3..])
        .unwrap();
    let a = PartialSums::from_words(a.to_words()).unwrap();
    assert_eq!(
        r.absorb(a.combine(&b)),
        Err(Error::InvalidState {
            tensor: 0,
            buffer: Buffer::Momentum
        })
    );
}

#[cfg(feature = "half")]
#[test]
fn half_parameters_saturate_at_their_own_range() {
    use half::f16;
    let config = FAdamConfig::new()
        .with_lr(1e5)
        .with_weight_decay(0.0)
        .without_clip();
    let mut theta = [f16::from_f32(65000.0), f16::from_f32(-65000.0), f16::ZERO];
    let grads = [f16::from_f32(-1.0), f16::from_f32(1.0), f16::ZERO];
    let mut state = State::<f32>::new(3);
    step(&config, &mut theta, &grads, state.as_mut()).unwrap();
    assert_eq!(theta[0], f16::MAX);
    assert_eq!(theta[1], f16::MIN);
    assert!(state.momentum().iter().all(|m| m.is_finite()));
}

#[test]
fn finite_inputs_give_finite_outputs_at_the_edges_of_the_range() {
    // Found by the `partial_sums` fuzz target: no clipping, lr = 0, and
    // θ/d overflowing f64 made 0·∞ = NaN.
    let config = FAdamConfig::new().with_lr(0.0).without_clip();
    let mut theta = [3.6e-315, 0.0, -1e305, -1e-77];
    let before = theta;
    let mut state = State::new(4);
    step(&config, &mut theta, &[-1e-77; 4], state.as_mut()).unwrap();
    assert_eq!(theta, before, "lr = 0 leaves θ as it is");
    for config in modes() {
        for big in [f64::MAX, -f64::MAX] {
            let mut theta = [big, -big, 1e-300, 0.0];
            let m = vec![-big, big, f64::MAX, -f64::MAX];
            let f = vec![0.0, 1e-320, f64::MAX / 2.0, 0.0];
            let mut state = State::from_parts(m, f, 3).unwrap();
            let g = [1e-300, -1e150, 1e150, 0.0];
            let c = config.with_lr(1e300).with_eps(1e-300).with_beta1(0.0);
            match step(&c, &mut theta, &g, state.as_mut()) {
                Ok(_) => {
                    assert!(theta.iter().all(|x| x.is_finite()), "{c:?} {theta:?}");
                    assert!(fadam_core::validate_state(state.momentum(), state.fisher()).is_ok());
                }
                Err(e) => assert!(
                    matches!(
                        e,
                        Error::FisherOverflow { .. }
                            | Error::NonFiniteGradient { .. }
                            | Error::OutOfRange { .. }
                    ),
                    "{c:?}: {e}"
                ),
            }
        }
    }
}
