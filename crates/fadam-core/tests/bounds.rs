//! The update bounds the crate docs state, one per momentum mode, with
//! clipping on (issue 10, item 6).

use fadam_core::{DecayMode, FAdamConfig, MomentumMode, State, step};

fn rms(v: &[f64]) -> f64 {
    (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt()
}

/// A gradient sequence with long quiet stretches and sudden spikes: the
/// worst case for an update bound.
fn gradient(t: usize, i: usize) -> f64 {
    let wave = ((t * 7 + i * 13) % 17) as f64 - 8.0;
    if t % 2000 == 1999 {
        wave * 1e3
    } else {
        wave * 1e-6
    }
}

/// Steps `config` over the sequence, returning each step's `RMS(Δθ)` and
/// the step number.
fn deltas(config: &FAdamConfig, steps: usize) -> Vec<(u64, f64)> {
    let n = 24;
    let mut theta: Vec<f64> = (0..n).map(|i| (i as f64 - 12.0) * 0.1).collect();
    let mut state = State::new(n);
    (0..steps)
        .map(|t| {
            let g: Vec<f64> = (0..n).map(|i| gradient(t, i)).collect();
            let before = theta.clone();
            step(config, &mut theta, &g, state.as_mut()).unwrap();
            let d: Vec<f64> = theta.iter().zip(&before).map(|(a, b)| a - b).collect();
            (state.step(), rms(&d))
        })
        .collect()
}

#[test]
fn natural_momentum_bound_is_lr_clip_one_plus_lambda() {
    for decay in [DecayMode::Natural, DecayMode::L2, DecayMode::None] {
        let config = FAdamConfig::new()
            .with_lr(0.01)
            .with_decay(decay)
            .with_weight_decay(0.3);
        let lambda = if decay == DecayMode::Natural {
            0.3
        } else {
            0.0
        };
        let bound = 0.01 * 1.0 * (1.0 + lambda);
        for (t, d) in deltas(&config, 2000) {
            assert!(
                d <= bound * (1.0 + 1e-12),
                "{decay:?} step {t}: {d} > {bound}"
            );
        }
    }
}

/// `A_t = (1-β1)/(1-β1^t) · sqrt((1-β2^t)/(1-β2) · Σ_{j<t} (β1²/β2)^j)`:
/// the largest `|m̂/√f|` the Cauchy–Schwarz inequality allows after `t`
/// steps from a zero state (`p = ½`, `β2 > 0`).
fn adam_bound(beta1: f64, beta2: f64, t: u64) -> f64 {
    let r = beta1 * beta1 / beta2;
    let series: f64 = (0..t).map(|j| r.powi(j as i32)).sum();
    let ti = t as i32;
    (1.0 - beta1) / (1.0 - beta1.powi(ti))
        * ((1.0 - beta2.powi(ti)) / (1.0 - beta2) * series).sqrt()
}

#[test]
fn adam_momentum_bound_is_lr_times_a_t_plus_lambda_clip() {
    let config = FAdamConfig::new()
        .with_lr(0.01)
        .with_momentum(MomentumMode::Adam)
        .with_weight_decay(0.1);
    let old_claim = 0.01 * 1.0 * 1.1;
    let mut exceeded = 0.0f64;
    for (t, d) in deltas(&config, 2000) {
        let bound = 0.01 * (adam_bound(0.9, 0.999, t) + 0.1 * 1.0);
        assert!(d <= bound * (1.0 + 1e-12), "step {t}: {d} > {bound}");
        exceeded = exceeded.max(d / old_claim);
    }
    // The bound `η·c·(1+λ)` of the natural mode does not hold here: clipping
    // applies to the natural weight decay only.
    assert!(exceeded > 2.0, "{exceeded}");
}
