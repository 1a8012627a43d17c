//! A whole report rendered from its inputs, without touching the disk: the Markdown
//! page, the table (for CSV), the `metrics.json` document of the numbers shown, and the
//! chart (with its SVG already drawn, so a chart that cannot be drawn fails before
//! anything is written).
//!
//! Invariants: everything in [`Rendered`] is a pure function of the spec and the inputs'
//! metrics, instance names and coordinates — no paths, no timestamps — so identical
//! inputs give identical bytes. The page links its siblings by the names below, so
//! whoever writes a report's files writes them under exactly these names.

use super::chart::{BarChart, Chart, Heatmap, LineChart, Scale, Series};
use super::grid::{Aggregate, Best, Grid};
use super::pivot::{self, MetricsInput, Pivoted};
use super::spec::{ReportKind, ReportSpec};
use super::table::{Cell, NumberFormat, Table};
use super::{ReportError, format_value, lookup};
use serde_json::{Value as Json, json};
use std::fmt::Write as _;

/// The table beside the page, linked from it.
pub const TABLE_CSV: &str = "table.csv";
/// The chart as PNG, shown on the page.
pub const CHART_PNG: &str = "chart.png";
/// The chart as SVG, linked from the page.
pub const CHART_SVG: &str = "chart.svg";

/// Everything a report consists of, in memory.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The page (`report.md`).
    pub markdown: String,
    /// The table shown on the page; [`Table::to_csv`] gives [`TABLE_CSV`].
    pub table: Table,
    /// The numbers shown, with the best cell of each row.
    pub metrics: Json,
    /// The chart (none for [`ReportKind::Table`]); [`Chart::write_png`] draws
    /// [`CHART_PNG`].
    pub chart: Option<Chart>,
    /// [`CHART_SVG`]'s text, when there is a chart.
    pub svg: Option<String>,
    /// The grid's size.
    pub rows: usize,
    pub cols: usize,
}

/// Renders the report of `results` (and the optional `baseline`) as `spec` asks.
pub fn render(
    spec: &ReportSpec,
    results: &[MetricsInput],
    baseline: Option<&MetricsInput>,
) -> Result<Rendered, ReportError> {
    let pivoted = pivot::arrange(spec, results, baseline)?;
    let grid = &pivoted.grid;
    // With one column every row's only cell would be "best": mark nothing.
    let mark = if grid.cols.len() > 1 {
        spec.best
    } else {
        Best::None
    };
    let best = grid.best_per_row(mark);
    let fmt = NumberFormat {
        precision: spec.precision,
        signed: spec.relative,
    };

    // The baseline beside raw values (not for heatmaps: a row of its own there would
    // compete for the colour scale).
    let shown_baseline = match baseline {
        Some(b) if !spec.relative && spec.kind != ReportKind::Heatmap => {
            let row = pivot::baseline_row(spec, &pivoted, b)?;
            row.iter().any(Option::is_some).then_some(row)
        }
        _ => None,
    };

    let mut table = Table::from_grid(grid, fmt, &best, mark != Best::None);
    if let Some(row) = &shown_baseline {
        push_baseline_row(&mut table, grid, row, fmt);
    }

    let title = title(spec, baseline);
    let chart = chart(
        spec,
        grid,
        &best,
        fmt,
        &title,
        shown_baseline.as_deref(),
        baseline,
    );
    // Drawn before anything is written: a chart that cannot be drawn (text on a log
    // axis) is an input error.
    let svg = chart
        .as_ref()
        .map(|c| c.render_svg((spec.width, spec.height)))
        .transpose()?;

    let markdown = markdown(
        spec,
        mark,
        &title,
        &pivoted,
        &table,
        results,
        baseline,
        chart.is_some(),
    );
    let metrics = metrics_json(
        spec,
        &pivoted,
        &best,
        results,
        baseline,
        shown_baseline.as_deref(),
    );
    Ok(Rendered {
        markdown,
        table,
        metrics,
        chart,
        svg,
        rows: grid.rows.len(),
        cols: grid.cols.len(),
    })
}

/// Appends the baseline as the table's last row, labelled `baseline` (adding a label
/// column when the table has none).
fn push_baseline_row(table: &mut Table, grid: &Grid, row: &[Option<f64>], fmt: NumberFormat) {
    let mut cells: Vec<Cell> = Vec::new();
    for i in 0..grid.row_vars.len().max(1) {
        cells.push(if i == 0 {
            Cell::Text("baseline".into())
        } else {
            Cell::Missing
        });
    }
    if grid.row_vars.is_empty() {
        table.header.insert(0, String::new());
        for r in &mut table.rows {
            r.insert(0, Cell::Missing);
        }
    }
    cells.extend(row.iter().map(|v| match v {
        Some(v) => Cell::Num {
            value: *v,
            text: fmt.format(*v),
            best: false,
        },
        None => Cell::Missing,
    }));
    table.rows.push(cells);
}

/// The spec's title, or one derived from the value and the axes.
fn title(spec: &ReportSpec, baseline: Option<&MetricsInput>) -> String {
    if !spec.title.is_empty() {
        return spec.title.clone();
    }
    let over = match (&spec.y, &spec.x) {
        (Some(y), Some(x)) => format!(" by {y} × {x}"),
        (_, Some(x)) => format!(" by {x}"),
        _ => String::new(),
    };
    match (spec.relative, baseline) {
        (true, Some(b)) => format!("{} gain over {}{over}", spec.value, b.instance),
        _ => format!("{}{over}", spec.value),
    }
}

/// The chart of the grid (none for a table); `shown_baseline` becomes a dashed
/// reference series on line and bar charts.
fn chart(
    spec: &ReportSpec,
    grid: &Grid,
    best: &[Option<usize>],
    fmt: NumberFormat,
    title: &str,
    shown_baseline: Option<&[Option<f64>]>,
    baseline: Option<&MetricsInput>,
) -> Option<Chart> {
    let x_label = spec.x.clone().unwrap_or_default();
    let value_name = spec.value_name();
    let series = || {
        let mut series: Vec<Series> = (0..grid.rows.len())
            .map(|r| Series {
                name: grid.row_label_named(r, &value_name),
                values: grid.cells[r].clone(),
                reference: false,
            })
            .collect();
        if let (Some(row), Some(b)) = (shown_baseline, baseline) {
            series.push(Series {
                name: format!("baseline ({})", b.instance),
                values: row.to_vec(),
                reference: true,
            });
        }
        series
    };
    match spec.kind {
        ReportKind::Table => None,
        ReportKind::Heatmap => Some(Chart::Heatmap(Heatmap {
            title: title.to_string(),
            x_label,
            y_label: spec.y.clone().unwrap_or_default(),
            cols: grid.col_labels(),
            rows: (0..grid.rows.len()).map(|r| grid.row_label(r)).collect(),
            cells: grid.cells.clone(),
            best: best.to_vec(),
            diverging: spec.relative,
            format: fmt,
        })),
        ReportKind::Line => {
            let numeric = grid.cols.iter().all(|l| l.as_f64().is_some());
            let scale = match spec.x_scale {
                Some(scale) => scale,
                None if numeric => Scale::Linear,
                None => Scale::Category,
            };
            Some(Chart::Line(LineChart {
                title: title.to_string(),
                x_label,
                y_label: value_name.clone(),
                x: grid.cols.clone(),
                scale,
                series: series(),
            }))
        }
        ReportKind::Bar => Some(Chart::Bar(BarChart {
            title: title.to_string(),
            x_label,
            y_label: value_name.clone(),
            categories: grid.col_labels(),
            series: series(),
            format: fmt,
        })),
    }
}

/// The `metrics.json` document: the spec, the baseline, the grid and the best cells.
fn metrics_json(
    spec: &ReportSpec,
    pivoted: &Pivoted,
    best: &[Option<usize>],
    results: &[MetricsInput],
    baseline: Option<&MetricsInput>,
    shown_baseline: Option<&[Option<f64>]>,
) -> Json {
    let grid = &pivoted.grid;
    let mut metrics = json!({
        "kind": spec.kind.name(),
        "value": spec.value,
        "relative_to": if spec.relative { json!("baseline") } else { Json::Null },
        "x": spec.x,
        "y": spec.y,
        "series": spec.series,
        "inputs": results.len(),
    });
    if let Some(b) = baseline {
        let mut bj = json!({"instance": b.instance});
        if pivoted.slice_axis.is_none()
            && let Ok(v) = lookup::number(&b.metrics, &spec.value)
        {
            bj["value"] = json!(v);
        }
        if let Some(row) = shown_baseline {
            bj["values"] = json!(row);
        }
        metrics["baseline"] = bj;
    }
    if let (Json::Object(m), Json::Object(g)) = (&mut metrics, grid.to_json(best)) {
        m.extend(g);
    }
    metrics["best"] = Json::Array(
        best.iter()
            .enumerate()
            .filter_map(|(r, c)| c.map(|c| (r, c)))
            .map(|(r, c)| {
                json!({
                    "row": grid.row_label(r),
                    "column": grid.cols[c].to_json(),
                    "value": grid.cells[r][c],
                })
            })
            .collect(),
    );
    metrics
}

/// The page: title, what is shown, the chart with links, the table, and the inputs with
/// their coordinates.
#[allow(clippy::too_many_arguments)]
fn markdown(
    spec: &ReportSpec,
    mark: Best,
    title: &str,
    pivoted: &Pivoted,
    table: &Table,
    results: &[MetricsInput],
    baseline: Option<&MetricsInput>,
    has_chart: bool,
) -> String {
    let Pivoted { grid, slice_axis } = pivoted;
    let mut md = format!("# {title}\n\n");
    let mut what = format!(
        "`{}` of {} metrics artifact{}",
        spec.value,
        results.len(),
        if results.len() == 1 { "" } else { "s" }
    );
    if let Some(s) = slice_axis {
        let _ = write!(what, ", per `{s}` slice");
    }
    match (spec.relative, baseline) {
        (true, Some(b)) => {
            let _ = write!(what, ", minus the baseline `{}`", b.instance);
            if slice_axis.is_none()
                && let Ok(v) = lookup::number(&b.metrics, &spec.value)
            {
                let _ = write!(what, " ({})", format_value(v, spec.precision, false));
            }
        }
        (false, Some(b)) if spec.kind == ReportKind::Heatmap => {
            let _ = write!(what, "; baseline `{}`", b.instance);
            if let Ok(v) = lookup::number(&b.metrics, &spec.value) {
                let _ = write!(what, ": {}", format_value(v, spec.precision, false));
            }
        }
        (false, Some(b)) => {
            let _ = write!(what, "; the last row is the baseline `{}`", b.instance);
        }
        _ => {}
    }
    let _ = write!(md, "{what}.");
    let mut axes = Vec::new();
    if !grid.row_vars.is_empty() {
        axes.push(format!(
            "rows: {}",
            grid.row_vars
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(c) = &grid.col_var {
        axes.push(format!("columns: `{c}`"));
    }
    if !axes.is_empty() {
        let axes = axes.join("; ");
        let _ = write!(md, " {}{}.", axes[..1].to_uppercase(), &axes[1..]);
    }
    match mark {
        Best::Max => md.push_str(" **Bold**: the highest value of each row."),
        Best::Min => md.push_str(" **Bold**: the lowest value of each row."),
        Best::None => {}
    }
    if grid.counts.iter().flatten().any(|&n| n > 1) {
        let _ = write!(
            md,
            " Cells combine several inputs ({}).",
            match spec.aggregate {
                Aggregate::Mean => "mean",
                Aggregate::Min => "min",
                Aggregate::Max => "max",
                Aggregate::None => "none",
            }
        );
    }
    md.push_str("\n\n");
    if has_chart {
        let _ = writeln!(
            md,
            "![{title}]({CHART_PNG})\n\n[SVG]({CHART_SVG}) · [CSV]({TABLE_CSV})\n"
        );
    } else {
        let _ = writeln!(md, "[CSV]({TABLE_CSV})\n");
    }
    md.push_str(&table.to_markdown());
    md.push_str("\n## Inputs\n\n");
    md.push_str(&inputs_table(results, baseline).to_markdown());
    md
}

/// Provenance: every input (the baseline last) with its coordinates.
fn inputs_table(results: &[MetricsInput], baseline: Option<&MetricsInput>) -> Table {
    let mut vars: Vec<&str> = Vec::new();
    for s in results {
        for (k, _) in &s.coords {
            if !vars.contains(&k.as_str()) {
                vars.push(k);
            }
        }
    }
    let mut inputs = Table::new(std::iter::once("input").chain(vars.iter().copied()));
    for s in results.iter().chain(baseline) {
        let mut row = vec![Cell::Text(format!("`{}`", s.instance))];
        for v in &vars {
            row.push(match s.coords.iter().find(|(k, _)| k == v) {
                Some((_, l)) => Cell::Text(l.to_string()),
                None => Cell::Missing,
            });
        }
        inputs.rows.push(row);
    }
    inputs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testutil::{spec, sweep, var};
    use std::path::Path;

    /// Draws the rendered chart as PNG (and keeps it, with the page, under
    /// `$SIEVE_KEEP_CHARTS` for a look); returns the PNG's bytes.
    fn png(r: &Rendered, spec: &ReportSpec, name: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHART_PNG);
        let chart = r.chart.as_ref().expect("a chart");
        chart.write_png(&path, (spec.width, spec.height)).unwrap();
        if let Ok(keep) = std::env::var("SIEVE_KEEP_CHARTS") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(&path, Path::new(&keep).join(format!("report-{name}.png"))).unwrap();
            std::fs::write(Path::new(&keep).join(format!("report-{name}.md")), &r.markdown).unwrap();
        }
        std::fs::read(path).unwrap()
    }

    #[test]
    fn heatmap_of_gain_over_baseline_marks_best_per_row_and_is_deterministic() {
        let (fam, base) = sweep();
        let spec = ReportSpec {
            x: var("band"),
            y: var("budget"),
            relative: true,
            ..spec(ReportKind::Heatmap)
        };
        let r = render(&spec, &fam, Some(&base)).unwrap();
        let m = &r.metrics;
        assert_eq!(m["columns"], json!(["easy", "medium", "hard"]));
        assert_eq!(m["rows_by"], json!(["budget"]));
        assert_eq!(m["rows"][0]["key"], json!({"budget": 256}));
        let gain = m["rows"][1]["values"][2].as_f64().unwrap();
        assert!((gain - 0.26).abs() < 1e-9, "gain {gain}");
        assert_eq!(m["best"][0]["column"], "medium");
        assert_eq!(m["best"][1]["column"], "hard");
        assert_eq!(m["baseline"]["instance"], "base_acc");
        assert_eq!(m["relative_to"], "baseline");
        assert_eq!((r.rows, r.cols), (2, 3));

        let csv = r.table.to_csv();
        assert_eq!(csv.lines().next(), Some("budget,easy,medium,hard,best"));
        assert!(csv.lines().nth(2).unwrap().ends_with(",hard"), "{csv}");
        let md = &r.markdown;
        assert!(
            md.starts_with("# accuracy gain over base_acc by budget × band\n"),
            "{md}"
        );
        assert!(md.contains("minus the baseline `base_acc` (0.400)"), "{md}");
        assert!(
            md.contains("| 256 | +0.100 | **+0.150** | +0.050 | medium |"),
            "{md}"
        );
        assert!(md.contains("![accuracy gain over base_acc by budget × band](chart.png)"));
        assert!(
            md.contains("| `acc[budget=1024,band=hard]` | 1024 | hard |"),
            "{md}"
        );

        // A second rendering of the same inputs is identical, charts included.
        let again = render(&spec, &fam, Some(&base)).unwrap();
        assert_eq!(r.markdown, again.markdown);
        assert_eq!(csv, again.table.to_csv());
        assert_eq!(r.metrics, again.metrics);
        let svg = r.svg.as_deref().unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert_eq!(Some(svg), again.svg.as_deref());
        let png = png(&r, &spec, "heatmap");
        assert!(!png.is_empty());
        assert_eq!(png, self::png(&again, &spec, "heatmap"), "PNG differs");
    }

    #[test]
    fn line_over_slices_one_series_per_band_with_baseline_reference() {
        let (fam, base) = sweep();
        let hard_1024: Vec<MetricsInput> = fam
            .iter()
            .filter(|a| a.instance.contains("budget=1024"))
            .cloned()
            .collect();
        let spec_ops = ReportSpec {
            x: var("ops"),
            ..spec(ReportKind::Line)
        };
        let r = render(&spec_ops, &hard_1024, Some(&base)).unwrap();
        let m = &r.metrics;
        assert_eq!(m["columns"], json!([2, 3, 10]), "numeric slice order");
        assert_eq!(
            m["rows_by"],
            json!(["band"]),
            "series default: the varying sweep variable"
        );
        assert_eq!(m["baseline"]["values"], json!([0.7, 0.4, 0.1]));
        let csv = r.table.to_csv();
        assert!(csv.ends_with("baseline,0.7,0.4,0.1,\n"), "{csv}");
        let svg = r.svg.as_deref().unwrap();
        assert!(
            svg.contains("band=medium") && svg.contains("baseline (base_acc)"),
            "legend"
        );
        assert!(
            r.markdown
                .contains("per `ops` slice; the last row is the baseline `base_acc`.")
        );
        png(&r, &spec_ops, "line");

        // x = a sweep variable, series = another; per-slice value by dotted path.
        let spec = ReportSpec {
            x: var("budget"),
            series: var("band"),
            value: "slices.10.accuracy".into(),
            ..spec(ReportKind::Line)
        };
        let m = render(&spec, &fam, None).unwrap().metrics;
        assert_eq!(m["columns"], json!([256, 1024]));
        assert!((m["rows"][2]["values"][1].as_f64().unwrap() - 0.36).abs() < 1e-9);
    }

    #[test]
    fn tables_and_bars() {
        let (fam, base) = sweep();
        let table = ReportSpec {
            x: var("band"),
            ..spec(ReportKind::Table)
        };
        let r = render(&table, &fam, Some(&base)).unwrap();
        assert!(r.chart.is_none() && r.svg.is_none(), "a table draws no chart");
        assert!(
            r.markdown.contains("| budget | easy | medium | hard | best |"),
            "{}",
            r.markdown
        );
        assert!(
            r.markdown.contains("| baseline | 0.400 | 0.400 | 0.400 |"),
            "{}",
            r.markdown
        );
        assert!(r.markdown.contains("\n[CSV](table.csv)\n"), "{}", r.markdown);
        // No axes at all: one row per input, by every varying variable.
        let long = ReportSpec {
            value: "pass@1".into(),
            ..spec(ReportKind::Table)
        };
        let csv = render(&long, &fam, None).unwrap().table.to_csv();
        assert_eq!(
            csv.lines().next(),
            Some("budget,band,pass@1"),
            "one column: nothing to mark"
        );
        assert_eq!(csv.lines().count(), 7);
        // Separate references with no coordinates are told apart by instance.
        let bar_ops = ReportSpec {
            x: var("ops"),
            ..spec(ReportKind::Bar)
        };
        let m = render(&bar_ops, &[fam[0].clone(), base.clone()], None)
            .unwrap()
            .metrics;
        assert_eq!(m["rows_by"], json!(["instance"]));
        assert_eq!(m["rows"][1]["label"], "base_acc");
        // Bars over a sweep variable with a mean over the other.
        let mean = ReportSpec {
            x: var("band"),
            aggregate: Aggregate::Mean,
            ..spec(ReportKind::Bar)
        };
        let r = render(&mean, &fam, Some(&base)).unwrap();
        let m = &r.metrics;
        assert!((m["rows"][0]["values"][2].as_f64().unwrap() - 0.555).abs() < 1e-9);
        assert_eq!(m["rows"][0]["count"], json!([2, 2, 2]));
        assert!(
            r.markdown.contains(" Cells combine several inputs (mean).\n"),
            "{}",
            r.markdown
        );
        png(&r, &mean, "bar");
    }

    #[test]
    fn explicit_title_scale_and_best_min() {
        let (fam, _) = sweep();
        let spec = ReportSpec {
            x: var("budget"),
            series: var("band"),
            x_scale: Some(Scale::Log),
            title: "Accuracy by budget".into(),
            best: Best::Min,
            ..spec(ReportKind::Line)
        };
        let r = render(&spec, &fam, None).unwrap();
        assert!(r.markdown.starts_with("# Accuracy by budget\n"), "{}", r.markdown);
        assert!(r.markdown.contains("**Bold**: the lowest value of each row."));
        assert_eq!(r.metrics["best"][0]["column"], 256);
        // Text cannot go on a log axis: caught while drawing, before anything is written.
        let text_x = ReportSpec {
            x: var("band"),
            series: var("budget"),
            ..spec
        };
        let e = render(&text_x, &fam, None).unwrap_err().to_string();
        assert!(e.contains("x value `easy` is not a number"), "{e}");
    }
}
