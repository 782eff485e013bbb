//! FAdam — Adam as a natural-gradient optimizer with the diagonal empirical
//! Fisher (D. Hwang, 2024, [arXiv:2405.12807](https://arxiv.org/abs/2405.12807)),
//! exact and fast over plain slices.
//!
//! `fadam-core` is the one source of truth for the update: `no_std`, no
//! allocation to take a step, generic over `f32` and `f64` (and `half::f16`
//! / `half::bf16` parameters with `f32` state behind the `half` feature).
//!
//! # The update
//!
//! Per tensor, with `RMS` over all of its `n` elements, momentum `m` and
//! Fisher diagonal `f` starting at zero:
//!
//! ```text
//! t  ← t + 1
//! b2 ← β2 (1 - β2^(t-1)) / (1 - β2^t)           bias-corrected decay, 0 at t = 1
//! f  ← b2 f + (1 - b2) g²                       diagonal empirical Fisher
//! e  ← epsilon rule of RMS(g)                   see EpsilonRule
//! d  ← f^p + e
//! n  ← g / d;  n ← n / max(1, RMS(n)/c)         clipped natural gradient
//! m  ← β1 m + (1 - β1) n
//! w  ← θ / d;  w ← w / max(1, RMS(w)/c)         clipped natural weight decay
//! θ  ← θ - η (m + λ w)
//! ```
//!
//! The switches of [`FAdamConfig`] ([`EpsilonRule`], [`MomentumMode`],
//! [`DecayMode`], clipping, `maximize`) make the same code compute Adam and
//! AdamW ([`FAdamConfig::adam`], [`FAdamConfig::adamw`]). The per-step
//! constants (`b2`, Adam's bias correction, the decay terms) are
//! [`StepScalars`], and the epsilon rule is [`FAdamConfig::epsilon`]: other
//! implementations take them from there. `docs/algorithm.md`
//! in the repository explains each correction of the paper and where this
//! crate departs from the paper and the references.
//!
//! # Guarantees
//!
//! - A refused step writes nothing ([`Error`]): an invalid config, a per-step
//!   constant out of the state type's range ([`Error::OutOfRange`], e.g.
//!   `lr = 1e39` with `f32`), mismatched lengths, a NaN or infinity in a
//!   gradient ([`Error::NonFiniteGradient`]) or in a parameter
//!   ([`Error::NonFiniteParam`]), a state no step can have written ([`Error::InvalidState`]:
//!   a non-finite momentum, a negative or non-finite Fisher value), in
//!   every mode. [`validate_state`] checks a state where it enters.
//! - Finite inputs give finite outputs, never NaN: an all-zero gradient
//!   falls back to the fixed epsilon, the tensor-wide sums cannot overflow,
//!   and every operation of the update that could overflow saturates at the
//!   largest finite value (of the parameter type for the result), so a step
//!   whose exact result leaves the type's range ends at `±MAX`.
//! - With clipping on (the default) the update is bounded, from a zero state
//!   or one these steps wrote with the same `c`:
//!   with [`MomentumMode::Natural`], `RMS(Δθ) ≤ η·c·(1 + λ)` (natural
//!   decay; `η·c` with L2 or no decay; `η·(c + λ·RMS(θ))` decoupled); with
//!   [`MomentumMode::Adam`] clipping bounds only the natural weight decay,
//!   and for `p = ½`, `β2 > 0` every element of `m̂/d` is at most
//!   `A_t = (1-β1)/(1-β1^t) · sqrt((1-β2^t)/(1-β2) · Σ_{j<t} (β1²/β2)^j)`,
//!   so `RMS(Δθ) ≤ η·(A_t + λ·c)` (`A_t` is 1 at `t = 1` and tends to
//!   7.3 with the default betas: a spike after many tiny gradients moves
//!   `θ` by several times `η·c`). With clipping off, natural weight decay
//!   `λ·θ/d` is unbounded, as the paper's unclipped form is.
//! - The same inputs give the same bits, with or without the `rayon`
//!   feature, whatever the number of threads.
//!
//! # Example
//!
//! ```
//! use fadam_core::{step, FAdamConfig, State};
//!
//! // Minimize (θ - 3)² from θ = 0.
//! let config = FAdamConfig::new().with_lr(0.1).with_weight_decay(0.0);
//! let mut theta = [0.0f32];
//! let mut state = State::new(1);
//! for _ in 0..200 {
//!     let grad = [2.0 * (theta[0] - 3.0)];
//!     step(&config, &mut theta, &grad, state.as_mut()).unwrap();
//! }
//! assert!((theta[0] - 3.0).abs() < 0.1, "{}", theta[0]);
//! ```
//!
//! # Sharded tensors
//!
//! For data-parallel training with sharded optimizer state (ZeRO), each rank
//! holds a slice of a tensor and its state. [`Reduction`] splits the step
//! into passes: every rank computes [`PartialSums`] of its shard, the ranks
//! combine them (an all-gather and an ordered fold keep it deterministic),
//! and [`Reduction::absorb`] takes the total, until
//! [`Reduction::is_ready`]; then every rank applies the step to its shard.
//! Sharded and unsharded steps agree up to the order of summation.
//!
//! # Cost
//!
//! A default FAdam step reads the gradient, the Fisher diagonal and the
//! parameters once for its sums and its checks (assuming the non-adaptive
//! epsilon, which holds unless `RMS(g) < ε/ε₂`; otherwise that pass is
//! repeated), then makes one update pass: 40 bytes per `f32` parameter.
//! The Adam mode makes one check pass over the gradient and the parameters
//! and one update pass: 36 bytes. A state that may have been written from
//! outside (a [`StateMut`] over the caller's slices, a [`State`] after
//! [`State::parts_mut`]) is checked in the first pass too, which reads the
//! momentum (and in the Adam mode the Fisher diagonal): 44 bytes;
//! [`State::is_verified`] says when a step can skip that. `docs/algorithm.md`
//! explains why everything must be read before anything is written.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod config;
mod element;
mod error;
mod kernels;
mod partial_sums;
mod reduction;
mod scalars;
mod state;
mod step;
mod sums;

pub use config::{ConfigError, DecayMode, EpsilonRule, FAdamConfig, Hyperparameter, MomentumMode};
pub use element::{Param, Real};
pub use error::{Buffer, Error};
pub use kernels::Kernels;
pub use partial_sums::PartialSums;
pub use reduction::{Reduction, StepStats};
pub use scalars::StepScalars;
#[cfg(feature = "alloc")]
pub use state::State;
pub use state::{StateMut, validate_state};
pub use step::{Tensor, step, step_model};

/// Elements per block of the tensor-wide sums: a tensor's sums are formed
/// block by block (blocks start at multiples of this from the tensor's
/// start) and folded in block order. A sharded step whose shards start on
/// block boundaries, and that folds one [`PartialSums`] per block in block
/// order, gets the same sums as the tensor held whole (outside the careful
/// paths for sums near the ends of the state type's range).
///
/// ```
/// assert!(fadam_core::REDUCTION_BLOCK.is_power_of_two());
/// ```
pub const REDUCTION_BLOCK: usize = kernels::BLOCK;

/// The workspace README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
