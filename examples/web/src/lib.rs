//! FAdam and Adam side by side in a browser: the same MLP on the 8×8
//! digits, trained from the same start by two [`fadam_wgpu::FAdamGpu`]
//! optimizers on the page's WebGPU device; gradients on the CPU (wasm), the
//! optimizer steps on the GPU. The page (`www/`) draws both loss curves.
//!
//! Build and serve: `bash examples/web/serve.sh` (see the README).

pub mod model;

use fadam_core::FAdamConfig;

/// The learning rate of both optimizers.
pub const LR: f64 = 3e-3;

/// The two optimizers compared, by name: groups 0 (weights, with weight
/// decay) and 1 (biases, without), as in [`model::layout`].
pub fn optimizers() -> [(&'static str, [FAdamConfig; 2]); 2] {
    let fadam = FAdamConfig::new().with_lr(LR);
    let adam = FAdamConfig::adam().with_lr(LR);
    [
        ("FAdam", [fadam, fadam.with_weight_decay(0.0)]),
        ("Adam", [adam, adam.with_weight_decay(0.0)]),
    ]
}

#[cfg(target_arch = "wasm32")]
mod web;
