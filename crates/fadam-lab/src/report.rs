//! The table, the CSV files and the plots.

use std::fmt::Write as _;
use std::path::Path;

use crate::plot::{plot_curves, plot_sweep, register_font};
use crate::stats::Summary;
use crate::train::{Optim, RunResult};

/// Everything one task's sweep produced.
#[derive(Clone, Debug)]
pub(crate) struct TaskReport {
    pub(crate) task: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) describe: String,
    pub(crate) steps: usize,
    pub(crate) seeds: usize,
    pub(crate) lrs: Vec<f64>,
    /// Each optimizer's chosen learning rate.
    pub(crate) best: Vec<(Optim, f64)>,
    pub(crate) runs: Vec<RunResult>,
    pub(crate) wall_s: f64,
}

impl TaskReport {
    /// The runs of `optim` at `lr`, one per seed.
    pub(crate) fn at(&self, optim: Optim, lr: f64) -> Vec<&RunResult> {
        self.runs
            .iter()
            .filter(|r| r.optim == optim && r.lr == lr)
            .collect()
    }

    pub(crate) fn summary(&self, optim: Optim, lr: f64, f: impl Fn(&RunResult) -> f64) -> Summary {
        let values: Vec<f64> = self.at(optim, lr).into_iter().map(f).collect();
        Summary::of(&values)
    }
}

pub(crate) fn lr_text(lr: f64) -> String {
    format!("{lr:e}")
}

fn mean_std(s: &Summary, digits: usize) -> String {
    format!("{:.digits$} ± {:.digits$}", s.mean, s.std)
}

/// The final table (Markdown), with the learning-rate sweep below it.
pub(crate) fn table(reports: &[TaskReport]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| task | optimizer | best lr | test loss, mean ± std [min, max] | test accuracy %, mean ± std | validation loss | s/run |"
    );
    let _ = writeln!(t, "|---|---|---|---|---|---|---|");
    for r in reports {
        for &(optim, lr) in &r.best {
            let loss = r.summary(optim, lr, |x| x.test_loss);
            let acc = r.summary(optim, lr, |x| 100.0 * x.test_acc);
            let val = r.summary(optim, lr, |x| x.val_loss);
            let time = r.summary(optim, lr, |x| x.wall_s);
            let edge = optim != Optim::BurnAdamW
                && r.lrs.len() > 1
                && (lr == r.lrs.iter().copied().fold(f64::INFINITY, f64::min)
                    || lr == r.lrs.iter().copied().fold(f64::NEG_INFINITY, f64::max));
            let _ = writeln!(
                t,
                "| {} | {} | {}{} | {} {} [{:.4}, {:.4}] | {} | {:.4} | {:.1} |",
                r.task,
                optim.name(),
                lr_text(lr),
                if edge { " (edge)" } else { "" },
                mean_std(&loss, 4),
                r.unit,
                loss.min,
                loss.max,
                mean_std(&acc, 2),
                val.mean,
                time.mean
            );
        }
    }
    let _ = writeln!(
        t,
        "\nMean final validation loss by learning rate (the chosen one in bold):\n"
    );
    let _ = writeln!(t, "| task | optimizer | {} |", sweep_header(reports));
    let columns = reports.iter().map(|r| r.lrs.len()).max().unwrap_or(1);
    let _ = writeln!(t, "|---|---|{}", "---|".repeat(columns));
    for r in reports {
        for &(optim, best) in r.best.iter().filter(|(o, _)| *o != Optim::BurnAdamW) {
            let mut cells: Vec<String> = r
                .lrs
                .iter()
                .map(|&lr| {
                    let s = r.summary(optim, lr, |x| x.val_loss);
                    let cell = format!("lr {}: {:.4} ± {:.4}", lr_text(lr), s.mean, s.std);
                    if lr == best {
                        format!("**{cell}**")
                    } else {
                        cell
                    }
                })
                .collect();
            cells.resize(columns, String::new());
            let _ = writeln!(
                t,
                "| {} | {} | {} |",
                r.task,
                optim.name(),
                cells.join(" | ")
            );
        }
    }
    t
}

fn sweep_header(reports: &[TaskReport]) -> String {
    let n = reports.iter().map(|r| r.lrs.len()).max().unwrap_or(1);
    (1..=n)
        .map(|i| format!("lr #{i}"))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// One line per optimizer and task whose final validation loss is not
/// below its initial one in some run.
pub(crate) fn not_falling(reports: &[TaskReport]) -> Vec<String> {
    let mut failures = Vec::new();
    for r in reports {
        for run in &r.runs {
            if run.val_loss.is_nan() || run.val_loss >= run.initial() {
                failures.push(format!(
                    "{} {} lr {} seed {}: held-out loss {:.4} {} did not fall below its initial {:.4}",
                    r.task,
                    run.optim.name(),
                    lr_text(run.lr),
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
        "task,optimizer,lr,seed,steps,initial_val_loss,val_loss,val_accuracy,test_loss,test_accuracy,unit,wall_s\n",
    );
    let mut curves = String::from("task,optimizer,lr,seed,step,val_loss,unit\n");
    let mut summary = String::from(
        "task,optimizer,best_lr,seeds,test_loss_mean,test_loss_std,test_loss_min,test_loss_max,test_accuracy_mean,test_accuracy_std,val_loss_mean,unit,wall_s_mean\n",
    );
    for r in reports {
        for run in &r.runs {
            let _ = writeln!(
                runs,
                "{},{},{},{},{},{},{},{},{},{},{},{:.3}",
                r.task,
                run.optim.name(),
                run.lr,
                run.seed,
                r.steps,
                run.initial(),
                run.val_loss,
                run.val_acc,
                run.test_loss,
                run.test_acc,
                r.unit,
                run.wall_s
            );
            for &(step, loss) in &run.curve {
                let _ = writeln!(
                    curves,
                    "{},{},{},{},{step},{loss},{}",
                    r.task,
                    run.optim.name(),
                    run.lr,
                    run.seed,
                    r.unit
                );
            }
        }
        for &(optim, lr) in &r.best {
            let loss = r.summary(optim, lr, |x| x.test_loss);
            let acc = r.summary(optim, lr, |x| x.test_acc);
            let val = r.summary(optim, lr, |x| x.val_loss);
            let time = r.summary(optim, lr, |x| x.wall_s);
            let _ = writeln!(
                summary,
                "{},{},{lr},{},{},{},{},{},{},{},{},{},{:.3}",
                r.task,
                optim.name(),
                loss.n,
                loss.mean,
                loss.std,
                loss.min,
                loss.max,
                acc.mean,
                acc.std,
                val.mean,
                r.unit,
                time.mean
            );
        }
    }
    write(&out.join("runs.csv"), &runs)?;
    write(&out.join("curves.csv"), &curves)?;
    write(&out.join("summary.csv"), &summary)?;
    let mut md = String::new();
    for r in reports {
        let _ = writeln!(
            md,
            "- {}: {}; {} steps per run, {} seed(s), sweep {} ({:.0} s)",
            r.task,
            r.describe,
            r.steps,
            r.seeds,
            r.lrs
                .iter()
                .map(|&lr| lr_text(lr))
                .collect::<Vec<_>>()
                .join(", "),
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
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(optim: Optim, lr: f64, seed: u64, initial: f64, val: f64) -> RunResult {
        RunResult {
            optim,
            lr,
            seed,
            curve: vec![(0, initial), (10, val)],
            val_loss: val,
            val_acc: 0.5,
            test_loss: val + 0.01,
            test_acc: 0.5,
            wall_s: 1.0,
        }
    }

    fn report(runs: Vec<RunResult>) -> TaskReport {
        TaskReport {
            task: "t",
            unit: "nats",
            describe: String::new(),
            steps: 10,
            seeds: 2,
            lrs: vec![1e-3, 1e-2],
            best: vec![(Optim::FAdam, 1e-3)],
            runs,
            wall_s: 1.0,
        }
    }

    #[test]
    fn table_reports_mean_and_spread() {
        let r = report(vec![
            run(Optim::FAdam, 1e-3, 0, 2.0, 1.0),
            run(Optim::FAdam, 1e-3, 1, 2.0, 1.2),
        ]);
        let t = table(&[r]);
        assert!(
            t.contains("| t | FAdam | 1e-3 (edge) | 1.1100 ± 0.1414 nats [1.0100, 1.2100]"),
            "{t}"
        );
    }

    #[test]
    fn a_loss_that_did_not_fall_is_reported() {
        let r = report(vec![
            run(Optim::FAdam, 1e-3, 0, 2.0, 1.0),
            run(Optim::Adam, 1e-3, 0, 2.0, 2.5),
            run(Optim::AdamW, 1e-3, 0, 2.0, f64::NAN),
        ]);
        let failures = not_falling(&[r]);
        assert_eq!(failures.len(), 2);
        assert!(failures[0].contains("Adam lr 1e-3"));
        assert!(failures[1].contains("AdamW"));
    }
}
