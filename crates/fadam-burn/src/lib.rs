//! FAdam — Adam as a natural-gradient optimizer with the diagonal empirical
//! Fisher (D. Hwang, 2024, [arXiv:2405.12807](https://arxiv.org/abs/2405.12807)),
//! as a native [burn](https://burn.dev) optimizer.
//!
//! [`FAdamConfig`] is a drop-in replacement for burn's `AdamWConfig`:
//! change one line and train as before, with burn's gradient clipping,
//! parameter groups, learning-rate schedulers and optimizer records.
//!
//! ```
//! use burn::module::Module;
//! use burn::nn::{Linear, LinearConfig};
//! use burn::optim::GradientsParams;
//! use burn::tensor::{Device, Tensor};
//! use fadam_burn::FAdamConfig;
//!
//! let device = Device::default().autodiff();
//! let mut model: Linear = LinearConfig::new(4, 1).init(&device);
//! // Was: let mut optim = AdamWConfig::new().init();
//! let mut optim = FAdamConfig::new().init();
//!
//! let x = Tensor::<2>::ones([8, 4], &device);
//! for _ in 0..3 {
//!     let loss = model.forward(x.clone()).powi_scalar(2).mean();
//!     let grads = GradientsParams::from_grads(loss.backward(), &model);
//!     model = optim.step(1e-2, model, grads);
//! }
//! ```
//!
//! The update is the one of [`fadam_core`] (the project's single source of
//! truth, see [`fadam_core::step`]), computed with burn tensor operations on
//! the parameters' device, with every switch of [`fadam_core::FAdamConfig`]:
//! [`FAdamConfig::adam`] and [`FAdamConfig::adamw`] compute Adam and AdamW.
//! [`FAdam`] documents how a step differs from `fadam_core::step` in
//! rounding, and how it refuses a non-finite gradient without reading
//! anything back from the device.

mod config;
mod optimizer;
mod state;

pub use config::{DecayMode, EpsilonRule, FAdamConfig, MomentumMode};
pub use fadam_core::ConfigError;
pub use optimizer::FAdam;
pub use state::{FAdamState, refused_steps};
