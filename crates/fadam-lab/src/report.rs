//! The tables, the CSV files and the plots.

use std::fmt::Write as _;
use std::path::Path;

use crate::optim::{Optim, Setting};
use crate::plot::{plot_curves, plot_lambda, plot_sweep, register_font};
use crate::stats::{Comparison, DECISIVE, Summary};
use crate::train::RunResult;

/// A row of the results table: a label and the setting it reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Row {
    pub(crate) label: &'static str,
    pub(crate) setting: Setting,
}

/// Everything one task's sweep produced.
#[derive(Clone, Debug)]
pub(crate) struct TaskReport {
    pub(crate) task: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) metric: &'static str,
    pub(crate) describe: String,
    pub(crate) schedule: String,
    pub(crate) steps: usize,
    pub(crate) seeds: usize,
    pub(crate) lrs: Vec<f64>,
    pub(crate) lambdas: Vec<f64>,
    /// Each optimizer's chosen setting (and Adam's, and burn's AdamW).
    pub(crate) rows: Vec<Row>,
    pub(crate) runs: Vec<RunResult>,
    pub(crate) wall_s: f64,
}

impl TaskReport {
    /// The runs of `setting`, one per seed.
    pub(crate) fn at(&self, setting: Setting) -> Vec<&RunResult> {
        self.runs.iter().filter(|r| r.setting == setting).collect()
    }

    pub(crate) fn summary(&self, setting: Setting, f: impl Fn(&RunResult) -> f64) -> Summary {
        let values: Vec<f64> = self.at(setting).into_iter().map(f).collect();
        Summary::of(&values)
    }

    /// The λ values swept for `optim` (the paper's alone for FAdam (paper)).
    pub(crate) fn lambdas_of(&self, optim: Optim) -> Vec<f64> {
        let mut seen: Vec<f64> = Vec::new();
        for run in self.runs.iter().filter(|r| r.setting.optim == optim) {
            if !seen.contains(&run.setting.lambda) {
                seen.push(run.setting.lambda);
            }
        }
        seen
    }

    fn row(&self, optim: Optim) -> Option<&Row> {
        self.rows.iter().find(|r| r.setting.optim == optim)
    }
}

pub(crate) fn lr_text(lr: f64) -> String {
    format!("{lr:e}")
}

fn mean_std(s: &Summary, digits: usize) -> String {
    format!("{:.digits$} ± {:.digits$}", s.mean, s.std)
}

/// Whether `x` is the smallest or largest of `xs` (of more than one).
fn at_edge(x: f64, xs: &[f64]) -> bool {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    xs.len() > 1 && (x == lo || x == hi)
}

/// The final tables (Markdown): the best settings, the verdicts, and the
/// sweep.
pub(crate) fn table(reports: &[TaskReport]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| task | optimizer | lr | λ | test loss, mean ± std [min, max] | test metric, mean ± std | validation loss | ms/step (optimizer) |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|---|---|");
    for r in reports {
        for row in &r.rows {
            let s = row.setting;
            let loss = r.summary(s, |x| x.test_loss);
            let metric = r.summary(s, |x| x.test_metric);
            let val = r.summary(s, |x| x.val_loss);
            let step = r.summary(s, |x| x.step_ms);
            let optim = r.summary(s, |x| x.optim_ms);
            let swept = s.optim != Optim::BurnAdamW;
            let lr_edge = if swept && at_edge(s.lr, &r.lrs) {
                " (edge)"
            } else {
                ""
            };
            // λ = 0 is a bound, not an edge: only the largest λ is.
            let top = r.lambdas.iter().copied().fold(0.0, f64::max);
            let lambda_edge = if s.optim.sweeps_lambda() && r.lambdas.len() > 1 && s.lambda == top {
                " (edge)"
            } else {
                ""
            };
            let _ = writeln!(
                t,
                "| {} | {} | {}{} | {}{} | {} {} [{:.4}, {:.4}] | {} {} | {:.4} | {:.1} ({:.1}) |",
                r.task,
                row.label,
                lr_text(s.lr),
                lr_edge,
                s.lambda,
                lambda_edge,
                mean_std(&loss, 4),
                r.unit,
                loss.min,
                loss.max,
                mean_std(&metric, 2),
                r.metric,
                val.mean,
                step.mean,
                optim.mean
            );
        }
    }
    let _ = writeln!(
        t,
        "\nFAdam against the best Adam-family setting (AdamW with λ swept, λ = 0 being Adam), on the test loss; \
         the spread is the pooled seed std, and a difference of at least {DECISIVE} spreads is a win or a loss:\n"
    );
    let _ = writeln!(
        t,
        "| task | FAdam row | against | difference (FAdam - other) | seed spread | in spreads | verdict |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|---|");
    for r in reports {
        let Some(other) = r.row(Optim::AdamW) else {
            continue;
        };
        let b = r.summary(other.setting, |x| x.test_loss);
        for fadam in [Optim::FAdam, Optim::FAdamPaper] {
            let Some(row) = r.row(fadam) else { continue };
            let a = r.summary(row.setting, |x| x.test_loss);
            let c = Comparison::of(&a, &b);
            let _ = writeln!(
                t,
                "| {} | {} (lr {}, λ {}) | {} (lr {}, λ {}) | {:+.4} {} | {:.4} | {} | {} |",
                r.task,
                row.label,
                lr_text(row.setting.lr),
                row.setting.lambda,
                other.label,
                lr_text(other.setting.lr),
                other.setting.lambda,
                c.delta,
                r.unit,
                c.spread,
                if c.z.is_nan() {
                    "n/a".to_string()
                } else {
                    format!("{:+.1}", c.z)
                },
                c.verdict()
            );
        }
    }
    let _ = writeln!(
        t,
        "\nMean final validation loss by learning rate and λ (the chosen setting in bold):\n"
    );
    let columns = reports.iter().map(|r| r.lrs.len()).max().unwrap_or(1);
    let header: Vec<String> = (1..=columns).map(|i| format!("lr #{i}")).collect();
    let _ = writeln!(t, "| task | optimizer | λ | {} |", header.join(" | "));
    let _ = writeln!(t, "|---|---|---|{}", "---|".repeat(columns));
    for r in reports {
        for optim in Optim::SWEPT {
            let chosen = r.row(optim).map(|row| row.setting);
            for lambda in r.lambdas_of(optim) {
                let mut cells: Vec<String> = r
                    .lrs
                    .iter()
                    .map(|&lr| {
                        let setting = Setting { optim, lr, lambda };
                        let s = r.summary(setting, |x| x.val_loss);
                        let cell = format!("lr {}: {:.4} ± {:.4}", lr_text(lr), s.mean, s.std);
                        if chosen == Some(setting) {
                            format!("**{cell}**")
                        } else {
                            cell
                        }
                    })
                    .collect();
                cells.resize(columns, String::new());
                let _ = writeln!(
                    t,
                    "| {} | {} | {lambda} | {} |",
                    r.task,
                    optim.name(),
                    cells.join(" | ")
                );
            }
        }
    }
    t
}

/// One line per run whose final validation loss is not below its initial
/// one.
pub(crate) fn not_falling(reports: &[TaskReport]) -> Vec<String> {
    let mut failures = Vec::new();
    for r in reports {
        for run in &r.runs {
            if run.val_loss.is_nan() || run.val_loss >= run.initial() {
                failures.push(format!(
                    "{} {} lr {} λ {} seed {}: held-out loss {:.4} {} did not fall below its initial {:.4}",
                    r.task,
                    run.setting.optim.name(),
                    lr_text(run.setting.lr),
                    run.setting.lambda,
                    run.seed,
                    run.val_loss,
                    r.unit,
                    run.initial()
                ));
            }
        }
    }
    failures
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| {
        format!(
            "cannot write '{}': {e}; pass a writable folder with --out DIR",
            path.display()
        )
    })
}

/// Writes runs.csv, curves.csv, summary.csv, summary.md and the plots.
pub(crate) fn write_all(
    out: &Path,
    reports: &[TaskReport],
    table: &str,
    total_s: f64,
) -> Result<(), String> {
    let mut runs = String::from(
        "task,optimizer,lr,lambda,seed,steps,initial_val_loss,val_loss,val_metric,test_loss,test_metric,unit,metric,wall_s,step_ms,optimizer_ms\n",
    );
    let mut curves = String::from("task,optimizer,lr,lambda,seed,step,val_loss,unit\n");
    let mut summary = String::from(
        "task,row,optimizer,lr,lambda,seeds,test_loss_mean,test_loss_std,test_loss_min,test_loss_max,test_metric_mean,test_metric_std,val_loss_mean,unit,metric,step_ms_mean,optimizer_ms_mean\n",
    );
    for r in reports {
        for run in &r.runs {
            let s = run.setting;
            let _ = writeln!(
                runs,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{:.3},{:.4},{:.4}",
                r.task,
                s.optim.name(),
                s.lr,
                s.lambda,
                run.seed,
                r.steps,
                run.initial(),
                run.val_loss,
                run.val_metric,
                run.test_loss,
                run.test_metric,
                r.unit,
                r.metric,
                run.wall_s,
                run.step_ms,
                run.optim_ms
            );
            for &(step, loss) in &run.curve {
                let _ = writeln!(
                    curves,
                    "{},{},{},{},{},{step},{loss},{}",
                    r.task,
                    s.optim.name(),
                    s.lr,
                    s.lambda,
                    run.seed,
                    r.unit
                );
            }
        }
        for row in &r.rows {
            let s = row.setting;
            let loss = r.summary(s, |x| x.test_loss);
            let metric = r.summary(s, |x| x.test_metric);
            let _ = writeln!(
                summary,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.4},{:.4}",
                r.task,
                row.label,
                s.optim.name(),
                s.lr,
                s.lambda,
                loss.n,
                loss.mean,
                loss.std,
                loss.min,
                loss.max,
                metric.mean,
                metric.std,
                r.summary(s, |x| x.val_loss).mean,
                r.unit,
                r.metric,
                r.summary(s, |x| x.step_ms).mean,
                r.summary(s, |x| x.optim_ms).mean
            );
        }
    }
    write(&out.join("runs.csv"), &runs)?;
    write(&out.join("curves.csv"), &curves)?;
    write(&out.join("summary.csv"), &summary)?;
    let mut md = String::new();
    for r in reports {
        let list = |xs: &[f64]| {
            xs.iter()
                .map(|&x| lr_text(x))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            md,
            "- {}: {}; {} steps per run, {}; {} seed(s); learning rates {}; λ {} ({:.0} s)",
            r.task,
            r.describe,
            r.steps,
            r.schedule,
            r.seeds,
            list(&r.lrs),
            list(&r.lambdas),
            r.wall_s
        );
    }
    let _ = writeln!(md, "\n{table}\nTotal time {total_s:.0} s.");
    write(&out.join("summary.md"), &md)?;
    register_font()?;
    for r in reports {
        plot_curves(&out.join(format!("curves-{}.png", r.task)), r)?;
        if r.lrs.len() > 1 {
            plot_sweep(&out.join(format!("lr-sweep-{}.png", r.task)), r)?;
        }
        if r.lambdas.len() > 1 {
            plot_lambda(&out.join(format!("lambda-sweep-{}.png", r.task)), r)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(optim: Optim, lr: f64) -> Setting {
        Setting {
            optim,
            lr,
            lambda: 0.0,
        }
    }

    fn run(optim: Optim, lr: f64, seed: u64, initial: f64, val: f64) -> RunResult {
        RunResult {
            setting: setting(optim, lr),
            seed,
            curve: vec![(0, initial), (10, val)],
            val_loss: val,
            val_metric: 50.0,
            test_loss: val + 0.01,
            test_metric: 50.0,
            wall_s: 1.0,
            step_ms: 2.0,
            optim_ms: 0.5,
        }
    }

    fn report(runs: Vec<RunResult>) -> TaskReport {
        TaskReport {
            task: "t",
            unit: "nats",
            metric: "accuracy %",
            describe: String::new(),
            schedule: String::new(),
            steps: 10,
            seeds: 2,
            lrs: vec![1e-3, 1e-2],
            lambdas: vec![0.0],
            rows: vec![
                Row {
                    label: "FAdam",
                    setting: setting(Optim::FAdam, 1e-3),
                },
                Row {
                    label: "AdamW",
                    setting: setting(Optim::AdamW, 1e-2),
                },
            ],
            runs,
            wall_s: 1.0,
        }
    }

    #[test]
    fn table_reports_mean_spread_and_verdict() {
        let r = report(vec![
            run(Optim::FAdam, 1e-3, 0, 2.0, 1.0),
            run(Optim::FAdam, 1e-3, 1, 2.0, 1.2),
            run(Optim::AdamW, 1e-2, 0, 2.0, 2.0),
            run(Optim::AdamW, 1e-2, 1, 2.0, 2.2),
        ]);
        let t = table(&[r]);
        assert!(
            t.contains("| t | FAdam | 1e-3 (edge) | 0 | 1.1100 ± 0.1414 nats [1.0100, 1.2100] | 50.00 ± 0.00 accuracy % | 1.1000 | 2.0 (0.5) |"),
            "{t}"
        );
        assert!(
            t.contains("| t | FAdam (lr 1e-3, λ 0) | AdamW (lr 1e-2, λ 0) | -1.0000 nats | 0.1414 | -7.1 | wins |"),
            "{t}"
        );
        assert!(
            t.contains("| t | FAdam | 0 | **lr 1e-3: 1.1000 ± 0.1414** |"),
            "{t}"
        );
    }

    #[test]
    fn a_loss_that_did_not_fall_is_reported() {
        let r = report(vec![
            run(Optim::FAdam, 1e-3, 0, 2.0, 1.0),
            run(Optim::AdamW, 1e-3, 0, 2.0, 2.5),
            run(Optim::FAdamPaper, 1e-3, 0, 2.0, f64::NAN),
        ]);
        let failures = not_falling(&[r]);
        assert_eq!(failures.len(), 2);
        assert!(failures[0].contains("AdamW lr 1e-3"));
        assert!(failures[1].contains("FAdam (paper)"));
    }
}
