//! burn tensors to and from `Vec`s for the integration tests.
#![allow(dead_code, unreachable_pub)]

use burn::tensor::{Device, Tensor, TensorData};

pub mod trained;

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

/// burn's default wgpu device with FAdam's passes on it, initialized once
/// per test binary, before any tensor operation there (call it before
/// `Device::default()`, which is that device with the `wgpu` feature).
#[cfg(feature = "wgpu")]
pub fn kernels() -> &'static fadam_burn::WgpuKernels {
    static KERNELS: std::sync::OnceLock<fadam_burn::WgpuKernels> = std::sync::OnceLock::new();
    KERNELS.get_or_init(|| fadam_burn::WgpuKernels::init().expect("a wgpu adapter"))
}
