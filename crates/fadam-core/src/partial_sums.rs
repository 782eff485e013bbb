//! The partial sums of one shard of a tensor: combined across shards and
//! transported between processes.

use crate::Error;
use crate::sums::ScaledSum;

/// What a shard found that refuses the step; one bit each, so that
/// [`PartialSums::combine`] is an OR and every rank sees the same refusal.
pub(crate) mod flag {
    /// A gradient (after negation and the L2 term) is NaN or infinite.
    pub(crate) const NONFINITE_GRAD: u64 = 1;
    /// A `g²` overflows the Fisher diagonal.
    pub(crate) const FISHER_OVERFLOW: u64 = 1 << 1;
    /// A parameter is NaN or infinite.
    pub(crate) const NONFINITE_PARAM: u64 = 1 << 2;
    /// A momentum value is NaN or infinite.
    pub(crate) const BAD_MOMENTUM: u64 = 1 << 3;
    /// A Fisher value is negative, NaN or infinite.
    pub(crate) const BAD_FISHER: u64 = 1 << 4;
    /// The element counts of combined sums overflowed `u64`.
    pub(crate) const COUNT_OVERFLOW: u64 = 1 << 5;
    /// Every bit a valid encoding may set.
    pub(crate) const ALL: u64 = (1 << 6) - 1;
}

/// The largest `|exp|` of a sum's scale: far beyond what any sum of finite
/// squares reaches (about ±4300 plus 64 per doubling past `f64::MAX`), and
/// far from `i32` overflow in the scaled arithmetic.
const MAX_EXP: i32 = 1 << 20;

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
    /// [`flag`] bits.
    pub(crate) flags: u64,
}

impl PartialSums {
    /// The sums of no elements: the identity of [`combine`](Self::combine).
    pub const EMPTY: Self = Self {
        count: 0,
        grad: ScaledSum::ZERO,
        natgrad: ScaledSum::ZERO,
        decay: ScaledSum::ZERO,
        flags: 0,
    };

    /// The number of words of [`to_words`](Self::to_words).
    pub const WORDS: usize = 8;

    /// The sums of both operands' elements. Counts whose total overflows
    /// `u64` make [`Reduction::absorb`](crate::Reduction::absorb) refuse the
    /// total with [`Error::InvalidPartialSums`].
    #[must_use]
    pub fn combine(&self, other: &Self) -> Self {
        let (count, wrapped) = self.count.overflowing_add(other.count);
        Self {
            count,
            grad: self.grad.add(other.grad),
            natgrad: self.natgrad.add(other.natgrad),
            decay: self.decay.add(other.decay),
            flags: self.flags | other.flags | if wrapped { flag::COUNT_OVERFLOW } else { 0 },
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
    /// assert_eq!(PartialSums::from_words(words), Ok(PartialSums::EMPTY));
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
            self.flags,
        ]
    }

    /// Decodes [`to_words`](Self::to_words), checking what arrived: the
    /// words may come from another process over a network.
    ///
    /// # Errors
    /// [`Error::InvalidPartialSums`] for words no shard can have encoded: a
    /// sum that is NaN, infinite or negative, a scale exponent out of range,
    /// or unknown flag bits.
    ///
    /// ```
    /// use fadam_core::{Error, PartialSums};
    /// let mut words = PartialSums::EMPTY.to_words();
    /// words[1] = f64::NAN.to_bits();
    /// assert_eq!(PartialSums::from_words(words), Err(Error::InvalidPartialSums));
    /// ```
    pub fn from_words(w: [u64; Self::WORDS]) -> Result<Self, Error> {
        let sum = |s: u64, e: u64| {
            let sum = f64::from_bits(s);
            let exp = e as u32 as i32;
            let valid = e >> 32 == 0 && (-MAX_EXP..=MAX_EXP).contains(&exp);
            if valid && sum.is_finite() && sum >= 0.0 {
                Ok(ScaledSum { sum, exp })
            } else {
                Err(Error::InvalidPartialSums)
            }
        };
        if w[7] & !flag::ALL != 0 {
            return Err(Error::InvalidPartialSums);
        }
        Ok(Self {
            count: w[0],
            grad: sum(w[1], w[2])?,
            natgrad: sum(w[3], w[4])?,
            decay: sum(w[5], w[6])?,
            flags: w[7],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_bad_words_are_refused() {
        let s = PartialSums {
            count: 7,
            grad: ScaledSum { sum: 3.5, exp: -40 },
            natgrad: ScaledSum { sum: 0.0, exp: 0 },
            decay: ScaledSum {
                sum: 1e300,
                exp: 64,
            },
            flags: flag::NONFINITE_GRAD | flag::BAD_FISHER,
        };
        assert_eq!(PartialSums::from_words(s.to_words()), Ok(s));
        let bad = |i: usize, v: u64| {
            let mut w = s.to_words();
            w[i] = v;
            assert_eq!(
                PartialSums::from_words(w),
                Err(Error::InvalidPartialSums),
                "{i} {v:#x}"
            );
        };
        for i in [1, 3, 5] {
            for v in [f64::NAN, f64::INFINITY, -1.0, f64::NEG_INFINITY, -1e-310] {
                bad(i, v.to_bits());
            }
        }
        for i in [2, 4, 6] {
            bad(i, 1 << 32);
            bad(i, (MAX_EXP + 1) as u64);
            bad(i, u64::from((-MAX_EXP - 1) as u32));
        }
        bad(7, flag::ALL + 1);
    }

    #[test]
    fn count_overflow_is_flagged_not_wrapped_silently() {
        let big = PartialSums {
            count: u64::MAX,
            ..PartialSums::EMPTY
        };
        let one = PartialSums {
            count: 1,
            ..PartialSums::EMPTY
        };
        assert_ne!(big.combine(&one).flags & flag::COUNT_OVERFLOW, 0);
        assert_eq!(big.combine(&PartialSums::EMPTY).flags, 0);
    }
}
