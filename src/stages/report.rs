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
//!
//! This file is only the kind: its parameters, their checks, and a `run` that reads the
//! inputs' metrics, hands them to the reporting library (`report::render`: pivoting,
//! tables, charts, the page) and writes what it renders.

use super::artifact::{METRICS_FILE, REPORT_FILE};
use super::declare::{Axis, MetricName, Problems, Stage};
use super::{ArtifactKind, InputArtifact, InputSpec, StageContext, StageError, StageResult};
use crate::report::render::{CHART_PNG, CHART_SVG, TABLE_CSV, render};
use crate::report::{Aggregate, Best, Label, MetricsInput, ReportError, ReportKind, ReportSpec, Scale};
use crate::value::Value;
use serde_json::Value as Json;

crate::word_param!(ReportKind);
crate::word_param!(Aggregate);
crate::word_param!(Best);

crate::param_enum! {
    /// What the numbers are: raw values or gains over the baseline input.
    pub enum RelativeTo {
        /// raw values (a bound baseline is shown beside them)
        None = "none",
        /// value − the baseline's value
        Baseline = "baseline",
    }
}

crate::param_enum! {
    /// A line chart's x axis: the library's [`Scale`], or chosen from the data.
    pub enum XScale {
        /// linear for numbers, else categorical
        Auto = "auto",
        Linear = "linear",
        Log = "log",
        Category = "category",
    }
}

impl XScale {
    /// The scale the library draws with; `None` lets it choose from the data.
    pub fn scale(self) -> Option<Scale> {
        match self {
            XScale::Auto => None,
            XScale::Linear => Some(Scale::Linear),
            XScale::Log => Some(Scale::Log),
            XScale::Category => Some(Scale::Category),
        }
    }
}

crate::stage_params! {
    /// Parameters of [`Report`].
    pub struct ReportParams {
        /// what to draw: `table` (no chart), `line` (value against x, one line per series), `heatmap` (y rows × x columns, best cell of each row marked), `bar` (groups by x, one bar per series)
        kind: ReportKind = ReportKind::Table,
        /// the metric: a key of each metrics.json, dotted for nested values (`pass@4`, `slices.7.accuracy`); read per slice when an axis is the slice variable
        value: MetricName = MetricName("accuracy".into()),
        /// the columns / x axis: a sweep variable (`band`), the evaluations' `slice_by` column (`ops`), or `instance`; required for line, heatmap and bar
        x: Option<Axis>,
        /// the rows of a heatmap (required) or of a table (default: every other varying variable)
        y: Option<Axis>,
        /// line / bar: one line or bar per value of this variable (default: one per combination of the other varying variables)
        series: Option<Axis>,
        /// `baseline`: report value − the baseline input's value (a gain); `none`: raw values, the baseline (if bound) shown as a reference
        relative_to: RelativeTo = RelativeTo::None,
        /// how artifacts that fall into one cell combine (e.g. seeds): `none` makes that an error; with mean/min/max, variables not on an axis are aggregated over
        aggregate: Aggregate = Aggregate::None,
        /// which cell of each row is best (bold in the table, framed on a heatmap): `max` for accuracy, `min` for losses, `none`
        best: Best = Best::Max,
        /// line charts: `linear` / `log` (numeric x), `category` (evenly spaced), `auto` (linear for numbers, else category)
        x_scale: XScale = XScale::Auto,
        /// chart and page title (default: derived from value and axes)
        title: Option<String>,
        /// digits after the decimal point in tables and on heatmaps
        precision: u64 = 3,
        /// chart width in pixels
        width: u64 = 800,
        /// chart height in pixels
        height: u64 = 500,
    }
}

/// The range `validate` allows for `width` and `height`.
const PIXELS: std::ops::RangeInclusive<u64> = 200..=4000;
/// The most digits `validate` allows for `precision`.
const MAX_PRECISION: u64 = 10;

impl ReportParams {
    /// What the reporting library is asked to show.
    pub fn spec(&self) -> ReportSpec {
        let axis = |a: &Option<Axis>| a.as_ref().map(|a| a.0.clone());
        // `validate` keeps these in range at lowering; clamping keeps a body reached
        // without lowering (a unit test) from drawing absurd sizes.
        let px = |n: u64| n.clamp(*PIXELS.start(), *PIXELS.end()) as u32;
        ReportSpec {
            kind: self.kind,
            value: self.value.0.clone(),
            x: axis(&self.x),
            y: axis(&self.y),
            series: axis(&self.series),
            relative: self.relative_to == RelativeTo::Baseline,
            aggregate: self.aggregate,
            best: self.best,
            x_scale: self.x_scale.scale(),
            title: self.title.clone().unwrap_or_default(),
            precision: self.precision.min(MAX_PRECISION) as usize,
            width: px(self.width),
            height: px(self.height),
        }
    }
}

/// Why `relative_to = baseline` cannot work (checked at lowering, and again at run time).
const NEEDS_BASELINE: &str = "`relative_to = baseline` needs a baseline input: `report(acc, base_acc, …)`";

/// `report(results, baseline?, …)`.
pub struct Report;

impl Stage for Report {
    const NAME: &'static str = "report";
    const VERSION: u32 = 1;
    const DOC: &'static str = "Tables (Markdown + CSV) and charts (line, heatmap, bar; PNG + SVG) over a family of metrics, addressed by their sweep variables";
    const INPUTS: &'static [InputSpec] = &[
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
    ];
    const OUTPUT: ArtifactKind = ArtifactKind::Report;
    type Params = ReportParams;

    /// Tables, titles and `metrics.json` name the inputs (the `instance` axis, the
    /// baseline).
    fn reads_input_names(_p: &ReportParams) -> bool {
        true
    }

    fn validate(p: &ReportParams, problems: &mut Problems) {
        use ReportParams as P;
        let kind = p.kind;
        let name = kind.name();
        match kind {
            ReportKind::Heatmap => {
                if p.x.is_none() {
                    problems.at(P::x, "a heatmap needs `x` (its columns), e.g. `x = band`");
                }
                if p.y.is_none() {
                    problems.at(P::y, "a heatmap needs `y` (its rows), e.g. `y = budget`");
                }
                if p.series.is_some() {
                    problems.at(P::series, "a heatmap has no series: its rows are `y`");
                }
            }
            ReportKind::Line | ReportKind::Bar => {
                if p.x.is_none() {
                    problems.at(
                        P::x,
                        format!("a {name} chart needs `x`, e.g. `x = budget` or `x = ops`"),
                    );
                }
                if let Some(Axis(y)) = &p.y {
                    problems.at(
                        P::y,
                        format!(
                            "a {name} chart plots `value` against `x`; name the lines with `series = {y}`"
                        ),
                    );
                }
            }
            ReportKind::Table => {
                if let Some(Axis(series)) = &p.series {
                    problems.at(
                        P::series,
                        format!("a table has rows, not series: write `y = {series}`"),
                    );
                }
            }
        }
        let axes = [("x", &p.x), ("y", &p.y), ("series", &p.series)];
        for (i, (a, va)) in axes.iter().enumerate() {
            for (b, vb) in &axes[i + 1..] {
                if let (Some(Axis(va)), Some(Axis(vb))) = (va, vb)
                    && va == vb
                {
                    problems.general(format!("`{a}` and `{b}` both name `{va}`"));
                }
            }
        }
        if p.x_scale != XScale::Auto && kind != ReportKind::Line {
            problems.at(P::x_scale, "only line charts have a numeric x axis");
        }
        for (field, px) in [(P::width, p.width), (P::height, p.height)] {
            if !PIXELS.contains(&px) {
                problems.at(field, format!("must be in {}..={}", PIXELS.start(), PIXELS.end()));
            }
        }
        if p.precision > MAX_PRECISION {
            problems.at(P::precision, format!("must be in 0..={MAX_PRECISION}"));
        }
    }

    fn validate_inputs(p: &ReportParams, bound: &[&str], problems: &mut Problems) {
        if p.relative_to == RelativeTo::Baseline && !bound.contains(&"baseline") {
            problems.at(ReportParams::relative_to, NEEDS_BASELINE);
        }
    }

    fn run(p: &ReportParams, ctx: &StageContext) -> StageResult {
        let spec = p.spec();
        let results: Vec<MetricsInput> = ctx
            .slot("results")
            .iter()
            .map(load_input)
            .collect::<Result<_, _>>()?;
        if results.is_empty() {
            return Err(StageError::Input("`results` is empty: nothing to report".into()));
        }
        let baseline = ctx.slot("baseline").first().map(load_input).transpose()?;
        if spec.relative && baseline.is_none() {
            return Err(StageError::Input(NEEDS_BASELINE.into()));
        }
        let rendered = render(&spec, &results, baseline.as_ref()).map_err(report_err)?;
        let out = ctx.out_dir();
        std::fs::write(out.join(REPORT_FILE), &rendered.markdown)?;
        std::fs::write(out.join(TABLE_CSV), rendered.table.to_csv())?;
        std::fs::write(
            out.join(METRICS_FILE),
            serde_json::to_vec_pretty(&rendered.metrics)?,
        )?;
        if let (Some(chart), Some(svg)) = (&rendered.chart, &rendered.svg) {
            chart
                .write_png(&out.join(CHART_PNG), (spec.width, spec.height))
                .map_err(report_err)?;
            std::fs::write(out.join(CHART_SVG), svg)?;
        }
        ctx.log(&format!(
            "report: {} of `{}` over {} input(s), {} × {} grid",
            spec.kind.name(),
            spec.value,
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

/// Reads one input artifact's metrics document.
fn load_input(a: &InputArtifact) -> Result<MetricsInput, StageError> {
    let path = a.file(METRICS_FILE);
    let bytes = std::fs::read(&path)
        .map_err(|e| StageError::Input(format!("`{}` has no readable {METRICS_FILE}: {e}", a.instance)))?;
    let metrics: Json = serde_json::from_slice(&bytes)
        .map_err(|e| StageError::Input(format!("`{}`: {METRICS_FILE} is not valid JSON: {e}", a.instance)))?;
    let coords = a
        .coords
        .iter()
        .map(|(k, v)| (k.clone(), coord_label(v)))
        .collect();
    Ok(MetricsInput {
        instance: a.instance.clone(),
        coords,
        metrics,
    })
}

/// A sweep coordinate as a report label: numbers stay numbers (so they sort as numbers),
/// other values are shown as in instance names.
fn coord_label(v: &Value) -> Label {
    match v {
        Value::Int(i) => Label::Num(*i as f64),
        Value::Float(f) => Label::Num(*f),
        Value::Str(s) => Label::Text(s.clone()),
        other => Label::Text(other.coord_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::NoProgress;
    use super::super::declare::{Kind, ParamStruct};
    use super::super::{InputSlot, Params, StageKind};
    use super::*;
    use crate::report::testutil::{spec, sweep};
    use std::path::Path;
    use std::sync::atomic::AtomicBool;

    /// The fixture sweep as metrics artifacts on disk: one folder per instance.
    fn artifacts(root: &Path) -> (Vec<InputArtifact>, InputArtifact) {
        let write = |input: &MetricsInput| {
            let dir = root.join(input.instance.replace(['[', ']', '=', ','], "_"));
            std::fs::create_dir_all(&dir).unwrap();
            let bytes = serde_json::to_vec_pretty(&input.metrics).unwrap();
            std::fs::write(dir.join(METRICS_FILE), bytes).unwrap();
            let coords = input.coords.iter().map(|(k, l)| {
                let v = match l {
                    Label::Num(x) => Value::Int(*x as i64),
                    Label::Text(t) => Value::Str(t.clone()),
                };
                (k.clone(), v)
            });
            InputArtifact {
                instance: input.instance.clone(),
                coords: coords.collect(),
                kind: ArtifactKind::Metrics,
                dir,
            }
        };
        let (fam, base) = sweep();
        (fam.iter().map(write).collect(), write(&base))
    }

    /// The parameters as lowering hands them over: the declared defaults, then `given`
    /// (absent optionals stay absent).
    fn params(given: &[(&str, Value)]) -> Params {
        let mut p = Params::default();
        for spec in ReportParams::specs() {
            if let Some(d) = spec.default {
                p.0.insert(spec.name.to_string(), d);
            }
        }
        for (k, v) in given {
            p.0.insert(k.to_string(), v.clone());
        }
        p
    }

    /// The typed parameters of `given`.
    fn typed(given: &[(&str, Value)]) -> ReportParams {
        ReportParams::from_params(&params(given)).unwrap()
    }

    fn kind() -> Box<dyn StageKind> {
        Kind::<Report>::boxed()
    }

    fn run_report(
        params: &[(&str, Value)],
        results: &[InputArtifact],
        baseline: Option<&InputArtifact>,
        out: &Path,
    ) -> StageResult {
        let p = self::params(params);
        let errs = kind().validate(&p);
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
        kind().run(&ctx)
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn parameters_become_the_libraries_spec() {
        assert_eq!(typed(&[]).spec(), spec(ReportKind::Table), "the defaults");
        let p = typed(&[
            ("kind", s("line")),
            ("x", s(" budget ")),
            ("series", s("band")),
            ("value", s(" pass@1 ")),
            ("relative_to", s("baseline")),
            ("aggregate", s("mean")),
            ("best", s("min")),
            ("x_scale", s("log")),
            ("title", s("T")),
            ("precision", Value::Int(5)),
            ("width", Value::Int(640)),
        ]);
        let want = ReportSpec {
            x: Some("budget".into()),
            series: Some("band".into()),
            value: "pass@1".into(),
            relative: true,
            aggregate: Aggregate::Mean,
            best: Best::Min,
            x_scale: Some(Scale::Log),
            title: "T".into(),
            precision: 5,
            width: 640,
            ..spec(ReportKind::Line)
        };
        assert_eq!(p.spec(), want);
    }

    /// The key material of a report with every parameter left out: the declared defaults
    /// are the words and numbers the kind always had; the axes and the title, whose old
    /// default was the empty string, are now absent.
    #[test]
    fn declared_defaults_are_the_kinds_key_material() {
        let defaults: Vec<(&str, Option<Value>)> = ReportParams::specs()
            .into_iter()
            .map(|p| (p.name, p.default))
            .collect();
        let word = |w: &str| Some(s(w));
        let want = [
            ("kind", word("table")),
            ("value", word("accuracy")),
            ("x", None),
            ("y", None),
            ("series", None),
            ("relative_to", word("none")),
            ("aggregate", word("none")),
            ("best", word("max")),
            ("x_scale", word("auto")),
            ("title", None),
            ("precision", Some(Value::Int(3))),
            ("width", Some(Value::Int(800))),
            ("height", Some(Value::Int(500))),
        ];
        assert_eq!(defaults, want);
        for p in ReportParams::specs() {
            assert_eq!(p.optional, p.default.is_none(), "`{}`", p.name);
        }
    }

    #[test]
    fn run_writes_what_the_library_renders_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let (fam, base) = artifacts(dir.path());
        let params = [
            ("kind", s("heatmap")),
            ("x", s("band")),
            ("y", s("budget")),
            ("value", s("accuracy")),
            ("relative_to", s("baseline")),
        ];
        let out = dir.path().join("out");
        run_report(&params, &fam, Some(&base), &out).unwrap();
        let want = {
            let (fam, base) = sweep();
            render(&typed(&params).spec(), &fam, Some(&base)).unwrap()
        };
        let read = |f: &str| std::fs::read(out.join(f)).unwrap();
        assert_eq!(read(REPORT_FILE), want.markdown.as_bytes());
        assert_eq!(read(TABLE_CSV), want.table.to_csv().as_bytes());
        assert_eq!(
            read(METRICS_FILE),
            serde_json::to_vec_pretty(&want.metrics).unwrap()
        );
        assert_eq!(read(CHART_SVG), want.svg.unwrap().as_bytes());
        assert_eq!(&read(CHART_PNG)[1..4], b"PNG");

        // A second run over the same inputs writes identical bytes, charts included.
        let again = dir.path().join("again");
        run_report(&params, &fam, Some(&base), &again).unwrap();
        for f in [REPORT_FILE, TABLE_CSV, METRICS_FILE, CHART_PNG, CHART_SVG] {
            assert_eq!(
                read(f),
                std::fs::read(again.join(f)).unwrap(),
                "{f} differs between runs"
            );
        }
        // A table writes no chart.
        let table = dir.path().join("table");
        run_report(&[("x", s("band"))], &fam, None, &table).unwrap();
        assert!(table.join(TABLE_CSV).exists() && !table.join(CHART_PNG).exists());
    }

    #[test]
    fn runtime_errors_name_the_instance_and_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        let (fam, _) = artifacts(dir.path());
        let out = dir.path().join("out");
        let err = |params: &[(&str, Value)], results: &[InputArtifact]| {
            run_report(params, results, None, &out).unwrap_err().to_string()
        };
        // What the library finds is an input error.
        let e = err(&[("value", s("acc"))], &fam);
        assert!(
            e.starts_with(
                "invalid input: `value = acc`: `acc[budget=256,band=easy]`: its metrics.json has no `acc`"
            ),
            "{e}"
        );
        let e = err(
            &[("kind", s("line")), ("x", s("band")), ("x_scale", s("log"))],
            &fam,
        );
        assert!(
            e.starts_with("invalid input: ") && e.contains("not a number"),
            "{e}"
        );
        // What the stage finds: a baseline it was not given, a missing metrics file.
        let e = err(&[("relative_to", s("baseline"))], &fam);
        assert_eq!(e, format!("invalid input: {NEEDS_BASELINE}"));
        let mut broken = fam.clone();
        broken[1].dir = dir.path().join("nowhere");
        let e = err(&[], &broken);
        assert!(
            e.contains("`acc[budget=256,band=medium]` has no readable metrics.json"),
            "{e}"
        );
        assert!(err(&[], &[]).contains("`results` is empty"));
    }

    #[test]
    fn the_library_names_the_metrics_file_as_the_stages_do() {
        assert_eq!(crate::report::pivot::METRICS_JSON, METRICS_FILE);
    }

    #[test]
    fn validate_catches_what_it_can() {
        let check = |p: &[(&str, &str)]| -> Vec<(Option<&'static str>, String)> {
            let p: Vec<(&str, Value)> = p.iter().map(|(k, v)| (*k, s(v))).collect();
            kind().validate(&params(&p))
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
        assert_eq!(
            check(&[("value", " ")]),
            [(Some("value"), "must name a metric, e.g. `accuracy`".to_string())]
        );
        // An axis is left out for none: an empty one names nothing.
        assert_eq!(
            check(&[("kind", "line"), ("x", "")]),
            [(
                Some("x"),
                "names no variable (leave the parameter out for none)".to_string()
            )]
        );
        assert_eq!(check(&[("x_scale", "log")])[0].0, Some("x_scale"));
        assert_eq!(
            kind().validate(&params(&[("width", Value::Int(10))])),
            [(Some("width"), "must be in 200..=4000".to_string())]
        );
        assert_eq!(
            kind().validate(&params(&[("precision", Value::Int(11))]))[0].0,
            Some("precision")
        );
        // The kind's enum rejects unknown kinds at lowering, with a suggestion.
        let spec = ReportParams::specs()
            .into_iter()
            .find(|p| p.name == "kind")
            .unwrap();
        assert!(
            spec.ty
                .coerce(s("heatmpa"))
                .unwrap_err()
                .to_string()
                .contains("did you mean `heatmap`")
        );
    }

    #[test]
    fn a_gain_needs_the_baseline_input_bound() {
        let relative = params(&[("relative_to", s("baseline"))]);
        assert_eq!(
            kind().validate_inputs(&relative, &["results"]),
            [("relative_to", NEEDS_BASELINE.to_string())]
        );
        assert!(
            kind()
                .validate_inputs(&relative, &["results", "baseline"])
                .is_empty()
        );
        assert!(kind().validate_inputs(&params(&[]), &["results"]).is_empty());
    }
}
