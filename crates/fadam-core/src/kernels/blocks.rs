//! Fixed blocks of elements: sums are folded block by block in block order,
//! on one thread or (with the `rayon` feature) many, with the same bits.

use core::ops::Range;

use crate::Param;

/// Elements per block of a sum; partial sums are folded in block order.
pub(crate) const BLOCK: usize = 1 << 14;
/// Below this many blocks a pass runs on the calling thread.
#[cfg(feature = "rayon")]
const PAR_MIN_BLOCKS: usize = 8;

fn block(b: usize, len: usize) -> Range<usize> {
    b * BLOCK..((b + 1) * BLOCK).min(len)
}

/// Folds the sums of the blocks of `0..len` in block order; `f` forms the
/// sums of two blocks at once (the second range may be empty: then its
/// sums are not used), so that a pass keeps two blocks' streams in flight.
pub(crate) fn fold_block_pairs<T, F>(len: usize, f: F, add: fn(T, T) -> T, zero: T) -> T
where
    T: Send,
    F: Fn(Range<usize>, Range<usize>) -> [T; 2] + Sync,
{
    let blocks = len.div_ceil(BLOCK);
    let pair = |p: usize| {
        let (a, b) = (block(2 * p, len), block(2 * p + 1, len));
        let pair_of_blocks = 2 * p + 1 < blocks;
        let [x, y] = f(a, if pair_of_blocks { b } else { len..len });
        (x, pair_of_blocks.then_some(y))
    };
    let fold = |acc: T, (x, y): (T, Option<T>)| {
        let acc = add(acc, x);
        match y {
            Some(y) => add(acc, y),
            None => acc,
        }
    };
    let pairs = blocks.div_ceil(2);
    #[cfg(feature = "rayon")]
    if blocks >= PAR_MIN_BLOCKS {
        use rayon::prelude::*;
        let parts: alloc::vec::Vec<_> = (0..pairs).into_par_iter().map(pair).collect();
        return parts.into_iter().fold(zero, fold);
    }
    (0..pairs).map(pair).fold(zero, fold)
}

/// Runs an elementwise pass over `(θ, g, m, f)`, in parallel blocks with
/// the `rayon` feature.
pub(crate) fn for_each_block<P: Param, F>(
    theta: &mut [P],
    grads: &[P],
    momentum: &mut [P::State],
    fisher: &mut [P::State],
    body: F,
) where
    F: Fn(&mut [P], &[P], &mut [P::State], &mut [P::State]) + Sync + Send,
{
    #[cfg(feature = "rayon")]
    if theta.len() >= PAR_MIN_BLOCKS * BLOCK {
        use rayon::prelude::*;
        theta
            .par_chunks_mut(BLOCK)
            .zip(grads.par_chunks(BLOCK))
            .zip(momentum.par_chunks_mut(BLOCK))
            .zip(fisher.par_chunks_mut(BLOCK))
            .for_each(|(((t, g), m), f)| body(t, g, m, f));
        return;
    }
    body(theta, grads, momentum, fisher);
}

/// Adds two arrays of block sums, element by element.
pub(crate) fn add<const N: usize>(a: [f64; N], b: [f64; N]) -> [f64; N] {
    core::array::from_fn(|i| a[i] + b[i])
}
