//! The partial sums of one shard of a tensor: combined across shards and
//! transported between processes.

use crate::sums::ScaledSum;

/// Partial sums of one shard of a tensor, to be combined across shards.
///
/// Combine them in a fixed order (for example an all-gather followed by a
/// fold in rank order) to keep steps bit-reproducible. The sums are kept
/// in a scaled form that cannot overflow, so [`combine`](Self::combine) is
/// not a plain addition: transport them with
/// [`to_words`](Self::to_words) / [`from_words`](Self::from_words).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct PartialSums {
    pub(crate) count: u64,
    pub(crate) grad: ScaledSum,
    pub(crate) natgrad: ScaledSum,
    pub(crate) decay: ScaledSum,
    pub(crate) nonfinite: bool,
    pub(crate) overflow: bool,
}

impl PartialSums {
    /// The sums of no elements: the identity of [`combine`](Self::combine).
    pub const EMPTY: Self = Self {
        count: 0,
        grad: ScaledSum::ZERO,
        natgrad: ScaledSum::ZERO,
        decay: ScaledSum::ZERO,
        nonfinite: false,
        overflow: false,
    };

    /// The number of words of [`to_words`](Self::to_words).
    pub const WORDS: usize = 8;

    /// The sums of both operands' elements.
    #[must_use]
    pub fn combine(&self, other: &Self) -> Self {
        Self {
            count: self.count + other.count,
            grad: self.grad.add(other.grad),
            natgrad: self.natgrad.add(other.natgrad),
            decay: self.decay.add(other.decay),
            nonfinite: self.nonfinite | other.nonfinite,
            overflow: self.overflow | other.overflow,
        }
    }

    /// How many elements these sums cover.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// A lossless encoding for transport between processes.
    ///
    /// ```
    /// use fadam_core::PartialSums;
    /// let words = PartialSums::EMPTY.to_words();
    /// assert_eq!(PartialSums::from_words(words), PartialSums::EMPTY);
    /// ```
    pub fn to_words(&self) -> [u64; Self::WORDS] {
        let exp = |s: ScaledSum| u64::from(s.exp as u32);
        [
            self.count,
            self.grad.sum.to_bits(),
            exp(self.grad),
            self.natgrad.sum.to_bits(),
            exp(self.natgrad),
            self.decay.sum.to_bits(),
            exp(self.decay),
            u64::from(self.nonfinite) | (u64::from(self.overflow) << 1),
        ]
    }

    /// Decodes [`to_words`](Self::to_words).
    pub fn from_words(w: [u64; Self::WORDS]) -> Self {
        let sum = |s: u64, e: u64| ScaledSum {
            sum: f64::from_bits(s),
            exp: e as u32 as i32,
        };
        Self {
            count: w[0],
            grad: sum(w[1], w[2]),
            natgrad: sum(w[3], w[4]),
            decay: sum(w[5], w[6]),
            nonfinite: w[7] & 1 != 0,
            overflow: w[7] & 2 != 0,
        }
    }
}
