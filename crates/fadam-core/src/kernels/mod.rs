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
//! rayon form), [`prefetch`] the passes' prefetching, [`sums`] the sum
//! kernels and [`update`] the update kernels.

mod blocks;
mod constants;
mod dispatch;
mod power;
mod prefetch;
mod sums;
mod update;

pub(crate) use blocks::{BLOCK, add, fold_block_pairs, for_each_block};
pub(crate) use constants::{Clip, Elementwise, Lerp, Update};
pub use dispatch::Kernels;
pub(crate) use dispatch::versioned;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) use dispatch::{avx2, avx512};
pub(crate) use power::{Identity, Pow, Power, Powf, Sqrt, with_power};
pub(crate) use sums::{
    Inputs, all_valid, careful_quotient_sum, grad_sum, natural_sums, scan_grad, scan_state,
};
pub(crate) use update::{update, update_careful};

/// The full arrays of `N > 0` elements at the start of `s`, and the rest
/// (`<[T]>::as_chunks`, stable only since Rust 1.88, above this crate's
/// minimum).
#[inline(always)]
pub(crate) fn as_arrays<T, const N: usize>(s: &[T]) -> (&[[T; N]], &[T]) {
    let full = s.len() / N;
    let (head, rest) = s.split_at(full * N);
    // SAFETY: `head` holds exactly `full · N` elements, which is the
    // layout of `full` arrays `[T; N]` (same alignment, no padding).
    #[allow(unsafe_code)]
    let arrays = unsafe { core::slice::from_raw_parts(head.as_ptr().cast::<[T; N]>(), full) };
    (arrays, rest)
}

/// [`as_arrays`] of a mutable slice.
#[inline(always)]
pub(crate) fn as_arrays_mut<T, const N: usize>(s: &mut [T]) -> (&mut [[T; N]], &mut [T]) {
    let full = s.len() / N;
    let (head, rest) = s.split_at_mut(full * N);
    // SAFETY: as in `as_arrays`; `head` is borrowed mutably and exclusively.
    #[allow(unsafe_code)]
    let arrays =
        unsafe { core::slice::from_raw_parts_mut(head.as_mut_ptr().cast::<[T; N]>(), full) };
    (arrays, rest)
}
