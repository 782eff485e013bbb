//! Mean and spread over seeds.

/// Mean, sample standard deviation, minimum and maximum of a few values.
/// A NaN (a diverged run) makes the mean and deviation NaN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Summary {
    pub(crate) n: usize,
    pub(crate) mean: f64,
    /// Sample standard deviation (`n - 1` in the denominator); 0 for one value.
    pub(crate) std: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Summary {
    pub(crate) fn of(values: &[f64]) -> Self {
        let n = values.len();
        if n == 0 {
            return Self {
                n,
                mean: f64::NAN,
                std: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Self {
            n,
            mean,
            std,
            min,
            max,
        }
    }

    /// The mean, with NaN (divergence) ranked last.
    pub(crate) fn rank_key(&self) -> f64 {
        if self.mean.is_nan() {
            f64::INFINITY
        } else {
            self.mean
        }
    }
}

/// How far apart two optimizers' results are, in units of the seed spread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Comparison {
    /// Mean of `a` minus mean of `b` (negative: `a` is lower).
    pub(crate) delta: f64,
    /// The pooled seed spread `√((s_a² + s_b²) / 2)`.
    pub(crate) spread: f64,
    /// `delta / spread`; NaN without a spread (one seed).
    pub(crate) z: f64,
}

/// Differences of at least this many seed spreads count as a win or a loss.
pub(crate) const DECISIVE: f64 = 2.0;

impl Comparison {
    pub(crate) fn of(a: &Summary, b: &Summary) -> Self {
        let delta = a.mean - b.mean;
        let spread = ((a.std.powi(2) + b.std.powi(2)) / 2.0).sqrt();
        let z = if spread > 0.0 {
            delta / spread
        } else {
            f64::NAN
        };
        Self { delta, spread, z }
    }

    /// For a loss (lower is better): `a` "wins", "ties" or "loses".
    pub(crate) fn verdict(&self) -> &'static str {
        if self.z.is_nan() {
            if self.delta.is_nan() {
                "diverged"
            } else {
                "no spread (one seed)"
            }
        } else if self.z <= -DECISIVE {
            "wins"
        } else if self.z >= DECISIVE {
            "loses"
        } else {
            "ties"
        }
    }
}

/// The index of the smallest key (NaN last); `None` for no keys.
pub(crate) fn argmin(keys: &[f64]) -> Option<usize> {
    keys.iter()
        .enumerate()
        .map(|(i, &k)| (i, if k.is_nan() { f64::INFINITY } else { k }))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_three() {
        let s = Summary::of(&[1.0, 2.0, 3.0]);
        assert_eq!(s.n, 3);
        assert_eq!(s.mean, 2.0);
        assert!((s.std - 1.0).abs() < 1e-12);
        assert_eq!((s.min, s.max), (1.0, 3.0));
    }

    #[test]
    fn summary_of_one_has_no_spread() {
        let s = Summary::of(&[4.5]);
        assert_eq!((s.mean, s.std, s.min, s.max), (4.5, 0.0, 4.5, 4.5));
    }

    #[test]
    fn nan_and_empty() {
        assert!(Summary::of(&[]).mean.is_nan());
        let s = Summary::of(&[1.0, f64::NAN]);
        assert!(s.mean.is_nan());
        assert_eq!(s.rank_key(), f64::INFINITY);
    }

    #[test]
    fn comparisons_in_units_of_spread() {
        let a = Summary::of(&[1.0, 1.2]);
        let b = Summary::of(&[2.0, 2.2]);
        let c = Comparison::of(&a, &b);
        assert!((c.delta + 1.0).abs() < 1e-12);
        assert!((c.spread - 0.02f64.sqrt()).abs() < 1e-12);
        assert_eq!(c.verdict(), "wins");
        assert_eq!(Comparison::of(&b, &a).verdict(), "loses");
        assert_eq!(
            Comparison::of(&a, &Summary::of(&[1.1, 1.3])).verdict(),
            "ties"
        );
        assert_eq!(
            Comparison::of(&Summary::of(&[1.0]), &Summary::of(&[2.0])).verdict(),
            "no spread (one seed)"
        );
    }

    #[test]
    fn argmin_ranks_nan_last() {
        assert_eq!(argmin(&[3.0, f64::NAN, 1.0, 2.0]), Some(2));
        assert_eq!(argmin(&[f64::NAN, 5.0]), Some(1));
        assert_eq!(argmin(&[]), None);
    }
}
