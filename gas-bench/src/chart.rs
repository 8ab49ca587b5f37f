//! `gas-report.svg`: for each parameter set, the gas per second its slowest input earns under
//! the seed and the calibrated schedules, against ecrecover's line.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::Run;
use crate::calibrate::{BAND, ECRECOVER_GAS, earned};
use crate::report::mgas_per_s;

/// One bar pair: a parameter set's slowest input under each schedule.
struct Bars {
    name: String,
    seed: f64,
    calibrated: f64,
}

/// Mgas/s of each parameter set's slowest input per gas under each schedule (the seed's
/// slowest may be another input than the calibrated's), from the validation samples. Bars are
/// drawn at (multiple of ecrecover's gas/s) × ecrecover's Mgas/s, the figures the check uses.
fn bars(run: &Run, ecrecover: f64) -> Vec<Bars> {
    run.verdicts
        .iter()
        .filter(|verdict| verdict.upper.is_some())
        .map(|verdict| {
            let scheme = run.cases[verdict.worst].scheme();
            let seed = (0..run.cases.len())
                .filter(|&i| run.cases[i].scheme() == scheme)
                .map(|i| earned(run.gas[i].0, &run.validation[i]))
                .fold(f64::INFINITY, f64::min);
            Bars {
                name: verdict.group.clone(),
                seed: seed * ecrecover,
                calibrated: verdict.ratio * ecrecover,
            }
        })
        .collect()
}

/// Draws the chart to `path`.
pub fn write_svg(run: &Run, path: &Path) -> Result<()> {
    let ecrecover = mgas_per_s(ECRECOVER_GAS, run.validation[0].ns);
    let bars = bars(run, ecrecover);
    let values = bars
        .iter()
        .flat_map(|bar| [bar.seed, bar.calibrated])
        .chain([ecrecover]);
    let (low, high) = values.fold((f64::INFINITY, 0.0f64), |(low, high), value| {
        (low.min(value), high.max(value))
    });
    let (low, high) = (low / 2.0, high * 2.0);
    let count = bars.len();
    let height = 140 + 34 * u32::try_from(count)?;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    let error = |error: DrawingAreaErrorKind<_>| anyhow!("drawing {}: {error}", path.display());
    root.fill(&WHITE).map_err(error)?;
    let top = count as f64 - 0.5;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Gas per CPU-second of each parameter set's slowest input (left of the red line: cheaper than ecrecover)",
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(150)
        .build_cartesian_2d((low..high).log_scale(), -0.5..top)
        .map_err(error)?;
    let names: Vec<String> = bars.iter().map(|bar| bar.name.clone()).collect();
    let label = move |y: &f64| {
        let index = y.round();
        if (y - index).abs() > 1e-6 || index < 0.0 {
            return String::new();
        }
        // Row 0 is drawn at the top.
        names
            .get(count.saturating_sub(1 + index as usize))
            .cloned()
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(count)
        .y_label_formatter(&label)
        .x_desc("Mgas per CPU-second on this machine (log scale)")
        .draw()
        .map_err(error)?;
    let row = |index: usize| (count - 1 - index) as f64;
    let seed_colour = RGBColor(0xc0, 0x60, 0x20);
    let calibrated_colour = RGBColor(0x20, 0x60, 0xc0);
    chart
        .draw_series(bars.iter().enumerate().map(|(i, bar)| {
            let y = row(i);
            Rectangle::new(
                [(low, y + 0.02), (bar.seed, y + 0.38)],
                seed_colour.filled(),
            )
        }))
        .map_err(error)?
        .label("seed schedule")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], seed_colour.filled()));
    chart
        .draw_series(bars.iter().enumerate().map(|(i, bar)| {
            let y = row(i);
            Rectangle::new(
                [(low, y - 0.38), (bar.calibrated, y - 0.02)],
                calibrated_colour.filled(),
            )
        }))
        .map_err(error)?
        .label("calibrated schedule")
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 14, y + 5)], calibrated_colour.filled())
        });
    for (multiple, colour, name) in [
        (BAND.0, RED, "ecrecover (3,000 gas)".to_owned()),
        (BAND.1, BLACK, format!("{:.2} × ecrecover", BAND.1)),
    ] {
        let x = ecrecover * multiple;
        chart
            .draw_series([PathElement::new(
                vec![(x, -0.5), (x, top)],
                colour.stroke_width(2),
            )])
            .map_err(error)?
            .label(name)
            .legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 14, ly)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(error)?;
    root.present().map_err(error)?;
    Ok(())
}
