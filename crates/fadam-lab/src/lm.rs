//! Language modelling on Shakespeare with a small decoder-only transformer:
//! causal self-attention, pre-norm blocks, learned positions, every
//! position of a window predicted.

use std::f64::consts::LOG2_E;

use crate::data::Text;
use crate::optim::Schedule;
use crate::options::Mode;
use crate::train::{Batch, Task, classify, cross_entropy, spaced};
use burn::module::{Module, ParamId};
use burn::nn::attention::generate_autoregressive_mask;
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};

/// Characters of context (and predictions per window).
pub(crate) const LM_CONTEXT: usize = 64;
const D_MODEL: usize = 64;
const HEADS: usize = 4;
const LAYERS: usize = 4;
const D_FF: usize = 4 * D_MODEL;
const LM_BATCH: usize = 8;
/// Windows per held-out batch.
const EVAL_WINDOWS: usize = 32;
/// The share of a run's steps spent warming up.
const WARMUP_SHARE: usize = 10;

/// Validation and test windows of `LM_CONTEXT` predictions each.
fn held_out(mode: Mode) -> (usize, usize) {
    match mode {
        Mode::Quick => (4, 4),
        Mode::Default => (16, 128),
        Mode::Full => (32, 256),
    }
}

/// The transformer: token and position embeddings, `LAYERS` pre-norm
/// blocks under a causal mask, a final norm and the output projection.
#[derive(Module, Debug)]
pub(crate) struct CharTransformer {
    tokens: Embedding,
    positions: Embedding,
    blocks: TransformerEncoder,
    norm: LayerNorm,
    head: Linear,
}

impl CharTransformer {
    /// Logits `[batch·context, vocab]` of every position of `x` `[batch, context]`.
    fn logits(&self, x: Tensor<2, Int>) -> Tensor<2> {
        let [b, t] = x.dims();
        let device = x.device();
        let positions = Tensor::<1, Int>::arange(0..t as i64, &device).reshape([1, t]);
        let h = self.tokens.forward(x) + self.positions.forward(positions);
        let mask = generate_autoregressive_mask(b, t, &device);
        let h = self
            .blocks
            .forward(TransformerEncoderInput::new(h).mask_attn(mask));
        let logits = self.head.forward(self.norm.forward(h));
        let vocab = logits.dims()[2];
        logits.reshape([b * t, vocab])
    }
}

/// The transformer task.
pub(crate) struct Lm {
    text: Text,
    val: Vec<Batch<Tensor<2, Int>>>,
    test: Vec<Batch<Tensor<2, Int>>>,
}

/// Windows ending at `positions`, their targets flattened.
fn windows(text: &Text, positions: &[usize], device: &Device) -> Batch<Tensor<2, Int>> {
    let n = positions.len();
    let mut x = Vec::with_capacity(n * LM_CONTEXT);
    let mut y = Vec::with_capacity(n * LM_CONTEXT);
    for &p in positions {
        let (inputs, targets) = text.sequence(p, LM_CONTEXT);
        x.extend(inputs.iter().map(|&c| i64::from(c)));
        y.extend(targets.iter().map(|&c| i64::from(c)));
    }
    Batch {
        x: Tensor::from_data(TensorData::new(x, [n, LM_CONTEXT]), device),
        y: Tensor::from_data(TensorData::new(y, [n * LM_CONTEXT]), device),
    }
}

impl Lm {
    /// `text` must have been split for [`LM_CONTEXT`]; held-out batches live
    /// on `eval_device`, non-overlapping windows evenly spaced over each split.
    pub(crate) fn new(text: Text, eval_device: &Device, mode: Mode) -> Self {
        let (n_val, n_test) = held_out(mode);
        let make = |split: &[usize], n: usize| -> Vec<Batch<Tensor<2, Int>>> {
            // Every LM_CONTEXT-th target ends a window that does not overlap
            // the previous one (blocks are multiples of LM_CONTEXT long).
            let ends: Vec<usize> = split.iter().copied().step_by(LM_CONTEXT).collect();
            spaced(&ends, n)
                .chunks(EVAL_WINDOWS)
                .map(|chunk| windows(&text, chunk, eval_device))
                .collect()
        };
        let val = make(&text.val, n_val);
        let test = make(&text.test, n_test);
        Self { text, val, test }
    }

    fn predictions(batches: &[Batch<Tensor<2, Int>>]) -> usize {
        batches.iter().map(|b| b.y.dims()[0]).sum()
    }
}

impl Task for Lm {
    type Model = CharTransformer;
    type Batch = Batch<Tensor<2, Int>>;

    const NAME: &str = "transformer";
    const UNIT: &str = "bits/char";
    const METRIC: &str = "accuracy %";

    fn describe(&self) -> String {
        format!(
            "Shakespeare, every next character of {LM_CONTEXT}-character windows ({} symbols); decoder-only transformer: d_model {D_MODEL}, {HEADS} heads, {LAYERS} pre-norm blocks (feed-forward {D_FF}, GELU), learned positions, no dropout; batch {LM_BATCH} windows; {} validation and {} test predictions; loss in bits per character",
            self.text.vocab.len(),
            Self::predictions(&self.val),
            Self::predictions(&self.test)
        )
    }

    fn model(&self, device: &Device) -> CharTransformer {
        let vocab = self.text.vocab.len();
        CharTransformer {
            tokens: EmbeddingConfig::new(vocab, D_MODEL).init(device),
            positions: EmbeddingConfig::new(LM_CONTEXT, D_MODEL).init(device),
            blocks: TransformerEncoderConfig::new(D_MODEL, D_FF, HEADS, LAYERS)
                .with_dropout(0.0)
                .with_norm_first(true)
                .init(device),
            norm: LayerNormConfig::new(D_MODEL).init(device),
            head: LinearConfig::new(D_MODEL, vocab).init(device),
        }
    }

    fn excluded(model: &CharTransformer) -> Vec<ParamId> {
        vec![model.tokens.weight.id, model.positions.weight.id]
    }

    fn schedule(&self, steps: usize) -> Schedule {
        Schedule::WarmupCosine {
            warmup: (steps / WARMUP_SHARE).max(1),
        }
    }

    fn loss(model: &CharTransformer, batch: Self::Batch) -> Tensor<1> {
        cross_entropy(model.logits(batch.x), batch.y)
    }

    fn evaluate(&self, model: &CharTransformer, batches: &[Self::Batch]) -> (f64, f64) {
        let (nats, accuracy) = classify(model, batches, |m: &CharTransformer, x| m.logits(x));
        (nats * LOG2_E, accuracy)
    }

    fn batch_plan(&self, seed: u64, steps: usize) -> Vec<Vec<usize>> {
        self.text
            .random_batches(0x1a7e_0000 + seed, LM_BATCH, steps)
    }

    fn train_batch(&self, indices: &[usize], device: &Device) -> Self::Batch {
        windows(&self.text, indices, device)
    }

    fn val(&self) -> &[Self::Batch] {
        &self.val
    }

    fn test(&self) -> &[Self::Batch] {
        &self.test
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SHAKESPEARE;

    #[test]
    fn windows_do_not_overlap_and_the_model_is_causal() {
        let device = Device::default();
        let text = Text::new(SHAKESPEARE, LM_CONTEXT).unwrap();
        let ends: Vec<usize> = text.val.iter().copied().step_by(LM_CONTEXT).collect();
        for pair in ends.windows(2) {
            assert!(pair[1] >= pair[0] + LM_CONTEXT, "{pair:?}");
        }
        let task = Lm::new(text, &device, Mode::Quick);
        assert_eq!(Lm::predictions(task.val()), 4 * LM_CONTEXT);
        device.seed(1);
        let model = task.model(&device);
        let params = model.num_params();
        assert!(
            (150_000..1_000_000).contains(&params),
            "{params} parameters"
        );
        // Changing the last character changes only the last prediction.
        let x = task.val()[0].x.clone().narrow(0, 0, 1);
        let mut changed = x.clone().into_data().iter::<i64>().collect::<Vec<_>>();
        changed[LM_CONTEXT - 1] = (changed[LM_CONTEXT - 1] + 1) % 10;
        let y = Tensor::<2, Int>::from_data(TensorData::new(changed, [1, LM_CONTEXT]), &device);
        let a = model.logits(x).into_data().try_to_vec::<f32>().unwrap();
        let b = model.logits(y).into_data().try_to_vec::<f32>().unwrap();
        let vocab = a.len() / LM_CONTEXT;
        let (head_a, last_a) = a.split_at(vocab * (LM_CONTEXT - 1));
        let (head_b, last_b) = b.split_at(vocab * (LM_CONTEXT - 1));
        assert_eq!(head_a, head_b);
        assert_ne!(last_a, last_b);
    }
}
