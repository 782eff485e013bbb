//! Times one configuration of the optimizer step and prints
//! `ns_per_param=<value>` as its last line, so that figures can be set side
//! by side with other tools.
//!
//! ```text
//! fadam-bench [--size N | --tensors K] [--mode M] [--dtype f32|f64]
//!             [--threads T] [--iters I]
//! ```
//! `--size N`: one flat tensor of N elements (default 2^24); `--tensors K`:
//! a model of K tensors log-uniform in 1e3..2e5 elements (seed 42) instead.
//! Modes: fadam (default), adam, adamw, floor-fadam, floor-adam,
//! floor-onepass. `--threads` above 1 needs the `rayon` feature.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use fadam_benches::{Mode, Param, Real, model_sizes, run, workload};

/// Times one configuration of the optimizer step; the last line printed is
/// `ns_per_param=<value>`.
#[derive(Parser, Debug)]
#[command(name = "fadam-bench")]
struct Args {
    /// One flat tensor of N elements [default: 2^24]
    #[arg(long, value_name = "N", conflicts_with = "tensors")]
    size: Option<usize>,
    /// A model of K tensors log-uniform in 1e3..2e5 elements (seed 42)
    /// instead of one flat tensor
    #[arg(long, value_name = "K")]
    tensors: Option<usize>,
    /// The update to time
    #[arg(long, value_enum, default_value_t = Mode::FAdam)]
    mode: Mode,
    /// Parameter and state type
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    dtype: Dtype,
    /// Threads; above 1 needs the `rayon` feature
    #[arg(long, value_name = "T", default_value_t = 1, value_parser = threads)]
    threads: usize,
    /// Timed steps (0: about 2 s of work, 3 to 2000 steps)
    #[arg(long, value_name = "I", default_value_t = 0)]
    iters: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Dtype {
    F32,
    F64,
}

fn threads(v: &str) -> Result<usize, String> {
    let n: usize = v.parse().map_err(|e| format!("{e}"))?;
    if n == 0 || (n > 1 && !cfg!(feature = "rayon")) {
        return Err("--threads above 1 needs `--features rayon`".into());
    }
    Ok(n)
}

impl Args {
    fn sizes(&self) -> Vec<usize> {
        match (self.tensors, self.size) {
            (Some(k), _) => model_sizes(k),
            (None, size) => vec![size.unwrap_or(1 << 24)],
        }
    }
}

fn time<P: Param<State = P> + Real>(args: &Args) -> f64 {
    let sizes = args.sizes();
    let params: usize = sizes.iter().sum();
    let mut model = workload::<P>(&sizes);
    // About 2 s of work unless told otherwise, after one warm-up step.
    run(args.mode, &mut model);
    let iters = if args.iters > 0 {
        args.iters
    } else {
        (4e8 / params as f64).clamp(3.0, 2000.0) as usize
    };
    let mut best = f64::INFINITY;
    let mut total = 0.0;
    for _ in 0..iters {
        let start = Instant::now();
        run(args.mode, &mut model);
        let s = start.elapsed().as_secs_f64();
        best = best.min(s);
        total += s;
    }
    let mean = total / iters as f64;
    let bytes = args.mode.bytes_per_param::<P>() as f64 * params as f64;
    println!(
        "mode={:?} dtype={} params={params} tensors={} threads={} iters={iters}",
        args.mode,
        core::any::type_name::<P>(),
        sizes.len(),
        args.threads
    );
    println!(
        "best_ms={:.3} mean_ms={:.3} GB/s(mean)={:.2}",
        best * 1e3,
        mean * 1e3,
        bytes / mean / 1e9
    );
    mean * 1e9 / params as f64
}

fn main() -> ExitCode {
    let args = Args::parse();
    let go = || match args.dtype {
        Dtype::F32 => time::<f32>(&args),
        Dtype::F64 => time::<f64>(&args),
    };
    #[cfg(feature = "rayon")]
    let ns = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .expect("thread pool")
        .install(go);
    #[cfg(not(feature = "rayon"))]
    let ns = go();
    println!("ns_per_param={ns:.4}");
    ExitCode::SUCCESS
}
