//! The multi-rank checks of `common/scenarios.rs` (the list `.ci/mpi.sh`
//! runs on MPI processes) on 1 to 4 ranks, each rank a thread.

mod common;

use common::{scenarios, threads};

#[test]
fn every_check_on_one_to_four_ranks() {
    // The checks run side by side, each on its own groups of threads.
    let failures: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = scenarios::all::<threads::Threads>()
            .into_iter()
            .map(|(name, check)| {
                s.spawn(move || {
                    let mut failures = Vec::new();
                    for size in 1..=4 {
                        let results = threads::run(size, |comm| check(&|| comm.clone()));
                        for (rank, result) in results.into_iter().enumerate() {
                            if let Err(e) = result {
                                failures.push(format!("{name}, {size} ranks, rank {rank}: {e}"));
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        runs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn checkpoints_load_on_another_number_of_ranks() {
    for (saved_on, loaded_on) in [(3, 2), (2, 3), (1, 4), (4, 1), (2, 2)] {
        let saved: Result<Vec<Vec<u8>>, String> =
            threads::run(saved_on, |comm| scenarios::save_after(comm, 2))
                .into_iter()
                .collect();
        let saved = saved.unwrap();
        let results = threads::run(loaded_on, |comm| {
            scenarios::resharded(comm, &saved, saved_on, 2)
        });
        for (rank, result) in results.into_iter().enumerate() {
            if let Err(e) = result {
                panic!("saved on {saved_on}, loaded on {loaded_on}, rank {rank}: {e}");
            }
        }
    }
}
