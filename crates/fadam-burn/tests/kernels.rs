//! `FAdam::with_wgpu`: steps on burn's wgpu backend run fadam-wgpu's
//! passes on the tensors' buffers (the same bits as fadam-wgpu's own
//! optimizer, which proves the path taken), also through burn's
//! `ModuleOptimizer` on an autodiff device, and never write a buffer that
//! another tensor shares. The values against fadam-core, every switch and
//! refused steps are in `conformance.rs` (`Path::Kernels`). Run on Mesa
//! llvmpipe in CI.
#![cfg(feature = "wgpu")]

mod common;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer, Optimizer};
use burn::tensor::Tensor;
use common::{kernels, tensor, values};
use fadam_burn::FAdamConfig;
use fadam_testkit::rng::{Draw, seeded};
use fadam_wgpu::{FAdamGpu, Layout};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// fadam-wgpu's own optimizer over one tensor, on a device of its own.
fn fadam_gpu(n: usize, config: &FAdamConfig, lr: f64) -> FAdamGpu {
    let (device, queue, _) = fadam_wgpu::request_device().unwrap();
    let layout = Layout::packed([(n as u64, 0)]).unwrap();
    let core = config.build().config().with_lr(lr);
    FAdamGpu::new(&device, &queue, layout, &[core]).unwrap()
}

#[test]
fn steps_are_fadam_wgpus_bits() {
    let device = kernels().device();
    let config = FAdamConfig::new();
    let optim = config.build().with_wgpu(kernels());
    let (rows, cols, lr) = (33, 70, 1e-2);
    let n = rows * cols;
    let mut rng = seeded(5);
    let mut want = rng.vec_f32(n, 1.0);
    let mut reference = fadam_gpu(n, &config, lr);
    let mut theta = tensor(want.clone(), [rows, cols], device);
    let mut state = None;
    for step in 1..=6 {
        let grad = rng.vec_f32(n, [1.0, 0.1, 3.0][step % 3]);
        reference.step_slices(&mut want, &grad).unwrap();
        let (t, s) = optim.step(lr, theta, tensor(grad, [rows, cols], device), state);
        assert_eq!(bits(&values(&t)), bits(&want), "step {step}");
        theta = t;
        state = s;
    }
}

/// A tensor whose buffer the caller shares (a clone kept) is copied, not
/// written: the clone keeps its values.
#[test]
fn a_kept_clone_is_not_written() {
    let device = kernels().device();
    let optim = FAdamConfig::new().build().with_wgpu(kernels());
    let theta = tensor(vec![1.0, -2.0, 3.0, 0.5], [4], device);
    let kept = theta.clone();
    let grad = tensor(vec![0.5, -0.5, 0.25, 1.0], [4], device);
    let (stepped, state) = optim.step(1e-2, theta, grad.clone(), None);
    assert_eq!(values(&kept), [1.0, -2.0, 3.0, 0.5]);
    assert_ne!(values(&stepped), values(&kept));
    // The state too: a clone of it stays as it was.
    let state = state.unwrap();
    let kept_momentum = values(&state.momentum);
    let (_, again) = optim.step(1e-2, stepped, grad, Some(state.clone()));
    assert_eq!(values(&state.momentum), kept_momentum);
    assert_eq!(again.unwrap().calls, 2);
}

/// burn's `ModuleOptimizer` on an autodiff device hands the inner tensors
/// to the passes: the weight's first step is fadam-wgpu's, bit for bit.
#[test]
fn a_module_steps_on_the_kernels() {
    let device = kernels().device().clone().autodiff();
    let config = FAdamConfig::new();
    let lr = 1e-2;
    let net: Linear = LinearConfig::new(8, 4).init(&device);
    let mut rng = seeded(9);
    let x = tensor(rng.vec_f32(16 * 8, 1.0), [16, 8], &device);
    let loss = net.forward(x.clone()).powi_scalar(2).mean();
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    let weight_id = net.weight.id;
    let grad = values(&grads.get::<2>(weight_id).unwrap());
    let mut want = values(&net.weight.val());
    let mut reference = fadam_gpu(want.len(), &config, lr);
    reference.step_slices(&mut want, &grad).unwrap();
    let mut optim = ModuleOptimizer::from(config.build().with_wgpu(kernels()));
    let net = optim.step(lr, net, grads);
    assert_eq!(bits(&values(&net.weight.val())), bits(&want));
    // And it trains.
    let before = values(&net.forward(x.clone()).powi_scalar(2).mean())[0];
    let mut net = net;
    for _ in 0..20 {
        let loss = net.forward(x.clone()).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(lr, net, grads);
    }
    let after = values(&net.forward(x).powi_scalar(2).mean())[0];
    assert!(after < before, "{before} -> {after}");
    let _: &Tensor<2> = &net.weight.val();
    assert_eq!(net.devices(), vec![device]);
}

/// An optimizer record written after steps on the passes resumes them
/// exactly, in memory and loaded by a fresh optimizer, after a refused step
/// too (the counters the GPU advanced travel in the record).
#[test]
fn a_record_resumes_exactly() {
    let device = kernels().device().clone().autodiff();
    let config = FAdamConfig::new();
    let lr = 1e-2;
    let mut rng = seeded(21);
    let x = tensor(rng.vec_f32(16 * 8, 1.0), [16, 8], &device);
    let loss = |net: &Linear| net.forward(x.clone()).powi_scalar(2).mean();
    let grads = |net: &Linear| GradientsParams::from_grads(loss(net).backward(), net);
    let mut net: Linear = LinearConfig::new(8, 4).init(&device);
    let mut optim = config.init_wgpu(kernels());
    for step in 0..4 {
        let mut g = grads(&net);
        if step == 1 {
            // A refused step: a NaN in the weight's gradient.
            let nan = Tensor::<2>::full([8, 4], f32::NAN, &device.clone().inner());
            g.register(net.weight.id, nan);
        }
        net = optim.step(lr, net, g);
    }
    let bytes = optim.into_bytes().unwrap();
    let mut resumed = config.init_wgpu(kernels()).from_bytes(bytes).unwrap();
    let (mut a, mut b) = (net.clone(), net);
    for _ in 0..3 {
        a = optim.step(lr, a.clone(), grads(&a));
        b = resumed.step(lr, b.clone(), grads(&b));
    }
    assert_eq!(
        bits(&values(&a.weight.val())),
        bits(&values(&b.weight.val()))
    );
    let refused = fadam_burn::refused_steps(&resumed).unwrap();
    assert_eq!(refused.iter().map(|r| r.1).sum::<u64>(), 1, "{refused:?}");
}
