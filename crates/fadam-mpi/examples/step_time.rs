//! Measures the time of a `ShardedFAdam` step (gradient reduce-scatter,
//! sums, update, parameter all-gather) on every rank, for a model of
//! `PARAMS` `f32` parameters in one tensor; prints the median over `STEPS`
//! steps after two warm-up steps, the slowest rank's.
//!
//! ```sh
//! cargo build --release -p fadam-mpi --features mpi --example step_time
//! mpirun -np 1 target/release/examples/step_time 16777216 20
//! mpirun -np 2 target/release/examples/step_time 16777216 20
//! ```

use std::time::Instant;

use fadam_core::FAdamConfig;
use fadam_mpi::{Collective, ShardedFAdam, TensorSpec};

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().ok());
    let params = args.next().flatten().unwrap_or(1 << 24);
    let steps = args.next().flatten().unwrap_or(20).max(1);
    let Some(universe) = mpi::initialize() else {
        eprintln!("MPI was already initialized");
        std::process::exit(2);
    };
    let world = universe.world();
    let (rank, size) = (Collective::rank(&world), Collective::size(&world));
    let mut opt =
        ShardedFAdam::<f32, _>::new(world, &[FAdamConfig::new()], &[TensorSpec::new(params)])
            .unwrap_or_else(|e| {
                eprintln!("rank {rank}: {e}");
                std::process::exit(1);
            });
    let mut theta: Vec<f32> = (0..params)
        .map(|i| ((i % 1000) as f32 - 500.0) * 1e-3)
        .collect();
    let grads: Vec<f32> = (0..params)
        .map(|i| (((i * 7 + rank * 13) % 997) as f32 - 498.0) * 1e-4)
        .collect();
    let mut times = Vec::with_capacity(steps);
    for step in 0..steps + 2 {
        let start = Instant::now();
        if let Err(e) = opt.step(&mut [&mut theta], &[&grads]) {
            eprintln!("rank {rank}: {e}");
            std::process::exit(1);
        }
        if step >= 2 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    let median = [times[times.len() / 2]];
    let mut all = vec![0.0; size];
    opt.comm().all_gather(&median, &vec![1; size], &mut all);
    if rank == 0 {
        let slowest = all.iter().fold(0.0f64, |a, &b| a.max(b));
        println!(
            "{size} rank(s), {params} f32 parameters, {steps} steps: median step {:.2} ms (slowest rank)",
            slowest * 1e3
        );
    }
}
