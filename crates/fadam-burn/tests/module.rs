//! FAdam inside burn's `ModuleOptimizer`: records, parameter groups,
//! gradient clipping, refused steps, training.

mod common;

use std::collections::HashMap;

use burn::config::Config;
use burn::grad_clipping::{GradientClipping, GradientClippingConfig};
use burn::module::{Module, ParamGroup, ParamId};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::{GradientsParams, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Distribution, Tensor};
use common::{tensor, values};
use fadam_burn::{DecayMode, EpsilonRule, FAdam, FAdamConfig, MomentumMode, refused_steps};
use fadam_core::State;
use fadam_testkit::close::{Floor, max_error};

#[derive(Module, Debug)]
struct Net {
    a: Linear,
    b: Linear,
    relu: Relu,
}

impl Net {
    fn new(device: &Device) -> Self {
        Self {
            a: LinearConfig::new(3, 8).init(device),
            b: LinearConfig::new(8, 2).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.b.forward(self.relu.forward(self.a.forward(x)))
    }

    /// `(id, path, values, shape-rank)` of every parameter.
    fn params(&self) -> Vec<(ParamId, &'static str, Vec<f32>, usize)> {
        vec![
            (
                self.a.weight.id,
                "a.weight",
                values(&self.a.weight.val()),
                2,
            ),
            (
                self.a.bias.as_ref().unwrap().id,
                "a.bias",
                values(&self.a.bias.as_ref().unwrap().val()),
                1,
            ),
            (
                self.b.weight.id,
                "b.weight",
                values(&self.b.weight.val()),
                2,
            ),
            (
                self.b.bias.as_ref().unwrap().id,
                "b.bias",
                values(&self.b.bias.as_ref().unwrap().val()),
                1,
            ),
        ]
    }
}

fn data(device: &Device) -> (Tensor<2>, Tensor<2>) {
    let x = Tensor::<2>::random([32, 3], Distribution::Normal(0.0, 1.0), device);
    let cols = [
        x.clone().narrow(1, 0, 1),
        x.clone().narrow(1, 1, 1).mul(x.clone().narrow(1, 2, 1)),
    ];
    let y = Tensor::cat(cols.to_vec(), 1);
    (x, y)
}

fn loss(net: &Net, x: &Tensor<2>, y: &Tensor<2>) -> Tensor<1> {
    (net.forward(x.clone()) - y.clone()).powi_scalar(2).mean()
}

fn grads(net: &Net, x: &Tensor<2>, y: &Tensor<2>) -> GradientsParams {
    GradientsParams::from_grads(loss(net, x, y).backward(), net)
}

fn grad_values(
    grads: &GradientsParams,
    id: ParamId,
    rank: usize,
    clip: &GradientClipping,
) -> Vec<f32> {
    match rank {
        1 => values(&clip.clip_gradient(grads.get::<1>(id).unwrap())),
        _ => values(&clip.clip_gradient(grads.get::<2>(id).unwrap())),
    }
}

/// Weight decay off and a tighter RMS clip on the biases, with burn's norm
/// clipping; value clipping and the defaults elsewhere.
fn grouped() -> ModuleOptimizer {
    FAdamConfig::new()
        .with_grad_clipping(Some(GradientClippingConfig::Value(0.05)))
        .init()
        .with_group(
            ParamGroup::from_predicate("bias"),
            FAdamConfig::new()
                .with_weight_decay(0.0)
                .with_clip_threshold(Some(0.5))
                .build(),
            Some(GradientClipping::Norm(0.01)),
        )
}

#[test]
fn groups_and_gradient_clipping_compose() {
    let device = Device::default().autodiff();
    let on_flex = Device::default() == Device::flex();
    device.seed(7);
    let mut net = Net::new(&device);
    let (x, y) = data(&device);
    let mut optim = grouped();
    let lr = 1e-2;
    let weights = (
        FAdamConfig::new().to_core(lr),
        GradientClipping::Value(0.05),
    );
    let biases = (
        FAdamConfig::new()
            .with_weight_decay(0.0)
            .with_clip_threshold(Some(0.5))
            .to_core(lr),
        GradientClipping::Norm(0.01),
    );
    let mut states: HashMap<ParamId, State<f32>> = HashMap::new();
    for _ in 0..8 {
        let g = grads(&net, &x, &y);
        let mut expected = HashMap::new();
        for (id, path, mut theta, rank) in net.params() {
            let (core, clip) = if path.ends_with("bias") {
                &biases
            } else {
                &weights
            };
            let grad = grad_values(&g, id, rank, clip);
            let state = states.entry(id).or_insert_with(|| State::new(theta.len()));
            fadam_core::step(core, &mut theta, &grad, state.as_mut()).unwrap();
            expected.insert(id, theta);
        }
        net = optim.step(lr, net, g);
        for (id, path, theta, _) in net.params() {
            let e = max_error(&theta, &expected[&id], Floor::Rms).0;
            assert!(e <= 1e-6, "{path}: off by {e:e}");
            // On flex, `ModuleOptimizer` reaches the host step: fadam-core's
            // bits.
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            if on_flex {
                assert_eq!(bits(&theta), bits(&expected[&id]), "{path}");
            }
        }
    }
}

#[test]
fn a_record_resumes_exactly() {
    let device = Device::default().autodiff();
    device.seed(11);
    let net = Net::new(&device);
    let (x, y) = data(&device);
    let lr = 1e-2;
    for config in [
        FAdamConfig::new(),
        FAdamConfig::adamw(),
        FAdamConfig::new()
            .with_epsilon_rule(EpsilonRule::PaperV3)
            .with_momentum(MomentumMode::Adam)
            .with_decay(DecayMode::Decoupled),
    ] {
        let mut net = net.clone();
        let mut optim = config.init();
        for _ in 0..4 {
            net = optim.step(lr, net.clone(), grads(&net, &x, &y));
        }
        // In memory, and through a file.
        let bytes = optim.into_bytes().unwrap();
        let mut from_bytes = config.init().from_bytes(bytes).unwrap();
        let path =
            std::env::temp_dir().join(format!("fadam-burn-record-{}.bpk", std::process::id()));
        optim.save(&path).unwrap();
        let mut from_file = config.init().load(&path).unwrap();

        let (mut a, mut b, mut c) = (net.clone(), net.clone(), net);
        for _ in 0..4 {
            a = optim.step(lr, a.clone(), grads(&a, &x, &y));
            b = from_bytes.step(lr, b.clone(), grads(&b, &x, &y));
            c = from_file.step(lr, c.clone(), grads(&c, &x, &y));
        }
        // The file is read lazily: remove it once the state is used.
        std::fs::remove_file(&path).unwrap();
        for ((pa, pb), pc) in a.params().iter().zip(b.params()).zip(c.params()) {
            assert_eq!(pa.2, pb.2, "{config:?} {}", pa.1);
            assert_eq!(pa.2, pc.2, "{config:?} {}", pa.1);
        }
    }
}

#[test]
fn the_state_moves_to_a_device() {
    let device = Device::default();
    let optim: FAdam = FAdamConfig::new().build();
    let (_, state) = optim.step(
        1e-2,
        tensor(vec![1.0, 2.0], [2], &device),
        tensor(vec![0.1, -0.2], [2], &device),
        None,
    );
    let state = state.unwrap();
    let moved = FAdam::to_device(state.clone(), &device);
    assert_eq!(moved.momentum.device(), device);
    assert_eq!(moved.bias_2.device(), device);
    assert_eq!(values(&moved.fisher), values(&state.fisher));
    assert_eq!(moved.calls, 1);
}

#[test]
fn refused_steps_are_reported() {
    let device = Device::default().autodiff();
    device.seed(3);
    let mut net = Net::new(&device);
    let (x, y) = data(&device);
    let mut optim = FAdamConfig::new().init();
    net = optim.step(1e-2, net.clone(), grads(&net, &x, &y));
    assert_eq!(refused_steps(&optim).unwrap(), []);

    let mut g = grads(&net, &x, &y);
    let id = net.a.weight.id;
    let grad = g.remove::<2>(id).unwrap();
    let mut poisoned = values(&grad);
    poisoned[5] = f32::NAN;
    g.register(id, tensor(poisoned, grad.dims(), &grad.device()));
    let before = values(&net.a.weight.val());
    net = optim.step(1e-2, net.clone(), g);
    assert_eq!(values(&net.a.weight.val()), before);
    assert_eq!(refused_steps(&optim).unwrap(), [(id, 1)]);
}

#[test]
fn config_round_trips() {
    let config = FAdamConfig::new()
        .with_epsilon_rule(EpsilonRule::PaperV3)
        .with_clip_threshold(None)
        .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)));
    let json = config.to_string();
    let back = FAdamConfig::load_binary(json.as_bytes()).unwrap();
    assert_eq!(back.to_core(1e-3), config.to_core(1e-3));
    assert_eq!(
        FAdamConfig::new().to_core(1e-3),
        fadam_core::FAdamConfig::new()
    );
    assert_eq!(
        FAdamConfig::adam().to_core(1e-3),
        fadam_core::FAdamConfig::adam()
    );
    assert_eq!(
        FAdamConfig::adamw().to_core(1e-3),
        fadam_core::FAdamConfig::adamw()
    );
    let core = fadam_core::FAdamConfig::new()
        .with_maximize(true)
        .with_fisher_power(0.25);
    assert_eq!(FAdamConfig::from(core).to_core(core.lr), core);
    let err = FAdamConfig::new().with_beta_2(1.0).try_build().unwrap_err();
    assert_eq!(err.to_string(), "beta2 must be in [0, 1), got 1");
}

#[test]
fn a_small_model_trains() {
    let device = Device::default().autodiff();
    device.seed(42);
    let mut net = Net::new(&device);
    let (x, y) = data(&device);
    let mut optim = FAdamConfig::new().init();
    let first = loss(&net, &x, &y).into_scalar::<f32>();
    for _ in 0..150 {
        net = optim.step(1e-2, net.clone(), grads(&net, &x, &y));
    }
    let last = loss(&net, &x, &y).into_scalar::<f32>();
    eprintln!("loss {first} -> {last}");
    assert!(
        last.is_finite() && last < 0.5 * first,
        "loss {first} -> {last}"
    );
}
