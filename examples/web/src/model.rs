//! The 8×8 digits and a one-hidden-layer MLP (64 → 32 tanh → 10 softmax)
//! with its cross-entropy loss and gradient over the whole set, written out
//! for the CPU (in the browser: wasm). The optimizer steps run elsewhere.

use fadam_wgpu::Layout;

/// Pixels of an image.
pub const PIXELS: usize = 64;
/// Hidden units.
pub const HIDDEN: usize = 32;
/// Classes (digits 0..=9).
pub const CLASSES: usize = 10;

/// The tensors in arena order: weights (group 0, with weight decay) and
/// biases (group 1, without): `w1 [HIDDEN × PIXELS]`, `b1`, `w2
/// [CLASSES × HIDDEN]`, `b2`.
const TENSORS: [(usize, usize); 4] = [
    (HIDDEN * PIXELS, 0),
    (HIDDEN, 1),
    (CLASSES * HIDDEN, 0),
    (CLASSES, 1),
];
const B1: usize = HIDDEN * PIXELS;
const W2: usize = B1 + HIDDEN;
const B2: usize = W2 + CLASSES * HIDDEN;
/// Parameters of the model.
pub const PARAMS: usize = B2 + CLASSES;

/// The digits: 1797 images scaled to [0, 1] and their labels. Source: UCI,
/// "Optical Recognition of Handwritten Digits", E. Alpaydin and C. Kaynak
/// (1998), CC BY 4.0, <https://doi.org/10.24432/C50P49>; the copy in
/// `crates/fadam-ndarray/data` (see its README).
#[derive(Clone, Debug)]
pub struct Digits {
    /// `len × PIXELS` pixel values.
    pub pixels: Vec<f32>,
    /// One label per image.
    pub labels: Vec<usize>,
}

impl Digits {
    /// The repository's `digits.csv`, embedded.
    pub fn embedded() -> Self {
        Self::parse(include_str!(
            "../../../crates/fadam-ndarray/data/digits.csv"
        ))
        .expect("the embedded digits.csv parses")
    }

    /// Parses rows of 64 pixel values (0..=16) and a label (0..=9).
    ///
    /// # Errors
    /// The line (1-based) that is not such a row.
    pub fn parse(csv: &str) -> Result<Self, usize> {
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for (line, row) in csv
            .lines()
            .enumerate()
            .filter(|(_, r)| !r.trim().is_empty())
        {
            let values: Vec<u8> = row
                .trim()
                .split(',')
                .map(|v| v.trim().parse().map_err(|_| line + 1))
                .collect::<Result<_, _>>()?;
            match values.split_last() {
                Some((&label, px))
                    if px.len() == PIXELS && label < 10 && px.iter().all(|&p| p <= 16) =>
                {
                    pixels.extend(px.iter().map(|&p| f32::from(p) / 16.0));
                    labels.push(usize::from(label));
                }
                _ => return Err(line + 1),
            }
        }
        Ok(Self { pixels, labels })
    }

    /// Images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// The first `n` images (all if fewer).
    pub fn first(&self, n: usize) -> Self {
        let n = n.min(self.len());
        Self {
            pixels: self.pixels[..n * PIXELS].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The model's arena layout for `fadam-wgpu`.
///
/// # Errors
/// As [`Layout::packed`] (never, for these sizes).
pub fn layout() -> Result<Layout, fadam_wgpu::Error> {
    Layout::packed(TENSORS.map(|(len, group)| (len as u64, group)))
}

/// Initial parameters: uniform in ±1/√fan_in for the weights (a fixed
/// xorshift sequence from `seed`), zero biases.
pub fn init(seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    let mut params = vec![0.0; PARAMS];
    let scale1 = 1.0 / (PIXELS as f32).sqrt();
    let scale2 = 1.0 / (HIDDEN as f32).sqrt();
    params[..B1]
        .iter_mut()
        .for_each(|w| *w = uniform() * scale1);
    params[W2..B2]
        .iter_mut()
        .for_each(|w| *w = uniform() * scale2);
    params
}

/// The mean cross-entropy over `data` at `params`, its gradient written to
/// `grads`, and the share of images classified right.
pub fn loss_and_grad(params: &[f32], data: &Digits, grads: &mut [f32]) -> (f32, f32) {
    assert_eq!(params.len(), PARAMS);
    assert_eq!(grads.len(), PARAMS);
    grads.fill(0.0);
    let (w1, b1, w2, b2) = (
        &params[..B1],
        &params[B1..W2],
        &params[W2..B2],
        &params[B2..],
    );
    let inv_n = 1.0 / data.len() as f32;
    let (mut loss, mut right) = (0.0f64, 0usize);
    let mut hidden = [0.0f32; HIDDEN];
    let mut delta = [0.0f32; HIDDEN];
    for (x, &label) in data.pixels.chunks_exact(PIXELS).zip(&data.labels) {
        for (j, h) in hidden.iter_mut().enumerate() {
            let row = &w1[j * PIXELS..(j + 1) * PIXELS];
            *h = (b1[j] + row.iter().zip(x).map(|(w, x)| w * x).sum::<f32>()).tanh();
        }
        let mut logits = [0.0f32; CLASSES];
        for (k, z) in logits.iter_mut().enumerate() {
            let row = &w2[k * HIDDEN..(k + 1) * HIDDEN];
            *z = b2[k] + row.iter().zip(&hidden).map(|(w, h)| w * h).sum::<f32>();
        }
        let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = logits.iter().map(|z| (z - top).exp()).sum();
        loss += f64::from(sum.ln() + top - logits[label]);
        right += usize::from(logits.iter().all(|&z| z <= logits[label]));
        // d loss / d logit = softmax − one-hot, averaged over the set.
        delta.fill(0.0);
        for (k, &z) in logits.iter().enumerate() {
            let dz = ((z - top).exp() / sum - f32::from(u8::from(k == label))) * inv_n;
            grads[B2 + k] += dz;
            let row = W2 + k * HIDDEN;
            for (j, &h) in hidden.iter().enumerate() {
                grads[row + j] += dz * h;
                delta[j] += dz * w2[k * HIDDEN + j];
            }
        }
        for (j, &h) in hidden.iter().enumerate() {
            let dh = delta[j] * (1.0 - h * h);
            grads[B1 + j] += dh;
            for (g, &x) in grads[j * PIXELS..(j + 1) * PIXELS].iter_mut().zip(x) {
                *g += dh * x;
            }
        }
    }
    (
        (loss / data.len() as f64) as f32,
        right as f32 / data.len() as f32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use fadam_core::{FAdamConfig, State, Tensor, step_model};

    #[test]
    fn digits_parse_and_bad_rows_are_refused() {
        let d = Digits::embedded();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.pixels.len(), 1797 * PIXELS);
        assert!(d.labels.iter().all(|&l| l < CLASSES));
        let row = |label: &str| format!("{}{label}\n", "1,".repeat(PIXELS));
        assert_eq!(Digits::parse(&row("3")).unwrap().labels, [3]);
        assert_eq!(
            Digits::parse(&format!("{}{}", row("3"), row("10"))).unwrap_err(),
            2
        );
        assert_eq!(Digits::parse("1,2,3\n").unwrap_err(), 1);
        assert_eq!(Digits::parse(&row("x")).unwrap_err(), 1);
    }

    /// The written-out gradient against central differences on a small
    /// subset.
    #[test]
    fn gradient_matches_finite_differences() {
        let data = Digits::embedded().first(20);
        let mut params = init(3);
        params[B1..W2].iter_mut().for_each(|b| *b = 0.05);
        let mut grads = vec![0.0; PARAMS];
        loss_and_grad(&params, &data, &mut grads);
        let mut scratch = vec![0.0; PARAMS];
        for i in [0, 5, 700, B1 + 3, W2, W2 + 77, B2, B2 + 9] {
            let h = 1e-2;
            let mut at = |d: f32| {
                let mut p = params.clone();
                p[i] += d;
                loss_and_grad(&p, &data, &mut scratch).0
            };
            let numeric = (at(h) - at(-h)) / (2.0 * h);
            assert!(
                (numeric - grads[i]).abs() <= 2e-3 * grads[i].abs().max(0.05),
                "param {i}: analytic {} vs numeric {numeric}",
                grads[i]
            );
        }
    }

    /// The page's two optimizers (see `lib.rs`) lower the loss on the CPU
    /// too (fadam-core), and the layout is the arena the slices use.
    #[test]
    fn both_optimizers_lower_the_loss_with_the_core() {
        let data = Digits::embedded().first(300);
        let layout = layout().unwrap();
        assert_eq!(layout.arena_len() as usize, PARAMS);
        for (name, groups) in crate::optimizers() {
            let mut params = init(1);
            let mut grads = vec![0.0; PARAMS];
            let mut states: Vec<State<f32>> = TENSORS.iter().map(|&(n, _)| State::new(n)).collect();
            let first = loss_and_grad(&params, &data, &mut grads).0;
            for _ in 0..60 {
                loss_and_grad(&params, &data, &mut grads);
                let mut p = params.as_mut_slice();
                let mut g = grads.as_slice();
                let mut tensors: Vec<Tensor<'_, f32>> = Vec::new();
                for (&(n, group), s) in TENSORS.iter().zip(&mut states) {
                    let (ph, pt) = p.split_at_mut(n);
                    let (gh, gt) = g.split_at(n);
                    (p, g) = (pt, gt);
                    tensors.push(Tensor::new(ph, gh, s.as_mut()).with_group(group));
                }
                step_model(&groups, &mut tensors).unwrap();
            }
            let (last, accuracy) = loss_and_grad(&params, &data, &mut grads);
            eprintln!("{name}: loss {first} -> {last}, accuracy {accuracy}");
            assert!(last < 0.5 * first, "{name}: loss {first} -> {last}");
            assert!(accuracy > 0.8, "{name}: accuracy {accuracy}");
            let _: [FAdamConfig; 2] = groups;
        }
    }
}
