//! Shared test support: an independent f64 reference of the spec, textbook
//! Adam/AdamW, and comparison helpers.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::needless_range_loop,
    clippy::too_many_arguments
)]

pub mod reference;
pub mod textbook;

/// Whether `actual` is within `tol` of `expected`, relative to the larger
/// of `|expected|` and `scale` (the typical magnitude of the tensor).
pub fn close(actual: f64, expected: f64, tol: f64, scale: f64) -> bool {
    (actual - expected).abs() <= tol * expected.abs().max(scale)
}

/// Asserts elementwise closeness with a message naming the first offender.
pub fn assert_close(what: &str, actual: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths");
    let scale = rms(expected).max(1e-300);
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        assert!(a.is_finite(), "{what}[{i}] = {a} is not finite");
        assert!(
            close(a, e, tol, scale),
            "{what}[{i}]: {a:e} vs reference {e:e} (scale {scale:e})"
        );
    }
}

pub fn rms(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let max = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max == 0.0 {
        return 0.0;
    }
    max * (x.iter().map(|v| (v / max) * (v / max)).sum::<f64>() / x.len() as f64).sqrt()
}

pub fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}
