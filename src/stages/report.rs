//! The `report` stage kind: turns a family of metrics artifacts (typically every cell
//! of a sweep of `evaluate` stages) into a table (Markdown + CSV) and a chart (line,
//! heatmap or bar; PNG + SVG), addressed by the family's sweep variables.
//!
//! Invariants: the output folder holds `report.md`, `table.csv`, `metrics.json` (the
//! numbers shown, with the best cell of each row) and, except for `kind = table`,
//! `chart.png` + `chart.svg`; all are pure functions of the inputs' metrics, their
//! instance names and coordinates, and the parameters — no paths, no timestamps — so a
//! rerun over identical inputs reproduces identical bytes. Problems only the data can
//! reveal (a metric or variable an artifact lacks, two artifacts for one cell) are
//! `StageError::Input`s naming the artifact and what it does have.

use super::artifact::{METRICS_FILE, REPORT_FILE};
use super::{
    ArtifactKind, InputArtifact, InputSpec, ParamSpec, ParamType, Params, StageContext, StageError,
    StageKind, StageResult,
};
use crate::report::chart::{BarChart, Chart, Heatmap, LineChart, Scale, Series};
use crate::report::grid::{self, Aggregate, Best, Grid, Observation, PivotSpec};
use crate::report::table::{Cell, NumberFormat, Table};
use crate::report::{Label, ReportError, lookup};
use crate::value::Value;
use serde_json::{Value as Json, json};
use std::fmt::Write as _;

/// The reporting stage kinds.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![Box::new(Report)]
}

/// The table written next to the report.
pub const TABLE_CSV: &str = "table.csv";
/// The chart as PNG.
pub const CHART_PNG: &str = "chart.png";
/// The chart as SVG.
pub const CHART_SVG: &str = "chart.svg";

const KINDS: &[&str] = &["table", "line", "heatmap", "bar"];
const RELATIVE: &[&str] = &["none", "baseline"];
const AGGREGATES: &[&str] = &["none", "mean", "min", "max"];
const BESTS: &[&str] = &["max", "min", "none"];
const SCALES: &[&str] = &["auto", "linear", "log", "category"];
/// Why `relative_to = baseline` cannot work (checked at lowering, and again at run time).
const NEEDS_BASELINE: &str = "`relative_to = baseline` needs a baseline input: `report(acc, base_acc, …)`";
/// The pseudo-variable naming each input artifact.
const INSTANCE: &str = super::INSTANCE_AXIS;

struct Report;

impl StageKind for Report {
    fn name(&self) -> &'static str {
        "report"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Tables (Markdown + CSV) and charts (line, heatmap, bar; PNG + SVG) over a family of metrics, addressed by their sweep variables"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        vec![
            InputSpec::many(
                "results",
                ArtifactKind::Metrics,
                "the metrics to report: a sweep family (`acc`), a sub-family (`acc[band=hard]`) or one artifact",
            ),
            InputSpec::optional(
                "baseline",
                ArtifactKind::Metrics,
                "a reference evaluation (e.g. of the base model): subtracted with `relative_to = baseline`, else shown beside the results",
            ),
        ]
    }
    fn params(&self) -> Vec<ParamSpec> {
        use ParamSpec as P;
        use ParamType as T;
        let s = |v: &str| Value::Str(v.into());
        vec![
            P::optional(
                "kind",
                T::Enum(KINDS),
                s("table"),
                "what to draw: `table` (no chart), `line` (value against x, one line per series), `heatmap` (y rows × x columns, best cell of each row marked), `bar` (groups by x, one bar per series)",
            ),
            P::optional(
                "value",
                T::Metric,
                s("accuracy"),
                "the metric: a key of each metrics.json, dotted for nested values (`pass@4`, `slices.7.accuracy`); read per slice when an axis is the slice variable",
            ),
            P::optional(
                "x",
                T::Axis,
                s(""),
                "the columns / x axis: a sweep variable (`band`), the evaluations' `slice_by` column (`ops`), or `instance`; required for line, heatmap and bar",
            ),
            P::optional(
                "y",
                T::Axis,
                s(""),
                "the rows of a heatmap (required) or of a table (default: every other varying variable)",
            ),
            P::optional(
                "series",
                T::Axis,
                s(""),
                "line / bar: one line or bar per value of this variable (default: one per combination of the other varying variables)",
            ),
            P::optional(
                "relative_to",
                T::Enum(RELATIVE),
                s("none"),
                "`baseline`: report value − the baseline input's value (a gain); `none`: raw values, the baseline (if bound) shown as a reference",
            ),
            P::optional(
                "aggregate",
                T::Enum(AGGREGATES),
                s("none"),
                "how artifacts that fall into one cell combine (e.g. seeds): `none` makes that an error; with mean/min/max, variables not on an axis are aggregated over",
            ),
            P::optional(
                "best",
                T::Enum(BESTS),
                s("max"),
                "which cell of each row is best (bold in the table, framed on a heatmap): `max` for accuracy, `min` for losses, `none`",
            ),
            P::optional(
                "x_scale",
                T::Enum(SCALES),
                s("auto"),
                "line charts: `linear` / `log` (numeric x), `category` (evenly spaced), `auto` (linear for numbers, else category)",
            ),
            P::optional(
                "title",
                T::Str,
                s(""),
                "chart and page title (default: derived from value and axes)",
            ),
            P::optional(
                "precision",
                T::Int,
                Value::Int(3),
                "digits after the decimal point in tables and on heatmaps",
            ),
            P::optional("width", T::Int, Value::Int(800), "chart width in pixels"),
            P::optional("height", T::Int, Value::Int(500), "chart height in pixels"),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Report
    }
    /// Tables, titles and `metrics.json` name the inputs (the `instance` axis, the
    /// baseline).
    fn reads_input_names(&self, _params: &Params) -> bool {
        true
    }
    fn validate(&self, p: &Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        let st = |n: &str| p.get(n).and_then(Value::as_str).unwrap_or("").to_string();
        let (kind, x, y, series) = (st("kind"), st("x"), st("y"), st("series"));
        match kind.as_str() {
            "heatmap" => {
                if x.is_empty() {
                    errs.push((
                        Some("x"),
                        "a heatmap needs `x` (its columns), e.g. `x = band`".to_string(),
                    ));
                }
                if y.is_empty() {
                    errs.push((
                        Some("y"),
                        "a heatmap needs `y` (its rows), e.g. `y = budget`".to_string(),
                    ));
                }
                if !series.is_empty() {
                    errs.push((
                        Some("series"),
                        "a heatmap has no series: its rows are `y`".to_string(),
                    ));
                }
            }
            "line" | "bar" => {
                if x.is_empty() {
                    errs.push((
                        Some("x"),
                        format!("a {kind} chart needs `x`, e.g. `x = budget` or `x = ops`"),
                    ));
                }
                if !y.is_empty() {
                    errs.push((
                        Some("y"),
                        format!(
                            "a {kind} chart plots `value` against `x`; name the lines with `series = {y}`"
                        ),
                    ));
                }
            }
            "table" if !series.is_empty() => {
                errs.push((
                    Some("series"),
                    format!("a table has rows, not series: write `y = {series}`"),
                ));
            }
            _ => {}
        }
        let axes = [("x", &x), ("y", &y), ("series", &series)];
        for (i, (a, va)) in axes.iter().enumerate() {
            for (b, vb) in &axes[i + 1..] {
                if !va.is_empty() && va == vb {
                    errs.push((None, format!("`{a}` and `{b}` both name `{va}`")));
                }
            }
        }
        if st("value").trim().is_empty() {
            errs.push((
                Some("value"),
                "must name a metric, e.g. `value = accuracy`".to_string(),
            ));
        }
        if st("x_scale") != "auto" && !st("x_scale").is_empty() && kind != "line" {
            errs.push((
                Some("x_scale"),
                "only line charts have a numeric x axis".to_string(),
            ));
        }
        let int = |n: &str| p.get(n).and_then(Value::as_i64);
        for n in ["width", "height"] {
            if int(n).is_some_and(|v| !(200..=4000).contains(&v)) {
                errs.push((
                    if n == "width" {
                        Some("width")
                    } else {
                        Some("height")
                    },
                    "must be in 200..=4000".into(),
                ));
            }
        }
        if int("precision").is_some_and(|v| !(0..=10).contains(&v)) {
            errs.push((Some("precision"), "must be in 0..=10".into()));
        }
        errs
    }
    fn validate_inputs(&self, p: &Params, bound: &[&str]) -> Vec<(&'static str, String)> {
        let relative = p.get("relative_to").and_then(Value::as_str) == Some("baseline");
        match relative && !bound.contains(&"baseline") {
            true => vec![("relative_to", NEEDS_BASELINE.to_string())],
            false => Vec::new(),
        }
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        let cfg = Config::from_params(ctx.params())?;
        let results: Vec<Source> = ctx
            .slot("results")
            .iter()
            .map(Source::load)
            .collect::<Result<_, _>>()?;
        if results.is_empty() {
            return Err(StageError::Input("`results` is empty: nothing to report".into()));
        }
        let baseline = ctx.slot("baseline").first().map(Source::load).transpose()?;
        let rendered = render(&cfg, &results, baseline.as_ref())?;
        let out = ctx.out_dir();
        std::fs::write(out.join(REPORT_FILE), &rendered.markdown)?;
        std::fs::write(out.join(TABLE_CSV), rendered.table.to_csv())?;
        std::fs::write(
            out.join(METRICS_FILE),
            serde_json::to_vec_pretty(&rendered.metrics)?,
        )?;
        if let (Some(chart), Some(svg)) = (&rendered.chart, &rendered.svg) {
            chart
                .write_png(&out.join(CHART_PNG), (cfg.width, cfg.height))
                .map_err(report_err)?;
            std::fs::write(out.join(CHART_SVG), svg)?;
        }
        ctx.log(&format!(
            "report: {} of `{}` over {} input(s), {} × {} grid",
            cfg.kind,
            cfg.value,
            results.len(),
            rendered.rows,
            rendered.cols
        ));
        Ok(())
    }
}

fn report_err(e: ReportError) -> StageError {
    match e {
        ReportError::Data(m) => StageError::Input(m),
        ReportError::Lookup(e) => StageError::Input(e.to_string()),
        ReportError::Chart(m) => StageError::Failed(format!("drawing the chart: {m}")),
        ReportError::Io(e) => StageError::Io(e),
    }
}

/// The parameters, read once.
#[derive(Debug, Clone)]
struct Config {
    kind: String,
    value: String,
    x: Option<String>,
    y: Option<String>,
    series: Option<String>,
    relative: bool,
    aggregate: Aggregate,
    best: Best,
    x_scale: String,
    title: String,
    precision: usize,
    width: u32,
    height: u32,
}

impl Config {
    fn from_params(p: &Params) -> Result<Config, StageError> {
        let opt = |n: &str| -> Result<Option<String>, StageError> {
            let s = p.str(n)?.trim();
            Ok(if s.is_empty() { None } else { Some(s.to_string()) })
        };
        let word = |n: &str| -> Result<String, StageError> { Ok(p.str(n)?.to_string()) };
        let bad = |n: &str, v: &str| StageError::Input(format!("parameter `{n}`: unknown value `{v}`"));
        let aggregate = word("aggregate")?;
        let best = word("best")?;
        let px = |n: &str| -> Result<u32, StageError> {
            u32::try_from(p.i64(n)?.clamp(1, 8000))
                .map_err(|_| StageError::Input(format!("parameter `{n}` is out of range")))
        };
        Ok(Config {
            kind: word("kind")?,
            value: p.str("value")?.trim().to_string(),
            x: opt("x")?,
            y: opt("y")?,
            series: opt("series")?,
            relative: p.str("relative_to")? == "baseline",
            aggregate: Aggregate::parse(&aggregate).ok_or_else(|| bad("aggregate", &aggregate))?,
            best: Best::parse(&best).ok_or_else(|| bad("best", &best))?,
            x_scale: word("x_scale")?,
            title: p.str("title")?.to_string(),
            precision: p.usize("precision")?.min(10),
            width: px("width")?,
            height: px("height")?,
        })
    }

    /// The axis variables in use.
    fn axes(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [("x", &self.x), ("y", &self.y), ("series", &self.series)]
            .into_iter()
            .filter_map(|(n, v)| v.as_deref().map(|v| (n, v)))
    }

    /// What the reported number is called.
    fn value_name(&self) -> String {
        if self.relative {
            format!("{} gain", self.value)
        } else {
            self.value.clone()
        }
    }
}

/// One input artifact with its parsed metrics.
struct Source {
    instance: String,
    coords: Vec<(String, Label)>,
    metrics: Json,
}

impl Source {
    fn load(a: &InputArtifact) -> Result<Source, StageError> {
        let path = a.file(METRICS_FILE);
        let bytes = std::fs::read(&path).map_err(|e| {
            StageError::Input(format!("`{}` has no readable {METRICS_FILE}: {e}", a.instance))
        })?;
        let metrics: Json = serde_json::from_slice(&bytes).map_err(|e| {
            StageError::Input(format!("`{}`: {METRICS_FILE} is not valid JSON: {e}", a.instance))
        })?;
        let coords = a
            .coords
            .iter()
            .map(|(k, v)| (k.clone(), coord_label(v)))
            .collect();
        Ok(Source {
            instance: a.instance.clone(),
            coords,
            metrics,
        })
    }

    /// The variable this artifact's `slices` are keyed by (`slice_by`), if it has slices.
    fn slice_var(&self) -> Option<&str> {
        self.metrics.get("slices").filter(|s| s.is_object())?;
        self.metrics
            .get("slice_by")
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
    }

    fn slices(&self) -> Vec<(&String, &Json)> {
        match self.metrics.get("slices") {
            Some(Json::Object(m)) => m.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// Where variable `var` comes from for this artifact.
    fn resolve(&self, param: &str, var: &str) -> Result<VarSource, StageError> {
        if var == INSTANCE {
            return Ok(VarSource::Instance);
        }
        if self.coords.iter().any(|(k, _)| k == var) {
            return Ok(VarSource::Coord);
        }
        let has_slices = self.metrics.get("slices").is_some_and(Json::is_object);
        if self.slice_var() == Some(var) || (var == "slice" && has_slices) {
            return Ok(VarSource::Slice);
        }
        let have: Vec<String> = self.coords.iter().map(|(k, _)| format!("`{k}`")).collect();
        let coords = if have.is_empty() {
            "it is not part of a sweep".to_string()
        } else {
            format!("its sweep variables: {}", have.join(", "))
        };
        let slices = match self.slice_var() {
            Some(s) => format!("; its metrics are sliced by `{s}`"),
            None => String::new(),
        };
        Err(StageError::Input(format!(
            "`{param} = {var}`: `{}` has no variable `{var}` ({coords}{slices}; `{INSTANCE}` names each input)",
            self.instance
        )))
    }

    /// The number at `path` inside `doc` (the whole metrics or one slice of it).
    fn number(&self, doc: &Json, path: &str, slice: Option<&str>) -> Result<f64, StageError> {
        lookup::number(doc, path).map_err(|e| {
            let place = match slice {
                Some(k) => format!("slice `{k}` of its {METRICS_FILE}"),
                None => format!("its {METRICS_FILE}"),
            };
            StageError::Input(format!("`value = {path}`: `{}`: {place} has {e}", self.instance))
        })
    }

    /// The value of one slice of this artifact (`slices.KEY.path`).
    fn slice_number(&self, key: &str, path: &str) -> Result<f64, StageError> {
        let slice = self
            .slices()
            .into_iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v);
        match slice {
            Some(doc) => self.number(doc, path, Some(key)),
            None => Err(StageError::Input(format!(
                "`{}` has no slice `{key}` (its slices: {})",
                self.instance,
                self.slices()
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum VarSource {
    Coord,
    Slice,
    Instance,
}

fn coord_label(v: &Value) -> Label {
    match v {
        Value::Int(i) => Label::Num(*i as f64),
        Value::Float(f) => Label::Num(*f),
        Value::Str(s) => Label::Text(s.clone()),
        other => Label::Text(other.coord_string()),
    }
}

/// Everything the stage writes, computed without touching the disk.
struct Rendered {
    markdown: String,
    table: Table,
    metrics: Json,
    chart: Option<Chart>,
    svg: Option<String>,
    rows: usize,
    cols: usize,
}

/// Turns the sources into observations: one per artifact, or one per slice when an axis
/// is the slice variable. Returns them with the slice variable's name (if one is used).
fn observations(
    cfg: &Config,
    results: &[Source],
    baseline: Option<&Source>,
) -> Result<(Vec<Observation>, Option<String>), StageError> {
    if cfg.relative && baseline.is_none() {
        return Err(StageError::Input(NEEDS_BASELINE.into()));
    }
    let mut slice_axis: Option<String> = None;
    let mut out = Vec::new();
    for src in results {
        let mut slice_var = None;
        for (param, var) in cfg.axes() {
            if src.resolve(param, var)? == VarSource::Slice {
                slice_var = Some(var.to_string());
            }
        }
        if slice_axis.is_none() {
            slice_axis = slice_var.clone();
        }
        let mut vars = src.coords.clone();
        vars.push((INSTANCE.to_string(), Label::Text(src.instance.clone())));
        let base_scalar = match (cfg.relative, baseline, &slice_var) {
            (true, Some(b), None) => Some(b.number(&b.metrics, &cfg.value, None)?),
            _ => None,
        };
        match &slice_var {
            Some(var) => {
                for (key, doc) in src.slices() {
                    let mut value = src.number(doc, &cfg.value, Some(key))?;
                    if let (true, Some(b)) = (cfg.relative, baseline) {
                        value -= b.slice_number(key, &cfg.value)?;
                    }
                    let mut v = vars.clone();
                    v.push((var.clone(), Label::parse(key)));
                    out.push(Observation {
                        source: src.instance.clone(),
                        vars: v,
                        value,
                    });
                }
            }
            None => {
                let value = src.number(&src.metrics, &cfg.value, None)? - base_scalar.unwrap_or(0.0);
                out.push(Observation {
                    source: src.instance.clone(),
                    vars,
                    value,
                });
            }
        }
    }
    Ok((out, slice_axis))
}

/// The pivot for the configured kind: which variables make rows and columns.
fn pivot_spec(cfg: &Config, obs: &[Observation]) -> PivotSpec {
    let named: Vec<&str> = cfg.axes().map(|(_, v)| v).chain([INSTANCE]).collect();
    let explicit_rows = match cfg.kind.as_str() {
        "heatmap" | "table" => cfg.y.clone(),
        _ => cfg.series.clone(),
    };
    let rows = match explicit_rows {
        Some(r) => vec![r],
        None if cfg.aggregate != Aggregate::None => Vec::new(),
        None => {
            let mut rest = grid::varying(obs, &named);
            // Inputs that share every coordinate (separate references, not one sweep)
            // are told apart by instance name.
            let probe = PivotSpec {
                rows: rest.clone(),
                col: cfg.x.clone(),
                value_name: String::new(),
                aggregate: Aggregate::None,
            };
            if grid::pivot(obs, &probe).is_err() && obs.iter().any(|o| o.source != obs[0].source) {
                rest.push(INSTANCE.to_string());
            }
            rest
        }
    };
    PivotSpec {
        rows,
        col: cfg.x.clone(),
        value_name: cfg.value_name(),
        aggregate: cfg.aggregate,
    }
}

/// The baseline's values aligned with the grid's columns (for showing it beside raw
/// values): per slice when the columns are the slice variable, else its one value.
fn baseline_row(
    cfg: &Config,
    grid: &Grid,
    baseline: &Source,
    slice_axis: Option<&str>,
) -> Result<Vec<Option<f64>>, StageError> {
    let col_is_slice = slice_axis.is_some() && grid.col_var.as_deref() == slice_axis;
    if col_is_slice {
        Ok(grid
            .cols
            .iter()
            .map(|c| {
                baseline
                    .slices()
                    .into_iter()
                    .find(|(k, _)| Label::parse(k) == *c)
                    .and_then(|(_, doc)| lookup::number(doc, &cfg.value).ok())
            })
            .collect())
    } else if slice_axis.is_some() {
        // Slices are rows or series: one baseline value per column does not exist.
        Ok(vec![None; grid.cols.len()])
    } else {
        let v = baseline.number(&baseline.metrics, &cfg.value, None)?;
        Ok(vec![Some(v); grid.cols.len()])
    }
}

fn render(cfg: &Config, results: &[Source], baseline: Option<&Source>) -> Result<Rendered, StageError> {
    let (obs, slice_axis) = observations(cfg, results, baseline)?;
    if obs.is_empty() {
        return Err(StageError::Input(format!(
            "nothing to report: the inputs have no slices of `{}`",
            slice_axis.as_deref().unwrap_or("?")
        )));
    }
    let spec = pivot_spec(cfg, &obs);
    let grid = grid::pivot(&obs, &spec).map_err(report_err)?;
    // With one column every row's only cell would be "best": mark nothing.
    let mark = if grid.cols.len() > 1 { cfg.best } else { Best::None };
    let best = grid.best_per_row(mark);
    let fmt = NumberFormat {
        precision: cfg.precision,
        signed: cfg.relative,
    };
    let value_name = cfg.value_name();

    // The baseline beside raw values (not for heatmaps: a row of its own there would
    // compete for the colour scale).
    let shown_baseline = match baseline {
        Some(b) if !cfg.relative && cfg.kind != "heatmap" => {
            let row = baseline_row(cfg, &grid, b, slice_axis.as_deref())?;
            row.iter().any(Option::is_some).then_some(row)
        }
        _ => None,
    };

    let mut table = Table::from_grid(&grid, fmt, &best, mark != Best::None);
    if let Some(row) = &shown_baseline {
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

    let title = if !cfg.title.is_empty() {
        cfg.title.clone()
    } else {
        let over = match (&cfg.kind[..], &cfg.y, &cfg.x) {
            ("heatmap", Some(y), Some(x)) => format!(" by {y} × {x}"),
            (_, Some(y), Some(x)) => format!(" by {y} × {x}"),
            (_, _, Some(x)) => format!(" by {x}"),
            _ => String::new(),
        };
        match (cfg.relative, baseline) {
            (true, Some(b)) => format!("{} gain over {}{over}", cfg.value, b.instance),
            _ => format!("{}{over}", cfg.value),
        }
    };
    let x_label = cfg.x.clone().unwrap_or_default();
    let chart = match cfg.kind.as_str() {
        "heatmap" => Some(Chart::Heatmap(Heatmap {
            title: title.clone(),
            x_label,
            y_label: cfg.y.clone().unwrap_or_default(),
            cols: grid.col_labels(),
            rows: (0..grid.rows.len()).map(|r| grid.row_label(r)).collect(),
            cells: grid.cells.clone(),
            best: best.clone(),
            diverging: cfg.relative,
            format: fmt,
        })),
        "line" | "bar" => {
            let mut series: Vec<Series> = (0..grid.rows.len())
                .map(|r| Series {
                    name: grid.row_label_named(r, &value_name),
                    values: grid.cells[r].clone(),
                    reference: false,
                })
                .collect();
            if let (Some(row), Some(b)) = (&shown_baseline, baseline) {
                series.push(Series {
                    name: format!("baseline ({})", b.instance),
                    values: row.clone(),
                    reference: true,
                });
            }
            if cfg.kind == "line" {
                let numeric = grid.cols.iter().all(|l| l.as_f64().is_some());
                let scale = match cfg.x_scale.as_str() {
                    "linear" => Scale::Linear,
                    "log" => Scale::Log,
                    "category" => Scale::Category,
                    _ if numeric => Scale::Linear,
                    _ => Scale::Category,
                };
                Some(Chart::Line(LineChart {
                    title: title.clone(),
                    x_label,
                    y_label: value_name.clone(),
                    x: grid.cols.clone(),
                    scale,
                    series,
                }))
            } else {
                Some(Chart::Bar(BarChart {
                    title: title.clone(),
                    x_label,
                    y_label: value_name.clone(),
                    categories: grid.col_labels(),
                    series,
                    format: fmt,
                }))
            }
        }
        _ => None,
    };
    // Drawn before anything is written: a chart that cannot be drawn (text on a log
    // axis) is an input error.
    let svg = chart
        .as_ref()
        .map(|c| c.render_svg((cfg.width, cfg.height)))
        .transpose()
        .map_err(report_err)?;

    let markdown = markdown(
        cfg,
        mark,
        &title,
        &grid,
        &table,
        results,
        baseline,
        slice_axis.as_deref(),
        chart.is_some(),
    );
    let mut metrics = json!({
        "kind": cfg.kind,
        "value": cfg.value,
        "relative_to": if cfg.relative { json!("baseline") } else { Json::Null },
        "x": cfg.x,
        "y": cfg.y,
        "series": cfg.series,
        "inputs": results.len(),
    });
    if let Some(b) = baseline {
        let mut bj = json!({"instance": b.instance});
        if slice_axis.is_none()
            && let Ok(v) = lookup::number(&b.metrics, &cfg.value)
        {
            bj["value"] = json!(v);
        }
        if let Some(row) = &shown_baseline {
            bj["values"] = json!(row);
        }
        metrics["baseline"] = bj;
    }
    if let (Json::Object(m), Json::Object(g)) = (&mut metrics, grid.to_json(&best)) {
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

#[allow(clippy::too_many_arguments)]
fn markdown(
    cfg: &Config,
    mark: Best,
    title: &str,
    grid: &Grid,
    table: &Table,
    results: &[Source],
    baseline: Option<&Source>,
    slice_axis: Option<&str>,
    has_chart: bool,
) -> String {
    let mut md = format!("# {title}\n\n");
    let mut what = format!(
        "`{}` of {} metrics artifact{}",
        cfg.value,
        results.len(),
        if results.len() == 1 { "" } else { "s" }
    );
    if let Some(s) = slice_axis {
        let _ = write!(what, ", per `{s}` slice");
    }
    match (cfg.relative, baseline) {
        (true, Some(b)) => {
            let _ = write!(what, ", minus the baseline `{}`", b.instance);
            if slice_axis.is_none()
                && let Ok(v) = lookup::number(&b.metrics, &cfg.value)
            {
                let _ = write!(
                    what,
                    " ({})",
                    crate::report::format_value(v, cfg.precision, false)
                );
            }
        }
        (false, Some(b)) if cfg.kind == "heatmap" => {
            let _ = write!(what, "; baseline `{}`", b.instance);
            if let Ok(v) = lookup::number(&b.metrics, &cfg.value) {
                let _ = write!(what, ": {}", crate::report::format_value(v, cfg.precision, false));
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
            match cfg.aggregate {
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

    // Provenance: every input with its coordinates.
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
    md.push_str("\n## Inputs\n\n");
    md.push_str(&inputs.to_markdown());
    md
}

#[cfg(test)]
mod tests {
    use super::super::InputSlot;
    use super::super::context::NoProgress;
    use super::*;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::AtomicBool;

    /// Writes a metrics.json the way `evaluate` does (summary + `slices` by `ops`).
    fn write_eval(dir: &Path, accuracy: f64, slices: &[(i64, f64)]) {
        std::fs::create_dir_all(dir).unwrap();
        let mut m = json!({
            "metric": "exact_match", "accuracy": accuracy, "n": 100, "samples": 1, "k": 1,
            "pass@1": accuracy, "avg@1": accuracy, "temperature": 0.0, "max_new_tokens": 64,
        });
        if !slices.is_empty() {
            let mut s = serde_json::Map::new();
            for (ops, acc) in slices {
                s.insert(
                    ops.to_string(),
                    json!({"n": 10, "accuracy": acc, "pass@1": acc, "avg@1": acc}),
                );
            }
            m["slice_by"] = json!("ops");
            m["slices"] = Json::Object(s);
        }
        std::fs::write(dir.join(METRICS_FILE), serde_json::to_vec_pretty(&m).unwrap()).unwrap();
    }

    fn artifact(dir: &Path, instance: &str, coords: &[(&str, Value)]) -> InputArtifact {
        InputArtifact {
            instance: instance.into(),
            coords: coords.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            kind: ArtifactKind::Metrics,
            dir: dir.to_path_buf(),
        }
    }

    /// The 2 × 3 sweep `acc[budget, band]` (+ a base evaluation), as evaluate writes it.
    /// Accuracy peaks at medium for 256 and at hard for 1024.
    fn sweep(root: &Path) -> (Vec<InputArtifact>, InputArtifact) {
        let table = [(256, [0.50, 0.55, 0.45]), (1024, [0.52, 0.60, 0.66])];
        let mut fam = Vec::new();
        for (budget, accs) in table {
            for (band, acc) in ["easy", "medium", "hard"].iter().zip(accs) {
                let inst = format!("acc[budget={budget},band={band}]");
                let dir = root.join(format!("acc-{budget}-{band}"));
                // Per-ops slices: easier ops are solved more often.
                write_eval(&dir, acc, &[(2, acc + 0.3), (3, acc), (10, acc - 0.3)]);
                fam.push(artifact(
                    &dir,
                    &inst,
                    &[
                        ("budget", Value::Int(budget)),
                        ("band", Value::Str(band.to_string())),
                    ],
                ));
            }
        }
        let base_dir = root.join("base");
        write_eval(&base_dir, 0.40, &[(2, 0.7), (3, 0.4), (10, 0.1)]);
        (fam, artifact(&base_dir, "base_acc", &[]))
    }

    fn run_report(
        params: &[(&str, Value)],
        results: &[InputArtifact],
        baseline: Option<&InputArtifact>,
        out: &Path,
    ) -> StageResult {
        let mut p = Params::default();
        for spec in Report.params() {
            p.0.insert(
                spec.name.to_string(),
                spec.default.unwrap_or(Value::Str(String::new())),
            );
        }
        for (k, v) in params {
            p.0.insert(k.to_string(), v.clone());
        }
        let errs = Report.validate(&p);
        assert!(errs.is_empty(), "validate: {errs:?}");
        let inputs = vec![
            InputSlot {
                name: "results".into(),
                members: results.to_vec(),
            },
            InputSlot {
                name: "baseline".into(),
                members: baseline.into_iter().cloned().collect(),
            },
        ];
        std::fs::create_dir_all(out).unwrap();
        let cancel = AtomicBool::new(false);
        let ctx = StageContext::new(
            "heatmap".into(),
            p,
            inputs,
            out.to_path_buf(),
            out.with_extension("work"),
            None,
            &NoProgress,
            &cancel,
        )
        .unwrap();
        Report.run(&ctx)
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    fn read_json(p: PathBuf) -> Json {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    #[test]
    fn heatmap_of_gain_over_baseline_marks_best_per_row_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (fam, base) = sweep(dir.path());
        let params = [
            ("kind", s("heatmap")),
            ("x", s("band")),
            ("y", s("budget")),
            ("value", s("accuracy")),
            ("relative_to", s("baseline")),
        ];
        let out = dir.path().join("out");
        run_report(&params, &fam, Some(&base), &out).unwrap();
        let m = read_json(out.join(METRICS_FILE));
        assert_eq!(m["columns"], json!(["easy", "medium", "hard"]));
        assert_eq!(m["rows_by"], json!(["budget"]));
        assert_eq!(m["rows"][0]["key"], json!({"budget": 256}));
        let gain = m["rows"][1]["values"][2].as_f64().unwrap();
        assert!((gain - 0.26).abs() < 1e-9, "gain {gain}");
        assert_eq!(m["best"][0]["column"], "medium");
        assert_eq!(m["best"][1]["column"], "hard");
        assert_eq!(m["baseline"]["instance"], "base_acc");
        assert_eq!(m["relative_to"], "baseline");

        let csv = std::fs::read_to_string(out.join(TABLE_CSV)).unwrap();
        assert_eq!(csv.lines().next(), Some("budget,easy,medium,hard,best"));
        assert!(csv.lines().nth(2).unwrap().ends_with(",hard"), "{csv}");
        let md = std::fs::read_to_string(out.join(REPORT_FILE)).unwrap();
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

        // A second run over the same inputs writes identical bytes, charts included.
        let again = dir.path().join("again");
        run_report(&params, &fam, Some(&base), &again).unwrap();
        for f in [REPORT_FILE, TABLE_CSV, METRICS_FILE, CHART_PNG, CHART_SVG] {
            let a = std::fs::read(out.join(f)).unwrap();
            assert!(!a.is_empty(), "{f} empty");
            assert_eq!(
                a,
                std::fs::read(again.join(f)).unwrap(),
                "{f} differs between runs"
            );
        }
        if let Ok(keep) = std::env::var("SIEVE_KEEP_CHARTS") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(out.join(CHART_PNG), Path::new(&keep).join("stage-heatmap.png")).unwrap();
            std::fs::copy(out.join(REPORT_FILE), Path::new(&keep).join("stage-heatmap.md")).unwrap();
        }
    }

    #[test]
    fn line_over_slices_one_series_per_band_with_baseline_reference() {
        let dir = tempfile::tempdir().unwrap();
        let (fam, base) = sweep(dir.path());
        let hard_1024: Vec<InputArtifact> = fam
            .iter()
            .filter(|a| a.instance.contains("budget=1024"))
            .cloned()
            .collect();
        let out = dir.path().join("out");
        run_report(
            &[("kind", s("line")), ("x", s("ops"))],
            &hard_1024,
            Some(&base),
            &out,
        )
        .unwrap();
        let m = read_json(out.join(METRICS_FILE));
        assert_eq!(m["columns"], json!([2, 3, 10]), "numeric slice order");
        assert_eq!(
            m["rows_by"],
            json!(["band"]),
            "series default: the varying sweep variable"
        );
        assert_eq!(m["baseline"]["values"], json!([0.7, 0.4, 0.1]));
        let csv = std::fs::read_to_string(out.join(TABLE_CSV)).unwrap();
        assert!(csv.ends_with("baseline,0.7,0.4,0.1,\n"), "{csv}");
        assert!(out.join(CHART_PNG).exists() && out.join(CHART_SVG).exists());
        let svg = std::fs::read_to_string(out.join(CHART_SVG)).unwrap();
        assert!(
            svg.contains("band=medium") && svg.contains("baseline (base_acc)"),
            "legend"
        );
        if let Ok(keep) = std::env::var("SIEVE_KEEP_CHARTS") {
            std::fs::copy(out.join(CHART_PNG), Path::new(&keep).join("stage-line.png")).unwrap();
        }

        // x = a sweep variable, series = another; per-slice value by dotted path.
        let out = dir.path().join("out2");
        let params = [
            ("kind", s("line")),
            ("x", s("budget")),
            ("series", s("band")),
            ("value", s("slices.10.accuracy")),
        ];
        run_report(&params, &fam, None, &out).unwrap();
        let m = read_json(out.join(METRICS_FILE));
        assert_eq!(m["columns"], json!([256, 1024]));
        assert!((m["rows"][2]["values"][1].as_f64().unwrap() - 0.36).abs() < 1e-9);
    }

    #[test]
    fn tables_and_bars() {
        let dir = tempfile::tempdir().unwrap();
        let (fam, base) = sweep(dir.path());
        let out = dir.path().join("table");
        run_report(&[("kind", s("table")), ("x", s("band"))], &fam, Some(&base), &out).unwrap();
        assert!(!out.join(CHART_PNG).exists(), "a table draws no chart");
        let md = std::fs::read_to_string(out.join(REPORT_FILE)).unwrap();
        assert!(md.contains("| budget | easy | medium | hard | best |"), "{md}");
        assert!(md.contains("| baseline | 0.400 | 0.400 | 0.400 |"), "{md}");
        // No axes at all: one row per input, by every varying variable.
        let out = dir.path().join("long");
        run_report(&[("kind", s("table")), ("value", s("pass@1"))], &fam, None, &out).unwrap();
        let csv = std::fs::read_to_string(out.join(TABLE_CSV)).unwrap();
        assert_eq!(
            csv.lines().next(),
            Some("budget,band,pass@1"),
            "one column: nothing to mark"
        );
        assert_eq!(csv.lines().count(), 7);
        // Separate references with no coordinates are told apart by instance.
        let out = dir.path().join("refs");
        run_report(
            &[("kind", s("bar")), ("x", s("ops"))],
            &[fam[0].clone(), base.clone()],
            None,
            &out,
        )
        .unwrap();
        let m = read_json(out.join(METRICS_FILE));
        assert_eq!(m["rows_by"], json!(["instance"]));
        assert_eq!(m["rows"][1]["label"], "base_acc");
        // Bars over a sweep variable with a mean over the other.
        let out = dir.path().join("bar");
        run_report(
            &[("kind", s("bar")), ("x", s("band")), ("aggregate", s("mean"))],
            &fam,
            Some(&base),
            &out,
        )
        .unwrap();
        let m = read_json(out.join(METRICS_FILE));
        assert!((m["rows"][0]["values"][2].as_f64().unwrap() - 0.555).abs() < 1e-9);
        assert_eq!(m["rows"][0]["count"], json!([2, 2, 2]));
        if let Ok(keep) = std::env::var("SIEVE_KEEP_CHARTS") {
            std::fs::copy(out.join(CHART_PNG), Path::new(&keep).join("stage-bar.png")).unwrap();
        }
    }

    #[test]
    fn runtime_errors_name_the_instance_and_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        let (fam, base) = sweep(dir.path());
        let out = dir.path().join("out");
        let err = |params: &[(&str, Value)], b: Option<&InputArtifact>| {
            run_report(params, &fam, b, &out).unwrap_err().to_string()
        };
        let e = err(&[("value", s("acc"))], None);
        assert!(
            e.starts_with("invalid input: `value = acc`: `acc[budget=256,band=easy]`"),
            "{e}"
        );
        assert!(e.contains("available: metric, accuracy, n,"), "{e}");
        let e = err(
            &[("kind", s("heatmap")), ("x", s("bnd")), ("y", s("budget"))],
            None,
        );
        assert!(
            e.contains("`x = bnd`: `acc[budget=256,band=easy]` has no variable `bnd`"),
            "{e}"
        );
        assert!(
            e.contains("its sweep variables: `budget`, `band`; its metrics are sliced by `ops`"),
            "{e}"
        );
        let e = err(&[("kind", s("heatmap")), ("x", s("band")), ("y", s("ops"))], None);
        assert!(
            e.contains("2 values fall into one cell") && e.contains("differ in `budget`"),
            "{e}"
        );
        let e = err(&[("relative_to", s("baseline"))], None);
        assert!(e.contains("needs a baseline input"), "{e}");
        let e = err(&[("value", s("slices.7.accuracy"))], None);
        assert!(e.contains("no `7` in `slices` (available: 2, 3, 10)"), "{e}");
        let e = err(
            &[("kind", s("line")), ("x", s("band")), ("x_scale", s("log"))],
            None,
        );
        assert!(e.contains("not a number"), "{e}");
        // A missing metrics file.
        let mut broken = fam.clone();
        broken[1].dir = dir.path().join("nowhere");
        let e = run_report(&[], &broken, None, &out).unwrap_err().to_string();
        assert!(
            e.contains("`acc[budget=256,band=medium]` has no readable metrics.json"),
            "{e}"
        );
        let _ = base;
    }

    #[test]
    fn validate_catches_what_it_can() {
        let check = |params: &[(&str, &str)]| -> Vec<(Option<&'static str>, String)> {
            let mut p = Params::default();
            for spec in Report.params() {
                p.0.insert(
                    spec.name.to_string(),
                    spec.default.unwrap_or(Value::Str(String::new())),
                );
            }
            for (k, v) in params {
                p.0.insert(k.to_string(), s(v));
            }
            Report.validate(&p)
        };
        assert!(check(&[]).is_empty());
        let e = check(&[("kind", "heatmap"), ("x", "band")]);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, Some("y"));
        assert_eq!(check(&[("kind", "line")])[0].0, Some("x"));
        assert!(
            check(&[("kind", "line"), ("x", "ops"), ("y", "band")])[0]
                .1
                .contains("series = band")
        );
        assert!(
            check(&[("kind", "bar"), ("x", "band"), ("series", "band")])[0]
                .1
                .contains("both name `band`")
        );
        assert_eq!(
            check(&[("kind", "table"), ("series", "band")])[0].0,
            Some("series")
        );
        assert_eq!(check(&[("value", " ")])[0].0, Some("value"));
        assert_eq!(check(&[("x_scale", "log")])[0].0, Some("x_scale"));
        let mut p = Params::default();
        for spec in Report.params() {
            p.0.insert(
                spec.name.to_string(),
                spec.default.unwrap_or(Value::Str(String::new())),
            );
        }
        p.0.insert("width".into(), Value::Int(10));
        assert_eq!(Report.validate(&p)[0].0, Some("width"));
        // The kind's enum rejects unknown kinds at lowering, with a suggestion.
        let kind = Report.params().into_iter().find(|p| p.name == "kind").unwrap();
        assert!(
            kind.ty
                .coerce(s("heatmpa"))
                .unwrap_err()
                .contains("did you mean `heatmap`")
        );
    }
}
