//! A small MLP (64 → 32 → 10, ReLU, softmax) on the 8×8 handwritten digits,
//! with gradients written by hand in ndarray, trained with FAdam and with
//! Adam from the same crate on the same data, initialization and batches.
//!
//! ```text
//! cargo run --release -p fadam-ndarray --example ndarray_digits
//! ```
//!
//! Data: UCI "Optical Recognition of Handwritten Digits" (E. Alpaydin,
//! C. Kaynak, 1998), as shipped in scikit-learn, CC BY 4.0; see
//! `crates/fadam-testkit/data/README.md`. It is embedded in the binary.

use std::time::Instant;

use fadam_ndarray::{FAdam, FAdamConfig};
use fadam_testkit::digits::{self, Digit};
use fadam_testkit::rand::RngExt;
use fadam_testkit::rand::seq::SliceRandom;
use fadam_testkit::rng::{self, TestRng as Rng};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

const HELD_OUT: usize = 360;
const HIDDEN: usize = 32;
const EPOCHS: usize = 60;
const BATCH: usize = 64;
const SEED: u64 = 2024;

/// Pixels (as `f64`) and labels of `rows`.
fn arrays(rows: &[Digit]) -> (Array2<f64>, Vec<usize>) {
    let (pixels, labels) = digits::flatten(rows);
    let pixels = pixels.into_iter().map(f64::from).collect();
    let x = Array2::from_shape_vec((rows.len(), digits::PIXELS), pixels).expect("PIXELS per row");
    (x, labels.into_iter().map(usize::from).collect())
}

#[derive(Clone)]
struct Mlp {
    w1: Array2<f64>,
    b1: Array1<f64>,
    w2: Array2<f64>,
    b2: Array1<f64>,
}

struct Grads {
    w1: Array2<f64>,
    b1: Array1<f64>,
    w2: Array2<f64>,
    b2: Array1<f64>,
}

impl Mlp {
    /// Glorot-uniform weights, zero biases.
    fn new(rng: &mut Rng) -> Self {
        let mut glorot = |fan_in: usize, fan_out: usize| {
            let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
            Array2::from_shape_simple_fn((fan_in, fan_out), || a * rng.random_range(-1.0..1.0))
        };
        Self {
            w1: glorot(64, HIDDEN),
            b1: Array1::zeros(HIDDEN),
            w2: glorot(HIDDEN, 10),
            b2: Array1::zeros(10),
        }
    }

    /// Hidden activations and class probabilities.
    fn forward(&self, x: ArrayView2<'_, f64>) -> (Array2<f64>, Array2<f64>) {
        let hidden = (x.dot(&self.w1) + &self.b1).mapv(|z| z.max(0.0));
        let mut probs = hidden.dot(&self.w2) + &self.b2;
        for mut row in probs.rows_mut() {
            let max = row.fold(f64::NEG_INFINITY, |m, &z| m.max(z));
            row.mapv_inplace(|z| (z - max).exp());
            let sum = row.sum();
            row /= sum;
        }
        (hidden, probs)
    }

    /// Mean cross-entropy and its gradient, by hand.
    fn loss_and_grads(&self, x: ArrayView2<'_, f64>, y: &[usize]) -> (f64, Grads) {
        let (hidden, probs) = self.forward(x);
        let n = y.len() as f64;
        let loss = -y
            .iter()
            .enumerate()
            .map(|(i, &c)| probs[[i, c]].max(1e-300).ln())
            .sum::<f64>()
            / n;
        // d loss / d logits = (softmax - onehot) / n
        let mut dlogits = probs;
        for (i, &c) in y.iter().enumerate() {
            dlogits[[i, c]] -= 1.0;
        }
        dlogits /= n;
        let mut dhidden = dlogits.dot(&self.w2.t());
        dhidden.zip_mut_with(&hidden, |d, &h| {
            if h <= 0.0 {
                *d = 0.0;
            }
        });
        let grads = Grads {
            w1: x.t().dot(&dhidden),
            b1: dhidden.sum_axis(Axis(0)),
            w2: hidden.t().dot(&dlogits),
            b2: dlogits.sum_axis(Axis(0)),
        };
        (loss, grads)
    }

    /// Mean cross-entropy and accuracy.
    fn evaluate(&self, x: ArrayView2<'_, f64>, y: &[usize]) -> (f64, f64) {
        let (_, probs) = self.forward(x);
        let mut loss = 0.0;
        let mut correct = 0;
        for (row, &c) in probs.rows().into_iter().zip(y) {
            loss -= row[c].max(1e-300).ln();
            correct += usize::from(argmax(row) == c);
        }
        (loss / y.len() as f64, correct as f64 / y.len() as f64)
    }
}

fn argmax(row: ArrayView1<'_, f64>) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f64::NEG_INFINITY), |best, (i, &p)| {
            if p > best.1 { (i, p) } else { best }
        })
        .0
}

/// Trains a copy of `init` with `groups` (group 0: weights, group 1:
/// biases); returns the held-out loss and accuracy.
fn train(
    name: &str,
    groups: Vec<FAdamConfig>,
    init: &Mlp,
    (x_train, y_train): (ArrayView2<'_, f64>, &[usize]),
    (x_test, y_test): (ArrayView2<'_, f64>, &[usize]),
) -> (f64, f64) {
    let start = Instant::now();
    let mut model = init.clone();
    let mut opt = FAdam::with_groups(groups);
    let mut rng = rng::seeded(SEED ^ 0xBA7C4);
    let mut order: Vec<usize> = (0..y_train.len()).collect();
    for epoch in 1..=EPOCHS {
        order.shuffle(&mut rng);
        let mut epoch_loss = 0.0;
        for batch in order.chunks(BATCH) {
            let x = x_train.select(Axis(0), batch);
            let y: Vec<usize> = batch.iter().map(|&i| y_train[i]).collect();
            let (loss, g) = model.loss_and_grads(x.view(), &y);
            epoch_loss += loss * batch.len() as f64;
            opt.begin_step()
                .param(&mut model.w1, &g.w1)
                .param_in_group(1, &mut model.b1, &g.b1)
                .param(&mut model.w2, &g.w2)
                .param_in_group(1, &mut model.b2, &g.b2)
                .finish()
                .expect("finite gradients");
        }
        if epoch % 20 == 0 {
            let (loss, acc) = model.evaluate(x_test, y_test);
            println!(
                "{name:>5} epoch {epoch:>3}: train loss {:.4}, held-out loss {loss:.4}, accuracy {:.2}%",
                epoch_loss / y_train.len() as f64,
                100.0 * acc
            );
        }
    }
    let result = model.evaluate(x_test, y_test);
    println!(
        "{name:>5}: {} steps in {:.2?}",
        opt.steps(),
        start.elapsed()
    );
    result
}

fn main() {
    let (train_rows, test_rows) = digits::split(digits::all(), HELD_OUT, SEED);
    let (x_train, y_train) = arrays(&train_rows);
    let (x_test, y_test) = arrays(&test_rows);
    let mut rng = rng::seeded(SEED);
    println!(
        "digits: {} train, {} held out; MLP 64-{HIDDEN}-10, {EPOCHS} epochs of batches of {BATCH}, seed {SEED}",
        y_train.len(),
        y_test.len()
    );

    let init = Mlp::new(&mut rng);
    let lr = 1e-2;
    let fadam = vec![
        FAdamConfig::new().with_lr(lr),
        FAdamConfig::new().with_lr(lr).with_weight_decay(0.0),
    ];
    let adam = vec![FAdamConfig::adam().with_lr(lr); 2];
    let train_set = (x_train.view(), y_train.as_slice());
    let test_set = (x_test.view(), y_test.as_slice());
    let (fadam_loss, fadam_acc) = train("FAdam", fadam, &init, train_set, test_set);
    let (adam_loss, adam_acc) = train("Adam", adam, &init, train_set, test_set);

    println!();
    println!("optimizer  held-out loss  held-out accuracy");
    println!(
        "FAdam      {fadam_loss:>13.4}  {:>16.2}%",
        100.0 * fadam_acc
    );
    println!("Adam       {adam_loss:>13.4}  {:>16.2}%", 100.0 * adam_acc);
}
