//! fadam-lab: compares FAdam, Adam and AdamW with burn on four small real
//! tasks: next-character prediction on Shakespeare (an MLP, and a
//! decoder-only transformer), digit classification and a VQ-VAE on the UCI
//! digits. Fairly: the same model, initial weights, batches, schedule and
//! step budget for every optimizer, weight decay on weight matrices only, a
//! sweep of learning rate and λ chosen on validation data, several seeds,
//! and the test loss reported as mean and spread.
//!
//! ```text
//! cargo run --release -p fadam-lab                 # the main job (reduced grid, < 10 min)
//! cargo run --release -p fadam-lab -- --full       # the full study
//! cargo run --release -p fadam-lab -- --quick      # smoke run (seconds)
//! cargo run --release -p fadam-lab -- --help
//! ```

mod char_mlp;
mod data;
mod digits;
mod lm;
mod optim;
mod options;
mod plot;
mod report;
mod stats;
mod train;
mod vqvae;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};

use crate::char_mlp::Shakespeare;
use crate::digits::{DIGIT_HELD_OUT, Digits};
use crate::lm::{LM_CONTEXT, Lm};
use crate::optim::{Optim, Setting, paper_lambda};
use crate::options::{Backend, Mode, Options, Parsed, TaskChoice};
use crate::report::{Row, TaskReport};
use crate::stats::{Summary, argmin};
use crate::train::{Run, RunResult, Task};
use crate::vqvae::VqTask;

/// The learning rate of `--quick`.
const QUICK_LR: f64 = 3e-3;
/// The λ of FAdam and AdamW in `--quick`.
const QUICK_LAMBDA: f64 = 0.01;
/// The λ swept by default and with `--full`.
const LAMBDAS: [f64; 3] = [0.0, 0.01, 0.1];
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

/// The step budget, seeds, learning rates and λ of one task.
#[derive(Clone, Debug)]
struct Plan {
    steps: usize,
    seeds: usize,
    lrs: Vec<f64>,
    lambdas: Vec<f64>,
    evals: usize,
}

/// A task's defaults: steps in `--quick`, by default and with `--full`;
/// seeds and learning rates by default and with `--full`.
struct Defaults {
    steps: [usize; 3],
    seeds: [usize; 2],
    lrs: [&'static [f64]; 2],
}

fn plan(options: &Options, defaults: &Defaults) -> Plan {
    let mode = options.mode();
    let (index, quick) = match mode {
        Mode::Quick => (0, true),
        Mode::Default => (0, false),
        Mode::Full => (1, false),
    };
    let steps = match mode {
        Mode::Quick => defaults.steps[0],
        Mode::Default => defaults.steps[1],
        Mode::Full => defaults.steps[2],
    };
    Plan {
        steps: options.steps.unwrap_or(steps),
        seeds: options
            .seeds
            .unwrap_or(if quick { 1 } else { defaults.seeds[index] }),
        lrs: options.lrs.clone().unwrap_or_else(|| {
            if quick {
                vec![QUICK_LR]
            } else {
                defaults.lrs[index].to_vec()
            }
        }),
        lambdas: options.lambdas.clone().unwrap_or_else(|| {
            if quick {
                vec![QUICK_LAMBDA]
            } else {
                LAMBDAS.to_vec()
            }
        }),
        evals: if quick { QUICK_EVALS } else { EVALS },
    }
}

/// The name and backend of the adapter wgpu finds, or why there is none
/// (burn's wgpu backend would panic on its first tensor instead).
#[cfg(feature = "wgpu")]
fn gpu_adapter() -> Result<String, String> {
    let instance = wgpu::Instance::default();
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))
    .map_err(|e| {
        format!(
            "--backend wgpu: wgpu finds no GPU adapter ({e}). Install a Vulkan, Metal or DX12 driver \
             (on Linux without a GPU, Mesa's software Vulkan: apt-get install mesa-vulkan-drivers), \
             or use --backend flex"
        )
    })?;
    let info = adapter.get_info();
    Ok(format!(
        "{} ({:?}, {:?})",
        info.name, info.backend, info.device_type
    ))
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
    let (base, kernels) = match options.backend {
        Backend::Flex => (Device::flex(), None),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => {
            println!("fadam-lab: GPU adapter {}", gpu_adapter()?);
            // fadam-burn's optimizers step there with fadam-wgpu's passes.
            let kernels =
                fadam_burn::WgpuKernels::init().map_err(|e| format!("--backend wgpu: {e}"))?;
            (kernels.device().clone(), Some(kernels))
        }
        #[cfg(not(feature = "wgpu"))]
        Backend::Wgpu => unreachable!("rejected by the option parser"),
    };
    let kernels: Option<&optim::Kernels> = kernels.as_ref();
    let device = base.clone().autodiff();
    let backend = match options.backend {
        Backend::Flex => "flex (CPU)",
        Backend::Wgpu => "wgpu",
    };
    let mode = options.mode();
    println!(
        "fadam-lab: backend {backend}; output folder {}; {}",
        options.out.display(),
        match mode {
            Mode::Quick => "quick smoke run",
            Mode::Default => "main job (reduced grid; --full for the full study)",
            Mode::Full => "full study",
        }
    );
    for optim in Optim::SWEPT.into_iter().chain([Optim::BurnAdamW]) {
        println!("  {:<13} {}", optim.name(), optim.source());
    }
    println!(
        "  weight decay: on weight matrices only (not biases, norms, embeddings, the codebook), except FAdam (paper)"
    );
    let start = Instant::now();
    let mut reports = Vec::new();
    let task = options.task;
    if task.runs(TaskChoice::Shakespeare) {
        let text = data::Text::new(data::SHAKESPEARE, char_mlp::CONTEXT)?;
        let defaults = Defaults {
            steps: [300, 1500, 3000],
            seeds: [2, 3],
            lrs: [&[3e-3, 1e-2], &[3e-3, 1e-2]],
        };
        let t = Shakespeare::new(text, &base, mode);
        reports.push(sweep(&t, &plan(&options, &defaults), &device, kernels));
    }
    if task.runs(TaskChoice::Transformer) {
        let text = data::Text::new(data::SHAKESPEARE, LM_CONTEXT)?;
        let defaults = Defaults {
            steps: [30, 200, 700],
            seeds: [2, 2],
            lrs: [&[3e-3], &[3e-3, 1e-2]],
        };
        let t = Lm::new(text, &base, mode);
        reports.push(sweep(&t, &plan(&options, &defaults), &device, kernels));
    }
    if task.runs(TaskChoice::Digits) || task.runs(TaskChoice::Vqvae) {
        let (train, val, test) = data::split_digits(DIGIT_HELD_OUT);
        if task.runs(TaskChoice::Digits) {
            let defaults = Defaults {
                steps: [150, 1000, 1000],
                seeds: [3, 5],
                lrs: [&[1e-3, 3e-3], &[1e-3, 3e-3, 1e-2]],
            };
            let t = Digits::new(train.clone(), &val, &test, &base);
            reports.push(sweep(&t, &plan(&options, &defaults), &device, kernels));
        }
        if task.runs(TaskChoice::Vqvae) {
            let defaults = Defaults {
                steps: [150, 800, 1500],
                seeds: [3, 3],
                lrs: [&[1e-3, 3e-3], &[1e-3, 3e-3, 1e-2]],
            };
            let t = VqTask::new(train, &val, &test, &base);
            reports.push(sweep(&t, &plan(&options, &defaults), &device, kernels));
        }
    }
    let total = start.elapsed().as_secs_f64();
    let table = report::table(&reports);
    println!("\n{table}");
    report::write_all(&options.out, &reports, &table, total)?;
    println!(
        "total time {total:.0} s; results (runs.csv, curves.csv, summary.csv, summary.md, *.png) in {}",
        options.out.display()
    );
    if mode == Mode::Quick {
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

/// The settings of the sweep: FAdam (paper) at each learning rate, FAdam
/// and AdamW at each learning rate and λ.
fn settings(plan: &Plan) -> Vec<Setting> {
    let mut all = Vec::new();
    for optim in Optim::SWEPT {
        let lambdas = if optim.sweeps_lambda() {
            plan.lambdas.clone()
        } else {
            vec![paper_lambda()]
        };
        for &lambda in &lambdas {
            for &lr in &plan.lrs {
                all.push(Setting { optim, lr, lambda });
            }
        }
    }
    all
}

/// Runs every setting at every seed (seed `s` fixes the initial weights
/// and the batches, shared by all), picks each optimizer's setting by the
/// mean final validation loss, then runs burn's AdamW at AdamW's setting
/// as a cross-check.
fn sweep<T: Task>(
    task: &T,
    plan: &Plan,
    device: &Device,
    kernels: Option<&optim::Kernels>,
) -> TaskReport {
    let list = |xs: &[f64]| {
        xs.iter()
            .map(|x| format!("{x:e}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("\n== {}: {}", T::NAME, task.describe());
    println!(
        "   {} steps per run, {}; peak learning rates {}; λ {} (FAdam and AdamW); {} seed(s)",
        plan.steps,
        task.schedule(plan.steps).describe(),
        list(&plan.lrs),
        list(&plan.lambdas),
        plan.seeds
    );
    let start = Instant::now();
    let grid = settings(plan);
    let runs_total = plan.seeds * (grid.len() + 1);
    let bar = ProgressBar::new((runs_total * plan.steps) as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} steps, eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(T::NAME);
    let eval_every = (plan.steps / plan.evals).max(1);
    let mut inits = Vec::new();
    let mut plans = Vec::new();
    for seed in 0..plan.seeds as u64 {
        device.seed(1000 + seed);
        let model = task.model(device);
        // burn initializes parameters lazily: a forward pass draws them
        // now, from this seed (clones share the drawn values).
        let _ = task.evaluate(&model, task.val());
        inits.push(model);
        plans.push(task.batch_plan(seed, plan.steps));
    }
    let mut runs: Vec<RunResult> = Vec::new();
    let one = |setting: Setting, seed: u64| {
        let Setting { optim, lr, lambda } = setting;
        bar.set_message(format!("{} lr {lr:e} λ {lambda} seed {seed}", optim.name()));
        let run = Run {
            setting,
            kernels,
            seed,
            init: &inits[seed as usize],
            plan: &plans[seed as usize],
            eval_every,
        };
        let result = train::train(task, &run, device, &bar);
        let line = format!(
            "  {:<13} lr {:<5} λ {:<4} seed {seed}: validation {:.4} {} (from {:.4}), test {:.4}, {} {:.3}, {:.1} ms/step ({:.1} optimizer), {:.1} s",
            optim.name(),
            format!("{lr:e}"),
            lambda,
            result.val_loss,
            T::UNIT,
            result.initial(),
            result.test_loss,
            T::METRIC,
            result.test_metric,
            result.step_ms,
            result.optim_ms,
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
        for &setting in &grid {
            runs.push(one(setting, seed));
        }
    }
    let mut rows: Vec<Row> = Optim::SWEPT
        .into_iter()
        .filter_map(|optim| {
            best(&runs, &grid, |s| s.optim == optim).map(|setting| Row {
                label: optim.name(),
                setting,
            })
        })
        .collect();
    if let Some(setting) = best(&runs, &grid, |s| s.optim == Optim::AdamW && s.lambda == 0.0) {
        rows.push(Row {
            label: "Adam (AdamW λ=0)",
            setting,
        });
    }
    if let Some(adamw) = rows.iter().find(|r| r.setting.optim == Optim::AdamW) {
        let setting = Setting {
            optim: Optim::BurnAdamW,
            ..adamw.setting
        };
        for seed in 0..plan.seeds as u64 {
            runs.push(one(setting, seed));
        }
        rows.push(Row {
            label: Optim::BurnAdamW.name(),
            setting,
        });
    }
    bar.finish_and_clear();
    TaskReport {
        task: T::NAME,
        unit: T::UNIT,
        metric: T::METRIC,
        describe: task.describe(),
        schedule: task.schedule(plan.steps).describe(),
        steps: plan.steps,
        seeds: plan.seeds,
        lrs: plan.lrs.clone(),
        lambdas: plan.lambdas.clone(),
        rows,
        runs,
        wall_s: start.elapsed().as_secs_f64(),
    }
}

/// The setting among those `grid` settings that `keep` accepts with the
/// lowest mean final validation loss over seeds (a diverged run ranks
/// last); `None` when `keep` accepts none.
fn best(runs: &[RunResult], grid: &[Setting], keep: impl Fn(&Setting) -> bool) -> Option<Setting> {
    let candidates: Vec<Setting> = grid.iter().copied().filter(|s| keep(s)).collect();
    let keys: Vec<f64> = candidates
        .iter()
        .map(|s| {
            let values: Vec<f64> = runs
                .iter()
                .filter(|r| r.setting == *s)
                .map(|r| r.val_loss)
                .collect();
            Summary::of(&values).rank_key()
        })
        .collect();
    argmin(&keys).map(|i| candidates[i])
}
