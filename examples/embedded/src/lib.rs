//! FAdam on a microcontroller: a softmax regression trained on 512 of the
//! 8×8 digits with `fadam-core` alone (`no_std`, no allocator, the state in
//! fixed-size buffers), by the same code on a Cortex-M under QEMU and on the
//! host, which must end with the same bits.
//!
//! ```
//! use fadam_embedded::{Model, NoClock, train};
//!
//! let mut model = Model::new();
//! let mut out = String::new();
//! let summary = train(&mut model, &mut out, &mut NoClock, 1).unwrap();
//! assert!(summary.final_loss < summary.first_loss);
//! assert!(out.contains(&format!("fingerprint={:016x}", model.fingerprint())));
//! ```
#![cfg_attr(not(test), no_std)]

pub mod data;
mod model;

use core::fmt::{self, Write};

use fadam_core::FAdamConfig;

pub use model::{Model, PARAMS};

use data::{CLASSES, DIGITS, PIXELS, TEST, TRAIN};

/// Images per step.
pub const BATCH: usize = 64;
/// Passes over the training rows the examples make.
pub const EPOCHS: usize = 12;

/// FAdam for the weights (the paper's defaults, with a larger learning rate
/// for this small problem) and for the biases (no weight decay).
pub const CONFIGS: [FAdamConfig; 2] = [
    FAdamConfig::new().with_lr(0.05),
    FAdamConfig::new().with_lr(0.05).with_weight_decay(0.0),
];

/// A monotonic counter of the board's timer, if it has one.
pub trait Clock {
    /// The count now, or `None` where nothing is measured.
    fn now(&mut self) -> Option<u64>;
}

/// No timer: nothing is measured (the host's run).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoClock;

impl Clock for NoClock {
    fn now(&mut self) -> Option<u64> {
        None
    }
}

/// What a training run did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Mean cross-entropy over the training rows before the first step.
    pub first_loss: f32,
    /// ... and after the last.
    pub final_loss: f32,
    /// Held-out rows classified right, of [`TEST`].
    pub correct: usize,
    /// Optimizer steps taken.
    pub steps: u32,
    /// Clock counts spent in the optimizer's steps, all together.
    pub step_ticks: Option<u64>,
    /// Clock counts spent computing the gradients, all together.
    pub gradient_ticks: Option<u64>,
    /// [`Model::fingerprint`] at the end.
    pub fingerprint: u64,
}

impl Summary {
    /// Whether training worked: the loss fell to under a third of its
    /// starting value and over 80% of the held-out rows are classified right.
    pub fn learned(&self) -> bool {
        self.final_loss < self.first_loss / 3.0 && self.correct * 100 > TEST * 80
    }
}

/// Why training stopped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Failure {
    /// The optimizer refused a step (nothing was written).
    Step(fadam_core::Error),
    /// The output could not be written.
    Write,
}

impl From<fmt::Error> for Failure {
    fn from(_: fmt::Error) -> Self {
        Self::Write
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Step(e) => write!(f, "step refused: {e}"),
            Self::Write => f.write_str("output failed"),
        }
    }
}

/// Adds the counts since `start` to `total`; a clock that ran backwards
/// (or stopped giving counts) leaves nothing measured.
fn elapsed(clock: &mut impl Clock, start: Option<u64>, total: &mut Option<u64>) {
    *total = match (start, clock.now(), *total) {
        (Some(start), Some(end), Some(total)) => end
            .checked_sub(start)
            .and_then(|ticks| total.checked_add(ticks)),
        _ => None,
    };
}

/// Trains `model` for `epochs` passes over the training rows in fixed
/// batches of [`BATCH`], writing the loss after each pass and the final
/// fingerprint to `out`; the lines are the same on every target. `clock`
/// times the gradients and the optimizer's steps apart.
///
/// # Errors
/// [`Failure`]: a refused step or an output error.
pub fn train(
    model: &mut Model,
    out: &mut impl Write,
    clock: &mut impl Clock,
    epochs: usize,
) -> Result<Summary, Failure> {
    let (images, labels) = DIGITS.train();
    let (test_images, test_labels) = DIGITS.test();
    writeln!(
        out,
        "softmax regression {PIXELS} -> {CLASSES}, {PARAMS} f32 parameters, \
         {TRAIN} training and {TEST} held-out digits, batches of {BATCH}"
    )?;
    writeln!(
        out,
        "optimizer state: {} bytes (f32 momentum and Fisher diagonal, a u64 step count per tensor)",
        Model::STATE_BYTES
    )?;
    let first_loss = model.loss(images, labels);
    writeln!(out, "epoch  0: train loss {first_loss:.6}")?;
    let timed = clock.now().map(|_| 0);
    let (mut step_ticks, mut gradient_ticks, mut steps) = (timed, timed, 0);
    let mut final_loss = first_loss;
    for epoch in 1..=epochs {
        for (batch, batch_labels) in images.chunks(BATCH).zip(labels.chunks(BATCH)) {
            let start = clock.now();
            model.backward(batch, batch_labels);
            elapsed(clock, start, &mut gradient_ticks);
            let start = clock.now();
            model.step(&CONFIGS).map_err(Failure::Step)?;
            elapsed(clock, start, &mut step_ticks);
            steps += 1;
        }
        final_loss = model.loss(images, labels);
        let correct = model.correct(test_images, test_labels);
        writeln!(
            out,
            "epoch {epoch:2}: train loss {final_loss:.6}, held-out accuracy {correct}/{TEST}"
        )?;
    }
    let fingerprint = model.fingerprint();
    writeln!(out, "fingerprint={fingerprint:016x}")?;
    Ok(Summary {
        first_loss,
        final_loss,
        correct: model.correct(test_images, test_labels),
        steps,
        step_ticks,
        gradient_ticks,
        fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that returns the given counts, then nothing.
    struct Script<'a>(&'a [u64]);

    impl Clock for Script<'_> {
        fn now(&mut self) -> Option<u64> {
            let (&first, rest) = self.0.split_first()?;
            self.0 = rest;
            Some(first)
        }
    }

    #[test]
    fn elapsed_adds_and_refuses_a_backward_clock() {
        let mut total = Some(5);
        elapsed(&mut Script(&[10]), Some(7), &mut total);
        assert_eq!(total, Some(8));
        elapsed(&mut Script(&[6]), Some(7), &mut total);
        assert_eq!(total, None);
        let mut total = Some(5);
        elapsed(&mut Script(&[]), Some(7), &mut total);
        assert_eq!(total, None);
    }

    #[test]
    fn training_learns_and_counts_its_steps() {
        let mut model = Model::new();
        let mut out = String::new();
        let mut clock = Script(&[0; 1000]);
        let summary = train(&mut model, &mut out, &mut clock, 2).unwrap();
        assert_eq!(summary.steps, 2 * (TRAIN / BATCH) as u32);
        assert_eq!(summary.step_ticks, Some(0));
        assert!(summary.final_loss < summary.first_loss);
        assert_eq!(summary.fingerprint, model.fingerprint());
        assert_eq!(out.lines().filter(|l| l.starts_with("epoch")).count(), 3);
        // The clock ran out: nothing measured, training unaffected.
        let mut again = Model::new();
        let short = train(&mut again, &mut String::new(), &mut Script(&[0; 3]), 2).unwrap();
        assert_eq!(
            (short.step_ticks, short.fingerprint),
            (None, summary.fingerprint)
        );
    }

    #[test]
    fn a_failing_writer_stops_training() {
        struct Full;
        impl Write for Full {
            fn write_str(&mut self, _: &str) -> fmt::Result {
                Err(fmt::Error)
            }
        }
        let mut model = Model::new();
        assert_eq!(
            train(&mut model, &mut Full, &mut NoClock, 1),
            Err(Failure::Write)
        );
        assert_eq!(model, Model::new());
    }
}
