//! UCI 8x8 digits classification with an MLP.

use burn::module::{Module, ParamId};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::tensor::{Device, Tensor, TensorData};

use crate::data::{Digit, epochs};
use crate::optim::Schedule;
use crate::train::{Batch, Task, classify, cross_entropy};

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

pub(crate) fn images(rows: &[&Digit], device: &Device) -> Batch<Tensor<2>> {
    let n = rows.len();
    let x: Vec<f32> = rows.iter().flat_map(|d| d.pixels.iter().copied()).collect();
    let y: Vec<i64> = rows.iter().map(|d| i64::from(d.label)).collect();
    Batch {
        x: Tensor::from_data(
            TensorData::new(x, [n, fadam_testkit::digits::PIXELS]),
            device,
        ),
        y: Tensor::from_data(TensorData::new(y, [n]), device),
    }
}

impl DigitMlp {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.output
            .forward(self.relu.forward(self.input.forward(x)))
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
    type Batch = Batch<Tensor<2>>;

    const NAME: &str = "digits";
    const UNIT: &str = "nats";
    const METRIC: &str = "accuracy %";

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

    fn excluded(_model: &DigitMlp) -> Vec<ParamId> {
        Vec::new()
    }

    fn schedule(&self, _steps: usize) -> Schedule {
        Schedule::Constant
    }

    fn loss(model: &DigitMlp, batch: Self::Batch) -> Tensor<1> {
        cross_entropy(model.logits(batch.x), batch.y)
    }

    fn evaluate(&self, model: &DigitMlp, batches: &[Self::Batch]) -> (f64, f64) {
        classify(model, batches, |m: &DigitMlp, x| m.logits(x))
    }

    fn batch_plan(&self, seed: u64, steps: usize) -> Vec<Vec<usize>> {
        epochs(0xd161_0000 + seed, self.train.len(), DIGIT_BATCH, steps)
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
