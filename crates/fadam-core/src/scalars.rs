//! The scalars of one step, computed once for every implementation.

use crate::{DecayMode, FAdamConfig, Hyperparameter, MomentumMode};

/// The per-step constants of the update at step `t`, in `f64`: what every
/// element of every tensor of a group is multiplied by. fadam-core computes
/// them here and only here; the GPU and tensor-framework implementations
/// take them from this type so that they agree to the bit before rounding
/// to their working precision.
///
/// ```text
/// b2              = β2 (1 - β2^(t-1)) / (1 - β2^t)     bias-corrected Fisher decay
/// bias_correction = 1 - β1^t (Adam momentum), else 1
/// θ ← θ·decoupled_keep - lr · (dir + natural_decay · w)
/// ```
///
/// with `dir` the momentum `m` (FAdam) or `m / d` (Adam), so that Adam's
/// bias correction scales `m` alone, as torch orders it.
///
/// ```
/// use fadam_core::{FAdamConfig, StepScalars};
///
/// let config = FAdamConfig::adam().with_lr(0.01);
/// let first = StepScalars::new(&config, 1);
/// assert_eq!(first.b2, 0.0); // f = g² at the first step
/// assert_eq!(first.one_minus_b2, 1.0);
/// assert!((first.bias_correction - 0.1).abs() < 1e-15);
/// assert!((first.lr - 0.1).abs() < 1e-14);
/// assert_eq!(first.sign, 1.0);
///
/// let fadam = StepScalars::new(&FAdamConfig::new(), 10);
/// assert_eq!(fadam.bias_correction, 1.0); // natural momentum: none
/// assert_eq!(fadam.natural_decay, 0.1);
/// assert_eq!(fadam.decoupled_keep, 1.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepScalars {
    /// The bias-corrected Fisher decay `β2 (1 - β2^(t-1)) / (1 - β2^t)`: 0 at
    /// `t = 1`, tending to `β2`.
    pub b2: f64,
    /// `1 - b2`.
    pub one_minus_b2: f64,
    /// `1 - β1^t` with [`MomentumMode::Adam`], else 1.
    pub bias_correction: f64,
    /// The learning rate of the step: `η / bias_correction`.
    pub lr: f64,
    /// The strength of natural weight decay in the update direction:
    /// `λ · bias_correction` with [`DecayMode::Natural`], else 0.
    pub natural_decay: f64,
    /// What `θ` is multiplied by before the update: `1 - η·λ` with
    /// [`DecayMode::Decoupled`], else 1.
    pub decoupled_keep: f64,
    /// The L2 penalty added to the gradient, `g ← sign·g + l2·θ`: `λ` with
    /// [`DecayMode::L2`], else 0.
    pub l2: f64,
    /// -1 to maximize, else 1.
    pub sign: f64,
}

impl StepScalars {
    /// The constants of step `t` (1 for the first step) under `config`.
    ///
    /// `t` must be at least 1: at `t = 0` the Fisher decay divides by zero.
    /// The config is not validated here (a step validates it first).
    ///
    /// ```
    /// use fadam_core::{FAdamConfig, StepScalars};
    /// let s = StepScalars::new(&FAdamConfig::new().with_beta2(0.5), 2);
    /// assert_eq!(s.b2, 0.5 * (1.0 - 0.5) / (1.0 - 0.25));
    /// ```
    pub fn new(config: &FAdamConfig, t: u64) -> Self {
        let c = config;
        // As the reference computes it, with the bit-reproducible libm.
        let bt = libm::pow(c.beta2, t as f64);
        let b2 = (bt - c.beta2) / (bt - 1.0);
        let bias_correction = match c.momentum {
            MomentumMode::Natural => 1.0,
            MomentumMode::Adam => 1.0 - libm::pow(c.beta1, t as f64),
        };
        Self {
            b2,
            one_minus_b2: 1.0 - b2,
            bias_correction,
            lr: c.lr / bias_correction,
            natural_decay: c.decay_strength(DecayMode::Natural) * bias_correction,
            decoupled_keep: 1.0 - c.lr * c.decay_strength(DecayMode::Decoupled),
            l2: c.decay_strength(DecayMode::L2),
            sign: if c.maximize { -1.0 } else { 1.0 },
        }
    }
}

impl StepScalars {
    /// The first constant whose magnitude exceeds `max` (the largest finite
    /// value of the state type), with the hyperparameter it comes from: a
    /// constant that rounds to infinity in the state type would multiply a
    /// zero somewhere and write NaN.
    pub(crate) fn out_of_range(&self, max: f64) -> Option<(Hyperparameter, f64)> {
        use Hyperparameter as H;
        [
            (H::LearningRate, self.lr),
            (H::WeightDecay, self.natural_decay),
            (H::WeightDecay, self.decoupled_keep),
            (H::WeightDecay, self.l2),
        ]
        .into_iter()
        .find(|&(_, v)| v.is_nan() || v.abs() > max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EpsilonRule;

    #[test]
    fn fisher_decay_starts_at_zero_and_tends_to_beta2() {
        for beta2 in [0.0, 0.5, 0.9, 0.999, 0.999_999] {
            let c = FAdamConfig::new().with_beta2(beta2);
            let first = StepScalars::new(&c, 1);
            assert_eq!((first.b2, first.one_minus_b2), (0.0, 1.0), "{beta2}");
            let late = StepScalars::new(&c, u64::MAX);
            assert_eq!(late.b2, beta2);
        }
    }

    #[test]
    fn each_decay_mode_sets_only_its_own_term() {
        let c = FAdamConfig::adam().with_lr(0.5).with_weight_decay(0.25);
        let at = |decay| StepScalars::new(&c.with_decay(decay), 1);
        let bias = 1.0 - 0.9;
        let (n, d, l, none) = (
            at(DecayMode::Natural),
            at(DecayMode::Decoupled),
            at(DecayMode::L2),
            at(DecayMode::None),
        );
        assert_eq!(
            (n.natural_decay, n.decoupled_keep, n.l2),
            (0.25 * bias, 1.0, 0.0)
        );
        assert_eq!(
            (d.natural_decay, d.decoupled_keep, d.l2),
            (0.0, 1.0 - 0.125, 0.0)
        );
        assert_eq!((l.natural_decay, l.decoupled_keep, l.l2), (0.0, 1.0, 0.25));
        assert_eq!(
            (none.natural_decay, none.decoupled_keep, none.l2),
            (0.0, 1.0, 0.0)
        );
        assert_eq!(n.lr, 0.5 / bias);
        assert_eq!(StepScalars::new(&c.with_maximize(true), 1).sign, -1.0);
    }

    #[test]
    fn adaptive_epsilon_switches_at_eps_over_eps2() {
        let c = FAdamConfig::new().with_fisher_power(1.0);
        let floor = f64::MIN_POSITIVE;
        let edge = c.eps / c.eps2;
        assert_eq!(c.epsilon(edge, floor), c.epsilon_fallback(floor));
        let below = edge * (1.0 - f64::EPSILON);
        assert_eq!(c.epsilon(below, floor), libm::pow(c.eps2 * below, 2.0));
        assert_eq!(c.epsilon(f64::INFINITY, floor), c.epsilon_fallback(floor));
        let fixed = c.with_epsilon_rule(EpsilonRule::Fixed);
        assert_eq!(fixed.epsilon(1e-30, floor), c.eps);
        assert_eq!(c.epsilon(1e-300, 1e-100), 1e-100);
    }
}
