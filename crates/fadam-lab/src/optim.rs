//! The optimizers compared, the settings swept, which parameters take
//! weight decay, and the learning-rate schedule.

use burn::module::{Module, ModuleVisitor, Param, ParamGroup, ParamId};
use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::tensor::Tensor;
use fadam_burn::FAdamConfig;

/// The optimizers compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Optim {
    /// `FAdamConfig::new()`, the paper's defaults, natural weight decay
    /// λ = 0.1 on every tensor; only the learning rate is swept.
    FAdamPaper,
    /// FAdam with λ swept, decay on weight matrices only.
    FAdam,
    /// `FAdamConfig::adamw()` (torch's AdamW, decoupled decay) with λ swept,
    /// decay on weight matrices only; λ = 0 is Adam.
    AdamW,
    /// burn's own `AdamWConfig` (ε = 1e-8) at AdamW's chosen setting, with the
    /// same decay groups: a cross-check of the preset.
    BurnAdamW,
}

impl Optim {
    /// The optimizers of the sweep (burn's AdamW runs after it).
    pub(crate) const SWEPT: [Self; 3] = [Self::FAdamPaper, Self::FAdam, Self::AdamW];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::FAdamPaper => "FAdam (paper)",
            Self::FAdam => "FAdam",
            Self::AdamW => "AdamW",
            Self::BurnAdamW => "AdamW (burn)",
        }
    }

    /// Where the optimizer comes from, for the output.
    pub(crate) fn source(self) -> &'static str {
        match self {
            Self::FAdamPaper => {
                "fadam_burn::FAdamConfig::new(): the paper's defaults, β=(0.9,0.999), ε=1e-8, clip 1, natural decay λ=0.1 on every tensor"
            }
            Self::FAdam => {
                "fadam_burn::FAdamConfig::new().with_weight_decay(λ), λ swept, decay on weight matrices only"
            }
            Self::AdamW => {
                "fadam_burn::FAdamConfig::adamw().with_weight_decay(λ) (torch AdamW, ε=1e-8), λ swept, matrices only; λ=0 is Adam"
            }
            Self::BurnAdamW => {
                "burn::optim::AdamWConfig, ε=1e-8, at AdamW's chosen lr and λ, matrices only (cross-check of the preset)"
            }
        }
    }

    /// Whether λ is swept (else it is [`paper_lambda`]).
    pub(crate) fn sweeps_lambda(self) -> bool {
        matches!(self, Self::FAdam | Self::AdamW)
    }
}

/// The paper's λ, as `fadam-burn`'s defaults state it.
pub(crate) fn paper_lambda() -> f64 {
    FAdamConfig::new().weight_decay
}

/// One point of the sweep: an optimizer, its peak learning rate and λ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Setting {
    pub(crate) optim: Optim,
    pub(crate) lr: f64,
    pub(crate) lambda: f64,
}

impl Setting {
    /// The optimizer of a whole model: λ on every parameter but those of
    /// `no_decay` (which take λ = 0), or on every tensor for
    /// [`Optim::FAdamPaper`].
    /// fadam-burn's optimizers step on `kernels` where given (burn's wgpu
    /// backend).
    pub(crate) fn init(&self, no_decay: &ParamGroup, kernels: Option<&Kernels>) -> ModuleOptimizer {
        let lambda = self.lambda;
        match self.optim {
            Optim::FAdamPaper => whole(&FAdamConfig::new().with_weight_decay(lambda), kernels),
            Optim::FAdam => grouped(FAdamConfig::new(), lambda, no_decay, kernels),
            Optim::AdamW => grouped(FAdamConfig::adamw(), lambda, no_decay, kernels),
            Optim::BurnAdamW => {
                let config = AdamWConfig::new().with_epsilon(1e-8);
                // burn's AdamW keeps λ in f32.
                config
                    .clone()
                    .with_weight_decay(lambda as f32)
                    .init()
                    .with_group(
                        no_decay.clone(),
                        config.with_weight_decay(0.0).build(),
                        None,
                    )
            }
        }
    }
}

/// fadam-wgpu's passes on burn's wgpu device (`--backend wgpu`); none
/// without the `wgpu` feature.
#[cfg(feature = "wgpu")]
pub(crate) type Kernels = fadam_burn::WgpuKernels;
#[cfg(not(feature = "wgpu"))]
pub(crate) enum Kernels {}

/// The optimizer of a whole model with `config`, on `kernels` where given.
fn whole(config: &FAdamConfig, kernels: Option<&Kernels>) -> ModuleOptimizer {
    match kernels {
        #[cfg(feature = "wgpu")]
        Some(kernels) => config.init_wgpu(kernels),
        _ => config.init(),
    }
}

/// One parameter group's optimizer with `config`, on `kernels` where given.
fn member(config: &FAdamConfig, kernels: Option<&Kernels>) -> fadam_burn::FAdam {
    match kernels {
        #[cfg(feature = "wgpu")]
        Some(kernels) => config.build().with_wgpu(kernels),
        _ => config.build(),
    }
}

fn grouped(
    config: FAdamConfig,
    lambda: f64,
    no_decay: &ParamGroup,
    kernels: Option<&Kernels>,
) -> ModuleOptimizer {
    whole(&config.clone().with_weight_decay(lambda), kernels).with_group(
        no_decay.clone(),
        member(&config.with_weight_decay(0.0), kernels),
        None,
    )
}

/// Collects the ids of the float parameters of rank below 2.
#[derive(Default)]
struct LowRank(Vec<ParamId>);

impl ModuleVisitor for LowRank {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if D < 2 {
            self.0.push(param.id);
        }
    }
}

/// The parameters exempt from weight decay, as practitioners set it: every
/// tensor of rank below 2 (biases, norm scales and shifts) and the
/// `excluded` ones (embeddings, codebooks).
pub(crate) fn no_decay<M: Module>(model: &M, excluded: Vec<ParamId>) -> ParamGroup {
    let mut low = LowRank::default();
    model.visit(&mut low);
    low.0.extend(excluded);
    ParamGroup::from_ids(low.0)
}

/// The learning rate over a run, the same for every optimizer of a task.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Schedule {
    /// The peak rate throughout.
    Constant,
    /// Linear warm-up from `peak / warmup` over `warmup` steps, then cosine
    /// decay to [`COSINE_FLOOR`] of the peak at the last step.
    WarmupCosine { warmup: usize },
}

/// Where the cosine decay ends, as a fraction of the peak rate.
pub(crate) const COSINE_FLOOR: f64 = 0.1;

impl Schedule {
    /// The multiplier of the peak rate at step `step` (1-based) of `steps`.
    pub(crate) fn factor(self, step: usize, steps: usize) -> f64 {
        match self {
            Self::Constant => 1.0,
            Self::WarmupCosine { warmup } => {
                if step <= warmup {
                    return step as f64 / warmup as f64;
                }
                let span = steps.saturating_sub(warmup).max(1) as f64;
                let done = ((step - warmup) as f64 / span).min(1.0);
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * done).cos());
                COSINE_FLOOR + (1.0 - COSINE_FLOOR) * cosine
            }
        }
    }

    pub(crate) fn describe(self) -> String {
        match self {
            Self::Constant => "constant learning rate".into(),
            Self::WarmupCosine { warmup } => format!(
                "linear warm-up over {warmup} steps, then cosine decay to {COSINE_FLOOR} of the peak"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::{Device, Int, TensorData};

    #[derive(Module, Debug)]
    struct Net {
        embed: Embedding,
        norm: LayerNorm,
        linear: Linear,
    }

    impl Net {
        fn new(device: &Device) -> Self {
            Self {
                embed: EmbeddingConfig::new(5, 4).init(device),
                norm: LayerNormConfig::new(4).init(device),
                linear: LinearConfig::new(4, 3).init(device),
            }
        }

        fn loss(&self, device: &Device) -> Tensor<1> {
            let x =
                Tensor::<2, Int>::from_data(TensorData::new(vec![0i64, 3, 4, 1], [2, 2]), device);
            let h = self.norm.forward(self.embed.forward(x));
            self.linear.forward(h).powi_scalar(2).mean()
        }

        fn named(&self) -> Vec<(&'static str, Vec<f32>)> {
            let v = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
            let w = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
            vec![
                ("embed", v(self.embed.weight.val())),
                ("gamma", w(self.norm.gamma.val())),
                ("beta", w(self.norm.beta.as_ref().unwrap().val())),
                ("weight", v(self.linear.weight.val())),
                ("bias", w(self.linear.bias.as_ref().unwrap().val())),
            ]
        }
    }

    /// One step of `optim` from `net` (one, so that every run sees the
    /// same gradients).
    fn train(net: &Net, mut optim: ModuleOptimizer, device: &Device) -> Net {
        let grads = GradientsParams::from_grads(net.loss(device).backward(), net);
        optim.step(1e-2, net.clone(), grads)
    }

    #[test]
    fn decay_skips_vectors_and_excluded_tensors() {
        let device = Device::default().autodiff();
        device.seed(3);
        let net = Net::new(&device);
        let group = no_decay(&net, vec![net.embed.weight.id]);
        for optim in [Optim::FAdam, Optim::AdamW, Optim::BurnAdamW] {
            let setting = |lambda| Setting {
                optim,
                lr: 1e-2,
                lambda,
            };
            let grouped = train(&net, setting(0.5).init(&group, None), &device).named();
            let none = train(&net, setting(0.0).init(&group, None), &device).named();
            let all = train(
                &net,
                setting(0.5).init(&ParamGroup::from_ids(vec![]), None),
                &device,
            )
            .named();
            for ((name, g), ((_, n), (_, a))) in grouped.iter().zip(none.iter().zip(&all)) {
                if *name == "weight" {
                    assert_eq!(g, a, "{optim:?} {name}: decayed as with λ on all");
                    assert_ne!(g, n, "{optim:?} {name}: not decayed");
                } else {
                    assert_eq!(g, n, "{optim:?} {name}: must take λ = 0");
                }
            }
        }
    }

    #[test]
    fn paper_row_decays_every_tensor() {
        let device = Device::default().autodiff();
        device.seed(4);
        let net = Net::new(&device);
        let group = no_decay(&net, vec![net.embed.weight.id]);
        let paper = Setting {
            optim: Optim::FAdamPaper,
            lr: 1e-2,
            lambda: paper_lambda(),
        };
        let none = Setting {
            lambda: 0.0,
            ..paper
        };
        let a = train(&net, paper.init(&group, None), &device).named();
        let b = train(&net, none.init(&group, None), &device).named();
        // (beta starts at zero, where decay does nothing.)
        for ((name, x), (_, y)) in a.iter().zip(&b).filter(|(n, _)| n.0 != "beta") {
            assert_ne!(x, y, "{name}: the paper row decays every tensor");
        }
        assert_eq!(paper_lambda(), 0.1);
    }

    #[test]
    fn warmup_then_cosine() {
        let s = Schedule::WarmupCosine { warmup: 10 };
        assert_eq!(s.factor(1, 110), 0.1);
        assert_eq!(s.factor(10, 110), 1.0);
        assert!((s.factor(60, 110) - (COSINE_FLOOR + 1.0) / 2.0).abs() < 1e-12);
        assert!((s.factor(110, 110) - COSINE_FLOOR).abs() < 1e-12);
        let mut last = 1.0;
        for t in 11..=110 {
            let f = s.factor(t, 110);
            assert!(f <= last && f >= COSINE_FLOOR, "step {t}: {f}");
            last = f;
        }
        assert_eq!(Schedule::Constant.factor(7, 10), 1.0);
    }
}
