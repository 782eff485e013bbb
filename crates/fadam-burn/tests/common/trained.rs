//! An optimizer with FAdam state to save, edit and load: shared by the
//! state tests and the record fuzz target (`fuzz/fuzz_targets/record.rs`
//! includes this file).

use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use fadam_burn::FAdamConfig;

/// The optimizer of a bias-free `Linear(3, 2)` after two FAdam steps on
/// `device` (an autodiff device), from weights seeded with `seed`.
pub fn trained(device: &Device, seed: u64) -> ModuleOptimizer {
    device.seed(seed);
    let mut model: Linear = LinearConfig::new(3, 2).with_bias(false).init(device);
    let mut optim = FAdamConfig::new().init();
    let x = Tensor::<2>::ones([4, 3], device);
    for _ in 0..2 {
        let loss = model.forward(x.clone()).powi_scalar(2).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    optim
}
