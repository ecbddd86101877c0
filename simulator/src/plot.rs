//! SVG plots with `plotters` (SVG backend only, no font features: plotters
//! then sizes text with its built-in estimate and the SVG holds plain
//! `<text>` elements, so no system font is read).

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::report::{Report, ReportError};

fn err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot(e.to_string())
}

type Canvas<'b> = DrawingArea<SVGBackend<'b>, Shift>;
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// An 800 x 500 SVG with a titled chart and labelled axes.
fn chart<'a, 'b>(
    root: &'a Canvas<'b>,
    title: String,
    x: Range<f64>,
    y: Range<f64>,
    (x_desc, y_desc): (&str, &str),
) -> Result<Chart<'a, 'b>, ReportError> {
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw().map_err(err)?;
    Ok(chart)
}

/// Draws the legend and writes the file.
fn finish<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, root: &Canvas<'b>) -> Result<(), ReportError> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Fraction of (alert, node) pairs delivered within t ms.
pub fn latency_cdf(r: &Report, path: &Path) -> Result<(), ReportError> {
    let mut lat = r.pair_latencies.clone();
    lat.sort_by(f64::total_cmp);
    let pairs = r.pairs.max(1) as f64;
    let x_max = lat.get(((lat.len() as f64) * 0.995) as usize).copied().unwrap_or(1000.0).max(100.0) * 1.1;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    let title = format!("{}: propagation latency CDF ({} honest nodes)", r.scenario.name, r.honest_nodes);
    let axes = ("ms since publish", "share of (alert, node) pairs delivered");
    let mut chart = chart(&root, title, 0.0..x_max, 0.0..1.0, axes)?;
    let step = (lat.len() / 2000).max(1);
    let points: Vec<(f64, f64)> = lat
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i + 1 == lat.len())
        .map(|(i, &t)| (t.min(x_max), (i + 1) as f64 / pairs))
        .collect();
    chart
        .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
        .map_err(err)?
        .label("delivered")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    let min_hops = ((r.honest_nodes.max(2) as f64).ln() / (r.scenario.mesh.d as f64).ln()).ceil();
    let goal = 1.5 * min_hops * r.scenario.link.latency_ms;
    if goal < x_max {
        chart
            .draw_series(LineSeries::new(vec![(goal, 0.0), (goal, 1.0)], RED))
            .map_err(err)?
            .label(format!("P3 goal {goal:.0} ms"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    }
    finish(&mut chart, &root)
}

/// Delivered pairs / pairs published so far, over the run.
pub fn delivery_over_time(r: &Report, series: &[(f64, f64)], path: &Path) -> Result<(), ReportError> {
    let x_max = series.last().map_or(1.0, |p| p.0).max(1.0);
    let y_min = series.iter().map(|p| p.1).fold(1.0, f64::min).clamp(0.0, 0.9);
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    let title = format!("{}: delivery over time", r.scenario.name);
    let axes = ("s since workload start", "delivered / published pairs");
    let mut chart = chart(&root, title, 0.0..x_max, y_min..1.0, axes)?;
    chart.draw_series(LineSeries::new(series.iter().copied(), BLUE.stroke_width(2))).map_err(err)?;
    let work_end = r.scenario.timing.duration_secs as f64;
    chart
        .draw_series(LineSeries::new(vec![(work_end, y_min), (work_end, 1.0)], BLACK.mix(0.4)))
        .map_err(err)?
        .label("workload ends")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
    for p in &r.scenario.faults.partitions {
        for (t, what) in [(p.start_secs, "partition"), (p.heal_secs, "heal")] {
            chart
                .draw_series(LineSeries::new(vec![(t, y_min), (t, 1.0)], RED.mix(0.6)))
                .map_err(err)?
                .label(format!("{what} at {t:.0} s"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.mix(0.6)));
        }
    }
    finish(&mut chart, &root)
}
