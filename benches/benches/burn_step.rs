//! One optimizer step of `fadam-burn`'s FAdam against burn's own `AdamW`,
//! in the same run, over the tensors of a GPT-2-small-shaped model (token
//! and position embeddings, `LAYERS` blocks of two layer norms, attention
//! and MLP weights with biases, a final layer norm: `12·LAYERS + 4`
//! tensors) scaled down to width `WIDTH`.
//!
//! ```text
//! cargo bench -p fadam-benches --bench burn_step                  # flex
//! cargo bench -p fadam-benches --bench burn_step --features wgpu  # wgpu
//! ```
//!
//! Environment: `FADAM_BENCH_WIDTH` (default 256), `FADAM_BENCH_LAYERS`
//! (default 4), `FADAM_BENCH_VOCAB` (default 4096), `FADAM_BENCH_STEPS`
//! (timed steps per optimizer, default 20), `BURN_DEVICE` (burn's choice of
//! backend: with `--features wgpu` the default is wgpu, `flex` forces the
//! CPU backend). Prints the median time of a step of each and their ratio;
//! also fadam-burn's tensor-operation step, which the host step replaces
//! on `flex` (`with_host_step(false)`) and fadam-wgpu's passes replace on
//! wgpu (`FAdam::with_wgpu`, what `fadam-burn FAdam` times there).
//!
//! Each step gets the tensors as burn's `ModuleOptimizer` hands them over:
//! parameters, gradients and states held by no one else (the gradients are
//! fresh copies, made before the clock starts), so that a backend may
//! update them in place.

use std::time::{Duration, Instant};

use burn::optim::{AdamWConfig, Optimizer};
use burn::tensor::{Device, Distribution, Tensor};
use fadam_burn::FAdamConfig;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The shapes of a GPT-2-shaped model of width `w`, `layers` blocks and
/// `vocab` tokens (context `w`): as `[rows, cols]`, biases `[1, cols]`.
fn gpt2_shapes(w: usize, layers: usize, vocab: usize) -> Vec<[usize; 2]> {
    let mut shapes = vec![[vocab, w], [w, w]];
    for _ in 0..layers {
        shapes.extend([
            [1, w],
            [1, w],
            [w, 3 * w],
            [1, 3 * w],
            [w, w],
            [1, w],
            [1, w],
            [1, w],
            [w, 4 * w],
            [1, 4 * w],
            [4 * w, w],
            [1, w],
        ]);
    }
    shapes.extend([[1, w], [1, w]]);
    shapes
}

/// A copy of `t` in a buffer of its own.
fn own_copy(t: &Tensor<2>, device: &Device) -> Tensor<2> {
    Tensor::from_data(t.to_data(), device)
}

/// The median time of one step of `optim` over every tensor, after two
/// warm-up steps (the wgpu backend compiles its kernels in the first, and
/// the first copies the parameters shared with the caller).
fn time_steps<O: Optimizer>(
    optim: &O,
    params: &[Tensor<2>],
    grads: &[Tensor<2>],
    steps: usize,
    device: &Device,
) -> Duration {
    let mut params = params.to_vec();
    let mut states: Vec<Option<O::State<2>>> = params.iter().map(|_| None).collect();
    let mut times = Vec::with_capacity(steps);
    for i in 0..steps + 2 {
        let fresh: Vec<Tensor<2>> = grads.iter().map(|g| own_copy(g, device)).collect();
        device.sync().expect("device sync");
        let start = Instant::now();
        params = params
            .into_iter()
            .zip(fresh)
            .zip(&mut states)
            .map(|((p, g), s)| {
                let (next, state) = optim.step(1e-3, p, g, s.take());
                *s = state;
                next
            })
            .collect();
        device.sync().expect("device sync");
        if i >= 2 {
            times.push(start.elapsed());
        }
    }
    times.sort();
    times[times.len() / 2]
}

/// The device, and fadam-burn's FAdam as a user of that device would set it
/// up: on wgpu with fadam-wgpu's passes.
#[cfg(feature = "wgpu")]
fn setup() -> (Device, fadam_burn::FAdam) {
    if std::env::var("BURN_DEVICE").as_deref() == Ok("flex") {
        return (Device::flex(), FAdamConfig::new().build());
    }
    let kernels = fadam_burn::WgpuKernels::init().expect("a wgpu adapter");
    let optim = FAdamConfig::new().build().with_wgpu(&kernels);
    (kernels.device().clone(), optim)
}

#[cfg(not(feature = "wgpu"))]
fn setup() -> (Device, fadam_burn::FAdam) {
    (Device::default(), FAdamConfig::new().build())
}

fn main() {
    let (device, optim) = setup();
    let width = env("FADAM_BENCH_WIDTH", 256);
    let layers = env("FADAM_BENCH_LAYERS", 4);
    let vocab = env("FADAM_BENCH_VOCAB", 4096);
    let steps = env("FADAM_BENCH_STEPS", 20).max(1);
    let shapes = gpt2_shapes(width, layers, vocab);
    let elements: usize = shapes.iter().map(|s| s[0] * s[1]).sum();
    let normal = Distribution::Normal(0.0, 0.02);
    let params: Vec<Tensor<2>> = shapes
        .iter()
        .map(|&s| Tensor::random(s, normal, &device))
        .collect();
    let grads: Vec<Tensor<2>> = shapes
        .iter()
        .map(|&s| Tensor::random(s, Distribution::Normal(0.0, 1e-3), &device))
        .collect();
    println!(
        "device {device:?}: {} tensors, {elements} parameters (width {width}, {layers} layers, vocab {vocab}), median of {steps} steps",
        shapes.len()
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let fadam = time_steps(&optim, &params, &grads, steps, &device);
    let adamw = time_steps(&AdamWConfig::new().build(), &params, &grads, steps, &device);
    println!("fadam-burn FAdam  {:>10.3} ms", ms(fadam));
    println!("burn AdamW        {:>10.3} ms", ms(adamw));
    println!("FAdam / AdamW     {:>10.2}", ms(fadam) / ms(adamw));
    let composed = FAdamConfig::new().build().with_host_step(false);
    let composed = time_steps(&composed, &params, &grads, steps, &device);
    println!("  tensor-op FAdam {:>10.3} ms", ms(composed));
    println!(
        "  tensor-op FAdam / AdamW {:>6.2}",
        ms(composed) / ms(adamw)
    );
}
