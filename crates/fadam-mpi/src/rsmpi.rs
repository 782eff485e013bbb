//! [`Collective`] for rsmpi's communicators (the `mpi` feature).

use core::ops::Add;

use mpi::Count;
use mpi::datatype::{Equivalence, Partition, PartitionMut};
use mpi::traits::{Communicator, CommunicatorCollectives};

use crate::{Collective, Scalar, ScalarKind, fold_in_rank_order};

/// An MPI count or displacement. Operations larger than
/// [`Collective::max_count`] are refused at construction, so this holds.
fn count(n: usize) -> Count {
    Count::try_from(n).expect("MPI counts are checked against max_count at construction")
}

/// Counts and displacements (the prefix sums) as MPI wants them.
fn partition(counts: &[usize]) -> (Vec<Count>, Vec<Count>) {
    let displs = counts
        .iter()
        .scan(0, |at, &c| {
            let d = *at;
            *at += c;
            Some(count(d))
        })
        .collect();
    (counts.iter().map(|&c| count(c)).collect(), displs)
}

/// Runs `$body` with `$u` the rsmpi type of `$t`.
macro_rules! typed {
    ($t:ty, |$u:ident| $body:expr) => {
        match <$t as Scalar>::KIND {
            ScalarKind::F32 => {
                type $u = f32;
                $body
            }
            ScalarKind::F64 => {
                type $u = f64;
                $body
            }
            ScalarKind::U64 => {
                type $u = u64;
                $body
            }
        }
    };
}

fn all_to_all<C: Communicator, U: Equivalence + bytemuck::Pod>(
    comm: &C,
    send: &[U],
    send_counts: &[usize],
    recv: &mut [U],
    recv_counts: &[usize],
) {
    let (sc, sd) = partition(send_counts);
    let (rc, rd) = partition(recv_counts);
    let send = Partition::new(send, sc, sd);
    let mut recv = PartitionMut::new(recv, rc, rd);
    comm.all_to_all_varcount_into(&send, &mut recv);
}

fn all_gather<C: Communicator, U: Equivalence + bytemuck::Pod>(
    comm: &C,
    send: &[U],
    counts: &[usize],
    recv: &mut [U],
) {
    let (c, d) = partition(counts);
    let mut recv = PartitionMut::new(recv, c, d);
    comm.all_gather_varcount_into(send, &mut recv);
}

/// The reduce-scatter is an all-to-all (`MPI_Alltoallv`: each rank sends
/// every other rank that rank's piece, the bytes of a direct
/// reduce-scatter) followed by a sum in rank order on the receiver, so
/// that the averaged gradient does not depend on the MPI library's choice
/// of reduction algorithm. The all-gather is `MPI_Allgatherv`.
///
/// # Panics
/// On counts beyond [`max_count`](Collective::max_count), which
/// [`ShardedFAdam::new`](crate::ShardedFAdam::new) refuses with an error
/// beforehand. MPI errors abort the job (rsmpi installs MPI's default
/// error handler, `MPI_ERRORS_ARE_FATAL`).
impl<C: Communicator> Collective for C {
    fn rank(&self) -> usize {
        Communicator::rank(self) as usize
    }

    fn size(&self) -> usize {
        Communicator::size(self) as usize
    }

    fn max_count(&self) -> usize {
        Count::MAX as usize
    }

    fn reduce_scatter_sum<T: Scalar + Add<Output = T>>(
        &self,
        send: &[T],
        counts: &[usize],
        recv: &mut [T],
    ) {
        let n = Collective::size(self);
        let mine = counts[Collective::rank(self)];
        let mut pieces = vec![T::zeroed(); n * mine];
        let each = vec![mine; n];
        typed!(T, |U| all_to_all::<C, U>(
            self,
            bytemuck::cast_slice(send),
            counts,
            bytemuck::cast_slice_mut(&mut pieces),
            &each,
        ));
        fold_in_rank_order(&pieces, recv);
    }

    fn all_gather<T: Scalar>(&self, send: &[T], counts: &[usize], recv: &mut [T]) {
        typed!(T, |U| all_gather::<C, U>(
            self,
            bytemuck::cast_slice(send),
            counts,
            bytemuck::cast_slice_mut(recv),
        ));
    }
}
