//! Softmax regression (64 pixels → 10 classes) with its gradient written
//! out, and every buffer training needs in one fixed-size value: no
//! allocator, and the optimizer state is `fadam-core`'s `StateMut` over
//! slices of it.

use core::mem::size_of;

use fadam_core::{Error, FAdamConfig, StateMut, Tensor, step_model};

use crate::data::{CLASSES, PIXELS};

/// The weights, class by class (`CLASSES × PIXELS`), then the biases.
const WEIGHTS: usize = CLASSES * PIXELS;
/// Parameters of the model.
pub const PARAMS: usize = WEIGHTS + CLASSES;
/// Pixel values are 0..=16: scaled by a power of two, exactly.
const PIXEL_SCALE: f32 = 1.0 / 16.0;

/// Parameters (starting at zero), gradient and FAdam state of the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    params: [f32; PARAMS],
    grads: [f32; PARAMS],
    momentum: [f32; PARAMS],
    fisher: [f32; PARAMS],
    steps: [u64; 2],
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    /// All zeros: the loss is `ln 10` for every image.
    pub const fn new() -> Self {
        Self {
            params: [0.0; PARAMS],
            grads: [0.0; PARAMS],
            momentum: [0.0; PARAMS],
            fisher: [0.0; PARAMS],
            steps: [0; 2],
        }
    }

    /// Bytes of optimizer state: momentum and Fisher diagonal (8 bytes per
    /// `f32` parameter) and one step counter per tensor.
    pub const STATE_BYTES: usize = 2 * size_of::<[f32; PARAMS]>() + size_of::<[u64; 2]>();

    /// The parameters, weights then biases.
    pub fn params(&self) -> &[f32; PARAMS] {
        &self.params
    }

    /// Class scores of one image.
    fn logits(&self, image: &[u8; PIXELS]) -> [f32; CLASSES] {
        let (weights, biases) = self.params.split_at(WEIGHTS);
        core::array::from_fn(|c| {
            let row = &weights[c * PIXELS..(c + 1) * PIXELS];
            row.iter().zip(image).fold(biases[c], |acc, (&w, &p)| {
                acc + w * (f32::from(p) * PIXEL_SCALE)
            })
        })
    }

    /// Softmax probabilities and the cross-entropy of `label`, computed as
    /// `ln Σ exp(l - max) - (l_label - max)` so that nothing overflows.
    fn softmax(&self, image: &[u8; PIXELS], label: u8) -> ([f32; CLASSES], f32) {
        let logits = self.logits(image);
        let max = logits.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l));
        let mut probs = logits.map(|l| libm::expf(l - max));
        let total = probs.iter().fold(0.0, |s, &p| s + p);
        for p in &mut probs {
            *p /= total;
        }
        let loss = libm::logf(total) - (logits[usize::from(label)] - max);
        (probs, loss)
    }

    /// The mean cross-entropy over `images`.
    pub fn loss(&self, images: &[[u8; PIXELS]], labels: &[u8]) -> f32 {
        let total = images
            .iter()
            .zip(labels)
            .fold(0.0, |s, (image, &label)| s + self.softmax(image, label).1);
        total / images.len() as f32
    }

    /// How many of `images` the model classifies right (ties go to the
    /// lower class).
    pub fn correct(&self, images: &[[u8; PIXELS]], labels: &[u8]) -> usize {
        images
            .iter()
            .zip(labels)
            .filter(|&(image, &label)| {
                let logits = self.logits(image);
                let best = (0..CLASSES).fold(0, |b, c| if logits[c] > logits[b] { c } else { b });
                best == usize::from(label)
            })
            .count()
    }

    /// Sets the gradient to that of the mean cross-entropy over a batch and
    /// returns the loss.
    pub fn backward(&mut self, images: &[[u8; PIXELS]], labels: &[u8]) -> f32 {
        self.grads = [0.0; PARAMS];
        let scale = 1.0 / images.len() as f32;
        let mut total = 0.0;
        for (image, &label) in images.iter().zip(labels) {
            let (probs, loss) = self.softmax(image, label);
            total += loss;
            let (dw, db) = self.grads.split_at_mut(WEIGHTS);
            for (c, &p) in probs.iter().enumerate() {
                let target = if c == usize::from(label) { 1.0 } else { 0.0 };
                let d = (p - target) * scale;
                db[c] += d;
                for (g, &x) in dw[c * PIXELS..(c + 1) * PIXELS].iter_mut().zip(image) {
                    *g += d * (f32::from(x) * PIXEL_SCALE);
                }
            }
        }
        total * scale
    }

    /// One FAdam step of the weights (config 0) and the biases (config 1),
    /// all or nothing.
    ///
    /// # Errors
    /// As [`step_model`]: on error nothing was written.
    pub fn step(&mut self, configs: &[FAdamConfig; 2]) -> Result<(), Error> {
        let (w, b) = self.params.split_at_mut(WEIGHTS);
        let (gw, gb) = self.grads.split_at(WEIGHTS);
        let (mw, mb) = self.momentum.split_at_mut(WEIGHTS);
        let (fw, fb) = self.fisher.split_at_mut(WEIGHTS);
        let [tw, tb] = &mut self.steps;
        let mut tensors = [
            Tensor::new(w, gw, StateMut::new(mw, fw, tw)),
            Tensor::new(b, gb, StateMut::new(mb, fb, tb)).with_group(1),
        ];
        step_model(configs, &mut tensors)
    }

    /// FNV-1a over the bits of the parameters, the optimizer state and the
    /// step counters: equal fingerprints mean equal bits, in practice.
    pub fn fingerprint(&self) -> u64 {
        let words = (self.params.iter())
            .chain(&self.momentum)
            .chain(&self.fisher)
            .map(|v| u64::from(v.to_bits()))
            .chain(self.steps);
        words.fold(0xcbf2_9ce4_8422_2325, |hash, word| {
            word.to_le_bytes().iter().fold(hash, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DIGITS;

    /// The written-out gradient against central differences of the loss.
    #[test]
    fn gradient_matches_finite_differences() {
        let (images, labels) = DIGITS.train();
        let (images, labels) = (&images[..8], &labels[..8]);
        let mut model = Model::new();
        for (i, p) in model.params.iter_mut().enumerate() {
            *p = ((i * 37 % 101) as f32 - 50.0) * 0.004;
        }
        model.backward(images, labels);
        // Weights of pixels that are nonzero in the batch, and biases.
        for i in [0, 3, 10, 100, 333, 600, 639, 640, 645, 649] {
            let h = 1e-2;
            let mut plus = model.clone();
            plus.params[i] += h;
            let mut minus = model.clone();
            minus.params[i] -= h;
            let numeric = (plus.loss(images, labels) - minus.loss(images, labels)) / (2.0 * h);
            let analytic = model.grads[i];
            assert!(
                (numeric - analytic).abs() < 2e-3,
                "{i}: {numeric} vs {analytic}"
            );
        }
        // Pixel 0 is 0 in every image: no gradient.
        assert_eq!(model.grads[0], 0.0);
        assert!(model.grads[645] != 0.0);
    }

    #[test]
    fn zero_model_loss_is_ln_10() {
        let (images, labels) = DIGITS.train();
        let loss = Model::new().loss(images, labels);
        assert!((loss - libm::logf(10.0)).abs() < 1e-4, "{loss}");
    }

    #[test]
    fn refused_step_writes_nothing() {
        let (images, labels) = DIGITS.train();
        let configs = [FAdamConfig::new(), FAdamConfig::new()];
        let mut model = Model::new();
        model.backward(&images[..4], &labels[..4]);
        model.step(&configs).unwrap();
        model.backward(&images[4..8], &labels[4..8]);
        model.grads[641] = f32::NAN;
        let before = model.clone();
        assert_eq!(
            model.step(&configs),
            Err(Error::NonFiniteGradient { tensor: 1 })
        );
        assert_eq!(model.fingerprint(), before.fingerprint());
        let bad = [FAdamConfig::new(), FAdamConfig::new().with_lr(-1.0)];
        model.grads[641] = 0.0;
        assert!(matches!(
            model.step(&bad),
            Err(Error::Config { group: 1, .. })
        ));
        assert_eq!(model.fingerprint(), before.fingerprint());
        assert_eq!(model.steps, [1, 1]);
    }

    #[test]
    fn fingerprint_sees_every_buffer() {
        let base = Model::new().fingerprint();
        let mut m = Model::new();
        m.fisher[PARAMS - 1] = -0.0;
        assert_ne!(m.fingerprint(), base);
        let mut m = Model::new();
        m.steps[1] = 1;
        assert_ne!(m.fingerprint(), base);
        let mut m = Model::new();
        m.grads[0] = 1.0;
        // The gradient is scratch, recomputed every step: not state.
        assert_eq!(m.fingerprint(), base);
    }
}
