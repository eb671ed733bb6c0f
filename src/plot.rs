//! Line charts of a schedule (LR per group, momentum on a second axis) or of a
//! training run (LR and loss), as PNG or SVG, drawn with `plotters` and an
//! embedded font so that they render the same on a machine without fonts.

use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
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

/// A marked point on the left axis (the suggestion of an LR range test), with
/// its legend entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// The legend entry.
    pub name: String,
    /// Where, in the left axis' coordinates.
    pub point: (f64, f64),
}

/// How to draw a [`Chart`] beyond its series ([`Chart::draw_with`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChartOptions {
    /// A logarithmic x axis (an LR range test's LRs); points with x ≤ 0 are
    /// left out.
    pub log_x: bool,
    /// Points to mark, drawn as circles.
    pub markers: Vec<Marker>,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
];
const MARKER_COLORS: [RGBColor; 2] = [RGBColor(214, 39, 40), RGBColor(44, 160, 44)];
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

/// The x range of a logarithmic axis: the positive values, a few percent wider
/// on each side (in the log).
fn log_range(xs: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = xs
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (1e-3, 1.0);
    }
    let pad = if hi > lo { (hi / lo).powf(0.03) } else { 2.0 };
    (lo / pad, hi * pad)
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
        self.draw_with(path, &ChartOptions::default())
    }

    /// Draws the chart as [`Chart::draw`] does, with a logarithmic x axis
    /// and marked points as `options` say.
    ///
    /// # Errors
    /// As [`Chart::draw`].
    pub fn draw_with(&self, path: &Path, options: &ChartOptions) -> Result<()> {
        register_font();
        let size = (1000, 600);
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        // plotters panics on a file it cannot create: check first.
        std::fs::File::create(path).map_err(|source| Error::Io { path: path.into(), source })?;
        match ext.as_deref() {
            Some("png") => {
                let root = BitMapBackend::new(path, size).into_drawing_area();
                self.draw_on(&root, options)?;
                root.present().map_err(plot_err)
            }
            Some("svg") => {
                let root = SVGBackend::new(path, size).into_drawing_area();
                self.draw_on(&root, options)?;
                root.present().map_err(plot_err)
            }
            _ => {
                let _ = std::fs::remove_file(path);
                Err(Error::Plot(format!("{}: the file name must end in .png or .svg", path.display())))
            }
        }
    }

    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>, options: &ChartOptions) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(plot_err)?;
        let all: Vec<Series> = self.left.iter().chain(&self.right).cloned().collect();
        let marked = options.markers.iter().map(|m| m.point);
        if options.log_x {
            let (x0, x1) = log_range(all.iter().flat_map(|s| s.points.iter().map(|p| p.0)).chain(marked.map(|p| p.0)));
            let x_label = |v: &f64| tick(*v);
            self.draw_axes(root, options, (x0..x1).log_scale(), (x0..x1).log_scale(), &x_label)
        } else {
            let (x0, x1) = range(&all, |p| p.0);
            let x_label = |v: &f64| {
                if v.fract() == 0.0 || x1 - x0 >= 10.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            };
            self.draw_axes(root, options, x0..x1, x0..x1, &x_label)
        }
    }

    /// Draws the axes and the series over the x axis `x` (linear or log).
    fn draw_axes<DB, X>(
        &self,
        root: &DrawingArea<DB, Shift>,
        options: &ChartOptions,
        x: X,
        x_secondary: X,
        x_label: &dyn Fn(&f64) -> String,
    ) -> Result<()>
    where
        DB: DrawingBackend,
        DB::ErrorType: 'static,
        X: AsRangedCoord<Value = f64>,
        X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let keep = |p: &(f64, f64)| p.1.is_finite() && (!options.log_x || p.0 > 0.0);
        let mut left_points: Vec<Series> = self.left.clone();
        left_points.extend(options.markers.iter().map(|m| Series { name: m.name.clone(), points: vec![m.point] }));
        let (y0, y1) = range(&left_points, |p| p.1);
        let (r0, r1) = range(&self.right, |p| p.1);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 28))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .right_y_label_area_size(if self.right.is_empty() { 10 } else { 80 })
            .build_cartesian_2d(x, y0..y1)
            .map_err(plot_err)?
            .set_secondary_coord(x_secondary, r0..r1);
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.left_label)
            .y_label_formatter(&|v| tick(*v))
            .x_label_formatter(x_label)
            .label_style(("sans-serif", 15))
            .draw()
            .map_err(plot_err)?;
        for (i, s) in self.left.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(s.points.iter().copied().filter(keep), color.stroke_width(2)))
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
                        s.points.iter().copied().filter(keep),
                        ShapeStyle::from(color).stroke_width(1),
                    ))
                    .map_err(plot_err)?
                    .label(&s.name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(1)));
            }
        }
        for (i, m) in options.markers.iter().enumerate() {
            let color = MARKER_COLORS[i % MARKER_COLORS.len()];
            chart
                .draw_series(std::iter::once(m.point).filter(keep).map(|p| Circle::new(p, 7, color.filled())))
                .map_err(plot_err)?
                .label(&m.name)
                .legend(move |(x, y)| Circle::new((x + 10, y), 6, color.filled()));
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
