//! FAdam — Adam as a natural-gradient optimizer with the diagonal empirical
//! Fisher (D. Hwang, 2024, [arXiv:2405.12807](https://arxiv.org/abs/2405.12807))
//! — for [`ndarray`] users.
//!
//! [`FAdam`] holds the hyperparameters (one [`FAdamConfig`] per parameter
//! group) and the state of every parameter array, and steps a whole set of
//! parameters with their gradients in one call: arrays of any dimension,
//! `f32` or `f64`, owned arrays or mutable views. The update itself is
//! [`fadam_core`]'s, called once per step for all parameters
//! ([`fadam_core::step_model`]); this crate adds no arithmetic of its own,
//! so on contiguous arrays the results are bit-identical to calling
//! `fadam-core` on their slices.
//!
//! Every switch of `fadam-core` is reachable through [`FAdamConfig`]: FAdam
//! ([`FAdamConfig::new`]), Adam ([`FAdamConfig::adam`]), AdamW
//! ([`FAdamConfig::adamw`]), the [`EpsilonRule`], [`MomentumMode`],
//! [`DecayMode`], clipping and `maximize`, and per-parameter groups.
//!
//! # Example
//!
//! ```
//! use fadam_ndarray::{FAdam, FAdamConfig};
//! use ndarray::{Array1, Array2};
//!
//! // Minimize |W - 1|² + |b + 2|².
//! let mut weights = Array2::<f64>::zeros((4, 3));
//! let mut biases = Array1::<f64>::zeros(3);
//! let mut opt = FAdam::new(FAdamConfig::new().with_lr(0.05).with_weight_decay(0.0));
//! for _ in 0..500 {
//!     let gw = 2.0 * (&weights - 1.0);
//!     let gb = 2.0 * (&biases + 2.0);
//!     opt.begin_step()
//!         .param(&mut weights, &gw)
//!         .param(&mut biases, &gb)
//!         .finish()?;
//! }
//! assert!(weights.iter().all(|w| (w - 1.0).abs() < 0.05));
//! assert!(biases.iter().all(|b| (b + 2.0).abs() < 0.05));
//! # Ok::<(), fadam_ndarray::Error>(())
//! ```
//!
//! # Layouts
//!
//! A parameter (or gradient) that is contiguous in its state's element order
//! — C order, or Fortran order such as a transposed view — is handed to
//! `fadam-core` in place. Any other layout (sliced with steps, negative
//! strides, permuted axes) is gathered into a scratch buffer, stepped with
//! the same tensor-wide RMS values as if it were contiguous, and scattered
//! back. The element order of each parameter's state is fixed at its first
//! step ([`StateOrder`]): C order, or Fortran order for a parameter that was
//! Fortran-contiguous then; a parameter whose layout changes between steps
//! is still stepped correctly.
//!
//! # Errors
//!
//! A step is all-or-nothing. It is refused with a typed [`Error`], having
//! written nothing to any parameter or state, for a gradient whose shape
//! differs from its parameter's, a parameter set that changed since the
//! first step (count or shapes), a NaN or infinity in any gradient or
//! parameter, an invalid config (or one whose per-step constants do not fit
//! the element type), or an unknown group index (the last four from
//! `fadam-core`, as [`Error::Core`]). A saved state is checked when it is
//! loaded: a momentum that is not finite or a Fisher value that is negative
//! or not finite is refused by [`ParamState::new`] and by deserializing.
//!
//! # Saving and resuming
//!
//! With the `serde` feature, [`ParamState`] (and [`StateOrder`]) implement
//! `Serialize` and `Deserialize`: save [`FAdam::state`], and resume with
//! [`FAdam::load_state`] on an optimizer built with the same configs; the
//! resumed run continues bit-identically. The configs themselves are not
//! part of the saved state. With `serde_json`, enable its `float_roundtrip`
//! feature so that every value is read back exactly.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod layout;
mod optimizer;
mod state;

pub use error::Error;
pub use optimizer::{FAdam, Step};
pub use state::{ParamState, StateOrder};

pub use fadam_core;

/// The README's example, run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
pub use fadam_core::{Buffer, DecayMode, EpsilonRule, FAdamConfig, MomentumMode, Param};
