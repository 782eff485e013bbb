//! The three collective operations a sharded step needs, behind a trait.

use core::ops::Add;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for u64 {}
}

/// Which element type a [`Scalar`] is, for engines that name datatypes
/// (`MPI_FLOAT`, `ncclFloat32`, ...).
///
/// ```
/// use fadam_mpi::{Scalar, ScalarKind};
/// assert_eq!(<u64 as Scalar>::KIND, ScalarKind::U64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScalarKind {
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `u64` (encoded partial sums, layouts, flags).
    U64,
}

/// An element type the collectives carry: `f32`, `f64` or `u64`.
///
/// ```
/// use fadam_mpi::{Scalar, ScalarKind};
/// assert_eq!(<f32 as Scalar>::KIND, ScalarKind::F32);
/// ```
pub trait Scalar: bytemuck::Pod + Send + Sync + core::fmt::Debug + sealed::Sealed {
    /// The element type, for engines that need its name.
    const KIND: ScalarKind;
}

impl Scalar for f32 {
    const KIND: ScalarKind = ScalarKind::F32;
}
impl Scalar for f64 {
    const KIND: ScalarKind = ScalarKind::F64;
}
impl Scalar for u64 {
    const KIND: ScalarKind = ScalarKind::U64;
}

/// The collective operations of a group of `size()` ranks that
/// [`ShardedFAdam`](crate::ShardedFAdam) runs on; see the
/// [crate docs](crate#the-collective-trait) for what an implementation must
/// guarantee.
///
/// Every rank calls the same operations in the same order with the same
/// `counts`; `counts[r]` is what rank `r` contributes (all-gather) or
/// receives (reduce-scatter), and `counts.len() == size()`.
///
/// ```
/// use fadam_mpi::{Collective, SingleProcess};
/// // On one rank an all-gather returns what was sent.
/// let mut all = [0u64; 3];
/// SingleProcess.all_gather(&[1, 2, 3], &[3], &mut all);
/// assert_eq!(all, [1, 2, 3]);
/// assert_eq!((SingleProcess.rank(), SingleProcess.size()), (0, 1));
/// ```
pub trait Collective {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;

    /// The number of ranks.
    fn size(&self) -> usize;

    /// The largest `counts[r]` one operation may be given (MPI counts are
    /// C `int`s).
    fn max_count(&self) -> usize {
        usize::MAX
    }

    /// Reduce-scatter with a sum in rank order: `send` is the whole buffer
    /// (`Σ counts` elements), cut into consecutive pieces of `counts[r]`;
    /// `recv` (`counts[rank()]` elements) receives, element by element,
    /// `((x₀ + x₁) + x₂) + …` of this rank's piece over the ranks `0, 1, 2, …`.
    fn reduce_scatter_sum<T: Scalar + Add<Output = T>>(
        &self,
        send: &[T],
        counts: &[usize],
        recv: &mut [T],
    );

    /// All-gather: `recv` (`Σ counts` elements) receives every rank's `send`
    /// (`counts[rank()]` elements), concatenated in rank order.
    fn all_gather<T: Scalar>(&self, send: &[T], counts: &[usize], recv: &mut [T]);
}

/// A group of one process: the collectives are copies. For single-process
/// runs and examples; a sharded step on it is
/// [`step_model`](fadam_core::step_model).
///
/// ```
/// use fadam_mpi::{Collective, SingleProcess};
/// let mut out = [0.0f32; 2];
/// SingleProcess.reduce_scatter_sum(&[1.0, 2.0], &[2], &mut out);
/// assert_eq!(out, [1.0, 2.0]);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn reduce_scatter_sum<T: Scalar + Add<Output = T>>(
        &self,
        send: &[T],
        _counts: &[usize],
        recv: &mut [T],
    ) {
        recv.copy_from_slice(send);
    }

    fn all_gather<T: Scalar>(&self, send: &[T], _counts: &[usize], recv: &mut [T]) {
        recv.copy_from_slice(send);
    }
}

/// Adds `pieces` (each `out.len()` long, in rank order) into `out` as
/// [`Collective::reduce_scatter_sum`] specifies: first piece, then each
/// next one added on the right. For implementations that receive the
/// pieces with an all-to-all.
///
/// ```
/// let mut out = [0.0f32; 2];
/// fadam_mpi::fold_in_rank_order(&[1.0, 2.0, 10.0, 20.0], &mut out);
/// assert_eq!(out, [11.0, 22.0]);
/// ```
pub fn fold_in_rank_order<T: Scalar + Add<Output = T>>(pieces: &[T], out: &mut [T]) {
    let n = out.len();
    if n == 0 {
        return;
    }
    let mut chunks = pieces.chunks_exact(n);
    if let Some(first) = chunks.next() {
        out.copy_from_slice(first);
    }
    for piece in chunks {
        for (o, &x) in out.iter_mut().zip(piece) {
            *o = *o + x;
        }
    }
}
