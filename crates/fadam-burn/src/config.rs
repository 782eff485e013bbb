//! The burn-side configuration: hyperparameters, switches, and the
//! conversions to and from [`fadam_core::FAdamConfig`].

use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::optim::ModuleOptimizer;
use fadam_core::ConfigError;

use crate::FAdam;

/// How the epsilon added to the Fisher denominator is chosen: a mirror of
/// [`fadam_core::EpsilonRule`] that burn's [`Config`] can serialize.
///
/// Every rule falls back to the fixed value when `RMS(g) = 0`.
#[derive(Config, Debug, Copy, PartialEq, Eq, Hash)]
pub enum EpsilonRule {
    /// `e = (ε₂·RMS(g))^(2p)` when `0 < ε₂·RMS(g) < ε`, else `ε^(2p)` (as
    /// `pytorch-optimizer` 4.1.0). The default.
    Adaptive,
    /// `e = ε·min(1, RMS(g))`, or `ε` when `RMS(g) = 0` (the paper's version
    /// 3 and `FAdam_PyTorch`).
    PaperV3,
    /// Adam's constant: `e = ε`.
    Fixed,
}

/// What the momentum accumulates: a mirror of [`fadam_core::MomentumMode`]
/// that burn's [`Config`] can serialize.
#[derive(Config, Debug, Copy, PartialEq, Eq, Hash)]
pub enum MomentumMode {
    /// FAdam: an EMA of the clipped natural gradient `g / d`, without bias
    /// correction. The default.
    Natural,
    /// Adam: an EMA of the raw gradient; the update is `m̂ / d` with
    /// `m̂ = m / (1 - β1^t)`.
    Adam,
}

/// How weight decay is applied: a mirror of [`fadam_core::DecayMode`] that
/// burn's [`Config`] can serialize.
#[derive(Config, Debug, Copy, PartialEq, Eq, Hash)]
pub enum DecayMode {
    /// FAdam: `θ ← θ - η·λ·clip(θ / d)`. The default.
    Natural,
    /// AdamW: `θ ← θ·(1 - η·λ)` before the update.
    Decoupled,
    /// Adam's L2 penalty: `g ← g + λ·θ`.
    L2,
    /// No weight decay, whatever `λ` says.
    None,
}

macro_rules! mirror {
    ($local:ident, $core:path, [$($variant:ident),*]) => {
        impl From<$core> for $local {
            fn from(value: $core) -> Self {
                use $core as C;
                match value {
                    $(C::$variant => Self::$variant,)*
                }
            }
        }

        impl From<$local> for $core {
            fn from(value: $local) -> Self {
                use $core as C;
                match value {
                    $($local::$variant => C::$variant,)*
                }
            }
        }
    };
}

mirror!(
    EpsilonRule,
    fadam_core::EpsilonRule,
    [Adaptive, PaperV3, Fixed]
);
mirror!(MomentumMode, fadam_core::MomentumMode, [Natural, Adam]);
mirror!(
    DecayMode,
    fadam_core::DecayMode,
    [Natural, Decoupled, L2, None]
);

/// [`FAdam`] configuration, with the paper's defaults.
///
/// A drop-in replacement for burn's `AdamWConfig`: the learning rate is
/// given to each `step`, as for every burn optimizer, and
/// [`init`](Self::init) returns the same [`ModuleOptimizer`].
///
/// | field | symbol | default |
/// |---|---|---|
/// | `beta_1` | β1 | 0.9 |
/// | `beta_2` | β2 | 0.999 |
/// | `epsilon` | ε | 1e-8 |
/// | `epsilon_scale` | ε₂ | 0.01 |
/// | `clip_threshold` | c | `Some(1.0)` (`None`: no RMS clipping) |
/// | `fisher_power` | p | 0.5 |
/// | `weight_decay` | λ | 0.1 |
/// | `epsilon_rule` | | [`EpsilonRule::Adaptive`] |
/// | `momentum` | | [`MomentumMode::Natural`] |
/// | `decay` | | [`DecayMode::Natural`] |
/// | `maximize` | | `false` |
/// | `grad_clipping` | | `None` (burn's gradient clipping, before the step) |
///
/// ```
/// use fadam_burn::FAdamConfig;
///
/// // Was: let optim = AdamWConfig::new().init();
/// let optim = FAdamConfig::new().init();
/// # let _ = optim;
/// ```
#[derive(Config, Debug)]
pub struct FAdamConfig {
    /// Momentum decay `β1`.
    #[config(default = 0.9)]
    pub beta_1: f64,
    /// Fisher EMA decay `β2`.
    #[config(default = 0.999)]
    pub beta_2: f64,
    /// Epsilon `ε`.
    #[config(default = 1e-8)]
    pub epsilon: f64,
    /// Epsilon scale `ε₂` of [`EpsilonRule::Adaptive`].
    #[config(default = 0.01)]
    pub epsilon_scale: f64,
    /// RMS clip threshold `c` of the natural gradient and the natural weight
    /// decay; `None` turns this clipping off.
    #[config(default = "Some(1.0)")]
    pub clip_threshold: Option<f64>,
    /// Fisher power `p`: the denominator is `f^p + e`.
    #[config(default = 0.5)]
    pub fisher_power: f64,
    /// Weight decay strength `λ`.
    #[config(default = 0.1)]
    pub weight_decay: f64,
    /// How epsilon is chosen.
    #[config(default = "EpsilonRule::Adaptive")]
    pub epsilon_rule: EpsilonRule,
    /// What the momentum accumulates.
    #[config(default = "MomentumMode::Natural")]
    pub momentum: MomentumMode,
    /// How weight decay is applied.
    #[config(default = "DecayMode::Natural")]
    pub decay: DecayMode,
    /// Ascend instead of descend.
    #[config(default = false)]
    pub maximize: bool,
    /// burn's [gradient clipping](GradientClippingConfig), applied to each
    /// gradient before the step (independent of `clip_threshold`).
    pub grad_clipping: Option<GradientClippingConfig>,
}

impl FAdamConfig {
    /// Textbook Adam (as `torch.optim.Adam`): raw-gradient momentum with
    /// bias correction, fixed `ε`, no RMS clipping, L2 decay with `λ = 0`.
    pub fn adam() -> Self {
        Self::from_core(&fadam_core::FAdamConfig::adam())
    }

    /// AdamW (as `torch.optim.AdamW`): Adam with decoupled weight decay
    /// `λ = 0.01`.
    pub fn adamw() -> Self {
        Self::from_core(&fadam_core::FAdamConfig::adamw())
    }

    /// The same hyperparameters as a [`fadam_core::FAdamConfig`] with learning
    /// rate `lr` (the burn config has none: burn passes it to each step).
    pub fn to_core(&self, lr: f64) -> fadam_core::FAdamConfig {
        fadam_core::FAdamConfig {
            lr,
            beta1: self.beta_1,
            beta2: self.beta_2,
            eps: self.epsilon,
            eps2: self.epsilon_scale,
            clip: self.clip_threshold,
            fisher_power: self.fisher_power,
            weight_decay: self.weight_decay,
            epsilon_rule: self.epsilon_rule.into(),
            momentum: self.momentum.into(),
            decay: self.decay.into(),
            maximize: self.maximize,
        }
    }

    /// The burn config of a [`fadam_core::FAdamConfig`]; its learning rate
    /// is dropped (give it to each step), and there is no gradient clipping.
    pub fn from_core(config: &fadam_core::FAdamConfig) -> Self {
        Self {
            beta_1: config.beta1,
            beta_2: config.beta2,
            epsilon: config.eps,
            epsilon_scale: config.eps2,
            clip_threshold: config.clip,
            fisher_power: config.fisher_power,
            weight_decay: config.weight_decay,
            epsilon_rule: config.epsilon_rule.into(),
            momentum: config.momentum.into(),
            decay: config.decay.into(),
            maximize: config.maximize,
            grad_clipping: None,
        }
    }

    /// Builds the per-tensor optimizer, checking every hyperparameter.
    ///
    /// # Errors
    /// The first invalid hyperparameter, as [`fadam_core`] reports it.
    pub fn try_build(&self) -> Result<FAdam, ConfigError> {
        let core = self.to_core(0.0);
        core.validate()?;
        Ok(FAdam::new(core))
    }

    /// Builds the bare per-tensor optimizer, which
    /// [`ModuleOptimizer::with_group`] takes to optimize one parameter
    /// group. [`init`](Self::init) is the whole-module counterpart, and the
    /// only one that applies the configured gradient clipping.
    ///
    /// # Panics
    /// On an invalid hyperparameter; [`try_build`](Self::try_build) returns
    /// it instead.
    pub fn build(&self) -> FAdam {
        self.try_build()
            .unwrap_or_else(|error| panic!("invalid FAdam config: {error}"))
    }

    /// Initializes the optimizer of a whole module, with the configured
    /// gradient clipping.
    ///
    /// # Panics
    /// On an invalid hyperparameter.
    pub fn init(&self) -> ModuleOptimizer {
        self.init_from(self.build())
    }

    /// [`init`](Self::init) with the steps of `f32` tensors on `kernels`'
    /// device run as fadam-wgpu's passes ([`FAdam::with_wgpu`]).
    #[cfg(feature = "wgpu")]
    pub fn init_wgpu(&self, kernels: &crate::WgpuKernels) -> ModuleOptimizer {
        self.init_from(self.build().with_wgpu(kernels))
    }

    fn init_from(&self, optim: FAdam) -> ModuleOptimizer {
        let mut optim = ModuleOptimizer::from(optim);
        if let Some(config) = &self.grad_clipping {
            optim = optim.with_grad_clipping(config.init());
        }
        optim
    }
}

impl From<fadam_core::FAdamConfig> for FAdamConfig {
    fn from(config: fadam_core::FAdamConfig) -> Self {
        Self::from_core(&config)
    }
}
