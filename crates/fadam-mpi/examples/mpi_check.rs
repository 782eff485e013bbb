//! The multi-rank checks on real MPI processes; `.ci/mpi.sh` runs it with
//! `mpirun -np N` for N = 1 to 4. Every rank prints its results; the exit
//! status is non-zero if any check failed on this rank.
//!
//! ```sh
//! cargo build --release -p fadam-mpi --features mpi --example mpi_check
//! mpirun --oversubscribe -np 3 target/release/examples/mpi_check
//! ```

#[path = "../tests/common/scenarios.rs"]
#[allow(dead_code, unreachable_pub)]
mod scenarios;

use mpi::topology::Communicator;

fn main() {
    let Some(universe) = mpi::initialize() else {
        eprintln!("MPI was already initialized");
        std::process::exit(2);
    };
    let world = universe.world();
    let (rank, size) = (world.rank(), world.size());
    for (name, check) in scenarios::all() {
        match check(&|| world.duplicate()) {
            Ok(()) => println!("rank {rank}/{size}: {name}: ok"),
            Err(e) => {
                println!("rank {rank}/{size}: {name}: FAILED: {e}");
                // The other ranks may be waiting in a collective: end the job.
                world.abort(1);
            }
        }
    }
}
