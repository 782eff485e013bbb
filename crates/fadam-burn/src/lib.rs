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
//! truth, see [`fadam_core::step`]), with every switch of
//! [`fadam_core::FAdamConfig`]: [`FAdamConfig::adam`] and
//! [`FAdamConfig::adamw`] compute Adam and AdamW. On burn's `flex` backend
//! (the CPU) a step is `fadam_core::step` itself on the tensors' host data,
//! bit for bit; on burn's wgpu backend, with `FAdam::with_wgpu` (feature
//! `wgpu`), it is `fadam-wgpu`'s compute passes on the tensors' buffers;
//! on other backends it is computed with burn tensor operations on the
//! parameters' device. None reads anything back.
//! [`FAdam`] documents them, how the tensor-operation step differs from
//! `fadam_core::step` in rounding, and how it refuses a non-finite
//! gradient on the device.
//!
//! # Invalid input
//!
//! A step never writes NaN or infinity: a non-finite gradient, a learning
//! rate that [`fadam_core`] rejects (NaN, infinite or negative, from a
//! faulty scheduler), or an invalid state (a negative or non-finite Fisher
//! value, a non-finite momentum, reached through the public fields of
//! [`FAdamState`] or a record) refuses the step of that tensor: nothing is
//! written, and [`FAdamState::refused`] counts it. A record is checked
//! where it enters: burn's loader skips an invalid FAdam state (the
//! parameter starts afresh), and [`load_checked`] reports it as a
//! [`StateError`] instead, leaving the optimizer as it was.
//!
//! # Backends and devices
//!
//! The tensor-operation step runs on any burn backend; this crate's tests
//! run both steps on `flex` (the CPU) and, with the `wgpu` feature (under
//! which burn's default device is the GPU), the tensor-operation step on
//! wgpu; `wgpu_device` (with that feature) opens the GPU device or says why
//! it cannot. `docs/benchmarks.md` in the repository compares the cost of a
//! step with burn's `AdamW` on both.
//!
//! # Multi-device training
//!
//! A step reads only its own tensor (its sums are tensor-wide, never across
//! tensors), and the state lives on the parameter's device ([`FAdam`]'s
//! `to_device` moves it, as burn's `ModuleOptimizer` does when a parameter
//! arrives from another device). So it composes with burn 0.22's
//! distributed training as burn's own optimizers do:
//!
//! - Data parallel (burn's `DistributedContext`, parameters marked
//!   distributed, gradients all-reduced across devices during the backward
//!   pass): every replica steps its own copy with the same gradient, and
//!   keeps the same state (as far as the backend's reductions are
//!   deterministic); nothing crosses devices inside a step.
//! - Burn 0.22's `ModuleOptimizer` has no sharded-state mode; a parameter
//!   held on one device only is stepped there, with its state there.
//!
//! This is not tested here, and cannot be on this project's CI machine:
//! burn 0.22's `flex` backend has a single device (`FlexDevice` is a unit
//! struct) and no collective operations (its `DistributedOps::all_reduce`
//! is burn's unimplemented default), so burn's multi-device training needs
//! several devices of a CubeCL backend (CUDA, ROCm, wgpu), which the CI
//! machine lacks. For sharded FAdam state across processes, see the
//! `fadam-mpi` crate.

mod check;
mod composed;
mod config;
mod corrections;
#[cfg(feature = "wgpu")]
mod gpu;
mod host;
mod optimizer;
mod state;

pub use check::{LoadError, StateError, load_checked};
pub use config::{DecayMode, EpsilonRule, FAdamConfig, MomentumMode};
pub use fadam_core::ConfigError;
#[cfg(feature = "wgpu")]
pub use gpu::{WgpuKernels, WgpuKernelsError};
pub use optimizer::FAdam;
pub use state::{FAdamState, refused_steps};
