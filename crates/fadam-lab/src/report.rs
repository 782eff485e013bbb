//! The table, the CSV files and the plots.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

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
    fn at(&self, optim: Optim, lr: f64) -> Vec<&RunResult> {
        self.runs
            .iter()
            .filter(|r| r.optim == optim && r.lr == lr)
            .collect()
    }

    fn summary(&self, optim: Optim, lr: f64, f: impl Fn(&RunResult) -> f64) -> Summary {
        let values: Vec<f64> = self.at(optim, lr).into_iter().map(f).collect();
        Summary::of(&values)
    }
}

fn lr_text(lr: f64) -> String {
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

/// The plots' size in pixels.
const SIZE: (u32, u32) = (900, 560);

fn register_font() -> Result<(), String> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the embedded DejaVu Sans font could not be loaded".to_string())
}

fn color(optim: Optim) -> RGBColor {
    match optim {
        Optim::FAdam => RGBColor(214, 39, 40),
        Optim::FAdamNoDecay => RGBColor(255, 127, 14),
        Optim::Adam => RGBColor(31, 119, 180),
        Optim::AdamW => RGBColor(44, 160, 44),
        Optim::BurnAdamW => RGBColor(120, 120, 120),
    }
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> String {
    format!(
        "cannot draw '{}': {e}; pass a writable folder with --out DIR",
        path.display()
    )
}

/// A plotted point: x, then the mean, minimum and maximum over seeds.
type Point = (f64, f64, f64, f64);

/// The lab's charts: `f64` on both axes, drawn into a bitmap.
type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The span of the points' min–max, widened by `pad` of its height (at
/// least 1e-3) on each side; `None` when no value is finite.
fn loss_range<'p>(points: impl Iterator<Item = &'p Point> + Clone, pad: f64) -> Option<Range<f64>> {
    let lo = points.clone().map(|p| p.2).fold(f64::INFINITY, f64::min);
    let hi = points.map(|p| p.3).fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return None;
    }
    let pad = ((hi - lo) * pad).max(1e-3);
    Some((lo - pad)..(hi + pad))
}

/// What drawing into a bitmap can fail with.
type DrawError = DrawingAreaErrorKind<<BitMapBackend<'static> as DrawingBackend>::ErrorType>;

/// A chart's x axis: its span, description and label format.
struct XAxis<'f> {
    span: Range<f64>,
    desc: &'static str,
    label: &'f dyn Fn(&f64) -> String,
}

/// A white 900×560 chart of validation loss (in `unit`) over `x`, with its
/// caption, axes and grid drawn.
fn chart<'a, 'b: 'a>(
    root: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    caption: String,
    x: XAxis<'_>,
    (y, unit): (Range<f64>, &str),
) -> Result<Chart<'a, 'b>, DrawError> {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x.span, y)?;
    chart
        .configure_mesh()
        .x_desc(x.desc)
        .x_label_formatter(x.label)
        .y_desc(format!("validation loss ({unit})"))
        .label_style(("sans-serif", 14))
        .draw()?;
    Ok(chart)
}

/// The mean line of `points` in colour `c`, with its legend entry.
fn mean_line(
    chart: &mut Chart<'_, '_>,
    points: &[Point],
    c: RGBColor,
    label: String,
) -> Result<(), DrawError> {
    chart
        .draw_series(LineSeries::new(
            points.iter().map(|p| (p.0, p.1)),
            c.stroke_width(2),
        ))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    Ok(())
}

/// Draws the legend of a finished chart and writes the image.
fn finish<'a, 'b: 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, CT>,
    root: &DrawingArea<BitMapBackend<'b>, Shift>,
) -> Result<(), DrawError> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    root.present()
}

/// Mean (line) and min–max over seeds (band) of the validation loss
/// against steps, for each optimizer at its chosen learning rate; step 0
/// is left out so that the scale shows the differences.
fn plot_curves(path: &Path, r: &TaskReport) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| plot_error(path, e);
    let mut series = Vec::new();
    for &(optim, lr) in &r.best {
        let runs = r.at(optim, lr);
        let Some(first) = runs.first() else { continue };
        let points: Vec<Point> = first
            .curve
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, &(step, _))| {
                let values: Vec<f64> = runs
                    .iter()
                    .filter_map(|run| run.curve.get(i))
                    .map(|c| c.1)
                    .collect();
                let s = Summary::of(&values);
                (step as f64, s.mean, s.min, s.max)
            })
            .filter(|p| p.1.is_finite())
            .collect();
        series.push((optim, lr, points));
    }
    let Some(y) = loss_range(series.iter().flat_map(|s| s.2.iter()), 0.05) else {
        return Ok(());
    };
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    let caption = format!(
        "{}: held-out loss ({}), mean and min-max over {} seed(s)",
        r.task, r.unit, r.seeds
    );
    let x = XAxis {
        span: 0f64..r.steps as f64,
        desc: "optimizer steps",
        label: &|x| format!("{x:.0}"),
    };
    let mut chart = chart(&root, caption, x, (y, r.unit)).map_err(|e| err(&e))?;
    for (optim, lr, points) in &series {
        let c = color(*optim);
        if r.seeds > 1 {
            let band: Vec<(f64, f64)> = points
                .iter()
                .map(|p| (p.0, p.3))
                .chain(points.iter().rev().map(|p| (p.0, p.2)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(band, c.mix(0.15).filled())))
                .map_err(|e| err(&e))?;
        }
        mean_line(
            &mut chart,
            points,
            c,
            format!("{} (lr {})", optim.name(), lr_text(*lr)),
        )
        .map_err(|e| err(&e))?;
    }
    finish(&mut chart, &root).map_err(|e| err(&e))
}

/// Final validation loss (mean, with min–max whiskers) against the
/// learning rate, for each swept optimizer.
fn plot_sweep(path: &Path, r: &TaskReport) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| plot_error(path, e);
    let mut series = Vec::new();
    for optim in Optim::SWEPT {
        let points: Vec<Point> = r
            .lrs
            .iter()
            .map(|&lr| {
                let s = r.summary(optim, lr, |x| x.val_loss);
                (lr.log10(), s.mean, s.min, s.max)
            })
            .filter(|p| p.1.is_finite())
            .collect();
        series.push((optim, points));
    }
    let xlo = r
        .lrs
        .iter()
        .map(|lr| lr.log10())
        .fold(f64::INFINITY, f64::min);
    let xhi = r
        .lrs
        .iter()
        .map(|lr| lr.log10())
        .fold(f64::NEG_INFINITY, f64::max);
    let y = loss_range(series.iter().flat_map(|s| s.1.iter()), 0.08);
    let Some(y) = y.filter(|_| xlo < xhi) else {
        return Ok(());
    };
    let xpad = (xhi - xlo) * 0.08;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    let caption = format!(
        "{}: final validation loss vs learning rate ({} steps, {} seed(s))",
        r.task, r.steps, r.seeds
    );
    let x = XAxis {
        span: (xlo - xpad)..(xhi + xpad),
        desc: "learning rate (log scale)",
        label: &|x| format!("{:.1e}", 10f64.powf(*x)),
    };
    let mut chart = chart(&root, caption, x, (y, r.unit)).map_err(|e| err(&e))?;
    for (optim, points) in &series {
        let c = color(*optim);
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| PathElement::new(vec![(p.0, p.2), (p.0, p.3)], c.stroke_width(1))),
            )
            .map_err(|e| err(&e))?;
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| Circle::new((p.0, p.1), 4, c.filled())),
            )
            .map_err(|e| err(&e))?;
        mean_line(&mut chart, points, c, optim.name().to_string()).map_err(|e| err(&e))?;
    }
    finish(&mut chart, &root).map_err(|e| err(&e))
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
