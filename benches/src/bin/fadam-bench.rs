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

use fadam_benches::{Mode, Param, Real, model_sizes, run, workload};

struct Args {
    sizes: Vec<usize>,
    mode: Mode,
    f64: bool,
    threads: usize,
    iters: usize,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        sizes: vec![1 << 24],
        mode: Mode::FAdam,
        f64: false,
        threads: 1,
        iters: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--size" => args.sizes = vec![number(value()?)?],
            "--tensors" => args.sizes = model_sizes(number(value()?)?),
            "--mode" => {
                let v = value()?;
                args.mode = Mode::parse(&v).ok_or(format!("unknown mode '{v}'"))?;
            }
            "--dtype" => match value()?.as_str() {
                "f32" => args.f64 = false,
                "f64" => args.f64 = true,
                other => return Err(format!("unknown dtype '{other}' (f32 or f64)")),
            },
            "--threads" => args.threads = number(value()?)?,
            "--iters" => args.iters = number(value()?)?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if args.threads == 0 || (args.threads > 1 && !cfg!(feature = "rayon")) {
        return Err("--threads above 1 needs `--features rayon`".into());
    }
    Ok(args)
}

fn time<P: Param<State = P> + Real>(args: &Args) -> f64 {
    let params: usize = args.sizes.iter().sum();
    let mut model = workload::<P>(&args.sizes);
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
        args.sizes.len(),
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
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!(
                "usage: fadam-bench [--size N | --tensors K] [--mode fadam|adam|adamw|floor-fadam|floor-adam|floor-onepass] [--dtype f32|f64] [--threads T] [--iters I]"
            );
            return ExitCode::from(2);
        }
    };
    let go = || {
        if args.f64 {
            time::<f64>(&args)
        } else {
            time::<f32>(&args)
        }
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
