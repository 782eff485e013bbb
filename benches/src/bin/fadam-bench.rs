//! Times one configuration of the optimizer step as torch's side-by-side
//! script times its optimizers, and prints `ns_per_param=<value>` as its
//! last line, so that figures can be set side by side with other tools.
//!
//! ```text
//! fadam-bench [--size N | --tensors K | --sizes-file PATH] [--mode M]
//!             [--dtype f32|f64] [--threads T] [--state verified|checked]
//!             [--atomic model|tensor]
//!             [--target-s S] [--iters I] [--print-sizes]
//! ```
//! Like torch's script: three warm-up steps, a probe step that sets the
//! number of timed steps (`--target-s` of work, 15 to 400 steps), a
//! gradient rotated from a pool of three before each step (outside the
//! timed region), and the median of the timed steps. `--size N`: one flat
//! tensor of N elements (default 2^24); `--tensors K`: a model of K tensors
//! log-uniform in 1e3..2e5 elements (seed 42); `--sizes-file`: a model of
//! the tensor sizes listed in a file (whitespace or commas), for example
//! the sizes another tool draws. Modes: fadam (default), adam, adamw,
//! floor-fadam, floor-adam, floor-onepass. `--threads` above 1 needs the
//! `rayon` feature.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use fadam_benches::{
    Atomic, Mode, Param, Real, StateCheck, gradient_pool, model_sizes, run_with, workload,
};

/// Times one configuration of the optimizer step; the last line printed is
/// `ns_per_param=<value>`.
#[derive(Parser, Debug)]
#[command(name = "fadam-bench")]
struct Args {
    /// One flat tensor of N elements [default: 2^24]
    #[arg(long, value_name = "N", conflicts_with_all = ["tensors", "sizes_file"])]
    size: Option<usize>,
    /// A model of K tensors log-uniform in 1e3..2e5 elements (seed 42)
    /// instead of one flat tensor
    #[arg(long, value_name = "K", conflicts_with = "sizes_file")]
    tensors: Option<usize>,
    /// A model of the tensor sizes listed in a file (separated by
    /// whitespace or commas)
    #[arg(long, value_name = "PATH")]
    sizes_file: Option<std::path::PathBuf>,
    /// The update to time
    #[arg(long, value_enum, default_value_t = Mode::FAdam)]
    mode: Mode,
    /// Parameter and state type
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    dtype: Dtype,
    /// Threads; above 1 needs the `rayon` feature
    #[arg(long, value_name = "T", default_value_t = 1, value_parser = threads)]
    threads: usize,
    /// Whether each step finds its state verified (a training loop's steady
    /// state) or must check it (as if written from outside)
    #[arg(long, value_enum, default_value_t = StateCheck::Verified)]
    state: StateCheck,
    /// One `step_model` call for the whole model (all-or-nothing across
    /// tensors) or one `step` call per tensor
    #[arg(long, value_enum, default_value_t = Atomic::Model)]
    atomic: Atomic,
    /// Seconds of timed steps (15 to 400 steps)
    #[arg(long, value_name = "S", default_value_t = 1.5)]
    target_s: f64,
    /// Timed steps (0: from `--target-s`)
    #[arg(long, value_name = "I", default_value_t = 0)]
    iters: usize,
    /// Print the workload's tensor sizes on one line and exit (so that
    /// another tool can step the same model)
    #[arg(long)]
    print_sizes: bool,
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
    fn sizes(&self) -> Result<Vec<usize>, String> {
        if let Some(path) = &self.sizes_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            return parse_sizes(&text).map_err(|e| format!("{}: {e}", path.display()));
        }
        Ok(match (self.tensors, self.size) {
            (Some(k), _) => model_sizes(k),
            (None, size) => vec![size.unwrap_or(1 << 24)],
        })
    }
}

/// The tensor sizes in `text`, separated by whitespace or commas.
fn parse_sizes(text: &str) -> Result<Vec<usize>, String> {
    let sizes = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().map_err(|e| format!("size {w:?}: {e}")))
        .collect::<Result<Vec<usize>, _>>()?;
    if sizes.is_empty() {
        return Err("no sizes".into());
    }
    Ok(sizes)
}

/// `sizes` on one line, as `--print-sizes` prints them and
/// [`parse_sizes`] reads them.
fn sizes_line(sizes: &[usize]) -> String {
    let words: Vec<String> = sizes.iter().map(usize::to_string).collect();
    words.join(" ")
}

/// CPU time used by other processes during a measurement, as a share of
/// all CPUs (from `/proc`; 0 where it cannot be read): above 0.1 the
/// figure is noisy.
struct Foreign {
    start: Option<(f64, f64)>,
    wall: Instant,
}

impl Foreign {
    /// `(busy seconds of all CPUs, this process's CPU seconds)`.
    fn sample() -> Option<(f64, f64)> {
        const TICK: f64 = 0.01; // USER_HZ on Linux
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<f64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|v| v.parse().unwrap_or(0.0))
            .collect();
        let busy = cpu.iter().sum::<f64>() - cpu.get(3)? - cpu.get(4)?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the parenthesized name: utime and stime are the
        // 12th and 13th.
        let rest = own.rsplit_once(')')?.1;
        let f: Vec<f64> = rest
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0.0))
            .collect();
        Some((busy * TICK, (f.get(11)? + f.get(12)?) * TICK))
    }

    fn start() -> Self {
        Self {
            start: Self::sample(),
            wall: Instant::now(),
        }
    }

    fn stop(&self) -> f64 {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        match (self.start, Self::sample()) {
            (Some((b0, s0)), Some((b1, s1))) => {
                let wall = self.wall.elapsed().as_secs_f64();
                (((b1 - b0) - (s1 - s0)) / (wall * cpus)).max(0.0)
            }
            _ => 0.0,
        }
    }
}

fn time<P: Param<State = P> + Real>(args: &Args, sizes: &[usize]) -> f64 {
    let params: usize = sizes.iter().sum();
    let mut model = workload::<P>(sizes);
    let mut pool = gradient_pool(&model, 3);
    // Puts gradient set `k` into the model (a swap: no copy, no timing).
    let mut current = 0;
    let mut rotate = |model: &mut [fadam_benches::Slot<P>], k: usize| {
        if k != current {
            for (slot, g) in model.iter_mut().zip(pool[current].iter_mut()) {
                std::mem::swap(&mut slot.grads, g);
            }
            for (slot, g) in model.iter_mut().zip(pool[k].iter_mut()) {
                std::mem::swap(&mut slot.grads, g);
            }
            current = k;
        }
    };
    let step = |model: &mut [fadam_benches::Slot<P>]| {
        let start = Instant::now();
        run_with(args.mode, model, args.state, args.atomic);
        start.elapsed().as_secs_f64()
    };
    for w in 0..3 {
        rotate(&mut model, w % 3);
        step(&mut model);
    }
    rotate(&mut model, 0);
    let probe = step(&mut model);
    let iters = if args.iters > 0 {
        args.iters
    } else {
        (args.target_s / probe.max(1e-9)).clamp(15.0, 400.0) as usize
    };
    let mut times = Vec::with_capacity(iters);
    let foreign = Foreign::start();
    for s in 0..iters {
        rotate(&mut model, (s + 1) % 3);
        times.push(step(&mut model));
    }
    let foreign = foreign.stop();
    times.sort_by(f64::total_cmp);
    let median = times[iters / 2];
    let bytes = args.mode.bytes_per_param::<P>(args.state) as f64 * params as f64;
    println!(
        "mode={:?} state={:?} atomic={:?} dtype={} params={params} tensors={} threads={} kernels={} steps={iters}",
        args.mode,
        args.state,
        args.atomic,
        core::any::type_name::<P>(),
        sizes.len(),
        args.threads,
        fadam_core::Kernels::in_use().name(),
    );
    println!(
        "median_ms={:.3} best_ms={:.3} GB/s(median)={:.2} foreign={foreign:.2}",
        median * 1e3,
        times[0] * 1e3,
        bytes / median / 1e9
    );
    median * 1e9 / params as f64
}

fn main() -> ExitCode {
    let args = Args::parse();
    let sizes = match args.sizes() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fadam-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.print_sizes {
        println!("{}", sizes_line(&sizes));
        return ExitCode::SUCCESS;
    }
    let go = || match args.dtype {
        Dtype::F32 => time::<f32>(&args, &sizes),
        Dtype::F64 => time::<f64>(&args, &sizes),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_sizes_read_back_as_the_same_model() {
        let args = Args::try_parse_from(["fadam-bench", "--tensors", "200", "--print-sizes"])
            .expect("arguments");
        let sizes = args.sizes().expect("sizes");
        assert_eq!(sizes, model_sizes(200));
        assert_eq!(parse_sizes(&sizes_line(&sizes)), Ok(sizes));
    }

    #[test]
    fn sizes_files_take_commas_and_refuse_junk() {
        assert_eq!(parse_sizes("3, 5\n7"), Ok(vec![3, 5, 7]));
        assert_eq!(parse_sizes(" \n"), Err("no sizes".into()));
        assert!(parse_sizes("3 x").unwrap_err().contains("\"x\""));
    }
}
