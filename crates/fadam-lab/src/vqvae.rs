//! A VQ-VAE on the 8x8 digits: an MLP encoder to `SLOTS` latent vectors,
//! each replaced by its nearest codebook vector (straight-through gradient,
//! codebook and commitment losses), an MLP decoder back to the pixels.

use burn::module::{Module, ParamId};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig, Relu};
use burn::tensor::{Device, Int, Tensor};

use crate::data::{Digit, epochs};
use crate::digits::images;
use crate::optim::Schedule;
use crate::train::Task;

/// Latent vectors per image, their size, and the codebook's size.
const SLOTS: usize = 8;
const CODE_DIM: usize = 8;
const CODES: usize = 64;
const HIDDEN: usize = 128;
const VQ_BATCH: usize = 64;
/// The commitment weight β of van den Oord et al. (2017).
const COMMITMENT: f64 = 0.25;

/// The VQ-VAE.
#[derive(Module, Debug)]
pub(crate) struct VqVae {
    encode_1: Linear,
    encode_2: Linear,
    codebook: Embedding,
    decode_1: Linear,
    decode_2: Linear,
    relu: Relu,
}

/// What a forward pass gives: the reconstruction, the encoder output and
/// its quantized version (`[images·SLOTS, CODE_DIM]`), and the codes.
struct Forward {
    reconstruction: Tensor<2>,
    latent: Tensor<2>,
    quantized: Tensor<2>,
    codes: Tensor<1, Int>,
}

impl VqVae {
    fn forward(&self, x: Tensor<2>) -> Forward {
        let n = x.dims()[0];
        let h = self.relu.forward(self.encode_1.forward(x));
        let latent = self.encode_2.forward(h).reshape([n * SLOTS, CODE_DIM]);
        let book = self.codebook.weight.val();
        // |z - e|² = |z|² - 2 z·e + |e|², without gradients (argmin has none).
        let z = latent.clone().detach();
        let e = book.clone().detach();
        let distances = z.clone().square().sum_dim(1)
            - z.matmul(e.clone().transpose()).mul_scalar(2.0)
            + e.square().sum_dim(1).reshape([1, CODES]);
        let codes = distances.argmin(1).reshape([n * SLOTS]);
        let quantized = book.select(0, codes.clone());
        // Straight-through: the decoder sees the codes, the encoder gets
        // the decoder's gradient as if it had passed unchanged.
        let through = latent.clone() + (quantized.clone() - latent.clone()).detach();
        let h = self.relu.forward(
            self.decode_1
                .forward(through.reshape([n, SLOTS * CODE_DIM])),
        );
        Forward {
            reconstruction: self.decode_2.forward(h),
            latent,
            quantized,
            codes,
        }
    }
}

/// Mean squared error per element.
fn mse(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    (a - b).square().mean()
}

/// `exp` of the entropy of the codes' frequencies: how many codes are in
/// effective use (1 to [`CODES`]).
fn perplexity(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return f64::NAN;
    }
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.ln()
        })
        .sum();
    entropy.exp()
}

/// The VQ-VAE task.
pub(crate) struct VqTask {
    train: Vec<Digit>,
    val: Vec<Tensor<2>>,
    test: Vec<Tensor<2>>,
}

impl VqTask {
    pub(crate) fn new(
        train: Vec<Digit>,
        val: &[Digit],
        test: &[Digit],
        eval_device: &Device,
    ) -> Self {
        let all = |rows: &[Digit]| vec![images(&rows.iter().collect::<Vec<_>>(), eval_device).x];
        Self {
            val: all(val),
            test: all(test),
            train,
        }
    }
}

impl Task for VqTask {
    type Model = VqVae;
    type Batch = Tensor<2>;

    const NAME: &str = "vqvae";
    const UNIT: &str = "MSE/pixel";
    const METRIC: &str = "codebook perplexity";

    fn describe(&self) -> String {
        format!(
            "UCI digits 8x8 (pixels in [0, 1]); VQ-VAE: MLP 64 -> {HIDDEN} ReLU -> {SLOTS} latents of {CODE_DIM}, codebook of {CODES}, MLP {} -> {HIDDEN} ReLU -> 64; loss: reconstruction MSE + codebook MSE + {COMMITMENT} x commitment MSE; batch {VQ_BATCH}; {} training images; reported: reconstruction MSE per pixel, and codebook perplexity (codes in effective use, of {CODES})",
            SLOTS * CODE_DIM,
            self.train.len()
        )
    }

    fn model(&self, device: &Device) -> VqVae {
        VqVae {
            encode_1: LinearConfig::new(64, HIDDEN).init(device),
            encode_2: LinearConfig::new(HIDDEN, SLOTS * CODE_DIM).init(device),
            // Small codes, as van den Oord et al.'s code initializes them:
            // every code starts near the encoder's outputs.
            codebook: EmbeddingConfig::new(CODES, CODE_DIM)
                .with_initializer(Initializer::Uniform {
                    min: -1.0 / CODES as f64,
                    max: 1.0 / CODES as f64,
                })
                .init(device),
            decode_1: LinearConfig::new(SLOTS * CODE_DIM, HIDDEN).init(device),
            decode_2: LinearConfig::new(HIDDEN, 64).init(device),
            relu: Relu::new(),
        }
    }

    fn excluded(model: &VqVae) -> Vec<ParamId> {
        vec![model.codebook.weight.id]
    }

    fn schedule(&self, _steps: usize) -> Schedule {
        Schedule::Constant
    }

    fn loss(model: &VqVae, x: Tensor<2>) -> Tensor<1> {
        let f = model.forward(x.clone());
        let codebook = mse(f.latent.clone().detach(), f.quantized.clone());
        let commitment = mse(f.latent, f.quantized.detach());
        mse(f.reconstruction, x) + codebook + commitment.mul_scalar(COMMITMENT)
    }

    fn evaluate(&self, model: &VqVae, batches: &[Tensor<2>]) -> (f64, f64) {
        let model = model.valid();
        let mut counts = vec![0u64; CODES];
        let (mut error, mut pixels) = (0.0, 0usize);
        for x in batches {
            let f = model.forward(x.clone());
            let n = x.dims()[0] * x.dims()[1];
            error += f64::from(mse(f.reconstruction, x.clone()).into_scalar::<f32>()) * n as f64;
            pixels += n;
            for code in f.codes.into_data().iter::<i64>() {
                if let Some(c) = usize::try_from(code).ok().and_then(|c| counts.get_mut(c)) {
                    *c += 1;
                }
            }
        }
        (error / pixels as f64, perplexity(&counts))
    }

    fn batch_plan(&self, seed: u64, steps: usize) -> Vec<Vec<usize>> {
        epochs(0x7a7e_0000 + seed, self.train.len(), VQ_BATCH, steps)
    }

    fn train_batch(&self, indices: &[usize], device: &Device) -> Tensor<2> {
        let rows: Vec<&Digit> = indices.iter().map(|&i| &self.train[i]).collect();
        images(&rows, device).x
    }

    fn val(&self) -> &[Tensor<2>] {
        &self.val
    }

    fn test(&self) -> &[Tensor<2>] {
        &self.test
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::GradientsParams;
    use burn::tensor::Distribution;

    #[test]
    fn perplexity_counts_codes_in_use() {
        assert!((perplexity(&[5, 5, 5, 5]) - 4.0).abs() < 1e-12);
        assert!((perplexity(&[7, 0, 0]) - 1.0).abs() < 1e-12);
        assert!(perplexity(&[0, 0]).is_nan());
    }

    #[test]
    fn codes_are_nearest_and_gradients_reach_every_part() {
        let device = Device::default().autodiff();
        device.seed(2);
        let rows = fadam_testkit::digits::all();
        let task = VqTask::new(rows[..4].to_vec(), &rows[4..6], &rows[6..8], &device);
        let model = task.model(&device);
        let x = Tensor::<2>::random([3, 64], Distribution::Uniform(0.0, 1.0), &device);
        let f = model.forward(x.clone());
        let book = model.codebook.weight.val();
        let codes = f
            .codes
            .clone()
            .into_data()
            .iter::<i64>()
            .collect::<Vec<_>>();
        let z = f.latent.clone().into_data().try_to_vec::<f32>().unwrap();
        let e = book.clone().into_data().try_to_vec::<f32>().unwrap();
        let dist = |i: usize, k: usize| -> f32 {
            (0..CODE_DIM)
                .map(|j| (z[i * CODE_DIM + j] - e[k * CODE_DIM + j]).powi(2))
                .sum()
        };
        for (i, &c) in codes.iter().enumerate() {
            let best = (0..CODES).map(|k| dist(i, k)).fold(f32::INFINITY, f32::min);
            assert!(
                dist(i, c as usize) <= best * (1.0 + 1e-4) + 1e-6,
                "slot {i}"
            );
        }
        let q = f.quantized.into_data().try_to_vec::<f32>().unwrap();
        for (i, &c) in codes.iter().enumerate() {
            let c = c as usize;
            assert_eq!(q[i * CODE_DIM..][..CODE_DIM], e[c * CODE_DIM..][..CODE_DIM]);
        }
        let grads = GradientsParams::from_grads(VqTask::loss(&model, x).backward(), &model);
        for (name, id) in [
            ("encoder", model.encode_1.weight.id),
            ("codebook", model.codebook.weight.id),
            ("decoder", model.decode_2.weight.id),
        ] {
            let g = grads.get::<2>(id).expect(name);
            let norm = g.abs().sum().into_scalar::<f32>();
            assert!(norm > 0.0, "{name}: no gradient");
        }
    }
}
