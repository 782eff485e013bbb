//! Data-parallel FAdam with sharded optimizer state (ZeRO stage 2) over
//! MPI, giving the same bits as `fadam-core`'s single-process step.
//!
//! FAdam needs three tensor-wide RMS values per tensor and step, so a rank
//! that holds only a slice of a tensor cannot take its step alone.
//! [`ShardedFAdam`] runs `fadam-core`'s two-phase
//! [`Reduction`](fadam_core::Reduction) protocol across ranks.
//!
//! # A step
//!
//! Every rank calls [`ShardedFAdam::step`] once per step with its full
//! parameter replica and its local gradients (from its part of the batch):
//!
//! 1. The gradients are summed across ranks with a reduce-scatter, in rank
//!    order, and divided by the number of ranks `N`: each rank receives only
//!    the shard of the averaged gradient that it owns.
//! 2. Each rank computes the [`PartialSums`](fadam_core::PartialSums) of
//!    every reduction block of its shard; one all-gather per pass (one or
//!    two passes per step, for all tensors together) brings every block's
//!    sums to every rank, and every rank folds them in block order.
//! 3. Each rank applies the step to its shard of every tensor, with its
//!    shard of the momentum and Fisher state (`1/N` of the state).
//! 4. The updated parameter shards are all-gathered: every replica holds
//!    the same bits after the step.
//!
//! # Guarantees
//!
//! - **Same bits as one process.** Shards start and end on the core's
//!   reduction blocks ([`fadam_core::REDUCTION_BLOCK`] elements from each
//!   tensor's start) and the blocks' sums are folded in block order, as
//!   [`fadam_core::step_model`] folds them. So for any `N` the step equals
//!   `step_model` bit for bit on the same averaged gradients, as long as
//!   the sums stay on the core's fast path. They leave it only at the ends
//!   of the state type's range: a block whose nonzero `Σg²`, `Σ(g/d)²` or
//!   `Σ(θ/d)²` is below `2³² · 16 384 · MIN_POSITIVE` of the state type
//!   (in `f32`, a block RMS below about `7·10⁻¹⁵`; an all-zero block is
//!   fine) or beyond `f64`'s range (possible with `f64` state only), or a
//!   tensor whose `Σg²` reaches a quarter of the state type's largest
//!   value. There the core sums with per-element scaling, whose
//!   result depends on how the elements are split, and the sharded step
//!   differs from `step_model` by the rounding of those sums (tested).
//!   Sharding is by whole blocks of the model laid end to end, so a rank's
//!   share is within one block of `n / N` elements, and a tensor smaller
//!   than a block lives on one rank.
//! - **Identical replicas.** After a successful step every rank's
//!   parameters are the same bits.
//! - **All or nothing.** A non-finite averaged gradient (a NaN or infinity
//!   on any rank), a Fisher overflow, a step counter overflow, or bad
//!   arguments on any rank refuse the step on every rank, with the same
//!   [`Error`] on every rank, and leave every rank's parameters and state
//!   as they were. The check happens before anything is written: the
//!   ranks agree through the same collectives that carry the sums.
//! - **Layouts are checked.** [`ShardedFAdam::new`] compares the ranks'
//!   element types, tensor lengths, groups and configs, and returns
//!   [`Error::Layout`] on every rank when they differ.
//! - **Checkpoints.** [`ShardedFAdam::save`] writes a rank's shard;
//!   [`ShardedFAdam::load`] restores it on the same number of ranks, and
//!   the run continues bit for bit. [`ShardedFAdam::load_resharded`],
//!   given every saved rank's checkpoint, restores a state saved on any
//!   number of ranks (re-sharding).
//! - Per-group configs and every switch of [`fadam_core::FAdamConfig`]
//!   (Adam and AdamW presets included), `f32` and `f64` parameters.
//!
//! What is *not* guaranteed: an MPI failure (a dead rank, a network error)
//! is not an [`Error`]: rsmpi leaves MPI's default error handler
//! (`MPI_ERRORS_ARE_FATAL`) in place, which aborts the whole job. A rank
//! that stops calling the collectives (returns early, panics) makes the
//! others wait forever, as with any MPI program.
//!
//! # Example
//!
//! With the `mpi` feature, `Collective` is implemented for rsmpi's
//! communicators; [`SingleProcess`] stands in for one process here:
//!
//! ```
//! use fadam_core::FAdamConfig;
//! use fadam_mpi::{ShardedFAdam, SingleProcess, TensorSpec};
//!
//! // let universe = mpi::initialize().unwrap(); let comm = universe.world();
//! let comm = SingleProcess;
//! let groups = [FAdamConfig::new(), FAdamConfig::new().with_weight_decay(0.0)];
//! let tensors = [TensorSpec::new(4), TensorSpec::new(2).with_group(1)];
//! let mut opt = ShardedFAdam::<f32, _>::new(comm, &groups, &tensors)?;
//! let (mut weight, mut bias) = (vec![0.5f32; 4], vec![0.0f32; 2]);
//! for _ in 0..3 {
//!     let (gw, gb) = ([0.1f32; 4], [-0.2f32; 2]); // this rank's gradients
//!     opt.step(&mut [&mut weight, &mut bias], &[&gw, &gb])?;
//! }
//! assert_eq!(opt.steps(), &[3, 3]);
//! # Ok::<(), fadam_mpi::Error>(())
//! ```
//!
//! # The collective trait
//!
//! [`Collective`] is all a step needs from a communication engine: a
//! reduce-scatter with a sum and an all-gather with per-rank counts. To
//! plug in another engine (NCCL through `cudarc`, burn's collectives), an
//! implementation must guarantee:
//!
//! - **Same calls, same order.** Every rank's calls match the others' in
//!   order and counts (this crate makes them so); operations complete
//!   before they return, and `recv` holds the result.
//! - **Rank order.** The all-gather concatenates in rank order. The
//!   reduce-scatter's sum is `((x₀ + x₁) + x₂) + …` over ranks `0, 1, 2, …`
//!   in the element type, element by element ([`fold_in_rank_order`]).
//!   This makes the averaged gradient, and so the run, independent of the
//!   engine's choice of algorithm. An engine whose native reduce-scatter
//!   sums in another order (NCCL's ring) is deterministic for a fixed
//!   topology but gives other roundings of the averaged gradient; the
//!   bit-equality with `step_model` then holds on *its* averaged gradient.
//! - **Determinism.** The same inputs give the same bits on every run and
//!   on every rank: the step's all-or-nothing agreement relies on all
//!   ranks reading the same gathered words.
//! - **Counts.** [`Collective::max_count`] bounds every count and
//!   displacement; [`ShardedFAdam::new`] refuses larger models.
//!
//! Communication per step, per rank, for `n` parameters of `b` bytes each:
//! the reduce-scatter sends and receives `(N-1)/N · n · b`, the all-gather
//! the same, and each pass of sums gathers 64 bytes per block of
//! [`fadam_core::REDUCTION_BLOCK`] elements (about `n / 256` bytes) plus 40
//! bytes per rank. `docs/distributed.md` in the repository has the memory
//! and cost model.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod checkpoint;
mod collective;
mod error;
mod layout;
#[cfg(feature = "mpi")]
mod rsmpi;
mod sharded;

pub use collective::{Collective, Scalar, ScalarKind, SingleProcess, fold_in_rank_order};
pub use error::{CheckpointError, Error, InputError, LayoutMismatch, Operand};
pub use sharded::{Element, ShardedFAdam, TensorSpec};
