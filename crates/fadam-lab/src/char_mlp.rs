//! Next-character prediction on Shakespeare with an MLP over a fixed
//! context.

use std::f64::consts::LOG2_E;

use burn::module::{Module, ParamId};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, Relu};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::data::Text;
use crate::optim::Schedule;
use crate::options::Mode;
use crate::train::{Batch, Task, classify, cross_entropy, spaced};

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

impl CharMlp {
    fn logits(&self, x: Tensor<2, Int>) -> Tensor<2> {
        let h = self.embed.forward(x);
        let [b, k, e] = h.dims();
        let h = h.reshape([b, k * e]);
        self.out.forward(self.relu.forward(self.hidden.forward(h)))
    }
}

impl Shakespeare {
    /// Held-out batches live on `eval_device` (no autodiff); `quick` uses
    /// small held-out sets.
    pub(crate) fn new(text: Text, eval_device: &Device, mode: Mode) -> Self {
        let quick = mode == Mode::Quick;
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
    type Batch = Batch<Tensor<2, Int>>;

    const NAME: &str = "shakespeare";
    const UNIT: &str = "bits/char";
    const METRIC: &str = "accuracy %";

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

    fn excluded(model: &CharMlp) -> Vec<ParamId> {
        vec![model.embed.weight.id]
    }

    fn schedule(&self, _steps: usize) -> Schedule {
        Schedule::Constant
    }

    fn loss(model: &CharMlp, batch: Self::Batch) -> Tensor<1> {
        cross_entropy(model.logits(batch.x), batch.y)
    }

    fn evaluate(&self, model: &CharMlp, batches: &[Self::Batch]) -> (f64, f64) {
        let (nats, accuracy) = classify(model, batches, |m: &CharMlp, x| m.logits(x));
        (nats * LOG2_E, accuracy)
    }

    fn batch_plan(&self, seed: u64, steps: usize) -> Vec<Vec<usize>> {
        self.text
            .random_batches(0x5eed_0000 + seed, CHAR_BATCH, steps)
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
