//! The plots: loss curves with seed bands, and final loss against the
//! learning rate and against λ.

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::optim::{Optim, Setting};
use crate::report::{TaskReport, lr_text};
use crate::stats::Summary;

/// The plots' size in pixels.
const SIZE: (u32, u32) = (900, 560);

pub(crate) fn register_font() -> Result<(), String> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the embedded DejaVu Sans font could not be loaded".to_string())
}

/// The colours of the rows of a task's table, in order.
const PALETTE: [RGBColor; 6] = [
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(31, 119, 180),
    RGBColor(120, 120, 120),
    RGBColor(148, 103, 189),
];

/// An optimizer's colour, lighter for the `shade`-th of its λ values.
fn color(optim: Optim, shade: usize) -> RGBColor {
    let RGBColor(r, g, b) = match optim {
        Optim::FAdamPaper => PALETTE[0],
        Optim::FAdam => PALETTE[1],
        Optim::AdamW => PALETTE[2],
        Optim::BurnAdamW => PALETTE[4],
    };
    let mix = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * 0.3 * shade as f64).min(230.0) as u8;
    RGBColor(mix(r), mix(g), mix(b))
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
pub(crate) fn plot_curves(path: &Path, r: &TaskReport) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| plot_error(path, e);
    let mut series = Vec::new();
    for (i, row) in r.rows.iter().enumerate() {
        let runs = r.at(row.setting);
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
        series.push((PALETTE[i % PALETTE.len()], *row, points));
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
    for (c, row, points) in &series {
        let c = *c;
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
            format!(
                "{} (lr {}, λ {})",
                row.label,
                lr_text(row.setting.lr),
                row.setting.lambda
            ),
        )
        .map_err(|e| err(&e))?;
    }
    finish(&mut chart, &root).map_err(|e| err(&e))
}

/// Final validation loss (mean, with min–max whiskers) against the
/// learning rate, for each swept optimizer and λ.
pub(crate) fn plot_sweep(path: &Path, r: &TaskReport) -> Result<(), String> {
    let mut series = Vec::new();
    for optim in Optim::SWEPT {
        for (shade, lambda) in r.lambdas_of(optim).into_iter().enumerate() {
            let points: Vec<Point> = r
                .lrs
                .iter()
                .map(|&lr| {
                    let s = r.summary(Setting { optim, lr, lambda }, |x| x.val_loss);
                    (lr.log10(), s.mean, s.min, s.max)
                })
                .filter(|p| p.1.is_finite())
                .collect();
            let label = format!("{} λ {lambda}", optim.name());
            series.push((color(optim, shade), label, points));
        }
    }
    let logs: Vec<f64> = r.lrs.iter().map(|lr| lr.log10()).collect();
    let caption = format!(
        "{}: final validation loss vs peak learning rate ({} steps, {} seed(s))",
        r.task, r.steps, r.seeds
    );
    let label = |x: &f64| format!("{:.1e}", 10f64.powf(*x));
    let axis = (
        "peak learning rate (log scale)",
        &label as &dyn Fn(&f64) -> String,
    );
    whiskers(path, r, caption, (&logs, axis), &series)
}

/// Final validation loss against λ (evenly spaced, as λ = 0 has no
/// logarithm), for FAdam and AdamW at each of their learning rates.
pub(crate) fn plot_lambda(path: &Path, r: &TaskReport) -> Result<(), String> {
    let mut series = Vec::new();
    for optim in Optim::SWEPT.into_iter().filter(|o| o.sweeps_lambda()) {
        for (shade, &lr) in r.lrs.iter().enumerate() {
            let points: Vec<Point> = r
                .lambdas
                .iter()
                .enumerate()
                .map(|(i, &lambda)| {
                    let s = r.summary(Setting { optim, lr, lambda }, |x| x.val_loss);
                    (i as f64, s.mean, s.min, s.max)
                })
                .filter(|p| p.1.is_finite())
                .collect();
            let label = format!("{} lr {}", optim.name(), lr_text(lr));
            series.push((color(optim, shade), label, points));
        }
    }
    let positions: Vec<f64> = (0..r.lambdas.len()).map(|i| i as f64).collect();
    let caption = format!(
        "{}: final validation loss vs weight decay λ ({} steps, {} seed(s))",
        r.task, r.steps, r.seeds
    );
    let lambdas = r.lambdas.clone();
    let label = move |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            lambdas
                .get(i as usize)
                .map(|l| format!("λ {l}"))
                .unwrap_or_default()
        } else {
            String::new()
        }
    };
    let axis = (
        "weight decay λ (matrices only)",
        &label as &dyn Fn(&f64) -> String,
    );
    whiskers(path, r, caption, (&positions, axis), &series)
}

/// An x axis's description and label format.
type Labels<'f> = (&'static str, &'f dyn Fn(&f64) -> String);

/// Points with min–max whiskers and a mean line for each series, over the
/// x positions `xs`.
fn whiskers(
    path: &Path,
    r: &TaskReport,
    caption: String,
    (xs, (desc, label)): (&[f64], Labels<'_>),
    series: &[(RGBColor, String, Vec<Point>)],
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| plot_error(path, e);
    let xlo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let xhi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let y = loss_range(series.iter().flat_map(|s| s.2.iter()), 0.08);
    let Some(y) = y.filter(|_| xlo < xhi) else {
        return Ok(());
    };
    let xpad = (xhi - xlo) * 0.08;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    let x = XAxis {
        span: (xlo - xpad)..(xhi + xpad),
        desc,
        label,
    };
    let mut chart = chart(&root, caption, x, (y, r.unit)).map_err(|e| err(&e))?;
    for (c, label, points) in series {
        let c = *c;
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
        mean_line(&mut chart, points, c, label.clone()).map_err(|e| err(&e))?;
    }
    finish(&mut chart, &root).map_err(|e| err(&e))
}
