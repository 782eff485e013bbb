//! A test double of `Collective`: ranks are threads of this process that
//! meet at a barrier and swap their contributions through shared slots.
//! Not a transport: it exists so that the sharded step's logic is tested
//! without MPI.

use std::ops::Add;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use fadam_mpi::{Collective, Scalar, fold_in_rank_order};

/// A rank that waits longer than this at a barrier fails the test (a
/// check that failed on one rank leaves the others waiting).
const PATIENCE: Duration = Duration::from_secs(300);

struct Shared {
    /// Each rank's contribution to the current operation, and the
    /// barrier's count and generation.
    state: Mutex<(Vec<Vec<u8>>, usize, u64)>,
    turn: Condvar,
}

/// One rank of a group of threads.
#[derive(Clone)]
pub struct Threads {
    rank: usize,
    size: usize,
    shared: Arc<Shared>,
}

impl Threads {
    /// The `size` ranks of a new group, one per thread.
    pub fn group(size: usize) -> Vec<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new((vec![Vec::new(); size], 0, 0)),
            turn: Condvar::new(),
        });
        (0..size)
            .map(|rank| Self {
                rank,
                size,
                shared: shared.clone(),
            })
            .collect()
    }

    fn barrier(&self) {
        let mut s = self.shared.state.lock().unwrap();
        let generation = s.2;
        s.1 += 1;
        if s.1 == self.size {
            s.1 = 0;
            s.2 += 1;
            self.shared.turn.notify_all();
            return;
        }
        while s.2 == generation {
            let (next, timeout) = self.shared.turn.wait_timeout(s, PATIENCE).unwrap();
            assert!(!timeout.timed_out(), "rank {} waited too long", self.rank);
            s = next;
        }
    }

    /// Every rank's `mine`, in rank order.
    fn exchange(&self, mine: &[u8]) -> Vec<Vec<u8>> {
        self.shared.state.lock().unwrap().0[self.rank] = mine.to_vec();
        self.barrier();
        let all = self.shared.state.lock().unwrap().0.clone();
        self.barrier();
        all
    }
}

impl Collective for Threads {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn reduce_scatter_sum<T: Scalar + Add<Output = T>>(
        &self,
        send: &[T],
        counts: &[usize],
        recv: &mut [T],
    ) {
        let start: usize = counts[..self.rank].iter().sum();
        let piece = start..start + counts[self.rank];
        let all = self.exchange(bytemuck::cast_slice(send));
        let pieces: Vec<T> = all
            .iter()
            .flat_map(|bytes| decode::<T>(bytes)[piece.clone()].to_vec())
            .collect();
        fold_in_rank_order(&pieces, recv);
    }

    fn all_gather<T: Scalar>(&self, send: &[T], _counts: &[usize], recv: &mut [T]) {
        let all = self.exchange(bytemuck::cast_slice(send));
        let gathered: Vec<T> = all.iter().flat_map(|bytes| decode::<T>(bytes)).collect();
        recv.copy_from_slice(&gathered);
    }
}

/// The elements of `bytes` (a `Vec<u8>` need not be aligned for `T`).
fn decode<T: Scalar>(bytes: &[u8]) -> Vec<T> {
    let mut out = vec![T::zeroed(); bytes.len() / size_of::<T>()];
    bytemuck::cast_slice_mut(&mut out).copy_from_slice(bytes);
    out
}

/// Runs `f` on every rank of a group of `size` threads; the results in
/// rank order.
pub fn run<R: Send>(size: usize, f: impl Fn(Threads) -> R + Sync) -> Vec<R> {
    std::thread::scope(|s| {
        let handles: Vec<_> = Threads::group(size)
            .into_iter()
            .map(|comm| s.spawn(|| f(comm)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}
