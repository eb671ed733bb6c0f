//! Line charts of a schedule (LR per group, momentum on a second axis) or of a
//! training run (LR and loss), as PNG or SVG, drawn with `plotters` and an
//! embedded font so that they render the same on a machine without fonts.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// One named line: `(x, y)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points, in x order. Non-finite values are skipped.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series over x = 0, 1, 2, ...
    pub fn indexed(name: impl Into<String>, ys: impl IntoIterator<Item = f64>) -> Self {
        Series { name: name.into(), points: ys.into_iter().enumerate().map(|(i, y)| (i as f64, y)).collect() }
    }

    /// One series per group from rows of per-group values (`rows[step][group]`).
    pub fn per_group(prefix: &str, rows: &[Vec<f64>]) -> Vec<Series> {
        let groups = rows.first().map_or(0, Vec::len);
        (0..groups)
            .map(|g| {
                Series::indexed(
                    if groups == 1 { prefix.to_string() } else { format!("{prefix} {g}") },
                    rows.iter().map(|r| r[g]),
                )
            })
            .collect()
    }
}

/// A chart: a title, an x label, series on the left axis and optionally on a
/// right axis.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    /// The title (the scheduler's name, say).
    pub title: String,
    /// The x axis label.
    pub x_label: String,
    /// The left axis label.
    pub left_label: String,
    /// The series on the left axis.
    pub left: Vec<Series>,
    /// The right axis label.
    pub right_label: String,
    /// The series on the right axis (none: no right axis).
    pub right: Vec<Series>,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
];
const RIGHT_COLORS: [RGBColor; 3] = [RGBColor(255, 127, 14), RGBColor(23, 190, 207), RGBColor(188, 189, 34)];

fn range(series: &[Series], axis: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.points.iter().map(&axis))
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1e-12) * 0.1 };
    (lo - pad, hi + pad)
}

/// A tick label: plain decimals down to 1e-3, scientific below.
fn tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e-3 && v.abs() < 1e4 {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.2e}")
    }
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The embedded font is a valid TrueType file: registering it cannot fail.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

impl Chart {
    /// Draws the chart into `path`: PNG (`.png`) or SVG (`.svg`), 1000×600.
    ///
    /// # Errors
    /// [`Error::Plot`] for another extension or a drawing failure, [`Error::Io`]
    /// when the file cannot be written.
    pub fn draw(&self, path: &Path) -> Result<()> {
        register_font();
        let size = (1000, 600);
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        // plotters panics on a file it cannot create: check first.
        std::fs::File::create(path).map_err(|source| Error::Io { path: path.into(), source })?;
        match ext.as_deref() {
            Some("png") => {
                let root = BitMapBackend::new(path, size).into_drawing_area();
                self.draw_on(&root)?;
                root.present().map_err(plot_err)
            }
            Some("svg") => {
                let root = SVGBackend::new(path, size).into_drawing_area();
                self.draw_on(&root)?;
                root.present().map_err(plot_err)
            }
            _ => {
                let _ = std::fs::remove_file(path);
                Err(Error::Plot(format!("{}: the file name must end in .png or .svg", path.display())))
            }
        }
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(plot_err)?;
        let all: Vec<Series> = self.left.iter().chain(&self.right).cloned().collect();
        let (x0, x1) = range(&all, |p| p.0);
        let (y0, y1) = range(&self.left, |p| p.1);
        let (r0, r1) = range(&self.right, |p| p.1);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 28))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .right_y_label_area_size(if self.right.is_empty() { 10 } else { 80 })
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_err)?
            .set_secondary_coord(x0..x1, r0..r1);
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.left_label)
            .y_label_formatter(&|v| tick(*v))
            .x_label_formatter(&|v| {
                if v.fract() == 0.0 || x1 - x0 >= 10.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            })
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(plot_err)?;
        for (i, s) in self.left.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied().filter(|p| p.1.is_finite()),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(&s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        if !self.right.is_empty() {
            chart
                .configure_secondary_axes()
                .y_desc(&self.right_label)
                .label_style(("sans-serif", 15))
                .draw()
                .map_err(plot_err)?;
            for (i, s) in self.right.iter().enumerate() {
                let color = RIGHT_COLORS[i % RIGHT_COLORS.len()];
                chart
                    .draw_secondary_series(LineSeries::new(
                        s.points.iter().copied().filter(|p| p.1.is_finite()),
                        ShapeStyle::from(color).stroke_width(1),
                    ))
                    .map_err(plot_err)?
                    .label(&s.name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(1)));
            }
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(plot_err)?;
        Ok(())
    }
}
