//! The multi-rank checks of `common/scenarios.rs` on 1 to 4 ranks, each
//! rank a thread (the same checks run on MPI from `.ci/mpi.sh`).

mod common;

use common::{scenarios, threads};

fn on_ranks(check: scenarios::Check<threads::Threads>) {
    for size in 1..=4 {
        let results = threads::run(size, |comm| check(&|| comm.clone()));
        for (rank, result) in results.into_iter().enumerate() {
            if let Err(e) = result {
                panic!("{size} ranks, rank {rank}: {e}");
            }
        }
    }
}

#[test]
fn bit_equality_with_step_model() {
    on_ranks(scenarios::bit_equality);
}

#[test]
fn all_or_nothing() {
    on_ranks(scenarios::all_or_nothing);
}

#[test]
fn layout_mismatch() {
    on_ranks(scenarios::layout_mismatch);
}

#[test]
fn checkpoint_and_resume() {
    on_ranks(scenarios::checkpoint);
}

#[test]
fn careful_sums_within_rounding() {
    on_ranks(scenarios::careful_sums_bound);
}
