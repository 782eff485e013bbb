//! Trains a small MLP on the UCI handwritten digits (8x8 images, 10
//! classes) with FAdam and with candle's own AdamW, from the same initial
//! weights and the same batches, and prints the held-out loss and accuracy
//! of both.
//!
//! ```text
//! cargo run --release -p fadam-candle --example candle_digits
//! ```
//!
//! Data: UCI "Optical Recognition of Handwritten Digits" (E. Alpaydin,
//! C. Kaynak, 1998), as shipped in scikit-learn, CC BY 4.0; see
//! `crates/fadam-testkit/data/README.md`.

use std::time::Instant;

use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use fadam_candle::{FAdam, ParamsFAdam};
use fadam_testkit::digits::example::{BATCH, EPOCHS, HIDDEN, LR, SEED, TEST};
use fadam_testkit::digits::{self, Digit};
use fadam_testkit::rand::RngExt;
use fadam_testkit::rand::seq::SliceRandom;
use fadam_testkit::rng;

struct Mlp {
    input: Linear,
    output: Linear,
}

impl Mlp {
    fn new(vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            input: candle_nn::linear(64, HIDDEN, vb.pp("input"))?,
            output: candle_nn::linear(HIDDEN, 10, vb.pp("output"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.output.forward(&self.input.forward(x)?.relu()?)
    }
}

/// Pixels scaled to [0, 1] and labels.
struct Split {
    x: Tensor,
    y: Tensor,
}

fn load(device: &Device) -> Result<(Split, Split)> {
    let to_split = |rows: &[Digit]| -> Result<Split> {
        let (x, y) = digits::flatten(rows);
        let y: Vec<u32> = y.into_iter().map(u32::from).collect();
        Ok(Split {
            x: Tensor::from_vec(x, (rows.len(), digits::PIXELS), device)?,
            y: Tensor::from_vec(y, rows.len(), device)?,
        })
    };
    let (train, test) = digits::split(digits::all(), TEST, SEED);
    Ok((to_split(&train)?, to_split(&test)?))
}

/// Held-out cross-entropy and accuracy.
fn evaluate(model: &Mlp, data: &Split) -> Result<(f32, f32)> {
    let logits = model.forward(&data.x)?;
    let loss = candle_nn::loss::cross_entropy(&logits, &data.y)?.to_scalar::<f32>()?;
    let correct = logits
        .argmax(D::Minus1)?
        .eq(&data.y)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    Ok((loss, correct / data.y.elem_count() as f32))
}

fn train(
    name: &str,
    opt: &mut impl Optimizer,
    model: &Mlp,
    train: &Split,
    test: &Split,
) -> Result<()> {
    let start = Instant::now();
    let n = train.y.elem_count();
    let mut rng = rng::seeded(SEED + 1);
    let mut order: Vec<u32> = (0..n as u32).collect();
    for epoch in 1..=EPOCHS {
        order.shuffle(&mut rng);
        for batch in order.chunks(BATCH) {
            let index = Tensor::new(batch, train.x.device())?;
            let x = train.x.index_select(&index, 0)?;
            let y = train.y.index_select(&index, 0)?;
            let loss = candle_nn::loss::cross_entropy(&model.forward(&x)?, &y)?;
            opt.backward_step(&loss)?;
        }
        if epoch % 10 == 0 {
            let (loss, accuracy) = evaluate(model, test)?;
            digits::print_epoch(name, epoch, loss, accuracy);
        }
    }
    digits::print_trained(name, start);
    Ok(())
}

/// A model and its vars, initialized from a fixed seed (candle cannot seed
/// its CPU generator): uniform in ±1/√64, both layers having 64 inputs, as
/// candle's default initialization draws them.
fn model(device: &Device) -> Result<(Mlp, VarMap)> {
    let varmap = VarMap::new();
    let mlp = Mlp::new(VarBuilder::from_varmap(&varmap, DType::F32, device))?;
    let mut vars: Vec<_> = varmap.data().lock().unwrap().clone().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rng = rng::seeded(SEED + 2);
    for (_, var) in vars {
        let n = var.elem_count();
        let values: Vec<f32> = (0..n)
            .map(|_| rng.random_range(-1.0f32..1.0) / 8.0)
            .collect();
        var.set(&Tensor::from_vec(values, var.shape(), device)?)?;
    }
    Ok((mlp, varmap))
}

fn main() -> Result<()> {
    let device = Device::Cpu;
    let (train_set, test_set) = load(&device)?;
    let (fadam_model, fadam_vars) = model(&device)?;
    let (adamw_model, adamw_vars) = model(&device)?;
    println!(
        "digits: {} training and {} held-out images; MLP 64-{HIDDEN}-10; {EPOCHS} epochs of batches of {BATCH}; lr {LR}",
        train_set.y.elem_count(),
        test_set.y.elem_count()
    );
    // The one-line change: FAdam::new(vars, ParamsFAdam) for AdamW::new(vars, ParamsAdamW).
    let mut fadam = FAdam::new(
        fadam_vars.all_vars(),
        ParamsFAdam {
            lr: LR,
            ..Default::default()
        },
    )?;
    train("FAdam", &mut fadam, &fadam_model, &train_set, &test_set)?;
    let mut adamw = AdamW::new(
        adamw_vars.all_vars(),
        ParamsAdamW {
            lr: LR,
            ..Default::default()
        },
    )?;
    train("AdamW", &mut adamw, &adamw_model, &train_set, &test_set)?;
    Ok(())
}
