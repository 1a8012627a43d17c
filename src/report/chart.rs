//! Charts — line, heatmap, bar — drawn with plotters into PNG files and SVG strings.
//!
//! Invariants: one drawing routine per chart serves both backends (so PNG and SVG show
//! the same thing); text uses only the embedded font ([`super::font`]); nothing depends
//! on time or the machine, so identical inputs give identical bytes. Every axis is an
//! `f64` axis: categorical and logarithmic axes place data at computed positions and
//! draw their own tick labels at exactly the data's values.

use super::table::NumberFormat;
use super::{Label, ReportError, font};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// How x values are placed on a line chart's axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Numbers at their value.
    Linear,
    /// Positive numbers at their logarithm (geometric budget grids), ticks at the data.
    Log,
    /// Evenly spaced, in order, ticks at the data (text labels, or numbers treated as
    /// categories).
    Category,
}

/// One line (or group member of a bar chart).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// One value per x position / category (`None`: no point there).
    pub values: Vec<Option<f64>>,
    /// A reference (a baseline): drawn grey and dashed, never as a bar.
    pub reference: bool,
}

/// A metric against x, one line per series.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// The x positions, in drawing order.
    pub x: Vec<Label>,
    pub scale: Scale,
    pub series: Vec<Series>,
}

/// Rows × columns of coloured cells with their values, the best cell of each row
/// framed and starred.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub cols: Vec<String>,
    /// Row labels, drawn top to bottom.
    pub rows: Vec<String>,
    /// `cells[row][col]`.
    pub cells: Vec<Vec<Option<f64>>>,
    /// Best column of each row (framed).
    pub best: Vec<Option<usize>>,
    /// A diverging colour scale centred on 0 (gains over a baseline); sequential
    /// otherwise.
    pub diverging: bool,
    pub format: NumberFormat,
}

/// Grouped bars: one group per category, one bar per (non-reference) series.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub series: Vec<Series>,
    pub format: NumberFormat,
}

/// Any chart.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    Line(LineChart),
    Heatmap(Heatmap),
    Bar(BarChart),
}

type Area<DB> = DrawingArea<DB, Shift>;

fn err<E: std::fmt::Display>(e: E) -> ReportError {
    ReportError::Chart(e.to_string())
}

/// Colours of series, in order (matplotlib's tab10: distinct and colour-blind aware).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const REFERENCE: RGBColor = RGBColor(90, 90, 90);
const GRID_GREY: RGBColor = RGBColor(225, 225, 225);
const EMPTY_CELL: RGBColor = RGBColor(235, 235, 235);
/// viridis, sampled at 0, ¼, ½, ¾, 1.
const SEQUENTIAL: [(u8, u8, u8); 5] = [
    (68, 1, 84),
    (59, 82, 139),
    (33, 145, 140),
    (94, 201, 98),
    (253, 231, 37),
];
/// ColorBrewer RdBu reversed: red for losses, white at 0, blue for gains.
const DIVERGING: [(u8, u8, u8); 5] = [
    (178, 24, 43),
    (239, 138, 98),
    (247, 247, 247),
    (103, 169, 207),
    (33, 102, 172),
];

fn ramp(stops: &[(u8, u8, u8); 5], t: f64) -> RGBColor {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.5 };
    let pos = t * 4.0;
    let i = (pos.floor() as usize).min(3);
    let f = pos - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Black or white, whichever reads better on `bg`.
fn ink_on(bg: RGBColor) -> RGBColor {
    let lum = 0.299 * bg.0 as f64 + 0.587 * bg.1 as f64 + 0.114 * bg.2 as f64;
    if lum > 140.0 { BLACK } else { WHITE }
}

fn text(size: u32) -> TextStyle<'static> {
    (font::FAMILY, size).into_font().color(&BLACK)
}

fn bold(size: u32) -> TextStyle<'static> {
    (font::FAMILY, size)
        .into_font()
        .style(FontStyle::Bold)
        .color(&BLACK)
}

/// Number of decimals that tell apart ticks spread over `span`.
fn tick_decimals(span: f64) -> usize {
    if !(span.is_finite() && span > 0.0) {
        return 2;
    }
    (-(span / 8.0).log10().floor()).clamp(0.0, 6.0) as usize
}

/// A tick label: integers without a fraction, others with `decimals` digits.
fn tick_label(v: f64, decimals: usize) -> String {
    if (v - v.round()).abs() < 1e-9 * v.abs().max(1.0) {
        format!("{}", v.round() + 0.0)
    } else {
        format!("{v:.decimals$}")
    }
}

/// A padded `[lo, hi]` range around `values` (which may be empty).
fn padded(values: impl Iterator<Item = f64>, include_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if include_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let d = if lo.abs() > 1e-12 { lo.abs() * 0.1 } else { 0.5 };
        return (lo - d, hi + d);
    }
    let pad = (hi - lo) * 0.08;
    let lo = if include_zero && lo == 0.0 { 0.0 } else { lo - pad };
    let hi = if include_zero && hi == 0.0 { 0.0 } else { hi + pad };
    (lo, hi)
}

impl Chart {
    /// The chart as an SVG document of `size` pixels.
    pub fn render_svg(&self, size: (u32, u32)) -> Result<String, ReportError> {
        font::ensure_registered().map_err(ReportError::Chart)?;
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(err)?;
        }
        Ok(out)
    }

    /// Writes the chart as a PNG file of `size` pixels.
    pub fn write_png(&self, path: &Path, size: (u32, u32)) -> Result<(), ReportError> {
        font::ensure_registered().map_err(ReportError::Chart)?;
        let root = BitMapBackend::new(path, size).into_drawing_area();
        self.draw(&root)?;
        root.present().map_err(err)?;
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Result<(), ReportError> {
        root.fill(&WHITE).map_err(err)?;
        let title = match self {
            Chart::Line(c) => &c.title,
            Chart::Heatmap(c) => &c.title,
            Chart::Bar(c) => &c.title,
        };
        let body = if title.is_empty() {
            root.clone()
        } else {
            root.titled(title, bold(22)).map_err(err)?
        };
        match self {
            Chart::Line(c) => draw_line(root, &body, c),
            Chart::Heatmap(c) => draw_heatmap(root, &body, c),
            Chart::Bar(c) => draw_bar(root, &body, c),
        }
    }
}

/// Splits off a legend panel on the right, wide enough for the longest entry.
fn with_legend<DB: DrawingBackend>(
    body: &Area<DB>,
    entries: &[(String, RGBColor, bool)],
) -> Result<(Area<DB>, Option<Area<DB>>), ReportError> {
    if entries.is_empty() {
        return Ok((body.clone(), None));
    }
    let style = text(15);
    let mut widest = 0;
    for (name, _, _) in entries {
        widest = widest.max(body.estimate_text_size(name, &style).map_err(err)?.0);
    }
    let (w, _) = body.dim_in_pixel();
    let legend_w = (widest + 56).min(w * 2 / 5);
    let (plot, legend) = body.split_horizontally(w - legend_w);
    Ok((plot, Some(legend)))
}

fn draw_legend<DB: DrawingBackend>(
    area: &Area<DB>,
    entries: &[(String, RGBColor, bool)],
) -> Result<(), ReportError> {
    let style = text(15).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (name, color, dashed)) in entries.iter().enumerate() {
        let y = 40 + 22 * i as i32;
        let stroke = color.stroke_width(if *dashed { 2 } else { 3 });
        if *dashed {
            for x in [8, 18] {
                area.draw(&PathElement::new(vec![(x, y), (x + 6, y)], stroke))
                    .map_err(err)?;
            }
        } else {
            area.draw(&PathElement::new(vec![(6, y), (30, y)], stroke))
                .map_err(err)?;
            area.draw(&Circle::new((18, y), 3, color.filled())).map_err(err)?;
        }
        area.draw(&Text::new(name.clone(), (38, y), style.clone()))
            .map_err(err)?;
    }
    Ok(())
}

/// Draws tick labels under the x axis at pixel positions (categorical / log axes).
fn draw_x_ticks<DB: DrawingBackend>(
    root: &Area<DB>,
    ticks: &[((i32, i32), String)],
) -> Result<(), ReportError> {
    let style = text(15).pos(Pos::new(HPos::Center, VPos::Top));
    for ((x, y), label) in ticks {
        root.draw(&PathElement::new(
            vec![(*x, *y), (*x, *y + 5)],
            BLACK.stroke_width(1),
        ))
        .map_err(err)?;
        root.draw(&Text::new(label.clone(), (*x, *y + 9), style.clone()))
            .map_err(err)?;
    }
    Ok(())
}

fn legend_entries(series: &[Series]) -> Vec<(String, RGBColor, bool)> {
    let mut k = 0;
    series
        .iter()
        .map(|s| {
            if s.reference {
                (s.name.clone(), REFERENCE, true)
            } else {
                k += 1;
                (s.name.clone(), PALETTE[(k - 1) % PALETTE.len()], false)
            }
        })
        .collect()
}

fn draw_line<DB: DrawingBackend>(root: &Area<DB>, body: &Area<DB>, c: &LineChart) -> Result<(), ReportError> {
    let xs: Vec<f64> = match c.scale {
        Scale::Category => (0..c.x.len()).map(|i| i as f64).collect(),
        Scale::Linear | Scale::Log => {
            let mut xs = Vec::with_capacity(c.x.len());
            for l in &c.x {
                let v = l.as_f64().ok_or_else(|| {
                    ReportError::Data(format!("x value `{l}` is not a number; use a categorical x axis"))
                })?;
                if c.scale == Scale::Log {
                    if v <= 0.0 {
                        return Err(ReportError::Data(format!(
                            "x value {l} cannot go on a log axis (≤ 0)"
                        )));
                    }
                    xs.push(v.log10());
                } else {
                    xs.push(v);
                }
            }
            xs
        }
    };
    if xs.is_empty() {
        return Err(ReportError::Data(
            "a line chart needs at least one x value".into(),
        ));
    }
    let entries = legend_entries(&c.series);
    let show_legend = c.series.len() > 1 || c.series.iter().any(|s| s.reference);
    let (plot, legend) = with_legend(body, if show_legend { &entries } else { &[] })?;
    let (x_lo, x_hi) = match c.scale {
        Scale::Category => (-0.5, xs.len() as f64 - 0.5),
        _ => padded(xs.iter().copied(), false),
    };
    let (y_lo, y_hi) = padded(
        c.series.iter().flat_map(|s| s.values.iter().flatten().copied()),
        false,
    );
    let manual_x = c.scale != Scale::Linear;
    let mut chart = ChartBuilder::on(&plot)
        .margin(14)
        .x_label_area_size(if c.x_label.is_empty() { 32 } else { 52 })
        .y_label_area_size(if c.y_label.is_empty() { 50 } else { 70 })
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(err)?;
    let y_dec = tick_decimals(y_hi - y_lo);
    let x_dec = tick_decimals(x_hi - x_lo);
    let y_fmt = |v: &f64| super::format_value(*v, y_dec, false);
    let x_fmt = |v: &f64| tick_label(*v, x_dec);
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(TRANSPARENT)
        .bold_line_style(GRID_GREY)
        .label_style(text(15))
        .axis_desc_style(text(16))
        .y_labels(8)
        .y_label_formatter(&y_fmt)
        .x_label_formatter(&x_fmt)
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str());
    if manual_x {
        mesh.x_labels(0).disable_x_mesh();
    }
    mesh.draw().map_err(err)?;
    let mut k = 0;
    for s in &c.series {
        let (color, dashed) = if s.reference {
            (REFERENCE, true)
        } else {
            k += 1;
            (PALETTE[(k - 1) % PALETTE.len()], false)
        };
        // Consecutive points make a run; a missing value breaks the line.
        let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (x, v) in xs.iter().zip(&s.values) {
            match v {
                Some(v) if v.is_finite() => runs.last_mut().map(|r| r.push((*x, *v))).unwrap_or(()),
                _ => runs.push(Vec::new()),
            }
        }
        for run in runs.iter().filter(|r| !r.is_empty()) {
            if dashed {
                chart
                    .draw_series(DashedLineSeries::new(
                        run.iter().copied(),
                        7,
                        5,
                        color.stroke_width(2),
                    ))
                    .map_err(err)?;
            } else {
                chart
                    .draw_series(LineSeries::new(run.iter().copied(), color.stroke_width(2)))
                    .map_err(err)?;
                chart
                    .draw_series(run.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(err)?;
            }
        }
    }
    if manual_x {
        let ticks: Vec<((i32, i32), String)> = xs
            .iter()
            .zip(&c.x)
            .map(|(x, l)| (chart.backend_coord(&(*x, y_lo)), l.to_string()))
            .collect();
        draw_x_ticks(root, &ticks)?;
    }
    if let Some(legend) = legend {
        draw_legend(&legend, &entries)?;
    }
    Ok(())
}

fn draw_heatmap<DB: DrawingBackend>(
    root: &Area<DB>,
    body: &Area<DB>,
    h: &Heatmap,
) -> Result<(), ReportError> {
    let (nr, nc) = (h.rows.len(), h.cols.len());
    if nr == 0 || nc == 0 {
        return Err(ReportError::Data(
            "a heatmap needs at least one row and one column".into(),
        ));
    }
    let (lo, hi) = super::grid::finite_range(&h.cells).unwrap_or((0.0, 1.0));
    let (lo, hi) = if h.diverging {
        let m = lo.abs().max(hi.abs()).max(1e-12);
        (-m, m)
    } else if hi - lo < 1e-12 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let stops = if h.diverging { &DIVERGING } else { &SEQUENTIAL };
    let color = |v: f64| ramp(stops, (v - lo) / (hi - lo));

    let label_style = text(15);
    let mut row_w = 0;
    for r in &h.rows {
        row_w = row_w.max(body.estimate_text_size(r, &label_style).map_err(err)?.0);
    }
    let (bw, _) = body.dim_in_pixel();
    let (main, bar) = body.split_horizontally(bw.saturating_sub(100));
    let mut chart = ChartBuilder::on(&main)
        .margin(14)
        .x_label_area_size(if h.x_label.is_empty() { 32 } else { 52 })
        .y_label_area_size(row_w + if h.y_label.is_empty() { 16 } else { 40 })
        .build_cartesian_2d(0.0..nc as f64, 0.0..nr as f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(0)
        .axis_desc_style(text(16))
        .x_desc(h.x_label.as_str())
        .y_desc(h.y_label.as_str())
        .draw()
        .map_err(err)?;
    let cell_px = {
        let a = chart.backend_coord(&(0.0, 0.0));
        let b = chart.backend_coord(&(1.0, 1.0));
        ((b.0 - a.0).abs(), (a.1 - b.1).abs())
    };
    // Cell text: as large as the cell height allows, shrunk until the widest label
    // (a starred best value, in bold) fits the cell width.
    let mut widest = 1;
    for row in &h.cells {
        for v in row.iter().flatten() {
            let label = format!("★ {}", h.format.format(*v));
            widest = widest.max(root.estimate_text_size(&label, &bold(19)).map_err(err)?.0);
        }
    }
    let fit = (19 * (cell_px.0 - 10).max(1) as u32 / widest) as i32;
    let size = (cell_px.1 / 3).min(fit).clamp(7, 19) as u32;
    for (r, row) in h.cells.iter().enumerate() {
        let y0 = (nr - 1 - r) as f64;
        for (c, v) in row.iter().enumerate() {
            let x0 = c as f64;
            let fill = v.map_or(EMPTY_CELL, color);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, y0), (x0 + 1.0, y0 + 1.0)],
                    fill.filled(),
                )))
                .map_err(err)?;
            let best = h.best.get(r).copied().flatten() == Some(c);
            let label = match v {
                Some(v) if best => format!("★ {}", h.format.format(*v)),
                Some(v) => h.format.format(*v),
                None => "–".into(),
            };
            let style = if best { bold(size) } else { text(size) };
            let ink = ink_on(fill);
            let style = style.color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
            let (px, py) = chart.backend_coord(&(x0 + 0.5, y0 + 0.5));
            // ab_glyph places glyphs slightly above a centred anchor; nudge them down.
            root.draw(&Text::new(label, (px, py + size as i32 / 5), style))
                .map_err(err)?;
            if best {
                let inset = 0.035;
                let frame = Rectangle::new(
                    [(x0 + inset, y0 + inset), (x0 + 1.0 - inset, y0 + 1.0 - inset)],
                    ink_on(fill).stroke_width(3),
                );
                chart.draw_series(std::iter::once(frame)).map_err(err)?;
            }
        }
    }
    // Tick labels at cell centres.
    let x_ticks: Vec<((i32, i32), String)> = h
        .cols
        .iter()
        .enumerate()
        .map(|(c, l)| (chart.backend_coord(&(c as f64 + 0.5, 0.0)), l.clone()))
        .collect();
    draw_x_ticks(root, &x_ticks)?;
    let y_style = label_style.pos(Pos::new(HPos::Right, VPos::Center));
    for (r, l) in h.rows.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(0.0, (nr - 1 - r) as f64 + 0.5));
        root.draw(&PathElement::new(vec![(x - 5, y), (x, y)], BLACK.stroke_width(1)))
            .map_err(err)?;
        root.draw(&Text::new(l.clone(), (x - 8, y + 2), y_style.clone()))
            .map_err(err)?;
    }
    // Colour bar, aligned with the plot's vertical extent.
    let top = chart.backend_coord(&(0.0, nr as f64)).1;
    let bottom = chart.backend_coord(&(0.0, 0.0)).1;
    let (bar_x, _) = bar.get_base_pixel();
    let steps = 64;
    let span = (bottom - top).max(1);
    for i in 0..steps {
        let y1 = bottom - span * i / steps;
        let y0 = bottom - span * (i + 1) / steps;
        let t = (i as f64 + 0.5) / steps as f64;
        root.draw(&Rectangle::new(
            [(bar_x + 10, y0), (bar_x + 30, y1)],
            ramp(stops, t).filled(),
        ))
        .map_err(err)?;
    }
    root.draw(&Rectangle::new(
        [(bar_x + 10, top), (bar_x + 30, bottom)],
        BLACK.stroke_width(1),
    ))
    .map_err(err)?;
    let dec = tick_decimals(hi - lo);
    let tick_style = text(14).pos(Pos::new(HPos::Left, VPos::Center));
    for i in 0..=4 {
        let v = lo + (hi - lo) * i as f64 / 4.0;
        let y = bottom - span * i / 4;
        let label = super::format_value(v, dec.max(h.format.precision.min(3)), h.diverging);
        root.draw(&PathElement::new(
            vec![(bar_x + 30, y), (bar_x + 35, y)],
            BLACK.stroke_width(1),
        ))
        .map_err(err)?;
        root.draw(&Text::new(label, (bar_x + 38, y + 2), tick_style.clone()))
            .map_err(err)?;
    }
    Ok(())
}

fn draw_bar<DB: DrawingBackend>(root: &Area<DB>, body: &Area<DB>, c: &BarChart) -> Result<(), ReportError> {
    let n = c.categories.len();
    if n == 0 {
        return Err(ReportError::Data(
            "a bar chart needs at least one category".into(),
        ));
    }
    let entries = legend_entries(&c.series);
    let bars: Vec<(usize, &Series)> = c.series.iter().filter(|s| !s.reference).enumerate().collect();
    let show_legend = bars.len() > 1 || c.series.iter().any(|s| s.reference);
    let (plot, legend) = with_legend(body, if show_legend { &entries } else { &[] })?;
    let (y_lo, y_hi) = padded(
        c.series.iter().flat_map(|s| s.values.iter().flatten().copied()),
        true,
    );
    let mut chart = ChartBuilder::on(&plot)
        .margin(14)
        .x_label_area_size(if c.x_label.is_empty() { 32 } else { 52 })
        .y_label_area_size(if c.y_label.is_empty() { 50 } else { 70 })
        .build_cartesian_2d(-0.5..n as f64 - 0.5, y_lo..y_hi)
        .map_err(err)?;
    let y_dec = tick_decimals(y_hi - y_lo);
    let y_fmt = |v: &f64| super::format_value(*v, y_dec, false);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID_GREY)
        .label_style(text(15))
        .axis_desc_style(text(16))
        .y_labels(8)
        .y_label_formatter(&y_fmt)
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .draw()
        .map_err(err)?;
    let k = bars.len().max(1);
    let w = 0.8 / k as f64;
    let annotate = n * k <= 30;
    let value_style = text(13);
    for (j, s) in &bars {
        let color = PALETTE[j % PALETTE.len()];
        for (i, v) in s.values.iter().enumerate().take(n) {
            let Some(v) = v.filter(|v| v.is_finite()) else {
                continue;
            };
            let x0 = i as f64 - 0.4 + *j as f64 * w;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x0 + w * 0.92, v)],
                    color.filled(),
                )))
                .map_err(err)?;
            if annotate {
                let (px, py) = chart.backend_coord(&(x0 + w * 0.46, v));
                let (anchor, dy) = if v >= 0.0 {
                    (VPos::Bottom, -3)
                } else {
                    (VPos::Top, 3)
                };
                let style = value_style.clone().pos(Pos::new(HPos::Center, anchor));
                root.draw(&Text::new(c.format.format(v), (px, py + dy), style))
                    .map_err(err)?;
            }
        }
    }
    if y_lo < 0.0 {
        chart
            .draw_series(LineSeries::new(
                [(-0.5, 0.0), (n as f64 - 0.5, 0.0)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
    }
    for s in c.series.iter().filter(|s| s.reference) {
        for (i, v) in s.values.iter().enumerate().take(n) {
            let Some(v) = v.filter(|v| v.is_finite()) else {
                continue;
            };
            let seg = [(i as f64 - 0.48, v), (i as f64 + 0.48, v)];
            chart
                .draw_series(DashedLineSeries::new(seg, 7, 5, REFERENCE.stroke_width(2)))
                .map_err(err)?;
        }
    }
    let ticks: Vec<((i32, i32), String)> = c
        .categories
        .iter()
        .enumerate()
        .map(|(i, l)| (chart.backend_coord(&(i as f64, y_lo)), l.clone()))
        .collect();
    draw_x_ticks(root, &ticks)?;
    if let Some(legend) = legend {
        draw_legend(&legend, &entries)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn heatmap() -> Chart {
        Chart::Heatmap(Heatmap {
            title: "accuracy gain over base".into(),
            x_label: "band".into(),
            y_label: "budget".into(),
            cols: vec!["3-4".into(), "5-6".into(), "7-8".into(), "9-10".into()],
            rows: vec!["256".into(), "1024".into(), "4096".into()],
            cells: vec![
                vec![Some(0.05), Some(0.08), Some(-0.02), Some(-0.06)],
                vec![Some(0.06), Some(0.12), Some(0.10), None],
                vec![Some(0.04), Some(0.11), Some(0.17), Some(0.15)],
            ],
            best: vec![Some(1), Some(1), Some(2)],
            diverging: true,
            format: NumberFormat {
                precision: 3,
                signed: true,
            },
        })
    }

    fn line() -> Chart {
        Chart::Line(LineChart {
            title: "accuracy by ops".into(),
            x_label: "ops".into(),
            y_label: "accuracy".into(),
            x: (2..=8).map(|i| Label::Num(i as f64)).collect(),
            scale: Scale::Linear,
            series: vec![
                Series {
                    name: "band=easy".into(),
                    values: vec![
                        Some(0.9),
                        Some(0.8),
                        Some(0.6),
                        None,
                        Some(0.3),
                        Some(0.2),
                        Some(0.1),
                    ],
                    reference: false,
                },
                Series {
                    name: "band=hard".into(),
                    values: vec![
                        Some(0.7),
                        Some(0.7),
                        Some(0.65),
                        Some(0.5),
                        Some(0.45),
                        Some(0.3),
                        Some(0.2),
                    ],
                    reference: false,
                },
                Series {
                    name: "baseline".into(),
                    values: vec![Some(0.5); 7],
                    reference: true,
                },
            ],
        })
    }

    fn bar() -> Chart {
        Chart::Bar(BarChart {
            title: "gain".into(),
            x_label: "band".into(),
            y_label: "accuracy".into(),
            categories: vec!["easy".into(), "medium".into(), "hard".into()],
            series: vec![
                Series {
                    name: "n=256".into(),
                    values: vec![Some(0.1), Some(-0.05), Some(0.2)],
                    reference: false,
                },
                Series {
                    name: "n=1024".into(),
                    values: vec![Some(0.15), Some(0.1), None],
                    reference: false,
                },
                Series {
                    name: "baseline".into(),
                    values: vec![Some(0.12); 3],
                    reference: true,
                },
            ],
            format: NumberFormat {
                precision: 2,
                signed: true,
            },
        })
    }

    #[test]
    fn every_chart_renders_deterministic_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        let log = Chart::Line(LineChart {
            title: "accuracy by budget".into(),
            x_label: "budget".into(),
            y_label: "accuracy".into(),
            x: [256.0, 1024.0, 4096.0, 16384.0]
                .into_iter()
                .map(Label::Num)
                .collect(),
            scale: Scale::Log,
            series: vec![Series {
                name: "band=hard".into(),
                values: vec![Some(0.2), Some(0.35), Some(0.5), Some(0.62)],
                reference: false,
            }],
        });
        let wide = Chart::Heatmap(Heatmap {
            cols: (2..=12).map(|o| o.to_string()).collect(),
            rows: vec!["256".into(), "1024".into(), "4096".into(), "16384".into()],
            cells: (0..4)
                .map(|r| {
                    (0..11)
                        .map(|c| Some(0.9 - 0.07 * c as f64 + 0.05 * r as f64))
                        .collect()
                })
                .collect(),
            best: vec![Some(0); 4],
            diverging: false,
            format: NumberFormat {
                precision: 3,
                signed: false,
            },
            ..match heatmap() {
                Chart::Heatmap(h) => h,
                _ => unreachable!(),
            }
        });
        let charts = [
            ("heatmap", heatmap()),
            ("line", line()),
            ("bar", bar()),
            ("log", log),
            ("wide", wide),
        ];
        for (name, chart) in charts {
            let (a, b) = (
                dir.path().join(format!("{name}-a.png")),
                dir.path().join(format!("{name}-b.png")),
            );
            chart.write_png(&a, (720, 440)).unwrap();
            chart.write_png(&b, (720, 440)).unwrap();
            let bytes = std::fs::read(&a).unwrap();
            assert_eq!(&bytes[1..4], b"PNG");
            assert_eq!(
                bytes,
                std::fs::read(&b).unwrap(),
                "{name}: PNG bytes differ between renders"
            );
            let svg = chart.render_svg((720, 440)).unwrap();
            assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{name}");
            assert_eq!(
                svg,
                chart.render_svg((720, 440)).unwrap(),
                "{name}: SVG differs between renders"
            );
            if let Ok(keep) = std::env::var("SIEVE_KEEP_CHARTS") {
                std::fs::create_dir_all(&keep).unwrap();
                std::fs::copy(&a, Path::new(&keep).join(format!("{name}.png"))).unwrap();
                std::fs::write(Path::new(&keep).join(format!("{name}.svg")), &svg).unwrap();
            }
        }
    }

    #[test]
    fn heatmap_svg_shows_values_and_marks_best() {
        let svg = heatmap().render_svg((720, 440)).unwrap();
        assert!(
            svg.contains("★ +0.120") && svg.contains("+0.050") && svg.contains("–"),
            "{svg}"
        );
        assert_eq!(svg.matches('★').count(), 3);
        assert!(
            svg.contains("\n9-10\n") && svg.contains("\n4096\n"),
            "tick labels drawn"
        );
    }

    #[test]
    fn png_text_is_drawn_with_the_embedded_font() {
        // A chart with a title has dark pixels in the title band: text rendered.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.png");
        bar().write_png(&p, (600, 400)).unwrap();
        let img = image_rows(&p);
        let title_dark = img.iter().take(28).flatten().filter(|&&v| v < 100).count();
        assert!(title_dark > 30, "title band has {title_dark} dark pixels");
    }

    /// Decodes a PNG into rows of grey levels.
    fn image_rows(p: &Path) -> Vec<Vec<u8>> {
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(p).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let ch = info.color_type.samples();
        buf[..info.buffer_size()]
            .chunks(info.line_size)
            .map(|row| {
                row.chunks(ch)
                    .map(|px| (px[..3.min(ch)].iter().map(|&v| v as u32).sum::<u32>() / 3) as u8)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn log_axes_refuse_non_positive_values_and_text() {
        let mut c = match line() {
            Chart::Line(c) => c,
            _ => unreachable!(),
        };
        c.scale = Scale::Log;
        c.x[0] = Label::Num(0.0);
        let e = Chart::Line(c.clone())
            .render_svg((400, 300))
            .unwrap_err()
            .to_string();
        assert!(e.contains("log axis"), "{e}");
        c.scale = Scale::Linear;
        c.x[0] = Label::Text("two".into());
        assert!(Chart::Line(c.clone()).render_svg((400, 300)).is_err());
        c.scale = Scale::Category;
        assert!(Chart::Line(c).render_svg((400, 300)).unwrap().contains("\ntwo\n"));
    }
}
