//! From metrics documents to the grid of a report: each input (an instance's metrics
//! with its sweep coordinates) becomes one observation, or one per slice when an axis is
//! the metrics' slice variable; the report's kind and axes decide which variables make
//! rows and columns; [`super::grid::pivot`] arranges them.
//!
//! Invariants: a variable is a sweep coordinate, the slice variable (`slice_by`, or
//! `slice`) or [`INSTANCE`], resolved per input; a variable, metric or slice an input
//! lacks is an error naming the input and what it does have, never a silent gap. With
//! `relative`, every value is minus the baseline's value for the same slice (or its one
//! value when no axis is the slice variable).

use super::grid::{self, Aggregate, Grid, Observation, PivotSpec};
use super::spec::{ReportKind, ReportSpec};
use super::{Label, ReportError, lookup};
use serde_json::Value as Json;

/// The pseudo-variable naming each input: its instance name.
pub const INSTANCE: &str = "instance";

/// What messages call an input's metrics document: the file a metrics artifact keeps it
/// in. The stage layer names that file `stages::artifact::METRICS_FILE`; this leaf
/// library may not import it, so a test of the `report` stage keeps the two equal.
pub const METRICS_JSON: &str = "metrics.json";

/// One input of a report: an instance's metrics document with its sweep coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsInput {
    /// The instance name (`acc[budget=256,band=easy]`), for the `instance` variable,
    /// titles and messages.
    pub instance: String,
    /// Its sweep coordinates, in sweep order (empty outside a sweep).
    pub coords: Vec<(String, Label)>,
    /// The parsed metrics document.
    pub metrics: Json,
}

/// Where a variable's value comes from for one input.
#[derive(Debug, Clone, Copy, PartialEq)]
enum VarSource {
    Coord,
    Slice,
    Instance,
}

impl MetricsInput {
    /// The variable this input's `slices` are keyed by (`slice_by`), if it has slices.
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

    /// Where variable `var` (named by parameter `param`) comes from for this input.
    fn resolve(&self, param: &str, var: &str) -> Result<VarSource, ReportError> {
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
        Err(ReportError::Data(format!(
            "`{param} = {var}`: `{}` has no variable `{var}` ({coords}{slices}; `{INSTANCE}` names each input)",
            self.instance
        )))
    }

    /// The number at `path` inside `doc` (the whole metrics or one slice of it).
    fn number(&self, doc: &Json, path: &str, slice: Option<&str>) -> Result<f64, ReportError> {
        lookup::number(doc, path).map_err(|e| {
            let place = match slice {
                Some(k) => format!("slice `{k}` of its {METRICS_JSON}"),
                None => format!("its {METRICS_JSON}"),
            };
            ReportError::Data(format!("`value = {path}`: `{}`: {place} has {e}", self.instance))
        })
    }

    /// The value of one slice of this input (`slices.KEY.path`).
    fn slice_number(&self, key: &str, path: &str) -> Result<f64, ReportError> {
        let slice = self
            .slices()
            .into_iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v);
        match slice {
            Some(doc) => self.number(doc, path, Some(key)),
            None => Err(ReportError::Data(format!(
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

/// The grid of a report, with the slice variable it used (if an axis is one).
#[derive(Debug, Clone, PartialEq)]
pub struct Pivoted {
    pub grid: Grid,
    pub slice_axis: Option<String>,
}

/// Arranges the inputs as the report's grid.
pub fn arrange(
    spec: &ReportSpec,
    results: &[MetricsInput],
    baseline: Option<&MetricsInput>,
) -> Result<Pivoted, ReportError> {
    let (obs, slice_axis) = observations(spec, results, baseline)?;
    if obs.is_empty() {
        return Err(ReportError::Data(format!(
            "nothing to report: the inputs have no slices of `{}`",
            slice_axis.as_deref().unwrap_or("?")
        )));
    }
    let grid = grid::pivot(&obs, &pivot_spec(spec, &obs))?;
    Ok(Pivoted { grid, slice_axis })
}

/// Turns the inputs into observations: one per input, or one per slice when an axis is
/// the slice variable. Returns them with the slice variable's name (if one is used).
fn observations(
    spec: &ReportSpec,
    results: &[MetricsInput],
    baseline: Option<&MetricsInput>,
) -> Result<(Vec<Observation>, Option<String>), ReportError> {
    if spec.relative && baseline.is_none() {
        return Err(ReportError::Data(
            "values relative to a baseline need a baseline input".into(),
        ));
    }
    let mut slice_axis: Option<String> = None;
    let mut out = Vec::new();
    for src in results {
        let mut slice_var = None;
        for (param, var) in spec.axes() {
            if src.resolve(param, var)? == VarSource::Slice {
                slice_var = Some(var.to_string());
            }
        }
        if slice_axis.is_none() {
            slice_axis = slice_var.clone();
        }
        let mut vars = src.coords.clone();
        vars.push((INSTANCE.to_string(), Label::Text(src.instance.clone())));
        let base_scalar = match (spec.relative, baseline, &slice_var) {
            (true, Some(b), None) => Some(b.number(&b.metrics, &spec.value, None)?),
            _ => None,
        };
        match &slice_var {
            Some(var) => {
                for (key, doc) in src.slices() {
                    let mut value = src.number(doc, &spec.value, Some(key))?;
                    if let (true, Some(b)) = (spec.relative, baseline) {
                        value -= b.slice_number(key, &spec.value)?;
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
                let value = src.number(&src.metrics, &spec.value, None)? - base_scalar.unwrap_or(0.0);
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

/// The pivot for the report's kind: which variables make rows and columns.
fn pivot_spec(spec: &ReportSpec, obs: &[Observation]) -> PivotSpec {
    let named: Vec<&str> = spec.axes().map(|(_, v)| v).chain([INSTANCE]).collect();
    let explicit_rows = match spec.kind {
        ReportKind::Heatmap | ReportKind::Table => spec.y.clone(),
        ReportKind::Line | ReportKind::Bar => spec.series.clone(),
    };
    let rows = match explicit_rows {
        Some(r) => vec![r],
        None if spec.aggregate != Aggregate::None => Vec::new(),
        None => {
            let mut rest = grid::varying(obs, &named);
            // Inputs that share every coordinate (separate references, not one sweep)
            // are told apart by instance name.
            let probe = PivotSpec {
                rows: rest.clone(),
                col: spec.x.clone(),
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
        col: spec.x.clone(),
        value_name: spec.value_name(),
        aggregate: spec.aggregate,
    }
}

/// The baseline's values aligned with the grid's columns (for showing it beside raw
/// values): per slice when the columns are the slice variable, else its one value.
pub fn baseline_row(
    spec: &ReportSpec,
    pivoted: &Pivoted,
    baseline: &MetricsInput,
) -> Result<Vec<Option<f64>>, ReportError> {
    let Pivoted { grid, slice_axis } = pivoted;
    let col_is_slice = slice_axis.is_some() && grid.col_var.as_ref() == slice_axis.as_ref();
    if col_is_slice {
        Ok(grid
            .cols
            .iter()
            .map(|c| {
                baseline
                    .slices()
                    .into_iter()
                    .find(|(k, _)| Label::parse(k) == *c)
                    .and_then(|(_, doc)| lookup::number(doc, &spec.value).ok())
            })
            .collect())
    } else if slice_axis.is_some() {
        // Slices are rows or series: one baseline value per column does not exist.
        Ok(vec![None; grid.cols.len()])
    } else {
        let v = baseline.number(&baseline.metrics, &spec.value, None)?;
        Ok(vec![Some(v); grid.cols.len()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testutil::{spec, sweep, var};

    fn error(spec: &ReportSpec, results: &[MetricsInput]) -> String {
        arrange(spec, results, None).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_input_and_what_it_has() {
        let (fam, _) = sweep();
        let table = spec(ReportKind::Table);
        let e = error(
            &ReportSpec {
                value: "acc".into(),
                ..table.clone()
            },
            &fam,
        );
        assert!(
            e.starts_with("`value = acc`: `acc[budget=256,band=easy]`: its metrics.json has no `acc`"),
            "{e}"
        );
        assert!(e.contains("available: metric, accuracy, n,"), "{e}");
        let heatmap = |x: &str, y: &str| ReportSpec {
            x: var(x),
            y: var(y),
            ..spec(ReportKind::Heatmap)
        };
        let e = error(&heatmap("bnd", "budget"), &fam);
        assert!(
            e.contains("`x = bnd`: `acc[budget=256,band=easy]` has no variable `bnd`"),
            "{e}"
        );
        assert!(
            e.contains("its sweep variables: `budget`, `band`; its metrics are sliced by `ops`"),
            "{e}"
        );
        let e = error(&heatmap("band", "ops"), &fam);
        assert!(
            e.contains("2 values fall into one cell") && e.contains("differ in `budget`"),
            "{e}"
        );
        let e = error(
            &ReportSpec {
                value: "slices.7.accuracy".into(),
                ..table.clone()
            },
            &fam,
        );
        assert!(e.contains("no `7` in `slices` (available: 2, 3, 10)"), "{e}");
        let e = error(
            &ReportSpec {
                relative: true,
                ..table.clone()
            },
            &fam,
        );
        assert!(e.contains("need a baseline input"), "{e}");
    }

    #[test]
    fn slice_values_are_relative_to_the_baselines_same_slice() {
        let (fam, base) = sweep();
        let spec = ReportSpec {
            x: var("ops"),
            relative: true,
            ..spec(ReportKind::Line)
        };
        let p = arrange(&spec, &fam[..1], Some(&base)).unwrap();
        assert_eq!(p.slice_axis.as_deref(), Some("ops"));
        // acc[256,easy] is 0.5 with slices 0.8 / 0.5 / 0.2; the base 0.7 / 0.4 / 0.1.
        let gains: Vec<f64> = p.grid.cells[0].iter().map(|v| v.unwrap()).collect();
        assert!(gains.iter().all(|g| (g - 0.1).abs() < 1e-9), "{gains:?}");
        // A baseline without the slice is named.
        let mut thin = base.clone();
        thin.metrics["slices"].as_object_mut().unwrap().remove("10");
        let e = arrange(&spec, &fam[..1], Some(&thin)).unwrap_err().to_string();
        assert!(
            e.contains("`base_acc` has no slice `10` (its slices: 2, 3)"),
            "{e}"
        );
        // The slice variable as columns: the baseline row per slice; as rows: none.
        let raw = ReportSpec {
            relative: false,
            ..spec.clone()
        };
        let p = arrange(&raw, &fam, Some(&base)).unwrap();
        assert_eq!(
            baseline_row(&raw, &p, &base).unwrap(),
            [Some(0.7), Some(0.4), Some(0.1)]
        );
        let by_band = ReportSpec {
            x: var("band"),
            series: var("ops"),
            ..raw
        };
        let p = arrange(&by_band, &fam[..3], Some(&base)).unwrap();
        assert_eq!(baseline_row(&by_band, &p, &base).unwrap(), [None, None, None]);
    }
}
