//! What a task is, and one fair training run.

use std::time::Instant;

use burn::module::{Module, ParamId};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor};
use indicatif::ProgressBar;

use crate::optim::{Kernels, Schedule, Setting, no_decay};

/// A task: a model, a training sampler, held-out sets and how to score.
pub(crate) trait Task {
    type Model: Module + Clone;
    type Batch: Clone;

    /// The task's name, in the output and `--task`.
    const NAME: &str;
    /// The unit of the reported loss.
    const UNIT: &str;
    /// The name of the second held-out metric (accuracy, perplexity).
    const METRIC: &str;
    /// A short description of model and data, for the output.
    fn describe(&self) -> String;
    fn model(&self, device: &Device) -> Self::Model;
    /// Parameters of rank 2 or more that take no weight decay
    /// (embeddings, codebooks); tensors of lower rank never do.
    fn excluded(model: &Self::Model) -> Vec<ParamId>;
    /// The learning-rate schedule, the same for every optimizer.
    fn schedule(&self, steps: usize) -> Schedule;
    /// The training loss of a batch (with autodiff).
    fn loss(model: &Self::Model, batch: Self::Batch) -> Tensor<1>;
    /// The held-out loss (in [`UNIT`](Self::UNIT)) and metric, with a model
    /// without autodiff.
    fn evaluate(&self, model: &Self::Model, batches: &[Self::Batch]) -> (f64, f64);
    /// The training examples of each step for a seed: the same for every
    /// optimizer and setting.
    fn batch_plan(&self, seed: u64, steps: usize) -> Vec<Vec<usize>>;
    fn train_batch(&self, indices: &[usize], device: &Device) -> Self::Batch;
    fn val(&self) -> &[Self::Batch];
    fn test(&self) -> &[Self::Batch];
}

/// A classification batch: inputs and class targets.
#[derive(Clone, Debug)]
pub(crate) struct Batch<X> {
    pub(crate) x: X,
    pub(crate) y: Tensor<1, Int>,
}

/// Mean cross-entropy in nats.
pub(crate) fn cross_entropy(logits: Tensor<2>, y: Tensor<1, Int>) -> Tensor<1> {
    CrossEntropyLossConfig::new()
        .init(&y.device())
        .forward(logits, y)
}

/// Mean cross-entropy (nats) and accuracy (%) over held-out batches, with
/// a model without autodiff.
pub(crate) fn classify<M: Module, X: Clone>(
    model: &M,
    batches: &[Batch<X>],
    logits: impl Fn(&M, X) -> Tensor<2>,
) -> (f64, f64) {
    let model = model.valid();
    let (mut loss, mut correct, mut total) = (0.0f64, 0i64, 0usize);
    for batch in batches {
        let n = batch.y.dims()[0];
        let logits = logits(&model, batch.x.clone());
        let batch_loss = cross_entropy(logits.clone(), batch.y.clone()).into_scalar::<f32>();
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
    (loss / total as f64, 100.0 * correct as f64 / total as f64)
}

/// One training run's results (losses in the task's unit).
#[derive(Clone, Debug)]
pub(crate) struct RunResult {
    pub(crate) setting: Setting,
    pub(crate) seed: u64,
    /// `(step, validation loss)`, from step 0.
    pub(crate) curve: Vec<(usize, f64)>,
    pub(crate) val_loss: f64,
    pub(crate) val_metric: f64,
    pub(crate) test_loss: f64,
    pub(crate) test_metric: f64,
    /// Wall time of the whole run, evaluations included.
    pub(crate) wall_s: f64,
    /// Mean wall time of a training step (batch, forward, backward,
    /// optimizer), and of the optimizer's part alone, in milliseconds.
    pub(crate) step_ms: f64,
    pub(crate) optim_ms: f64,
}

impl RunResult {
    /// The validation loss at step 0.
    pub(crate) fn initial(&self) -> f64 {
        self.curve.first().map_or(f64::NAN, |&(_, l)| l)
    }
}

/// What one run is: the setting, the seed of the initial model (given) and
/// of the batches (the plan).
pub(crate) struct Run<'a, T: Task> {
    pub(crate) setting: Setting,
    /// fadam-wgpu's passes on the wgpu device, for fadam-burn's
    /// optimizers (`--backend wgpu`).
    pub(crate) kernels: Option<&'a Kernels>,
    pub(crate) seed: u64,
    pub(crate) init: &'a T::Model,
    pub(crate) plan: &'a [Vec<usize>],
    /// Steps after which the validation loss is measured (0 always is).
    pub(crate) eval_every: usize,
}

/// Trains from `run.init` on `run.plan`'s batches under the task's
/// schedule, measuring the validation loss every `eval_every` steps and at
/// the end, then the test loss and metric.
pub(crate) fn train<T: Task>(
    task: &T,
    run: &Run<'_, T>,
    device: &Device,
    bar: &ProgressBar,
) -> RunResult {
    let start = Instant::now();
    let mut model = run.init.clone();
    let mut optim = run
        .setting
        .init(&no_decay(&model, T::excluded(&model)), run.kernels);
    let steps = run.plan.len();
    let schedule = task.schedule(steps);
    let mut curve = vec![(0, task.evaluate(&model, task.val()).0)];
    let (mut step_s, mut optim_s) = (0.0, 0.0);
    for (i, indices) in run.plan.iter().enumerate() {
        let step = i + 1;
        let t0 = Instant::now();
        let batch = task.train_batch(indices, device);
        let grads = GradientsParams::from_grads(T::loss(&model, batch).backward(), &model);
        let t1 = Instant::now();
        let lr = run.setting.lr * schedule.factor(step, steps);
        model = optim.step(lr, model, grads);
        let t2 = Instant::now();
        step_s += (t2 - t0).as_secs_f64();
        optim_s += (t2 - t1).as_secs_f64();
        if step % run.eval_every == 0 || step == steps {
            curve.push((step, task.evaluate(&model, task.val()).0));
        }
        bar.inc(1);
    }
    let (val_loss, val_metric) = task.evaluate(&model, task.val());
    let (test_loss, test_metric) = task.evaluate(&model, task.test());
    let per_step_ms = |s: f64| 1e3 * s / steps.max(1) as f64;
    RunResult {
        setting: run.setting,
        seed: run.seed,
        curve,
        val_loss,
        val_metric,
        test_loss,
        test_metric,
        wall_s: start.elapsed().as_secs_f64(),
        step_ms: per_step_ms(step_s),
        optim_ms: per_step_ms(optim_s),
    }
}

/// At most `n` positions, evenly spaced.
pub(crate) fn spaced(positions: &[usize], n: usize) -> Vec<usize> {
    let stride = (positions.len() / n).max(1);
    positions.iter().step_by(stride).copied().take(n).collect()
}
