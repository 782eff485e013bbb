//! The FAdam step as `docs/algorithm.md` states it (the paper's algorithm
//! with the corrections of `pytorch-optimizer` 4.1.0), written from that
//! statement alone in plain f64 scalar code: no blocks, no lanes, no scaled
//! sums. Tests compare the crate's fast paths against it.

use fadam_core::{DecayMode, EpsilonRule, FAdamConfig, MomentumMode};
use fadam_testkit::close::rms;

#[derive(Clone, Debug)]
pub struct RefState {
    pub m: Vec<f64>,
    pub f: Vec<f64>,
    pub t: u64,
}

impl RefState {
    pub fn new(n: usize) -> Self {
        Self {
            m: vec![0.0; n],
            f: vec![0.0; n],
            t: 0,
        }
    }
}

/// One step of one tensor. `eps_floor` is the smallest normal number of the
/// state type the crate is run with (the crate's documented floor on `e`).
pub fn step(c: &FAdamConfig, theta: &mut [f64], grad: &[f64], s: &mut RefState, eps_floor: f64) {
    let n = theta.len();
    s.t += 1;
    let t = s.t as f64;
    let (b1, b2) = (c.beta1, c.beta2);
    let lam = c.weight_decay;
    // Effective gradient.
    let g: Vec<f64> = (0..n)
        .map(|i| {
            let g = if c.maximize { -grad[i] } else { grad[i] };
            if c.decay == DecayMode::L2 {
                g + lam * theta[i]
            } else {
                g
            }
        })
        .collect();
    let b2t = b2 * (1.0 - b2.powf(t - 1.0)) / (1.0 - b2.powf(t));
    for i in 0..n {
        s.f[i] = b2t * s.f[i] + (1.0 - b2t) * g[i] * g[i];
    }
    let r = rms(&g);
    let p = c.fisher_power;
    let e = match c.epsilon_rule {
        EpsilonRule::Adaptive => {
            let x = c.eps2 * r;
            if x > 0.0 && x < c.eps {
                x.powf(2.0 * p)
            } else {
                c.eps.powf(2.0 * p)
            }
        }
        EpsilonRule::PaperV3 => {
            if r > 0.0 {
                c.eps * r.min(1.0)
            } else {
                c.eps
            }
        }
        EpsilonRule::Fixed => c.eps,
    }
    .max(eps_floor);
    let d: Vec<f64> = s.f.iter().map(|f| f.powf(p) + e).collect();
    let clip = |x: &mut Vec<f64>| {
        if let Some(c) = c.clip {
            let k = (rms(x) / c).max(1.0);
            x.iter_mut().for_each(|v| *v /= k);
        }
    };
    let mut nat: Vec<f64> = (0..n).map(|i| g[i] / d[i]).collect();
    clip(&mut nat);
    let mut w: Vec<f64> = (0..n).map(|i| theta[i] / d[i]).collect();
    clip(&mut w);
    let bc1 = 1.0 - b1.powf(t);
    for i in 0..n {
        let (dir, keep);
        match c.momentum {
            MomentumMode::Natural => {
                s.m[i] = b1 * s.m[i] + (1.0 - b1) * nat[i];
                dir = s.m[i];
            }
            MomentumMode::Adam => {
                s.m[i] = b1 * s.m[i] + (1.0 - b1) * g[i];
                dir = s.m[i] / bc1 / d[i];
            }
        }
        let mut update = dir;
        match c.decay {
            DecayMode::Natural => {
                update += lam * w[i];
                keep = 1.0;
            }
            DecayMode::Decoupled => keep = 1.0 - c.lr * lam,
            DecayMode::L2 | DecayMode::None => keep = 1.0,
        }
        theta[i] = theta[i] * keep - c.lr * update;
    }
}
