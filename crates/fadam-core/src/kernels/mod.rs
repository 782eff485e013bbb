//! The passes over memory. Everything here is elementwise or a sum; the
//! order of dependencies (spec, "Cost") decides which pass runs when.
//!
//! Sums form their squares elementwise over tiles of `TILE` elements (loops
//! the compiler vectorizes), add each tile into `LANES` independent `f64`
//! accumulators in a fixed order, and fold fixed blocks of `BLOCK` elements
//! in block order: one thread and many threads give the same bits. The hot
//! kernels also exist compiled for AVX2 and AVX-512, chosen at run time.
//!
//! One concern per file: [`constants`] holds the per-step constants the
//! kernels take, [`power`] the Fisher power `f^p`, [`dispatch`] the AVX2
//! and AVX-512 copies and their run-time choice, [`blocks`] the fixed blocks (and their
//! rayon form), [`prefetch`] the sums pass's prefetching, [`sums`] the sum
//! kernels and [`update`] the update kernels.

mod blocks;
mod constants;
mod dispatch;
mod power;
mod prefetch;
mod sums;
mod update;

pub(crate) use blocks::{BLOCK, add, fold_blocks, for_each_block};
pub(crate) use constants::{Clip, Elementwise, Lerp, Update};
pub use dispatch::Kernels;
pub(crate) use dispatch::versioned;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) use dispatch::{avx2, avx512};
pub(crate) use power::{Identity, Pow, Power, Powf, Sqrt, with_power};
pub(crate) use sums::{
    all_valid, careful_quotient_sum, grad_sum, natural_sums, scan_grad, scan_state,
};
pub(crate) use update::{update, update_careful};
