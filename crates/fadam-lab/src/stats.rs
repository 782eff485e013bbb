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
    fn argmin_ranks_nan_last() {
        assert_eq!(argmin(&[3.0, f64::NAN, 1.0, 2.0]), Some(2));
        assert_eq!(argmin(&[f64::NAN, 5.0]), Some(1));
        assert_eq!(argmin(&[]), None);
    }
}
