//! Trains a small MLP on the UCI handwritten digits (8x8 images, 10
//! classes) with FAdam and with burn's own AdamW, from the same initial
//! weights and the same batches, and prints the held-out loss and accuracy
//! of both.
//!
//! ```text
//! cargo run --release -p fadam-burn --example burn_digits
//! cargo run --release -p fadam-burn --features wgpu --example burn_digits -- --backend wgpu
//! ```
//!
//! `--backend flex` (the default) trains on burn's CPU backend; `--backend
//! wgpu` on burn's GPU backend (built with the `wgpu` feature), and exits
//! with a message when no GPU adapter is there.
//!
//! Data: UCI "Optical Recognition of Handwritten Digits" (E. Alpaydin,
//! C. Kaynak, 1998), as shipped in scikit-learn, CC BY 4.0; see
//! `crates/fadam-testkit/data/README.md`.

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, Relu};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use clap::{Parser, ValueEnum};
use fadam_burn::FAdamConfig;
use fadam_testkit::digits::example::{BATCH, EPOCHS, HIDDEN, LR, SEED, TEST};
use fadam_testkit::digits::{self, Digit};
use fadam_testkit::rand::seq::SliceRandom;
use fadam_testkit::rng;

#[derive(Module, Debug)]
struct Mlp {
    input: Linear,
    output: Linear,
    relu: Relu,
}

impl Mlp {
    fn new(device: &Device) -> Self {
        Self {
            input: LinearConfig::new(digits::PIXELS, HIDDEN).init(device),
            output: LinearConfig::new(HIDDEN, 10).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output
            .forward(self.relu.forward(self.input.forward(x)))
    }
}

/// Pixels scaled to [0, 1] and labels.
struct Split {
    x: Tensor<2>,
    y: Tensor<1, Int>,
}

fn load(device: &Device) -> (Split, Split) {
    let to_split = |rows: &[Digit]| {
        let (x, y) = digits::flatten(rows);
        let y: Vec<i64> = y.into_iter().map(i64::from).collect();
        Split {
            x: Tensor::from_data(TensorData::new(x, [rows.len(), digits::PIXELS]), device),
            y: Tensor::from_data(TensorData::new(y, [rows.len()]), device),
        }
    };
    let (train, test) = digits::split(digits::all(), TEST, SEED);
    (to_split(&train), to_split(&test))
}

/// Held-out cross-entropy and accuracy.
fn evaluate(model: &Mlp, data: &Split, device: &Device) -> (f32, f32) {
    let logits = model.forward(data.x.clone());
    let loss = CrossEntropyLossConfig::new()
        .init(device)
        .forward(logits.clone(), data.y.clone())
        .into_scalar::<f32>();
    let n = data.y.dims()[0];
    let correct = logits
        .argmax(1)
        .reshape([n])
        .equal(data.y.clone())
        .int()
        .sum()
        .into_scalar::<i64>();
    (loss, correct as f32 / n as f32)
}

fn train(
    name: &str,
    mut optim: ModuleOptimizer,
    mut model: Mlp,
    train: &Split,
    test: &Split,
    device: &Device,
) {
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    // One untimed step on a copy: a GPU backend compiles its kernels at
    // their first use, which would otherwise count against whichever
    // optimizer runs first.
    let warm_up = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64], [1]), device);
    let x = train.x.clone().select(0, warm_up.clone());
    let loss = loss_fn.forward(model.forward(x), train.y.clone().select(0, warm_up));
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let _ = optim.clone().step(LR, model.clone(), grads);
    let _ = evaluate(&model, test, device);
    let start = Instant::now();
    let n = train.y.dims()[0];
    let mut rng = rng::seeded(SEED + 1);
    let mut order: Vec<i64> = (0..n as i64).collect();
    for epoch in 1..=EPOCHS {
        order.shuffle(&mut rng);
        for batch in order.chunks(BATCH) {
            let index =
                Tensor::<1, Int>::from_data(TensorData::new(batch.to_vec(), [batch.len()]), device);
            let x = train.x.clone().select(0, index.clone());
            let y = train.y.clone().select(0, index);
            let loss = loss_fn.forward(model.forward(x), y);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(LR, model, grads);
        }
        if epoch % 10 == 0 {
            let (loss, accuracy) = evaluate(&model, test, device);
            digits::print_epoch(name, epoch, loss, accuracy);
        }
    }
    digits::print_trained(name, start);
}

/// The backend to train on.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Backend {
    /// burn's CPU backend.
    Flex,
    /// burn's GPU backend (needs the `wgpu` feature and a GPU adapter).
    Wgpu,
}

/// FAdam against burn's AdamW on the UCI digits.
#[derive(Debug, Parser)]
struct Args {
    /// Where to train.
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
}

/// The device of `backend` and, on wgpu, fadam-wgpu's passes there; or why
/// there is none.
fn device(backend: Backend) -> Result<(Device, Option<Kernels>), String> {
    match backend {
        Backend::Flex => Ok((Device::flex(), None)),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => fadam_burn::WgpuKernels::init()
            .map(|k| (k.device().clone(), Some(k)))
            .map_err(|e| format!("--backend wgpu: no usable GPU adapter ({e})")),
        #[cfg(not(feature = "wgpu"))]
        Backend::Wgpu => Err("--backend wgpu: build with `--features wgpu`".into()),
    }
}

#[cfg(feature = "wgpu")]
type Kernels = fadam_burn::WgpuKernels;
#[cfg(not(feature = "wgpu"))]
enum Kernels {}

fn main() {
    let (device, kernels) = match device(Args::parse().backend) {
        Ok((device, kernels)) => (device.autodiff(), kernels),
        Err(message) => {
            eprintln!("digits: {message}");
            std::process::exit(2);
        }
    };
    println!("device: {device:?}");
    device.seed(SEED);
    let (train_set, test_set) = load(&device);
    let model = Mlp::new(&device);
    println!(
        "digits: {} training and {} held-out images; MLP 64-{HIDDEN}-10; {EPOCHS} epochs of batches of {BATCH}; lr {LR}",
        train_set.y.dims()[0],
        test_set.y.dims()[0]
    );
    // On wgpu, FAdam steps with fadam-wgpu's passes.
    let fadam = match &kernels {
        #[cfg(feature = "wgpu")]
        Some(kernels) => FAdamConfig::new().init_wgpu(kernels),
        _ => FAdamConfig::new().init(),
    };
    train(
        "FAdam",
        fadam,
        model.clone(),
        &train_set,
        &test_set,
        &device,
    );
    train(
        "AdamW",
        AdamWConfig::new().init(),
        model,
        &train_set,
        &test_set,
        &device,
    );
}
