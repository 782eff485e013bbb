//! Overflow-proof sums of squares and the RMS values derived from them.

/// A non-negative sum kept as `sum · 2^exp`, so that it cannot overflow
/// whatever finite values are added to it.
///
/// Fast paths produce `exp = 0`; a slice whose plain `f64` sum overflows is
/// summed again with per-element scaling (as BLAS `nrm2` does).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub(crate) struct ScaledSum {
    pub(crate) sum: f64,
    pub(crate) exp: i32,
}

impl ScaledSum {
    pub(crate) const ZERO: Self = Self { sum: 0.0, exp: 0 };

    pub(crate) const fn plain(sum: f64) -> Self {
        Self { sum, exp: 0 }
    }

    /// `self + other`; commutative, so a fixed fold order is deterministic.
    pub(crate) fn add(self, other: Self) -> Self {
        if other.sum == 0.0 {
            return self;
        }
        if self.sum == 0.0 {
            return other;
        }
        let exp = self.exp.max(other.exp);
        let sum = libm::ldexp(self.sum, self.exp - exp) + libm::ldexp(other.sum, other.exp - exp);
        if sum.is_finite() {
            return Self { sum, exp };
        }
        // Both terms are finite, so scaling them down by 2^64 makes room.
        let exp = exp + 64;
        let sum = libm::ldexp(self.sum, self.exp - exp) + libm::ldexp(other.sum, other.exp - exp);
        Self { sum, exp }
    }

    /// The term `(a / b)^2` for finite `a` and positive finite `b`, however
    /// large the quotient.
    pub(crate) fn quotient_squared(a: f64, b: f64) -> Self {
        if a == 0.0 {
            return Self::ZERO;
        }
        let (ma, ea) = libm::frexp(a);
        let (mb, eb) = libm::frexp(b);
        let q = ma / mb;
        Self {
            sum: q * q,
            exp: 2 * (ea - eb),
        }
    }

    /// `sqrt(self / count)`; zero for an empty or all-zero tensor.
    pub(crate) fn rms(self, count: u64) -> Rms {
        if count == 0 || self.sum == 0.0 {
            return Rms::ZERO;
        }
        let (mut sum, mut exp) = (self.sum / count as f64, self.exp);
        if exp % 2 != 0 {
            sum *= 2.0;
            exp -= 1;
        }
        Rms {
            mantissa: libm::sqrt(sum),
            exp: exp / 2,
        }
    }
}

/// A root mean square `mantissa · 2^exp`, exact in range however large.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub(crate) struct Rms {
    pub(crate) mantissa: f64,
    pub(crate) exp: i32,
}

impl Rms {
    pub(crate) const ZERO: Self = Self {
        mantissa: 0.0,
        exp: 0,
    };

    /// The value as `f64`, saturating to infinity.
    pub(crate) fn value(self) -> f64 {
        libm::ldexp(self.mantissa, self.exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_never_overflows_and_is_exact_in_range() {
        let big = ScaledSum::plain(f64::MAX);
        let twice = big.add(big);
        assert!(twice.sum.is_finite());
        assert_eq!(libm::ldexp(twice.sum, twice.exp - 1), f64::MAX);
        let s = ScaledSum::plain(3.0).add(ScaledSum::plain(4.0));
        assert_eq!(s, ScaledSum::plain(7.0));
        assert_eq!(s.rms(7).value(), 1.0);
    }

    #[test]
    fn quotient_squared_of_huge_ratio() {
        let t = ScaledSum::quotient_squared(1e300, 1e-300);
        let rms = t.rms(1);
        // 1e600 = mantissa · 2^exp
        let log10 = libm::log10(rms.mantissa) + rms.exp as f64 * libm::log10(2.0);
        assert!((log10 - 600.0).abs() < 1e-12, "{log10}");
        assert_eq!(ScaledSum::quotient_squared(0.0, 1e-300), ScaledSum::ZERO);
        assert_eq!(ScaledSum::quotient_squared(-3.0, 2.0).rms(1).value(), 1.5);
    }

    #[test]
    fn rms_of_zero_count_is_zero() {
        assert_eq!(ScaledSum::plain(5.0).rms(0), Rms::ZERO);
        assert_eq!(ScaledSum::ZERO.rms(3).value(), 0.0);
    }
}
