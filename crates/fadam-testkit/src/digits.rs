//! The UCI 8×8 handwritten digits that the examples and the lab train on:
//! the data (embedded, see `data/README.md` for its source and license),
//! its parser and its seeded split.

use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::rng::TestRng;

/// The data set as shipped: 1797 rows of 64 pixel values in `0..=16`
/// (an 8×8 image, row by row), then the class label `0..=9`.
pub const CSV: &str = include_str!("../data/digits.csv");

/// Pixels per image.
pub const PIXELS: usize = 64;

/// Classes (the labels `0..CLASSES`).
pub const CLASSES: usize = 10;

/// One image: its pixels scaled to `[0, 1]` and its label.
#[derive(Clone, Debug, PartialEq)]
pub struct Digit {
    /// `PIXELS` values in `[0, 1]`, row by row.
    pub pixels: Vec<f32>,
    /// The class, `0..CLASSES`.
    pub label: u8,
}

/// Parses rows in the format of [`CSV`]; blank lines are skipped.
///
/// # Errors
/// A message naming the line, for a value that is not a number, a row
/// without 65 values, a pixel outside `0..=16` or a label outside `0..=9`.
///
/// ```
/// use fadam_testkit::digits::parse;
/// let row = format!("{}3", "16,".repeat(64));
/// assert_eq!(parse(&row).unwrap()[0].label, 3);
/// assert!(parse("1,2,3").unwrap_err().contains("line 1"));
/// ```
pub fn parse(csv: &str) -> Result<Vec<Digit>, String> {
    let mut rows = Vec::new();
    for (n, line) in csv.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |what: String| format!("digits line {}: {what}", n + 1);
        let values: Vec<f32> = line
            .split(',')
            .map(|v| v.trim().parse::<f32>())
            .collect::<Result<_, _>>()
            .map_err(|e| at(e.to_string()))?;
        let [pixels @ .., label] = values.as_slice() else {
            unreachable!("split yields at least one value")
        };
        if pixels.len() != PIXELS {
            return Err(at(format!(
                "{} values, expected {PIXELS} pixels and a label",
                values.len()
            )));
        }
        if !(0.0..CLASSES as f32).contains(label) || label.fract() != 0.0 {
            return Err(at(format!("label {label} is not 0..9")));
        }
        if pixels.iter().any(|p| !(0.0..=16.0).contains(p)) {
            return Err(at("a pixel is outside 0..16".into()));
        }
        rows.push(Digit {
            pixels: pixels.iter().map(|p| p / 16.0).collect(),
            label: *label as u8,
        });
    }
    Ok(rows)
}

/// Every image of [`CSV`], in file order.
///
/// ```
/// let all = fadam_testkit::digits::all();
/// assert_eq!(all.len(), 1797);
/// ```
pub fn all() -> Vec<Digit> {
    parse(CSV).expect("the embedded digits parse (tested)")
}

/// `rows` in a fixed shuffle for `seed`, split into the rows to train on
/// and the last `held_out` rows, held out. Splitting the held-out part again
/// (or the training part) gives validation and test sets.
///
/// # Panics
/// If `held_out` exceeds the number of rows.
///
/// ```
/// use fadam_testkit::digits::{all, split};
/// let (train, test) = split(all(), 360, 42);
/// assert_eq!((train.len(), test.len()), (1437, 360));
/// assert_eq!(split(all(), 360, 42).1, test);
/// ```
pub fn split(mut rows: Vec<Digit>, held_out: usize, seed: u64) -> (Vec<Digit>, Vec<Digit>) {
    assert!(held_out <= rows.len(), "more held out than there are rows");
    rows.shuffle(&mut TestRng::seed_from_u64(seed));
    let held = rows.split_off(rows.len() - held_out);
    (rows, held)
}

/// The pixels of `rows` as one row-major `rows.len() × PIXELS` buffer, and
/// the labels.
///
/// ```
/// use fadam_testkit::digits::{all, flatten, PIXELS};
/// let (x, y) = flatten(&all()[..2]);
/// assert_eq!((x.len(), y.len()), (2 * PIXELS, 2));
/// ```
pub fn flatten(rows: &[Digit]) -> (Vec<f32>, Vec<u8>) {
    let pixels = rows.iter().flat_map(|d| d.pixels.iter().copied()).collect();
    (pixels, rows.iter().map(|d| d.label).collect())
}

/// The settings the burn and candle `digits` examples share: the same
/// experiment (an MLP `PIXELS`-`HIDDEN`-`CLASSES`, FAdam against the
/// framework's own AdamW) in each framework.
pub mod example {
    /// The seed of the split, the batch order and the initial weights.
    pub const SEED: u64 = 42;
    /// Hidden units.
    pub const HIDDEN: usize = 64;
    /// Images per batch.
    pub const BATCH: usize = 64;
    /// Passes over the training images.
    pub const EPOCHS: usize = 30;
    /// The learning rate of both optimizers.
    pub const LR: f64 = 1e-3;
    /// Held-out images.
    pub const TEST: usize = 360;
}

/// Prints one line of a digits example's progress: the held-out loss and
/// accuracy of optimizer `name` after `epoch`.
pub fn print_epoch(name: &str, epoch: usize, loss: f32, accuracy: f32) {
    println!(
        "{name:>6}  epoch {epoch:>2}  held-out loss {loss:.4}  accuracy {:.2}%",
        100.0 * accuracy
    );
}

/// Prints how long optimizer `name` trained since `start`.
pub fn print_trained(name: &str, start: std::time::Instant) {
    println!(
        "{name:>6}  trained in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_set_parses_whole() {
        let rows = all();
        assert_eq!(rows.len(), 1797);
        assert!(rows.iter().all(|d| d.pixels.len() == PIXELS));
        for class in 0..CLASSES as u8 {
            let n = rows.iter().filter(|d| d.label == class).count();
            assert!((170..=190).contains(&n), "class {class}: {n} images");
        }
        assert!(
            rows.iter()
                .flat_map(|d| &d.pixels)
                .all(|p| (0.0..=1.0).contains(p))
        );
    }

    #[test]
    fn bad_rows_are_errors() {
        assert!(parse("1,2,3").unwrap_err().contains("3 values"));
        let row = |label: &str| format!("{}{label}", "0,".repeat(64));
        assert!(parse(&row("12")).unwrap_err().contains("label 12"));
        assert!(parse(&row("2.5")).unwrap_err().contains("label 2.5"));
        assert!(parse(&row("x")).unwrap_err().contains("line 1"));
        let bright = format!("17,{}", row("1").split_once(',').unwrap().1);
        assert!(parse(&bright).unwrap_err().contains("outside"));
        assert_eq!(parse("\n\n").unwrap(), vec![]);
    }

    #[test]
    fn splits_are_disjoint_and_seeded() {
        let (train, test) = split(all(), 360, 7);
        assert_eq!(train.len() + test.len(), 1797);
        assert_ne!(split(all(), 360, 8).1, test);
    }
}
