//! Hyperparameters and the switches that turn FAdam into Adam or AdamW.

use core::fmt;

/// How the epsilon added to the Fisher denominator is chosen.
///
/// Every rule falls back to the fixed value when `RMS(g) = 0`, so an all-zero
/// gradient never divides zero by zero (the paper's formula as written, and
/// `pytorch-optimizer` 3.x, write NaN there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum EpsilonRule {
    /// `pytorch-optimizer` 4.1.0: `e = (ε₂·RMS(g))^(2p)` when
    /// `0 < ε₂·RMS(g) < ε`, else `ε^(2p)`. The default.
    #[default]
    Adaptive,
    /// The paper's version 3 and `FAdam_PyTorch`: `e = ε·min(1, RMS(g))`,
    /// or `ε` when `RMS(g) = 0`.
    PaperV3,
    /// Adam's constant: `e = ε`.
    Fixed,
}

/// What the momentum accumulates and how it enters the update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum MomentumMode {
    /// FAdam: `m` is an EMA of the (clipped) natural gradient `g / d`, without
    /// bias correction, and the update is `m` itself.
    #[default]
    Natural,
    /// Adam: `m` is an EMA of the raw gradient and the update is
    /// `m̂ / d` with `m̂ = m / (1 - β1^t)`.
    Adam,
}

/// How weight decay with strength `λ` is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DecayMode {
    /// FAdam: `θ ← θ - η·λ·clip(θ / d)`, the weight decay preconditioned by
    /// the same Fisher diagonal as the gradient.
    #[default]
    Natural,
    /// AdamW: `θ ← θ·(1 - η·λ)` before the update.
    Decoupled,
    /// Adam's L2 penalty: `g ← g + λ·θ` before anything else.
    L2,
    /// No weight decay, whatever `λ` says.
    None,
}

/// A hyperparameter, as named in a [`ConfigError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Hyperparameter {
    /// `η`, [`FAdamConfig::lr`].
    LearningRate,
    /// `β1`, [`FAdamConfig::beta1`].
    Beta1,
    /// `β2`, [`FAdamConfig::beta2`].
    Beta2,
    /// `ε`, [`FAdamConfig::eps`].
    Epsilon,
    /// `ε₂`, [`FAdamConfig::eps2`].
    Epsilon2,
    /// `c`, [`FAdamConfig::clip`].
    Clip,
    /// `p`, [`FAdamConfig::fisher_power`].
    FisherPower,
    /// `λ`, [`FAdamConfig::weight_decay`].
    WeightDecay,
}

impl Hyperparameter {
    /// What a valid value looks like.
    pub const fn requirement(self) -> &'static str {
        match self {
            Self::LearningRate => "finite and >= 0",
            Self::Beta1 | Self::Beta2 => "in [0, 1)",
            Self::Epsilon | Self::Epsilon2 | Self::Clip | Self::FisherPower => "finite and > 0",
            Self::WeightDecay => "finite and >= 0",
        }
    }

    /// The name used in the documentation and in error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::LearningRate => "learning rate (lr)",
            Self::Beta1 => "beta1",
            Self::Beta2 => "beta2",
            Self::Epsilon => "epsilon (eps)",
            Self::Epsilon2 => "epsilon scale (eps2)",
            Self::Clip => "clip threshold",
            Self::FisherPower => "Fisher power (p)",
            Self::WeightDecay => "weight decay",
        }
    }
}

/// An invalid hyperparameter value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfigError {
    /// Which hyperparameter.
    pub parameter: Hyperparameter,
    /// The value it had.
    pub value: f64,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} must be {}, got {}",
            self.parameter.name(),
            self.parameter.requirement(),
            self.value
        )
    }
}

impl core::error::Error for ConfigError {}

/// FAdam's hyperparameters and switches, with the paper's defaults.
///
/// | field | symbol | default |
/// |---|---|---|
/// | [`lr`](Self::lr) | η | 1e-3 |
/// | [`beta1`](Self::beta1) | β1 | 0.9 |
/// | [`beta2`](Self::beta2) | β2 | 0.999 |
/// | [`eps`](Self::eps) | ε | 1e-8 |
/// | [`eps2`](Self::eps2) | ε₂ | 0.01 |
/// | [`clip`](Self::clip) | c | `Some(1.0)` |
/// | [`fisher_power`](Self::fisher_power) | p | 0.5 |
/// | [`weight_decay`](Self::weight_decay) | λ | 0.1 |
/// | [`epsilon_rule`](Self::epsilon_rule) | | [`EpsilonRule::Adaptive`] |
/// | [`momentum`](Self::momentum) | | [`MomentumMode::Natural`] |
/// | [`decay`](Self::decay) | | [`DecayMode::Natural`] |
/// | [`maximize`](Self::maximize) | | `false` |
///
/// The fields are public so that a schedule can change `lr` between steps;
/// every step validates the whole config and refuses an invalid one with a
/// typed error before touching anything.
///
/// ```
/// use fadam_core::{DecayMode, FAdamConfig};
///
/// let config = FAdamConfig::new().with_lr(3e-4).with_weight_decay(0.0);
/// assert!(config.validate().is_ok());
/// assert_eq!(config.decay, DecayMode::Natural);
///
/// let bad = FAdamConfig::new().with_beta2(1.0);
/// assert_eq!(
///     bad.validate().unwrap_err().to_string(),
///     "beta2 must be in [0, 1), got 1"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FAdamConfig {
    /// Learning rate `η`.
    pub lr: f64,
    /// Momentum decay `β1`.
    pub beta1: f64,
    /// Fisher EMA decay `β2`.
    pub beta2: f64,
    /// Epsilon `ε`.
    pub eps: f64,
    /// Epsilon scale `ε₂` of the adaptive epsilon rule.
    pub eps2: f64,
    /// RMS clip threshold `c`; `None` turns clipping off.
    pub clip: Option<f64>,
    /// Fisher power `p`: the denominator is `f^p + e`.
    pub fisher_power: f64,
    /// Weight decay strength `λ`.
    pub weight_decay: f64,
    /// How epsilon is chosen.
    pub epsilon_rule: EpsilonRule,
    /// What the momentum accumulates.
    pub momentum: MomentumMode,
    /// How weight decay is applied.
    pub decay: DecayMode,
    /// Ascend instead of descend (the gradient is negated first).
    pub maximize: bool,
}

impl Default for FAdamConfig {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $field:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub const fn $name(mut self, value: $ty) -> Self {
                self.$field = value;
                self
            }
        )*
    };
}

impl FAdamConfig {
    /// FAdam with the paper's defaults.
    pub const fn new() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            eps2: 0.01,
            clip: Some(1.0),
            fisher_power: 0.5,
            weight_decay: 0.1,
            epsilon_rule: EpsilonRule::Adaptive,
            momentum: MomentumMode::Natural,
            decay: DecayMode::Natural,
            maximize: false,
        }
    }

    /// Textbook Adam (Kingma & Ba), as `torch.optim.Adam` with its defaults:
    /// raw-gradient momentum with bias correction, fixed `ε`, no clipping, L2
    /// weight decay with `λ = 0`.
    ///
    /// ```
    /// use fadam_core::{FAdamConfig, MomentumMode};
    /// let adam = FAdamConfig::adam().with_lr(1e-2);
    /// assert_eq!(adam.momentum, MomentumMode::Adam);
    /// assert_eq!(adam.clip, None);
    /// ```
    pub const fn adam() -> Self {
        Self {
            clip: None,
            weight_decay: 0.0,
            epsilon_rule: EpsilonRule::Fixed,
            momentum: MomentumMode::Adam,
            decay: DecayMode::L2,
            ..Self::new()
        }
    }

    /// AdamW (Loshchilov & Hutter), as `torch.optim.AdamW` with its defaults:
    /// Adam with decoupled weight decay `λ = 0.01`.
    pub const fn adamw() -> Self {
        Self {
            weight_decay: 0.01,
            decay: DecayMode::Decoupled,
            ..Self::adam()
        }
    }

    setters! {
        /// Sets the learning rate `η`.
        with_lr: lr: f64;
        /// Sets the momentum decay `β1`.
        with_beta1: beta1: f64;
        /// Sets the Fisher EMA decay `β2`.
        with_beta2: beta2: f64;
        /// Sets epsilon `ε`.
        with_eps: eps: f64;
        /// Sets the epsilon scale `ε₂`.
        with_eps2: eps2: f64;
        /// Sets the Fisher power `p`.
        with_fisher_power: fisher_power: f64;
        /// Sets the weight decay strength `λ` (the mode stays as it is).
        with_weight_decay: weight_decay: f64;
        /// Sets the epsilon rule.
        with_epsilon_rule: epsilon_rule: EpsilonRule;
        /// Sets the momentum mode.
        with_momentum: momentum: MomentumMode;
        /// Sets the weight decay mode.
        with_decay: decay: DecayMode;
        /// Ascend instead of descend.
        with_maximize: maximize: bool;
    }

    /// Sets both betas.
    #[must_use]
    pub const fn with_betas(self, beta1: f64, beta2: f64) -> Self {
        self.with_beta1(beta1).with_beta2(beta2)
    }

    /// Turns RMS clipping on at threshold `c`.
    #[must_use]
    pub const fn with_clip(mut self, c: f64) -> Self {
        self.clip = Some(c);
        self
    }

    /// Turns RMS clipping off.
    #[must_use]
    pub const fn without_clip(mut self) -> Self {
        self.clip = None;
        self
    }

    /// Checks every hyperparameter; the first invalid one is reported.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the hyperparameter and its value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        use Hyperparameter as H;
        let nonneg = |v: f64| v.is_finite() && v >= 0.0;
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let beta = |v: f64| (0.0..1.0).contains(&v);
        let checks = [
            (H::LearningRate, self.lr, nonneg(self.lr)),
            (H::Beta1, self.beta1, beta(self.beta1)),
            (H::Beta2, self.beta2, beta(self.beta2)),
            (H::Epsilon, self.eps, positive(self.eps)),
            (H::Epsilon2, self.eps2, positive(self.eps2)),
            (
                H::Clip,
                self.clip.unwrap_or(1.0),
                positive(self.clip.unwrap_or(1.0)),
            ),
            (
                H::FisherPower,
                self.fisher_power,
                positive(self.fisher_power),
            ),
            (H::WeightDecay, self.weight_decay, nonneg(self.weight_decay)),
        ];
        match checks.into_iter().find(|&(_, _, ok)| !ok) {
            Some((parameter, value, _)) => Err(ConfigError { parameter, value }),
            None => Ok(()),
        }
    }

    /// Whether natural weight decay is on with a non-zero `λ`.
    pub(crate) fn natural_decay(&self) -> bool {
        self.decay == DecayMode::Natural && self.weight_decay != 0.0
    }

    /// Whether a step needs `RMS(n)` or `RMS(w)`: clipping is on and applies
    /// to something.
    pub(crate) fn needs_natural_sums(&self) -> bool {
        self.clip.is_some() && (self.momentum == MomentumMode::Natural || self.natural_decay())
    }

    /// `λ` if weight decay is applied in `mode`, else 0.
    ///
    /// ```
    /// use fadam_core::{DecayMode, FAdamConfig};
    /// let adamw = FAdamConfig::adamw();
    /// assert_eq!(adamw.decay_strength(DecayMode::Decoupled), 0.01);
    /// assert_eq!(adamw.decay_strength(DecayMode::Natural), 0.0);
    /// ```
    pub fn decay_strength(&self, mode: DecayMode) -> f64 {
        if self.decay == mode {
            self.weight_decay
        } else {
            0.0
        }
    }

    /// The epsilon `e` added to `f^p` when `RMS(g) = grad_rms`, by
    /// [`epsilon_rule`](Self::epsilon_rule), and at least `floor`.
    ///
    /// `floor` keeps `d = f^p + e` a normal number of the working type (pass
    /// its smallest positive normal value, e.g. `f32::MIN_POSITIVE as f64`),
    /// so that `g / d` is finite for finite `g`; it changes `e` only where
    /// the rule gives less than that.
    ///
    /// ```
    /// use fadam_core::{EpsilonRule, FAdamConfig};
    /// let floor = f32::MIN_POSITIVE as f64;
    /// let config = FAdamConfig::new(); // adaptive: ε = 1e-8, ε₂ = 0.01, p = ½
    /// assert_eq!(config.epsilon(1e-9, floor), 0.01 * 1e-9); // ε₂·RMS(g) < ε
    /// assert_eq!(config.epsilon(1.0, floor), config.epsilon_fallback(floor));
    /// assert_eq!(config.epsilon(0.0, floor), 1e-8);
    ///
    /// let v3 = config.with_epsilon_rule(EpsilonRule::PaperV3);
    /// assert_eq!(v3.epsilon(0.5, floor), 1e-8 * 0.5);
    /// ```
    pub fn epsilon(&self, grad_rms: f64, floor: f64) -> f64 {
        let r = grad_rms;
        match self.epsilon_rule {
            EpsilonRule::Adaptive => {
                let s = self.eps2 * r;
                if s > 0.0 && s < self.eps {
                    libm::pow(s, 2.0 * self.fisher_power).max(floor)
                } else {
                    self.epsilon_fallback(floor)
                }
            }
            EpsilonRule::PaperV3 if r > 0.0 => (self.eps * r.min(1.0)).max(floor),
            EpsilonRule::PaperV3 | EpsilonRule::Fixed => self.epsilon_fallback(floor),
        }
    }

    /// The epsilon when `RMS(g)` is 0 or not small: `ε^(2p)` for
    /// [`EpsilonRule::Adaptive`], else `ε`; at least `floor` (see
    /// [`epsilon`](Self::epsilon)). For the adaptive and fixed rules it is
    /// the epsilon of any `RMS(g) ≥ ε/ε₂`, which lets a step guess it before
    /// the gradient's sum is known.
    ///
    /// ```
    /// use fadam_core::{FAdamConfig, EpsilonRule};
    /// let floor = f64::MIN_POSITIVE;
    /// let config = FAdamConfig::new().with_eps(1e-4).with_fisher_power(1.0);
    /// assert_eq!(config.epsilon_fallback(floor), 1e-4 * 1e-4);
    /// let fixed = config.with_epsilon_rule(EpsilonRule::Fixed);
    /// assert_eq!(fixed.epsilon_fallback(floor), 1e-4);
    /// assert_eq!(fixed.with_eps(1e-300).epsilon_fallback(1e-200), 1e-200);
    /// ```
    pub fn epsilon_fallback(&self, floor: f64) -> f64 {
        let e = match self.epsilon_rule {
            EpsilonRule::Adaptive => libm::pow(self.eps, 2.0 * self.fisher_power),
            EpsilonRule::PaperV3 | EpsilonRule::Fixed => self.eps,
        };
        e.max(floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_invalid_value_is_named() {
        use Hyperparameter as H;
        let base = FAdamConfig::new();
        let cases = [
            (base.with_lr(f64::NAN), H::LearningRate),
            (base.with_lr(-1.0), H::LearningRate),
            (base.with_lr(f64::INFINITY), H::LearningRate),
            (base.with_beta1(1.0), H::Beta1),
            (base.with_beta1(-0.1), H::Beta1),
            (base.with_beta2(f64::NAN), H::Beta2),
            (base.with_eps(0.0), H::Epsilon),
            (base.with_eps(f64::INFINITY), H::Epsilon),
            (base.with_eps2(-1.0), H::Epsilon2),
            (base.with_clip(0.0), H::Clip),
            (base.with_clip(f64::NAN), H::Clip),
            (base.with_fisher_power(0.0), H::FisherPower),
            (base.with_weight_decay(-0.1), H::WeightDecay),
            (base.with_weight_decay(f64::INFINITY), H::WeightDecay),
        ];
        for (config, parameter) in cases {
            assert_eq!(
                config.validate().unwrap_err().parameter,
                parameter,
                "{config:?}"
            );
        }
        assert!(base.validate().is_ok());
        assert!(FAdamConfig::adam().validate().is_ok());
        assert!(FAdamConfig::adamw().validate().is_ok());
        assert!(
            base.without_clip()
                .with_lr(0.0)
                .with_beta1(0.0)
                .validate()
                .is_ok()
        );
    }
}
