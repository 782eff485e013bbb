//! fadam-lab: compares FAdam, Adam and AdamW on next-character prediction
//! (Shakespeare) and digit classification (UCI digits) with burn, fairly:
//! the same model, initial weights, batches and step budget for every
//! optimizer, a learning-rate sweep chosen on validation data, several
//! seeds, and the test loss reported as mean and spread.
//!
//! ```text
//! cargo run --release -p fadam-lab                 # the full comparison
//! cargo run --release -p fadam-lab -- --quick      # smoke run (about a minute)
//! cargo run --release -p fadam-lab -- --help
//! ```

mod data;
mod options;
mod plot;
mod report;
mod stats;
mod train;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};

use crate::options::{Backend, Options, Parsed, TaskChoice};
use crate::report::TaskReport;
use crate::stats::{Summary, argmin};
use crate::train::{Digits, Optim, Run, RunResult, Shakespeare, Task};

/// The default learning-rate sweep of Shakespeare.
const CHAR_LRS: [f64; 3] = [1e-3, 3e-3, 1e-2];
/// The default learning-rate sweep of digits (small data: lower rates too).
const DIGIT_LRS: [f64; 4] = [3e-4, 1e-3, 3e-3, 1e-2];
/// The learning rate of `--quick`.
const QUICK_LR: f64 = 3e-3;
/// Validation points per run (plus step 0), and with `--quick`.
const EVALS: usize = 20;
const QUICK_EVALS: usize = 5;

fn main() -> ExitCode {
    match run(std::env::args().skip(1)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("fadam-lab: error: {error}");
            ExitCode::from(2)
        }
    }
}

/// The step budget, seeds and learning rates of one task.
#[derive(Clone, Debug)]
struct Plan {
    steps: usize,
    seeds: usize,
    lrs: Vec<f64>,
    evals: usize,
}

/// A task's defaults: steps, `--quick` steps, seeds, learning rates.
struct Defaults {
    steps: usize,
    quick_steps: usize,
    seeds: usize,
    lrs: &'static [f64],
}

fn plan(options: &Options, defaults: &Defaults) -> Plan {
    let Defaults {
        steps: default_steps,
        quick_steps,
        seeds,
        lrs,
    } = *defaults;
    Plan {
        steps: options.steps.unwrap_or(if options.quick {
            quick_steps
        } else {
            default_steps
        }),
        seeds: options
            .seeds
            .unwrap_or(if options.quick { 1 } else { seeds }),
        lrs: options.lrs.clone().unwrap_or_else(|| {
            if options.quick {
                vec![QUICK_LR]
            } else {
                lrs.to_vec()
            }
        }),
        evals: if options.quick { QUICK_EVALS } else { EVALS },
    }
}

fn run(args: impl Iterator<Item = String>) -> Result<ExitCode, String> {
    let options = match options::parse(args)? {
        Parsed::Run(options) => options,
        Parsed::Help(usage) => {
            print!("{usage}");
            return Ok(ExitCode::SUCCESS);
        }
    };
    check_writable(&options.out)?;
    let base = match options.backend {
        Backend::Flex => Device::flex(),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => Device::wgpu(Default::default()),
        #[cfg(not(feature = "wgpu"))]
        Backend::Wgpu => unreachable!("rejected by the option parser"),
    };
    let device = base.clone().autodiff();
    let backend = match options.backend {
        Backend::Flex => "flex (CPU)",
        Backend::Wgpu => "wgpu",
    };
    println!(
        "fadam-lab: backend {backend}; output folder {}{}",
        options.out.display(),
        if options.quick {
            "; quick smoke run"
        } else {
            ""
        }
    );
    for optim in Optim::SWEPT.into_iter().chain([Optim::BurnAdamW]) {
        println!("  {:<13} {}", optim.name(), optim.source());
    }
    let start = Instant::now();
    let mut reports = Vec::new();
    if matches!(options.task, TaskChoice::Shakespeare | TaskChoice::All) {
        let text = data::Text::new(data::SHAKESPEARE, train::CONTEXT)?;
        let task = Shakespeare::new(text, &base, options.quick);
        reports.push(sweep(
            &task,
            &plan(
                &options,
                &Defaults {
                    steps: 4000,
                    quick_steps: 300,
                    seeds: 3,
                    lrs: &CHAR_LRS,
                },
            ),
            &device,
        ));
    }
    if matches!(options.task, TaskChoice::Digits | TaskChoice::All) {
        let rows = data::parse_digits(data::DIGITS)?;
        let (train, val, test) = data::split_digits(rows, train::DIGIT_HELD_OUT);
        let task = Digits::new(train, &val, &test, &base);
        reports.push(sweep(
            &task,
            &plan(
                &options,
                &Defaults {
                    steps: 1000,
                    quick_steps: 150,
                    seeds: 5,
                    lrs: &DIGIT_LRS,
                },
            ),
            &device,
        ));
    }
    let total = start.elapsed().as_secs_f64();
    let table = report::table(&reports);
    println!("\n{table}");
    report::write_all(&options.out, &reports, &table, total)?;
    println!(
        "total time {total:.0} s; results (runs.csv, curves.csv, summary.csv, summary.md, *.png) in {}",
        options.out.display()
    );
    if options.quick {
        let failures = report::not_falling(&reports);
        if failures.is_empty() {
            println!(
                "quick check passed: every optimizer's held-out loss fell below its initial value"
            );
        } else {
            for failure in &failures {
                eprintln!("fadam-lab: quick check failed: {failure}");
            }
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the output folder and checks that a file can be written there.
fn check_writable(out: &Path) -> Result<(), String> {
    let fix = "pass a writable folder with --out DIR";
    std::fs::create_dir_all(out).map_err(|e| {
        format!(
            "cannot create output folder '{}': {e}; {fix}",
            out.display()
        )
    })?;
    let probe = out.join(".fadam-lab-write-test");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            format!(
                "cannot write to output folder '{}': {e}; {fix}",
                out.display()
            )
        })
}

/// Runs every swept optimizer at every learning rate and seed (seed `s`
/// fixes the initial weights and the batches, shared by all), picks each
/// optimizer's learning rate by the mean final validation loss, then runs
/// burn's AdamW at AdamW's best rate as a cross-check.
fn sweep<T: Task>(task: &T, plan: &Plan, device: &Device) -> TaskReport {
    println!("\n== {}: {}", task.name(), task.describe());
    println!(
        "   {} steps per run; learning rates {}; {} seed(s)",
        plan.steps,
        plan.lrs
            .iter()
            .map(|lr| format!("{lr:e}"))
            .collect::<Vec<_>>()
            .join(", "),
        plan.seeds
    );
    let start = Instant::now();
    let runs_total = plan.seeds * (plan.lrs.len() * Optim::SWEPT.len() + 1);
    let bar = ProgressBar::new((runs_total * plan.steps) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} steps, eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(task.name());
    let eval_every = (plan.steps / plan.evals).max(1);
    let mut inits = Vec::new();
    let mut plans = Vec::new();
    for seed in 0..plan.seeds as u64 {
        device.seed(1000 + seed);
        let model = task.model(device);
        // burn initializes parameters lazily: a forward pass draws them
        // now, from this seed (clones share the drawn values).
        let _ = train::evaluate::<T>(&model, task.val());
        inits.push(model);
        plans.push(task.batch_plan(seed, plan.steps));
    }
    let mut runs: Vec<RunResult> = Vec::new();
    let one = |optim: Optim, lr: f64, seed: u64| {
        bar.set_message(format!("{} lr {lr:e} seed {seed}", optim.name()));
        let run = Run {
            optim,
            lr,
            seed,
            init: &inits[seed as usize],
            plan: &plans[seed as usize],
            eval_every,
        };
        let result = train::train(task, &run, device, &bar);
        let line = format!(
            "  {:<12} lr {:<5} seed {seed}: validation {:.4} {} (from {:.4}), test {:.4}, accuracy {:.1}%, {:.1} s",
            optim.name(),
            format!("{lr:e}"),
            result.val_loss,
            task.unit(),
            result.initial(),
            result.test_loss,
            100.0 * result.test_acc,
            result.wall_s
        );
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.println(line);
        }
        result
    };
    for seed in 0..plan.seeds as u64 {
        for optim in Optim::SWEPT {
            for &lr in &plan.lrs {
                runs.push(one(optim, lr, seed));
            }
        }
    }
    let best = best_lrs(&runs, &plan.lrs);
    let adamw_lr = best
        .iter()
        .find(|(o, _)| *o == Optim::AdamW)
        .map_or(plan.lrs[0], |&(_, lr)| lr);
    for seed in 0..plan.seeds as u64 {
        runs.push(one(Optim::BurnAdamW, adamw_lr, seed));
    }
    bar.finish_and_clear();
    let mut best = best;
    best.push((Optim::BurnAdamW, adamw_lr));
    TaskReport {
        task: task.name(),
        unit: task.unit(),
        describe: task.describe(),
        steps: plan.steps,
        seeds: plan.seeds,
        lrs: plan.lrs.clone(),
        best,
        runs,
        wall_s: start.elapsed().as_secs_f64(),
    }
}

/// Each swept optimizer's learning rate with the lowest mean final
/// validation loss over seeds (a diverged run ranks last).
fn best_lrs(runs: &[RunResult], lrs: &[f64]) -> Vec<(Optim, f64)> {
    Optim::SWEPT
        .into_iter()
        .map(|optim| {
            let keys: Vec<f64> = lrs
                .iter()
                .map(|&lr| {
                    let values: Vec<f64> = runs
                        .iter()
                        .filter(|r| r.optim == optim && r.lr == lr)
                        .map(|r| r.val_loss)
                        .collect();
                    Summary::of(&values).rank_key()
                })
                .collect();
            (optim, lrs[argmin(&keys).unwrap_or(0)])
        })
        .collect()
}
