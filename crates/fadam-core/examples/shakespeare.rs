//! Next-character prediction on Shakespeare with fadam-core alone: a
//! factored bigram model (embedding → logits, softmax) with gradients
//! written by hand, trained with FAdam and with Adam from the same crate on
//! the same initialization and batches. Prints held-out cross-entropy in bits
//! per character as training goes.
//!
//! ```text
//! cargo run --release -p fadam-core --example shakespeare [-- STEPS]
//! ```
//!
//! Data: Open Shakespeare (Open Knowledge Foundation), CC BY 2.5; see
//! `crates/fadam-lab/data/README.md`. It is embedded in the binary.

use std::time::Instant;

use fadam_core::{FAdamConfig, State, Tensor, step_model};
// ChaCha8: a seeded stream that is the same on every machine.
use rand::{RngExt, SeedableRng, rngs::ChaCha8Rng as Rng};

// The workspace keeps one copy of the text, in the lab crate.
const TEXT: &str = include_str!("../../fadam-lab/data/shakespeare.txt");
const DIM: usize = 24;
const BATCH: usize = 512;
const SEED: u64 = 1234;

/// logits(prev) = E[prev] · U + b, with E: [V, DIM], U: [DIM, V], b: [V].
struct Model {
    vocab: usize,
    /// E, U, b, flattened row-major.
    tensors: [Vec<f32>; 3],
}

impl Model {
    fn new(vocab: usize, rng: &mut Rng) -> Self {
        let e = (0..vocab * DIM)
            .map(|_| rng.random_range(-1.0..1.0) * 0.5)
            .collect();
        let u = (0..DIM * vocab)
            .map(|_| rng.random_range(-1.0..1.0) / (DIM as f32).sqrt())
            .collect();
        Self {
            vocab,
            tensors: [e, u, vec![0.0; vocab]],
        }
    }

    /// Writes the softmax of the logits after `prev` into `p`; returns
    /// `-ln p[next]`.
    fn forward(&self, prev: usize, next: usize, p: &mut [f32]) -> f32 {
        let [e, u, b] = &self.tensors;
        let v = self.vocab;
        let x = &e[prev * DIM..(prev + 1) * DIM];
        p.copy_from_slice(b);
        for (k, &xk) in x.iter().enumerate() {
            for (pj, &ukj) in p.iter_mut().zip(&u[k * v..(k + 1) * v]) {
                *pj += xk * ukj;
            }
        }
        let max = p.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z));
        let sum: f32 = p
            .iter_mut()
            .map(|z| {
                *z = (*z - max).exp();
                *z
            })
            .sum();
        p.iter_mut().for_each(|z| *z /= sum);
        -p[next].max(1e-30).ln()
    }

    /// Mean loss of a batch of (prev, next) pairs and its gradients.
    fn gradients(&self, pairs: &[(usize, usize)], grads: &mut [Vec<f32>; 3]) -> f32 {
        let [e, u, _] = &self.tensors;
        let v = self.vocab;
        grads.iter_mut().for_each(|g| g.fill(0.0));
        let scale = 1.0 / pairs.len() as f32;
        let mut p = vec![0.0; v];
        let mut loss = 0.0;
        for &(prev, next) in pairs {
            loss += self.forward(prev, next, &mut p);
            p[next] -= 1.0; // d loss / d logits
            let [ge, gu, gb] = grads;
            let x = &e[prev * DIM..(prev + 1) * DIM];
            for (gbj, &dj) in gb.iter_mut().zip(&p) {
                *gbj += scale * dj;
            }
            for k in 0..DIM {
                let row = &u[k * v..(k + 1) * v];
                let dx: f32 = row.iter().zip(&p).map(|(a, b)| a * b).sum();
                ge[prev * DIM + k] += scale * dx;
                for (g, &dj) in gu[k * v..(k + 1) * v].iter_mut().zip(&p) {
                    *g += scale * x[k] * dj;
                }
            }
        }
        loss * scale
    }

    /// Mean cross-entropy over `pairs`, in bits per character.
    fn bits(&self, pairs: &[(usize, usize)]) -> f64 {
        let mut p = vec![0.0; self.vocab];
        let nats: f64 = pairs
            .iter()
            .map(|&(a, b)| f64::from(self.forward(a, b, &mut p)))
            .sum();
        nats / pairs.len() as f64 / std::f64::consts::LN_2
    }
}

fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    // Characters to indices; the last tenth of the text is held out.
    let mut alphabet: Vec<u8> = TEXT.bytes().collect();
    alphabet.sort_unstable();
    alphabet.dedup();
    let index: Vec<usize> = {
        let mut map = [0usize; 256];
        alphabet
            .iter()
            .enumerate()
            .for_each(|(i, &c)| map[c as usize] = i);
        TEXT.bytes().map(|c| map[c as usize]).collect()
    };
    let split = index.len() * 9 / 10;
    let held_out: Vec<(usize, usize)> = index[split..]
        .windows(2)
        .step_by(7)
        .map(|w| (w[0], w[1]))
        .collect();
    let vocab = alphabet.len();
    println!(
        "Shakespeare, next character: {} training and {} held-out positions, {vocab} symbols",
        split,
        held_out.len()
    );
    println!(
        "model: embedding {vocab}x{DIM} -> logits {DIM}x{vocab} + bias; batch {BATCH}, {steps} steps, seed {SEED}"
    );
    println!(
        "(a unigram model scores {:.3} bits/char on the held-out text)\n",
        unigram_bits(&index[..split], &held_out, vocab)
    );

    // No weight decay on the bias: its own group.
    let runs = [
        (
            "FAdam",
            [
                FAdamConfig::new().with_lr(3e-3),
                FAdamConfig::new().with_lr(3e-3).with_weight_decay(0.0),
            ],
        ),
        (
            "Adam",
            [
                FAdamConfig::adam().with_lr(3e-3),
                FAdamConfig::adam().with_lr(3e-3),
            ],
        ),
    ];
    let mut finals = Vec::new();
    for (name, groups) in runs {
        let mut rng = Rng::seed_from_u64(SEED);
        let mut model = Model::new(vocab, &mut rng);
        let mut states: Vec<State<f32>> =
            model.tensors.iter().map(|t| State::new(t.len())).collect();
        let mut grads = model.tensors.clone().map(|mut g| {
            g.fill(0.0);
            g
        });
        let mut batch_rng = Rng::seed_from_u64(SEED ^ 0xABCD);
        let mut pairs = vec![(0, 0); BATCH];
        let start = Instant::now();
        let mut train = 0.0;
        for t in 1..=steps {
            for pair in &mut pairs {
                let i = batch_rng.random_range(0..split - 1);
                *pair = (index[i], index[i + 1]);
            }
            train += model.gradients(&pairs, &mut grads);
            let mut tensors: Vec<Tensor<'_, f32>> = model
                .tensors
                .iter_mut()
                .zip(&grads)
                .zip(&mut states)
                .enumerate()
                .map(|(i, ((p, g), s))| {
                    Tensor::new(p, g, s.as_mut()).with_group(usize::from(i == 2))
                })
                .collect();
            step_model(&groups, &mut tensors).expect("a finite gradient");
            if t % (steps / 6).max(1) == 0 || t == steps {
                let avg = train / (steps / 6).max(1) as f32 / std::f32::consts::LN_2;
                println!(
                    "{name:>5} step {t:>5}: train {avg:.3} bits/char, held-out {:.3} bits/char",
                    model.bits(&held_out)
                );
                train = 0.0;
            }
        }
        let bits = model.bits(&held_out);
        println!("{name:>5}: {:.1} s\n", start.elapsed().as_secs_f64());
        finals.push((name, bits));
    }
    println!("optimizer  held-out bits/char (lower is better)");
    for (name, bits) in finals {
        println!("{name:<9}  {bits:.4}");
    }
}

/// The entropy of the training text's character frequencies, measured on
/// the held-out pairs: the baseline any model must beat.
fn unigram_bits(train: &[usize], held_out: &[(usize, usize)], vocab: usize) -> f64 {
    let mut counts = vec![1.0f64; vocab];
    train.iter().for_each(|&c| counts[c] += 1.0);
    let total: f64 = counts.iter().sum();
    held_out
        .iter()
        .map(|&(_, b)| -(counts[b] / total).log2())
        .sum::<f64>()
        / held_out.len() as f64
}
