//! Property tests of the spec's invariants, of Adam and AdamW as special
//! cases, of the sharded step, and of the edge cases the references get
//! wrong.

mod common;

use common::textbook;
use fadam_core::{
    EpsilonRule, Error, FAdamConfig, PartialSums, Reduction, State, StateMut, Tensor, step,
    step_model,
};
use fadam_testkit::close::{Floor, assert_close, rms, widen};
use proptest::prelude::*;

fn vec_f64(len: impl Strategy<Value = usize>, scale: f64) -> impl Strategy<Value = Vec<f64>> {
    len.prop_flat_map(move |n| proptest::collection::vec(-scale..scale, n))
}

/// Tensors and a few gradients of matching length.
fn problem(max_len: usize, steps: usize) -> impl Strategy<Value = (Vec<f64>, Vec<Vec<f64>>)> {
    (1..max_len).prop_flat_map(move |n| {
        (
            proptest::collection::vec(-3.0..3.0f64, n),
            proptest::collection::vec(
                (-6.0..2.0f64).prop_flat_map(move |e| {
                    let s = 10f64.powf(e);
                    proptest::collection::vec(-s..s, n)
                }),
                steps,
            ),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// RMS(n) ≤ c makes RMS(m) ≤ c, and RMS(Δθ) ≤ η c (1 + λ).
    #[test]
    fn clipping_bounds_momentum_and_step(
        (theta0, grads) in problem(300, 6),
        c in 0.1..3.0f64,
        lr in 1e-4..0.1f64,
        wd in 0.0..0.5f64,
    ) {
        let config = FAdamConfig::new().with_clip(c).with_lr(lr).with_weight_decay(wd);
        let mut theta = theta0;
        let mut state = State::<f64>::new(theta.len());
        for g in &grads {
            let before = theta.clone();
            step(&config, &mut theta, g, state.as_mut()).unwrap();
            let delta: Vec<f64> = theta.iter().zip(&before).map(|(a, b)| a - b).collect();
            prop_assert!(rms(state.momentum()) <= c * (1.0 + 1e-12));
            prop_assert!(rms(&delta) <= lr * c * (1.0 + wd) * (1.0 + 1e-9));
        }
    }

    /// With p = 0.5 and the paper's ε·min(1, RMS(g)), scaling every gradient
    /// by k leaves the steps unchanged while RMS(k g) ≤ 1 and RMS(g) ≤ 1.
    #[test]
    fn gradient_scale_invariance(
        (theta0, grads) in problem(200, 5),
        k in 1e-3..1.0f64,
        rule in prop_oneof![Just(EpsilonRule::PaperV3), Just(EpsilonRule::Adaptive)],
    ) {
        // The adaptive rule is scale-free only where ε₂·RMS(g) < ε: shrink
        // the gradients into that range for it.
        let shrink = if rule == EpsilonRule::Adaptive { 1e-9 } else { 1.0 };
        let grads: Vec<Vec<f64>> = grads
            .iter()
            .map(|g| {
                let r = rms(g).max(1e-300);
                g.iter().map(|v| v * shrink / r.max(1.0)).collect()
            })
            .collect();
        let config = FAdamConfig::new().with_weight_decay(0.0).with_epsilon_rule(rule);
        let run = |scale: f64| {
            let mut theta = theta0.clone();
            let mut state = State::<f64>::new(theta.len());
            for g in &grads {
                let g: Vec<f64> = g.iter().map(|v| v * scale).collect();
                step(&config, &mut theta, &g, state.as_mut()).unwrap();
            }
            theta
        };
        let (a, b) = (run(1.0), run(k));
        for (x, y) in a.iter().zip(&b) {
            prop_assert!((x - y).abs() <= 1e-9 * config.lr, "{} vs {}", x, y);
        }
    }

    /// Shards of uneven sizes, partial sums combined, then applied shard by
    /// shard: the unsharded result, for every pass the step takes.
    #[test]
    fn sharded_equals_unsharded(
        (theta0, grads) in problem(3000, 3),
        cuts in proptest::collection::vec(0.0..1.0f64, 1..6),
        rule in prop_oneof![Just(EpsilonRule::PaperV3), Just(EpsilonRule::Adaptive), Just(EpsilonRule::Fixed)],
    ) {
        let config = FAdamConfig::new().with_epsilon_rule(rule);
        let n = theta0.len();
        let mut bounds: Vec<usize> = cuts.iter().map(|c| (c * n as f64) as usize).collect();
        bounds.extend([0, n]);
        bounds.sort_unstable();
        let mut whole = theta0.clone();
        let mut whole_state = State::<f64>::new(n);
        let mut sharded = theta0;
        let mut m = vec![0.0; n];
        let mut f = vec![0.0; n];
        let mut steps = vec![0u64; bounds.len() - 1];
        for g in &grads {
            step(&config, &mut whole, g, whole_state.as_mut()).unwrap();
            let mut reduction = Reduction::<f64>::new(&config, steps[0], n).unwrap();
            while !reduction.is_ready() {
                let mut total = PartialSums::EMPTY;
                for w in bounds.windows(2) {
                    let r = w[0]..w[1];
                    let part = reduction.partial_sums(&sharded[r.clone()], &g[r.clone()], &m[r.clone()], &f[r]).unwrap();
                    total = total.combine(&PartialSums::from_words(part.to_words()).unwrap());
                }
                reduction.absorb(total).unwrap();
            }
            for (i, w) in bounds.windows(2).enumerate() {
                let r = w[0]..w[1];
                let state = StateMut::new(&mut m[r.clone()], &mut f[r.clone()], &mut steps[i]);
                reduction.apply(&mut sharded[r.clone()], &g[r], state).unwrap();
            }
        }
        assert_close("theta", &sharded, &whole, 1e-12, Floor::Rms);
        assert_close("momentum", &m, whole_state.momentum(), 1e-12, Floor::Rms);
        assert_close("fisher", &f, whole_state.fisher(), 1e-12, Floor::Rms);
        prop_assert!(steps.iter().all(|&s| s == grads.len() as u64));
    }

    /// FAdamConfig::adam() and ::adamw() against Adam written as the papers
    /// write it.
    #[test]
    fn adam_and_adamw_are_special_cases(
        (theta0, grads) in problem(500, 8),
        lr in 1e-4..0.1f64,
        b1 in 0.0..0.99f64,
        b2 in 0.5..0.9999f64,
        eps in 1e-10..1e-4f64,
        wd in 0.0..0.3f64,
        decoupled in any::<bool>(),
    ) {
        let base = if decoupled { FAdamConfig::adamw() } else { FAdamConfig::adam() };
        let config = base.with_lr(lr).with_betas(b1, b2).with_eps(eps).with_weight_decay(wd);
        let mut adam = textbook::Adam::new(theta0.len(), lr, b1, b2, eps, wd, decoupled);
        let (mut theta, mut expected) = (theta0.clone(), theta0);
        let mut state = State::<f64>::new(theta.len());
        for g in &grads {
            step(&config, &mut theta, g, state.as_mut()).unwrap();
            adam.step(&mut expected, g);
            assert_close("theta", &theta, &expected, 1e-10, Floor::Rms);
        }
        assert_close("momentum", state.momentum(), &adam.m, 1e-10, Floor::Rms);
        let correction = 1.0 - b2.powi(grads.len() as i32);
        let v: Vec<f64> = state.fisher().iter().map(|f| f * correction).collect();
        assert_close("second moment", &v, &adam.v, 1e-10, Floor::Rms);
    }

    /// A whole-model step is the per-tensor step of each tensor with its
    /// group's config, bit for bit.
    #[test]
    fn model_step_is_the_per_tensor_step(
        sizes in proptest::collection::vec(1usize..400, 1..6),
        seed in vec_f64(Just(4000), 1.0),
    ) {
        let groups = [FAdamConfig::new(), FAdamConfig::new().with_weight_decay(0.0).with_lr(1e-2)];
        let total: usize = sizes.iter().sum();
        let theta0: Vec<f32> = (0..total).map(|i| seed[i % seed.len()] as f32).collect();
        let grads: Vec<f32> = (0..total).map(|i| seed[(i * 7 + 3) % seed.len()] as f32).collect();
        let (mut a, mut b) = (theta0.clone(), theta0);
        let mut sa: Vec<State<f32>> = sizes.iter().map(|&n| State::new(n)).collect();
        let mut sb = sa.clone();
        for _ in 0..3 {
            let mut tensors = Vec::new();
            let (mut rest, mut grest) = (&mut a[..], &grads[..]);
            for (i, (s, &n)) in sa.iter_mut().zip(&sizes).enumerate() {
                let (p, r) = rest.split_at_mut(n);
                let (g, gr) = grest.split_at(n);
                (rest, grest) = (r, gr);
                tensors.push(Tensor::new(p, g, s.as_mut()).with_group(i % 2));
            }
            step_model(&groups, &mut tensors).unwrap();
            let mut offset = 0;
            for (i, (s, &n)) in sb.iter_mut().zip(&sizes).enumerate() {
                let r = offset..offset + n;
                offset += n;
                step(&groups[i % 2], &mut b[r.clone()], &grads[r], s.as_mut()).unwrap();
            }
        }
        prop_assert_eq!(a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), b.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        prop_assert_eq!(sa, sb);
    }
}

/// Spec: a zero gradient at step 1 gives f = 0, d = ε, n = 0, m = 0, and the
/// clipped weight decay alone moves the parameters: θ ← θ − η λ c θ / RMS(θ).
#[test]
fn zero_gradient_at_step_one() {
    let config = FAdamConfig::new();
    let theta0 = [0.5f64, -1.0, 2.0, 0.0, 3.0];
    let mut theta = theta0;
    let mut state = State::new(5);
    let stats = step(&config, &mut theta, &[0.0; 5], state.as_mut()).unwrap();
    assert_eq!(stats.grad_rms, 0.0);
    assert_eq!(stats.epsilon, 1e-8);
    assert!(
        state
            .momentum()
            .iter()
            .chain(state.fisher())
            .all(|&v| v == 0.0)
    );
    let r = rms(&theta0);
    for (t, t0) in theta.iter().zip(theta0) {
        let want = t0 - 1e-3 * 0.1 * 1.0 * t0 / r;
        assert!((t - want).abs() <= 1e-15, "{t} vs {want}");
    }
}

fn finite(x: &[f32]) -> bool {
    x.iter().all(|v| v.is_finite())
}

/// Gradients of 1e-30 and 1e30, parameters of 1e30: finite results, and in
/// f32 within rounding of the f64 reference however far θ/d leaves f32.
#[test]
fn extreme_magnitudes_stay_finite() {
    use common::reference::{RefState, step as ref_step};
    let config = FAdamConfig::new();
    for (theta_scale, grad_scale) in [
        (1.0, 1e-30),
        (1e30, 1e-30),
        (1e30, 1.0),
        (1e-30, 1e-30),
        (1.0, 1e15),
        (1e30, 1e-18),
    ] {
        let theta0: Vec<f32> = (0..37)
            .map(|i| theta_scale * ((i as f32) * 0.37 - 5.0))
            .collect();
        let grad: Vec<f32> = (0..37)
            .map(|i| grad_scale * ((i * 7 % 11) as f32 - 5.0))
            .collect();
        let mut theta = theta0.clone();
        let mut state = State::<f32>::new(37);
        let mut expected = widen(&theta0);
        let mut ref_state = RefState::new(37);
        for _ in 0..5 {
            step(&config, &mut theta, &grad, state.as_mut()).unwrap();
            ref_step(
                &config,
                &mut expected,
                &widen(&grad),
                &mut ref_state,
                f64::from(f32::MIN_POSITIVE),
            );
            assert!(
                finite(&theta) && finite(state.momentum()) && finite(state.fisher()),
                "{theta_scale} {grad_scale}"
            );
        }
        // Where g² underflows f32 the Fisher diagonal cannot hold it (as in
        // any f32 implementation): only finiteness is promised there.
        if grad_scale * grad_scale > f32::MIN_POSITIVE {
            assert_close(
                &format!("theta {theta_scale} {grad_scale}"),
                &widen(&theta),
                &expected,
                1e-5,
                Floor::Rms,
            );
            assert_close(
                "momentum",
                &widen(state.momentum()),
                &ref_state.m,
                1e-4,
                Floor::Rms,
            );
        }
    }
    // f64: far beyond the range where squares overflow.
    for (theta_scale, grad_scale) in [
        (1e300, 1e-300),
        (1e30, 1e30),
        (1e-300, 1e150),
        (1e200, 1e-200),
    ] {
        let mut theta: Vec<f64> = (0..9).map(|i| theta_scale * (i as f64 - 4.5)).collect();
        let grad: Vec<f64> = (0..9)
            .map(|i| grad_scale * ((i * 5 % 7) as f64 - 3.0))
            .collect();
        let mut state = State::<f64>::new(9);
        for _ in 0..3 {
            step(&config, &mut theta, &grad, state.as_mut()).unwrap();
            let all = theta.iter().chain(state.momentum()).chain(state.fisher());
            assert!(
                all.clone().all(|v| v.is_finite()),
                "{theta_scale} {grad_scale}: {theta:?}"
            );
        }
        // The update is bounded by the clip: RMS(m) ≤ c.
        assert!(rms(state.momentum()) <= 1.0 + 1e-12);
    }
}

/// A gradient whose square overflows f32 cannot be held by the Fisher
/// diagonal: the step is refused and nothing changes.
#[test]
fn fisher_overflow_is_refused() {
    let mut theta = [1.0f32, 2.0];
    let mut state = State::<f32>::new(2);
    step(&FAdamConfig::new(), &mut theta, &[0.1, 0.1], state.as_mut()).unwrap();
    let before = (theta, state.clone());
    let err = step(
        &FAdamConfig::new(),
        &mut theta,
        &[1e30, 0.1],
        state.as_mut(),
    );
    assert_eq!(err, Err(Error::FisherOverflow { tensor: 0 }));
    assert_eq!((theta, state), before);
}

/// The same inputs give the same bits, with every pass the step can take.
#[test]
fn steps_are_bit_reproducible() {
    for rule in [
        EpsilonRule::Adaptive,
        EpsilonRule::PaperV3,
        EpsilonRule::Fixed,
    ] {
        let config = FAdamConfig::new().with_epsilon_rule(rule);
        let run = || {
            let mut theta: Vec<f32> = (0..70_001)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.01)
                .collect();
            let mut state = State::new(theta.len());
            for s in 0..3 {
                let g: Vec<f32> = (0..theta.len())
                    .map(|i| ((i * 13 + s) % 29) as f32 * 1e-7 - 1.4e-6)
                    .collect();
                step(&config, &mut theta, &g, state.as_mut()).unwrap();
            }
            (theta, state)
        };
        assert_eq!(run(), run());
    }
}

/// With the `rayon` feature, the result does not depend on the number of
/// threads: 1, 2 and 3 threads give the same bits.
#[cfg(feature = "rayon")]
#[test]
fn thread_count_does_not_change_bits() {
    let config = FAdamConfig::new();
    let n = 300_007;
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut theta: Vec<f32> = (0..n)
                .map(|i| ((i * 31 % 97) as f32 - 48.0) * 0.02)
                .collect();
            let mut state = State::new(n);
            for s in 0..3 {
                let g: Vec<f32> = (0..n)
                    .map(|i| ((i * 17 + s) % 23) as f32 * 0.1 - 1.1)
                    .collect();
                step(&config, &mut theta, &g, state.as_mut()).unwrap();
            }
            (theta, state)
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));

    // A model of many tensors, stepped in parallel across tensors.
    let sizes: Vec<usize> = (0..40).map(|i| 1 + (i * 7919) % 50_000).collect();
    let model = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut params: Vec<Vec<f32>> = sizes
                .iter()
                .map(|&n| (0..n).map(|i| (i as f32 * 0.01).sin()).collect())
                .collect();
            let grads: Vec<Vec<f32>> = sizes
                .iter()
                .map(|&n| (0..n).map(|i| (i as f32 * 0.03).cos() * 1e-3).collect())
                .collect();
            let mut states: Vec<State<f32>> = sizes.iter().map(|&n| State::new(n)).collect();
            let groups = [FAdamConfig::new(), FAdamConfig::adamw()];
            for _ in 0..3 {
                let mut tensors: Vec<_> = params
                    .iter_mut()
                    .zip(&grads)
                    .zip(&mut states)
                    .enumerate()
                    .map(|(i, ((p, g), s))| Tensor::new(p, g, s.as_mut()).with_group(i % 2))
                    .collect();
                step_model(&groups, &mut tensors).unwrap();
            }
            (params, states)
        })
    };
    let one = model(1);
    assert_eq!(one, model(3));
}

/// f16 and bf16 parameters step with f32 state and arithmetic: the result
/// is the f32 step rounded.
#[cfg(feature = "half")]
#[test]
fn half_precision_parameters() {
    use half::{bf16, f16};
    let config = FAdamConfig::new();
    let theta32: Vec<f32> = (0..100).map(|i| (i as f32 - 50.0) * 0.03).collect();
    let g32: Vec<f32> = (0..100)
        .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1)
        .collect();
    let mut reference = theta32
        .iter()
        .map(|&v| f16::from_f32(v).to_f32())
        .collect::<Vec<_>>();
    let g_ref: Vec<f32> = g32.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
    let mut s_ref = State::<f32>::new(100);
    step(&config, &mut reference, &g_ref, s_ref.as_mut()).unwrap();
    let mut theta: Vec<f16> = theta32.iter().map(|&v| f16::from_f32(v)).collect();
    let g: Vec<f16> = g32.iter().map(|&v| f16::from_f32(v)).collect();
    let mut s = State::<f32>::new(100);
    step(&config, &mut theta, &g, s.as_mut()).unwrap();
    for (a, b) in theta.iter().zip(&reference) {
        assert_eq!(*a, f16::from_f32(*b));
    }
    assert_eq!(s, s_ref);
    let mut theta: Vec<bf16> = theta32.iter().map(|&v| bf16::from_f32(v)).collect();
    let g: Vec<bf16> = g32.iter().map(|&v| bf16::from_f32(v)).collect();
    let mut s = State::<f32>::new(100);
    step(&config, &mut theta, &g, s.as_mut()).unwrap();
    assert!(
        theta
            .iter()
            .zip(&theta32)
            .all(|(a, b)| (a.to_f32() - b).abs() < 0.02)
    );
}

/// Squares of gradients below 1e-19 underflow f32, but RMS(g) and the
/// adaptive epsilon it selects are still the true ones (the GPU and burn
/// steps compute them exactly too).
#[test]
fn tiny_gradients_keep_their_rms() {
    for scale in [1e-20f32, 1e-30, 1e-40] {
        let grads: Vec<f32> = (0..1000).map(|i| scale * ((i % 7) as f32 - 3.0)).collect();
        let exact = rms(&widen(&grads));
        let mut theta = vec![1.0f32; 1000];
        let stats = step(
            &FAdamConfig::new(),
            &mut theta,
            &grads,
            State::new(1000).as_mut(),
        )
        .unwrap();
        assert!(
            (stats.grad_rms - exact).abs() <= 1e-6 * exact,
            "{scale}: {} vs {exact}",
            stats.grad_rms
        );
        let eps = (0.01 * exact).max(f64::from(f32::MIN_POSITIVE));
        assert!(
            (stats.epsilon - eps).abs() <= 1e-6 * eps,
            "{scale}: {}",
            stats.epsilon
        );
        assert!(finite(&theta));
    }
}
