//! Closeness: how far a result is from a reference, relative to the
//! reference's magnitude, with a floor for elements near zero.

/// The largest relative error ([`Floor::Rms`]) allowed between an adapter's
/// composed `f32` tensor operations and the core's kernel, over the
/// conformance runs' 20 steps of every config in
/// [`every_switch`](crate::configs::every_switch). The tensor ops round in a
/// different order than the kernel: a few ulps per step, more through
/// `p = 1`'s denominator `f + e`. Worst seen: 1.1e-6 (burn, `power_1` with
/// refused steps), 5.0e-7 (candle, `betas`).
pub const COMPOSED_F32_TOLERANCE: f64 = 2e-6;

/// What an element's error is divided by, besides its own `|expected|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Floor {
    /// The RMS of the whole expected tensor (its typical magnitude); an
    /// all-zero reference is compared absolutely.
    Rms,
    /// This fraction of the largest `|expected|`.
    Largest(f64),
}

impl Floor {
    /// The floor's value for `expected`.
    ///
    /// ```
    /// use fadam_testkit::close::Floor;
    /// assert_eq!(Floor::Rms.of(&[3.0f32, -4.0, 0.0, 0.0]), 2.5);
    /// assert_eq!(Floor::Largest(0.1).of(&[3.0f32, -4.0]), 0.4);
    /// ```
    pub fn of<T: Copy + Into<f64>>(self, expected: &[T]) -> f64 {
        let wide: Vec<f64> = expected.iter().map(|&x| x.into()).collect();
        match self {
            Floor::Rms => rms(&wide),
            Floor::Largest(fraction) => fraction * wide.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        }
    }
}

/// Root mean square, without overflow for huge values; 0 when empty.
///
/// ```
/// assert_eq!(fadam_testkit::close::rms(&[1e300, -1e300]), 1e300);
/// assert_eq!(fadam_testkit::close::rms(&[]), 0.0);
/// ```
pub fn rms(x: &[f64]) -> f64 {
    let max = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max == 0.0 {
        return 0.0;
    }
    max * (x.iter().map(|v| (v / max) * (v / max)).sum::<f64>() / x.len() as f64).sqrt()
}

/// `f32` values as `f64`.
///
/// ```
/// assert_eq!(fadam_testkit::close::widen(&[0.5f32]), vec![0.5f64]);
/// ```
pub fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

/// The largest error of `actual` against `expected` and where it is:
/// `|a - e| / max(|e|, floor)` per element (absolute where that is 0),
/// 0 for equal values, infinite for a NaN.
///
/// ```
/// use fadam_testkit::close::{Floor, max_error};
/// assert_eq!(max_error(&[1.0, 2.2], &[1.0, 2.0], Floor::Rms).1, 1);
/// assert_eq!(max_error(&[f64::NAN], &[1.0], Floor::Rms).0, f64::INFINITY);
/// ```
///
/// # Panics
/// If the lengths differ.
#[track_caller]
pub fn max_error<T: Copy + Into<f64>>(actual: &[T], expected: &[T], floor: Floor) -> (f64, usize) {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    let floor = floor.of(expected);
    let mut worst = (0.0f64, 0usize);
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let (a, e): (f64, f64) = (a.into(), e.into());
        let scale = e.abs().max(floor);
        let err = if a == e {
            0.0
        } else if scale == 0.0 {
            (a - e).abs()
        } else {
            (a - e).abs() / scale
        };
        let err = if err.is_nan() { f64::INFINITY } else { err };
        if err > worst.0 {
            worst = (err, i);
        }
    }
    worst
}

/// Asserts that every element of `actual` is finite and within `tol` of
/// `expected` as [`max_error`] measures it; the message names the worst.
///
/// ```
/// use fadam_testkit::close::{Floor, assert_close};
/// assert_close("x", &[1.0f32, 1e-9], &[1.0, 0.0], 1e-6, Floor::Rms);
/// ```
///
/// ```should_panic
/// use fadam_testkit::close::{Floor, assert_close};
/// assert_close("x", &[1.1f64], &[1.0], 1e-6, Floor::Rms);
/// ```
#[track_caller]
pub fn assert_close<T: Copy + Into<f64> + std::fmt::Debug>(
    what: &str,
    actual: &[T],
    expected: &[T],
    tol: f64,
    floor: Floor,
) {
    if let Some(i) = actual.iter().position(|&a| !a.into().is_finite()) {
        panic!("{what}[{i}] = {:?} is not finite", actual[i]);
    }
    let (err, i) = max_error(actual, expected, floor);
    assert!(
        err <= tol,
        "{what}: error {err:e} > {tol:e} at [{i}]: {:?} vs reference {:?}",
        actual[i],
        expected[i]
    );
}
