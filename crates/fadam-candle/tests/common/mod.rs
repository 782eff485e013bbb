//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use candle_core::{DType, Device, Tensor, Var};
use fadam_testkit::rng::{Draw, TestRng};

/// The shapes of the test vars: ranks 0 to 4.
pub const SHAPES: [&[usize]; 5] = [&[], &[37], &[6, 5], &[2, 3, 4], &[2, 3, 2, 3]];

/// A var of `dtype` holding `values`.
pub fn var(values: &[f64], shape: &[usize], dtype: DType) -> Var {
    let t = Tensor::new(values, &Device::Cpu)
        .and_then(|t| t.reshape(shape))
        .and_then(|t| t.to_dtype(dtype))
        .unwrap();
    Var::from_tensor(&t).unwrap()
}

/// A tensor's values as `f64`, flat.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .and_then(|t| t.to_dtype(DType::F64))
        .and_then(|t| t.to_vec1())
        .unwrap()
}

/// The gradient values of step `step` (1-based): varied scales, all zero at
/// step 5, tiny at step 9 (the adaptive epsilon applies).
pub fn gradient(rng: &mut TestRng, n: usize, step: usize) -> Vec<f64> {
    match step {
        5 => vec![0.0; n],
        9 => rng.vec_f64(n, 1e-9),
        _ => rng.vec_f64(n, [0.1, 1.0, 3.0, 0.02][step % 4]),
    }
}
