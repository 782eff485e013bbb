//! The multi-rank checks on real MPI processes; `.ci/mpi.sh` runs it with
//! `mpirun -np N` for N = 1 to 4. Every rank prints its results; a failed
//! check aborts the job (non-zero exit status).
//!
//! ```sh
//! cargo build --release -p fadam-mpi --features mpi --example mpi_check
//! mpirun --oversubscribe -np 3 target/release/examples/mpi_check
//! ```

#[path = "../tests/common/scenarios.rs"]
#[allow(dead_code, unreachable_pub)]
mod scenarios;

use fadam_mpi::Collective;
use mpi::topology::{Color, Communicator, SimpleCommunicator};

fn main() {
    let Some(universe) = mpi::initialize() else {
        eprintln!("MPI was already initialized");
        std::process::exit(2);
    };
    let world = universe.world();
    let (rank, size) = (Collective::rank(&world), Collective::size(&world));
    let report = |name: &str, result: Result<(), String>| match result {
        Ok(()) => println!("rank {rank}/{size}: {name}: ok"),
        Err(e) => {
            println!("rank {rank}/{size}: {name}: FAILED: {e}");
            // The other ranks may be waiting in a collective: end the job.
            world.abort(1);
        }
    };
    for (name, check) in scenarios::all() {
        report(name, check(&|| world.duplicate()));
    }
    if size > 1 {
        // Checkpoints of all ranks loaded on all but the last, and
        // checkpoints of all but the last loaded on all.
        let (all, fewer) = (size, size - 1);
        let sub = world.split_by_color(if rank < fewer {
            Color::with_value(0)
        } else {
            Color::undefined()
        });
        let saved = scenarios::save_after(world.duplicate(), 2);
        let saved = gather_bytes(&world, &saved.unwrap_or_default());
        if let Some(sub) = &sub {
            report(
                "re-sharded load on fewer ranks",
                scenarios::resharded(sub.duplicate(), &saved, all, 2),
            );
        }
        let mine = match &sub {
            Some(sub) => scenarios::save_after(sub.duplicate(), 2).unwrap_or_default(),
            None => Vec::new(),
        };
        let saved: Vec<Vec<u8>> = gather_bytes(&world, &mine)
            .into_iter()
            .take(fewer)
            .collect();
        report(
            "re-sharded load on more ranks",
            scenarios::resharded(world.duplicate(), &saved, fewer, 2),
        );
    }
}

/// Every rank's `mine`, in rank order.
fn gather_bytes(world: &SimpleCommunicator, mine: &[u8]) -> Vec<Vec<u8>> {
    let n = Collective::size(world);
    let mut lens = vec![0u64; n];
    world.all_gather(&[mine.len() as u64], &vec![1; n], &mut lens);
    let words = |len: u64| (len as usize).div_ceil(8);
    let mut padded = vec![0u64; words(mine.len() as u64)];
    bytemuck::cast_slice_mut::<u64, u8>(&mut padded)[..mine.len()].copy_from_slice(mine);
    let counts: Vec<usize> = lens.iter().map(|&l| words(l)).collect();
    let mut all = vec![0u64; counts.iter().sum()];
    world.all_gather(&padded, &counts, &mut all);
    let mut at = 0;
    lens.iter()
        .zip(&counts)
        .map(|(&len, &count)| {
            let bytes =
                bytemuck::cast_slice::<u64, u8>(&all[at..at + count])[..len as usize].to_vec();
            at += count;
            bytes
        })
        .collect()
}
