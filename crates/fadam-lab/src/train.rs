//! The models, the optimizers, and one fair training run.

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, Relu};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use fadam_burn::FAdamConfig;
use indicatif::ProgressBar;

use rand::RngExt;
use rand::seq::SliceRandom;

use crate::data::{Digit, Text, rng};

/// The optimizers compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Optim {
    /// `fadam_burn::FAdamConfig::new()`: the paper's defaults.
    FAdam,
    /// FAdam without weight decay (λ = 0): an ablation that separates the
    /// natural weight decay from the rest of the algorithm.
    FAdamNoDecay,
    /// `fadam_burn::FAdamConfig::adam()`: textbook Adam, same code path.
    Adam,
    /// `fadam_burn::FAdamConfig::adamw()`: AdamW (λ = 0.01), same code path.
    AdamW,
    /// burn's own `AdamWConfig` with ε = 1e-8 and λ = 0.01, as a cross-check
    /// of the preset (run only at AdamW's best learning rate).
    BurnAdamW,
}

impl Optim {
    /// The optimizers in the learning-rate sweep.
    pub(crate) const SWEPT: [Self; 4] = [Self::FAdam, Self::FAdamNoDecay, Self::Adam, Self::AdamW];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::FAdam => "FAdam",
            Self::FAdamNoDecay => "FAdam (λ=0)",
            Self::Adam => "Adam",
            Self::AdamW => "AdamW",
            Self::BurnAdamW => "AdamW (burn)",
        }
    }

    /// Where the optimizer comes from, for the output.
    pub(crate) fn source(self) -> &'static str {
        match self {
            Self::FAdam => {
                "fadam_burn::FAdamConfig::new() (paper defaults: β=(0.9,0.999), ε=1e-8, clip 1, λ=0.1 natural decay)"
            }
            Self::FAdamNoDecay => {
                "fadam_burn::FAdamConfig::new().with_weight_decay(0.0) (ablation: FAdam without its weight decay)"
            }
            Self::Adam => {
                "fadam_burn::FAdamConfig::adam() (torch Adam: β=(0.9,0.999), ε=1e-8, no decay)"
            }
            Self::AdamW => {
                "fadam_burn::FAdamConfig::adamw() (torch AdamW: β=(0.9,0.999), ε=1e-8, λ=0.01 decoupled)"
            }
            Self::BurnAdamW => {
                "burn::optim::AdamWConfig with ε=1e-8, λ=0.01 (cross-check of the AdamW preset, at AdamW's best lr)"
            }
        }
    }

    fn init(self) -> ModuleOptimizer {
        match self {
            Self::FAdam => FAdamConfig::new().init(),
            Self::FAdamNoDecay => FAdamConfig::new().with_weight_decay(0.0).init(),
            Self::Adam => FAdamConfig::adam().init(),
            Self::AdamW => FAdamConfig::adamw().init(),
            Self::BurnAdamW => AdamWConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(0.01)
                .init(),
        }
    }
}

/// A batch: inputs and class targets.
#[derive(Clone, Debug)]
pub(crate) struct Batch<X> {
    x: X,
    y: Tensor<1, Int>,
}

/// A classification task: a model, a training sampler and held-out sets.
pub(crate) trait Task {
    type Model: Module + Clone;
    type Input: Clone;

    fn name(&self) -> &'static str;
    /// The unit of the reported loss.
    fn unit(&self) -> &'static str;
    /// Multiplies a loss in nats into [`unit`](Self::unit).
    fn scale(&self) -> f64;
    /// A short description of model and data, for the output.
    fn describe(&self) -> String;
    fn model(&self, device: &Device) -> Self::Model;
    fn logits(model: &Self::Model, x: Self::Input) -> Tensor<2>;
    /// The training examples of each step for a seed: the same for every
    /// optimizer and learning rate.
    fn batch_plan(&self, seed: u64, steps: usize) -> Vec<Vec<usize>>;
    fn train_batch(&self, indices: &[usize], device: &Device) -> Batch<Self::Input>;
    fn val(&self) -> &[Batch<Self::Input>];
    fn test(&self) -> &[Batch<Self::Input>];
}

/// Next-character prediction: embeddings of the last `CONTEXT`
/// characters, concatenated, one hidden ReLU layer, logits over the bytes.
#[derive(Module, Debug)]
pub(crate) struct CharMlp {
    embed: Embedding,
    hidden: Linear,
    out: Linear,
    relu: Relu,
}

/// Characters of context.
pub(crate) const CONTEXT: usize = 8;
const EMBED: usize = 16;
const CHAR_HIDDEN: usize = 256;
const CHAR_BATCH: usize = 64;
/// Validation windows (evenly spaced over the validation split).
const CHAR_VAL: usize = 4096;
/// Validation and test windows of `--quick` (the test set is otherwise the
/// whole test split).
const QUICK_HELD_OUT: usize = 1024;
const EVAL_CHUNK: usize = 4096;

/// The Shakespeare task.
pub(crate) struct Shakespeare {
    text: Text,
    val: Vec<Batch<Tensor<2, Int>>>,
    test: Vec<Batch<Tensor<2, Int>>>,
    val_windows: usize,
    test_windows: usize,
}

/// At most `n` positions, evenly spaced.
fn spaced(positions: &[usize], n: usize) -> Vec<usize> {
    let stride = (positions.len() / n).max(1);
    positions.iter().step_by(stride).copied().take(n).collect()
}

impl Shakespeare {
    /// Held-out batches live on `eval_device` (no autodiff); `quick` uses
    /// small held-out sets.
    pub(crate) fn new(text: Text, eval_device: &Device, quick: bool) -> Self {
        let val_positions = spaced(&text.val, if quick { QUICK_HELD_OUT } else { CHAR_VAL });
        let test_positions = if quick {
            spaced(&text.test, QUICK_HELD_OUT)
        } else {
            text.test.clone()
        };
        let make = |positions: &[usize]| -> Vec<Batch<Tensor<2, Int>>> {
            positions
                .chunks(EVAL_CHUNK)
                .map(|chunk| windows(&text, chunk, eval_device))
                .collect()
        };
        let val = make(&val_positions);
        let test = make(&test_positions);
        Self {
            val_windows: val_positions.len(),
            test_windows: test_positions.len(),
            text,
            val,
            test,
        }
    }
}

fn windows(text: &Text, positions: &[usize], device: &Device) -> Batch<Tensor<2, Int>> {
    let n = positions.len();
    let mut x = Vec::with_capacity(n * CONTEXT);
    let mut y = Vec::with_capacity(n);
    for &p in positions {
        let (context, target) = text.window(p, CONTEXT);
        x.extend(context.iter().map(|&c| i64::from(c)));
        y.push(i64::from(target));
    }
    Batch {
        x: Tensor::from_data(TensorData::new(x, [n, CONTEXT]), device),
        y: Tensor::from_data(TensorData::new(y, [n]), device),
    }
}

impl Task for Shakespeare {
    type Model = CharMlp;
    type Input = Tensor<2, Int>;

    fn name(&self) -> &'static str {
        "shakespeare"
    }

    fn unit(&self) -> &'static str {
        "bits/char"
    }

    fn scale(&self) -> f64 {
        std::f64::consts::LOG2_E
    }

    fn describe(&self) -> String {
        format!(
            "next character from the previous {CONTEXT} ({} symbols); MLP: embedding {EMBED} x {CONTEXT} -> {CHAR_HIDDEN} ReLU -> {}; batch {CHAR_BATCH}; {} training targets, {} validation windows (of {}), {} test windows (of {}); loss in bits per character",
            self.text.vocab.len(),
            self.text.vocab.len(),
            self.text.train.len(),
            self.val_windows,
            self.text.val.len(),
            self.test_windows,
            self.text.test.len()
        )
    }

    fn model(&self, device: &Device) -> CharMlp {
        let vocab = self.text.vocab.len();
        CharMlp {
            embed: EmbeddingConfig::new(vocab, EMBED).init(device),
            hidden: LinearConfig::new(CONTEXT * EMBED, CHAR_HIDDEN).init(device),
            out: LinearConfig::new(CHAR_HIDDEN, vocab).init(device),
            relu: Relu::new(),
        }
    }

    fn logits(model: &CharMlp, x: Tensor<2, Int>) -> Tensor<2> {
        let h = model.embed.forward(x);
        let [b, k, e] = h.dims();
        let h = h.reshape([b, k * e]);
        model
            .out
            .forward(model.relu.forward(model.hidden.forward(h)))
    }

    fn batch_plan(&self, seed: u64, steps: usize) -> Vec<Vec<usize>> {
        let mut rng = rng(0x5eed_0000 + seed);
        let n = self.text.train.len();
        (0..steps)
            .map(|_| {
                (0..CHAR_BATCH)
                    .map(|_| self.text.train[rng.random_range(0..n)])
                    .collect()
            })
            .collect()
    }

    fn train_batch(&self, indices: &[usize], device: &Device) -> Batch<Tensor<2, Int>> {
        windows(&self.text, indices, device)
    }

    fn val(&self) -> &[Batch<Tensor<2, Int>>] {
        &self.val
    }

    fn test(&self) -> &[Batch<Tensor<2, Int>>] {
        &self.test
    }
}

/// Digits: an MLP 64 -> `DIGIT_HIDDEN` ReLU -> 10.
#[derive(Module, Debug)]
pub(crate) struct DigitMlp {
    input: Linear,
    output: Linear,
    relu: Relu,
}

const DIGIT_HIDDEN: usize = 128;
const DIGIT_BATCH: usize = 64;
/// Validation and test images each.
pub(crate) const DIGIT_HELD_OUT: usize = 360;

/// The digits task.
pub(crate) struct Digits {
    train: Vec<Digit>,
    val: Vec<Batch<Tensor<2>>>,
    test: Vec<Batch<Tensor<2>>>,
}

fn images(rows: &[&Digit], device: &Device) -> Batch<Tensor<2>> {
    let n = rows.len();
    let x: Vec<f32> = rows.iter().flat_map(|(x, _)| x.iter().copied()).collect();
    let y: Vec<i64> = rows.iter().map(|(_, y)| i64::from(*y)).collect();
    Batch {
        x: Tensor::from_data(TensorData::new(x, [n, 64]), device),
        y: Tensor::from_data(TensorData::new(y, [n]), device),
    }
}

impl Digits {
    pub(crate) fn new(
        train: Vec<Digit>,
        val: &[Digit],
        test: &[Digit],
        eval_device: &Device,
    ) -> Self {
        let all = |rows: &[Digit]| vec![images(&rows.iter().collect::<Vec<_>>(), eval_device)];
        Self {
            val: all(val),
            test: all(test),
            train,
        }
    }
}

impl Task for Digits {
    type Model = DigitMlp;
    type Input = Tensor<2>;

    fn name(&self) -> &'static str {
        "digits"
    }

    fn unit(&self) -> &'static str {
        "nats"
    }

    fn scale(&self) -> f64 {
        1.0
    }

    fn describe(&self) -> String {
        format!(
            "UCI digits 8x8; MLP 64 -> {DIGIT_HIDDEN} ReLU -> 10; batch {DIGIT_BATCH} (shuffled epochs); {} training, {DIGIT_HELD_OUT} validation, {DIGIT_HELD_OUT} test images; cross-entropy in nats",
            self.train.len()
        )
    }

    fn model(&self, device: &Device) -> DigitMlp {
        DigitMlp {
            input: LinearConfig::new(64, DIGIT_HIDDEN).init(device),
            output: LinearConfig::new(DIGIT_HIDDEN, 10).init(device),
            relu: Relu::new(),
        }
    }

    fn logits(model: &DigitMlp, x: Tensor<2>) -> Tensor<2> {
        model
            .output
            .forward(model.relu.forward(model.input.forward(x)))
    }

    fn batch_plan(&self, seed: u64, steps: usize) -> Vec<Vec<usize>> {
        let mut rng = rng(0xd161_0000 + seed);
        let n = self.train.len();
        let mut order: Vec<usize> = Vec::new();
        let mut plan = Vec::with_capacity(steps);
        while plan.len() < steps {
            if order.len() < DIGIT_BATCH {
                // A new epoch (the tail of the last one is dropped).
                order = (0..n).collect();
                order.shuffle(&mut rng);
            }
            let rest = order.split_off(DIGIT_BATCH);
            plan.push(std::mem::replace(&mut order, rest));
        }
        plan
    }

    fn train_batch(&self, indices: &[usize], device: &Device) -> Batch<Tensor<2>> {
        let rows: Vec<&Digit> = indices.iter().map(|&i| &self.train[i]).collect();
        images(&rows, device)
    }

    fn val(&self) -> &[Batch<Tensor<2>>] {
        &self.val
    }

    fn test(&self) -> &[Batch<Tensor<2>>] {
        &self.test
    }
}

/// Mean cross-entropy (nats) and accuracy over held-out batches, with a
/// model without autodiff.
pub(crate) fn evaluate<T: Task>(model: &T::Model, batches: &[Batch<T::Input>]) -> (f64, f64) {
    let model = model.valid();
    let (mut loss, mut correct, mut total) = (0.0f64, 0i64, 0usize);
    for batch in batches {
        let n = batch.y.dims()[0];
        let logits = T::logits(&model, batch.x.clone());
        let batch_loss = CrossEntropyLossConfig::new()
            .init(&batch.y.device())
            .forward(logits.clone(), batch.y.clone())
            .into_scalar::<f32>();
        loss += f64::from(batch_loss) * n as f64;
        correct += logits
            .argmax(1)
            .reshape([n])
            .equal(batch.y.clone())
            .int()
            .sum()
            .into_scalar::<i64>();
        total += n;
    }
    (loss / total as f64, correct as f64 / total as f64)
}

/// One training run's results (losses in the task's unit).
#[derive(Clone, Debug)]
pub(crate) struct RunResult {
    pub(crate) optim: Optim,
    pub(crate) lr: f64,
    pub(crate) seed: u64,
    /// `(step, validation loss)`, from step 0.
    pub(crate) curve: Vec<(usize, f64)>,
    pub(crate) val_loss: f64,
    pub(crate) val_acc: f64,
    pub(crate) test_loss: f64,
    pub(crate) test_acc: f64,
    pub(crate) wall_s: f64,
}

impl RunResult {
    /// The validation loss at step 0.
    pub(crate) fn initial(&self) -> f64 {
        self.curve.first().map_or(f64::NAN, |&(_, l)| l)
    }
}

/// What one run is: the optimizer, its learning rate, the seed of the
/// initial model (given) and of the batches (the plan).
pub(crate) struct Run<'a, T: Task> {
    pub(crate) optim: Optim,
    pub(crate) lr: f64,
    pub(crate) seed: u64,
    pub(crate) init: &'a T::Model,
    pub(crate) plan: &'a [Vec<usize>],
    /// Steps after which the validation loss is measured (0 always is).
    pub(crate) eval_every: usize,
}

/// Trains from `run.init` on `run.plan`'s batches, measuring the
/// validation loss every `eval_every` steps and at the end, then the test
/// loss and accuracy.
pub(crate) fn train<T: Task>(
    task: &T,
    run: &Run<'_, T>,
    device: &Device,
    bar: &ProgressBar,
) -> RunResult {
    let start = Instant::now();
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut optim = run.optim.init();
    let mut model = run.init.clone();
    let scale = task.scale();
    let steps = run.plan.len();
    let mut curve = vec![(0, evaluate::<T>(&model, task.val()).0 * scale)];
    for (i, indices) in run.plan.iter().enumerate() {
        let step = i + 1;
        let batch = task.train_batch(indices, device);
        let loss = loss_fn.forward(T::logits(&model, batch.x), batch.y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(run.lr, model, grads);
        if step % run.eval_every == 0 || step == steps {
            curve.push((step, evaluate::<T>(&model, task.val()).0 * scale));
        }
        bar.inc(1);
    }
    let (val_loss, val_acc) = evaluate::<T>(&model, task.val());
    let (test_loss, test_acc) = evaluate::<T>(&model, task.test());
    RunResult {
        optim: run.optim,
        lr: run.lr,
        seed: run.seed,
        curve,
        val_loss: val_loss * scale,
        val_acc,
        test_loss: test_loss * scale,
        test_acc,
        wall_s: start.elapsed().as_secs_f64(),
    }
}
