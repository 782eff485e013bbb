//! The embedded data sets, their fixed splits, and a seeded generator.

use fadam_testkit::digits;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

/// Shakespeare, see `data/README.md`.
pub(crate) const SHAKESPEARE: &str = include_str!("../data/shakespeare.txt");

/// The lab's generator: ChaCha8, whose stream for a seed is the same on
/// every machine and in every `rand` release, for batches and splits.
pub(crate) type Rng = rand::rngs::ChaCha8Rng;

/// The generator for `seed`.
pub(crate) fn rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// Characters as token ids, with the positions usable as prediction
/// targets in each split.
#[derive(Debug)]
pub(crate) struct Text {
    /// The distinct bytes, sorted; a token id indexes this.
    pub(crate) vocab: Vec<u8>,
    /// The whole text as token ids.
    pub(crate) ids: Vec<u32>,
    /// Target positions `p` (with a full context `p - context .. p` in the
    /// same block) of the training, validation and test splits.
    pub(crate) train: Vec<usize>,
    pub(crate) val: Vec<usize>,
    pub(crate) test: Vec<usize>,
}

/// Block size of the Shakespeare split: blocks `i % 10 == 8` are the
/// validation split, `i % 10 == 9` the test split, the rest training, so
/// that every play contributes to each split.
pub(crate) const BLOCK: usize = 4096;

impl Text {
    /// Tokenizes `text` by byte and splits it into blocks; a target needs
    /// `context` preceding characters in its own block.
    pub(crate) fn new(text: &str, context: usize) -> Result<Self, String> {
        let bytes = text.as_bytes();
        let mut seen = [false; 256];
        for &b in bytes {
            seen[b as usize] = true;
        }
        let vocab: Vec<u8> = (0..=255u8).filter(|&b| seen[b as usize]).collect();
        let mut index = [0u32; 256];
        for (i, &b) in vocab.iter().enumerate() {
            index[b as usize] = i as u32;
        }
        let ids: Vec<u32> = bytes.iter().map(|&b| index[b as usize]).collect();
        let (mut train, mut val, mut test) = (Vec::new(), Vec::new(), Vec::new());
        for p in 0..ids.len() {
            if p % BLOCK < context {
                continue;
            }
            match (p / BLOCK) % 10 {
                8 => val.push(p),
                9 => test.push(p),
                _ => train.push(p),
            }
        }
        if train.is_empty() || val.is_empty() || test.is_empty() {
            return Err(format!(
                "the text is too short to split: {} characters",
                ids.len()
            ));
        }
        Ok(Self {
            vocab,
            ids,
            train,
            val,
            test,
        })
    }

    /// The `context` token ids before `p`, then the target at `p`.
    pub(crate) fn window(&self, p: usize, context: usize) -> (&[u32], u32) {
        (&self.ids[p - context..p], self.ids[p])
    }

    /// `steps` batches of `batch` training targets drawn uniformly (with
    /// replacement) from `seed`.
    pub(crate) fn random_batches(&self, seed: u64, batch: usize, steps: usize) -> Vec<Vec<usize>> {
        let mut rng = rng(seed);
        let n = self.train.len();
        (0..steps)
            .map(|_| {
                (0..batch)
                    .map(|_| self.train[rng.random_range(0..n)])
                    .collect()
            })
            .collect()
    }

    /// The `context` token ids before `p`, and the targets of each of them:
    /// the same span shifted by one, ending at `p`.
    pub(crate) fn sequence(&self, p: usize, context: usize) -> (&[u32], &[u32]) {
        (&self.ids[p - context..p], &self.ids[p + 1 - context..=p])
    }
}

/// One digit: its pixels scaled to `[0, 1]` and its label.
pub(crate) use fadam_testkit::digits::Digit;

/// The digits (the workspace's copy in `fadam-testkit`, see its
/// `data/README.md`) in a fixed shuffle, split into training, `held_out`
/// validation and `held_out` test images.
pub(crate) fn split_digits(held_out: usize) -> (Vec<Digit>, Vec<Digit>, Vec<Digit>) {
    let (mut rows, test) = digits::split(digits::all(), held_out, 42);
    let val = rows.split_off(rows.len() - held_out);
    (rows, val, test)
}

/// The batches of `steps` steps over `n` examples in shuffled epochs of
/// batches of `batch` (the tail of an epoch is dropped), from `seed`.
pub(crate) fn epochs(seed: u64, n: usize, batch: usize, steps: usize) -> Vec<Vec<usize>> {
    let mut rng = rng(seed);
    let mut order: Vec<usize> = Vec::new();
    let mut plan = Vec::with_capacity(steps);
    while plan.len() < steps && n >= batch {
        if order.len() < batch {
            order = (0..n).collect();
            order.shuffle(&mut rng);
        }
        let rest = order.split_off(batch);
        plan.push(std::mem::replace(&mut order, rest));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shakespeare_tokenizes_and_splits() {
        let text = Text::new(SHAKESPEARE, 8).unwrap();
        assert_eq!(text.vocab.len(), 76);
        assert_eq!(text.ids.len(), SHAKESPEARE.len());
        let total = text.train.len() + text.val.len() + text.test.len();
        assert!(text.val.len() * 9 < total && text.val.len() * 11 > total);
        // The splits do not overlap, windows stay in their block.
        for &p in text.val.iter().chain(&text.test).chain(&text.train) {
            assert_eq!((p - 8) / BLOCK, p / BLOCK);
        }
        let (context, target) = text.window(text.val[0], 8);
        assert_eq!(context.len(), 8);
        let (inputs, targets) = text.sequence(text.val[0], 8);
        assert_eq!((inputs, targets[7]), (context, target));
        assert_eq!(inputs[1..], targets[..7]);
        assert!((target as usize) < text.vocab.len());
        // Round trip.
        let back: Vec<u8> = text.ids[..50]
            .iter()
            .map(|&i| text.vocab[i as usize])
            .collect();
        assert_eq!(back, &SHAKESPEARE.as_bytes()[..50]);
    }

    #[test]
    fn short_text_is_an_error() {
        assert!(Text::new("abc", 8).is_err());
    }

    #[test]
    fn digits_split() {
        let (train, val, test) = split_digits(360);
        assert_eq!((train.len(), val.len(), test.len()), (1077, 360, 360));
    }

    #[test]
    fn epochs_cover_each_example_once_per_epoch() {
        let plan = epochs(5, 10, 3, 7);
        assert_eq!(plan.len(), 7);
        // Epochs of 3 batches (one example of 10 dropped each).
        for epoch in plan.chunks(3).take(2) {
            let mut seen: Vec<usize> = epoch.concat();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), 9);
        }
        assert_eq!(plan, epochs(5, 10, 3, 7));
        assert!(epochs(5, 2, 3, 7).is_empty());
    }

    #[test]
    fn rng_is_reproducible() {
        use rand::RngExt;
        let (mut a, mut b) = (rng(7), rng(7));
        for _ in 0..10 {
            assert_eq!(a.random::<u64>(), b.random::<u64>());
        }
        let mut v: Vec<usize> = (0..100).collect();
        v.shuffle(&mut rng(1));
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(v, sorted);
    }
}
