//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use burn::tensor::{Device, Tensor, TensorData};

/// A small deterministic generator (no dependency, same numbers everywhere).
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(
            seed.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407),
        )
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform() * scale).collect()
    }
}

pub fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.clone()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
}

/// The largest `|a - b| / max(|b|, RMS(b))`: relative error, with the
/// tensor's RMS as the scale of elements near zero.
pub fn rel_error(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let rms = (b.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / b.len().max(1) as f64).sqrt();
    a.iter()
        .zip(b)
        .map(|(&a, &b)| {
            let (a, b) = (f64::from(a), f64::from(b));
            let scale = b.abs().max(rms);
            if scale == 0.0 {
                (a - b).abs()
            } else {
                (a - b).abs() / scale
            }
        })
        .fold(0.0, f64::max)
}
