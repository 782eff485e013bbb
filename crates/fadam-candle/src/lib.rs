//! FAdam — Adam as a natural-gradient optimizer with the diagonal empirical
//! Fisher (D. Hwang, 2024, [arXiv:2405.12807](https://arxiv.org/abs/2405.12807)),
//! as a [candle](https://github.com/huggingface/candle) optimizer.
//!
//! [`FAdam`] implements [`candle_nn::Optimizer`]: swapping candle's
//! `AdamW` for it is a one-line change in a training loop.
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use candle_nn::{Optimizer, VarBuilder, VarMap};
//! use fadam_candle::{FAdam, ParamsFAdam};
//!
//! let varmap = VarMap::new();
//! let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
//! let model = candle_nn::linear(2, 1, vb.pp("fc"))?;
//! // Was: let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW::default())?;
//! let mut opt = FAdam::new(varmap.all_vars(), ParamsFAdam { lr: 0.05, ..Default::default() })?;
//!
//! let x = Tensor::new(&[[1f32, 2.0], [3.0, -1.0], [0.5, 0.5]], &Device::Cpu)?;
//! let y = Tensor::new(&[[1f32], [-2.0], [0.5]], &Device::Cpu)?;
//! let loss = |m: &candle_nn::Linear| m.forward(&x)?.sub(&y)?.sqr()?.mean_all()?.to_scalar::<f32>();
//! let before = loss(&model)?;
//! for _ in 0..50 {
//!     opt.backward_step(&model.forward(&x)?.sub(&y)?.sqr()?.mean_all()?)?;
//! }
//! assert!(loss(&model)? < before);
//! # Ok::<(), candle_core::Error>(())
//! ```
//!
//! # The config
//!
//! [`ParamsFAdam`] is [`fadam_core::FAdamConfig`]: public fields with the
//! paper's defaults (as candle's `ParamsAdamW`), every switch of the core,
//! and the presets [`ParamsFAdam::adam`] and [`ParamsFAdam::adamw`] for
//! textbook Adam and AdamW. Parameter groups (for example no weight decay
//! on biases and norms): [`FAdam::with_groups`],
//! [`FAdam::from_varmap_groups`].
//!
//! # The step
//!
//! On candle's CPU device the step is [`fadam_core`] itself, run on the
//! vars' storage (reached through candle's in-place custom ops): exact, the
//! same bits as [`fadam_core::step_model`]. On other devices (CUDA, Metal:
//! turn on candle's `cuda` or `metal` feature in your own dependency) it is
//! the same update composed of candle tensor operations on the vars' device
//! and dtype, with nothing read back to the host during a step
//! ([`StepPath`]). It agrees with the core within a relative 1e-6 (the
//! tensor-wide sums are candle's reductions; see [`FAdam`]). A refusal on
//! that path is carried out on the device and read back by [`FAdam::check`].
//!
//! # Errors
//!
//! [`Optimizer::step`](candle_nn::Optimizer::step) returns candle's error,
//! which carries this crate's [`FAdamError`] boxed inside: get it back
//! with [`FAdamError::find`] (or `FAdamError::from`). [`FAdam::try_step`]
//! returns [`FAdamError`] directly. A refused step writes nothing.
//!
//! # Checkpoints
//!
//! [`FAdam::save`] and [`FAdam::load`] write and read the state (momentum,
//! Fisher diagonal and step count of every var) as safetensors; loading
//! state that does not match the vars is a typed error and changes
//! nothing.

mod cpu;
mod error;
mod optimizer;
mod state;
mod tensor_ops;

pub use error::{FAdamError, Result};
pub use fadam_core::{
    ConfigError, DecayMode, EpsilonRule, FAdamConfig as ParamsFAdam, MomentumMode,
};
pub use optimizer::{FAdam, StepPath};
