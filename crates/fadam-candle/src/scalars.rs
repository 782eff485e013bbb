//! The per-step constants of the update, as `fadam_core` computes them.
//!
//! A private mirror of `fadam_core::StepScalars`, `FAdamConfig::epsilon`
//! and `FAdamConfig::epsilon_fallback` (being added to fadam-core on
//! another branch): once they are in fadam-core, this file goes and the
//! tensor-op step imports them from there unchanged.

use fadam_core::{DecayMode, EpsilonRule, FAdamConfig, MomentumMode};

/// The constants of step `t` (1 for the first step), in `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct StepScalars {
    /// `β2 (1 - β2^(t-1)) / (1 - β2^t)`.
    pub(crate) b2: f64,
    /// `1 - b2`.
    pub(crate) one_minus_b2: f64,
    /// `η / (1 - β1^t)` with Adam momentum, else `η`.
    pub(crate) lr: f64,
    /// `λ · (1 - β1^t)` with natural decay and Adam momentum, `λ` with
    /// natural decay, else 0.
    pub(crate) natural_decay: f64,
    /// `1 - η·λ` with decoupled decay, else 1.
    pub(crate) decoupled_keep: f64,
    /// `λ` with the L2 penalty, else 0.
    pub(crate) l2: f64,
    /// -1 to maximize, else 1.
    pub(crate) sign: f64,
}

fn decay_strength(c: &FAdamConfig, mode: DecayMode) -> f64 {
    if c.decay == mode { c.weight_decay } else { 0.0 }
}

impl StepScalars {
    pub(crate) fn new(c: &FAdamConfig, t: u64) -> Self {
        let bt = libm::pow(c.beta2, t as f64);
        let b2 = (bt - c.beta2) / (bt - 1.0);
        let bias_correction = match c.momentum {
            MomentumMode::Natural => 1.0,
            MomentumMode::Adam => 1.0 - libm::pow(c.beta1, t as f64),
        };
        Self {
            b2,
            one_minus_b2: 1.0 - b2,
            lr: c.lr / bias_correction,
            natural_decay: decay_strength(c, DecayMode::Natural) * bias_correction,
            decoupled_keep: 1.0 - c.lr * decay_strength(c, DecayMode::Decoupled),
            l2: decay_strength(c, DecayMode::L2),
            sign: if c.maximize { -1.0 } else { 1.0 },
        }
    }
}

/// The epsilon when `RMS(g)` is 0 or not small, at least `floor`.
pub(crate) fn epsilon_fallback(c: &FAdamConfig, floor: f64) -> f64 {
    let e = match c.epsilon_rule {
        EpsilonRule::Adaptive => libm::pow(c.eps, 2.0 * c.fisher_power),
        EpsilonRule::PaperV3 | EpsilonRule::Fixed => c.eps,
    };
    e.max(floor)
}
