//! The fast paths against the independent f64 reference of the spec, on
//! random sizes (1 to 100 000, most not a multiple of the vector width) and
//! random valid hyperparameters.

mod common;

use common::reference;
use fadam_core::{DecayMode, EpsilonRule, FAdamConfig, MomentumMode, State, step};
use fadam_testkit::close::{Floor, assert_close, widen};
use fadam_testkit::rand::RngExt;
use fadam_testkit::rng::{Draw, seeded};
use proptest::prelude::*;

fn configs() -> impl Strategy<Value = FAdamConfig> {
    let rule = prop_oneof![
        Just(EpsilonRule::Adaptive),
        Just(EpsilonRule::PaperV3),
        Just(EpsilonRule::Fixed)
    ];
    let momentum = prop_oneof![Just(MomentumMode::Natural), Just(MomentumMode::Adam)];
    let decay = prop_oneof![
        Just(DecayMode::Natural),
        Just(DecayMode::Decoupled),
        Just(DecayMode::L2),
        Just(DecayMode::None)
    ];
    let power = prop_oneof![Just(0.5), Just(1.0), 0.25..1.0f64];
    (
        (
            0.0..0.1f64,
            0.0..0.99f64,
            0.0..0.9999f64,
            -12.0..-4.0f64,
            -4.0..0.0f64,
        ),
        (proptest::option::of(0.05..10.0f64), power, 0.0..0.5f64),
        (rule, momentum, decay, any::<bool>()),
    )
        .prop_map(
            |((lr, b1, b2, eps, eps2), (clip, p, wd), (rule, momentum, decay, maximize))| {
                FAdamConfig {
                    lr,
                    beta1: b1,
                    beta2: b2,
                    eps: 10f64.powf(eps),
                    eps2: 10f64.powf(eps2),
                    clip,
                    fisher_power: p,
                    weight_decay: wd,
                    epsilon_rule: rule,
                    momentum,
                    decay,
                    maximize,
                }
            },
        )
}

/// Sizes spread log-uniformly over 1..=100 000.
fn sizes() -> impl Strategy<Value = usize> {
    prop_oneof![
        1usize..40,
        (0.0..5.0f64).prop_map(|e| 10f64.powf(e) as usize),
        Just(16_384 * 2 + 7),
        Just(100_000),
    ]
}

/// Parameters in [-2, 2] and one gradient per step, each step at its own
/// scale (1e-9 to 1e3) so that every epsilon branch is taken; now and then
/// an all-zero gradient.
fn data(len: usize, steps: usize, seed: u64) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut rng = seeded(seed);
    let theta = (0..len).map(|_| 2.0 * rng.signed()).collect();
    let grads = (0..steps)
        .map(|_| {
            let zero = rng.random_ratio(1, 8);
            let scale = 10f64.powf(-9.0 + 12.0 * (rng.signed() + 1.0) / 2.0);
            (0..len)
                .map(|_| if zero { 0.0 } else { scale * rng.signed() })
                .collect()
        })
        .collect();
    (theta, grads)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn f64_matches_the_reference(len in sizes(), config in configs(), seed in any::<u64>(), steps in 1usize..4) {
        let (theta0, grads) = data(len, steps, seed);
        let mut theta = theta0.clone();
        let mut state = State::<f64>::new(len);
        let mut ref_theta = theta0;
        let mut ref_state = reference::RefState::new(len);
        for g in &grads {
            step(&config, &mut theta, g, state.as_mut()).unwrap();
            reference::step(&config, &mut ref_theta, g, &mut ref_state, f64::MIN_POSITIVE);
            assert_close("theta", &theta, &ref_theta, 1e-9, Floor::Rms);
            assert_close("momentum", state.momentum(), &ref_state.m, 1e-9, Floor::Rms);
            assert_close("fisher", state.fisher(), &ref_state.f, 1e-9, Floor::Rms);
        }
        prop_assert_eq!(state.step(), steps as u64);
    }

    #[test]
    fn f32_matches_the_reference(len in sizes(), config in configs(), seed in any::<u64>(), steps in 1usize..4) {
        // `g + λθ` cancels catastrophically in f32 for some elements, which
        // no f32 implementation can avoid: the L2 mode is checked in f64.
        let mut config = config;
        if config.decay == DecayMode::L2 {
            config.decay = DecayMode::Decoupled;
        }
        // Unclipped natural decay `θ / d` is unbounded: with a tiny epsilon
        // its exact result leaves f32's range (documented). Clipping bounds it.
        if config.clip.is_none() && config.decay == DecayMode::Natural {
            config.eps = config.eps.max(1e-8);
            config.fisher_power = 0.5;
        }
        let (theta0, grads) = data(len, steps, seed);
        let narrow = |x: &[f64]| x.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let mut theta = narrow(&theta0);
        let mut state = State::<f32>::new(len);
        let mut ref_theta = widen(&theta);
        let mut ref_state = reference::RefState::new(len);
        for g in &grads {
            let g = narrow(g);
            step(&config, &mut theta, &g, state.as_mut()).unwrap();
            reference::step(&config, &mut ref_theta, &widen(&g), &mut ref_state, f64::from(f32::MIN_POSITIVE));
            assert_close("theta", &widen(&theta), &ref_theta, 2e-5, Floor::Rms);
            assert_close("momentum", &widen(state.momentum()), &ref_state.m, 1e-4, Floor::Rms);
            assert_close("fisher", &widen(state.fisher()), &ref_state.f, 1e-4, Floor::Rms);
        }
    }
}
