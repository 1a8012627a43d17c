//! The intermediate representation: a pipeline after lowering — names resolved, sweeps
//! expanded into instances, parameters evaluated, typed against their kind's schema and
//! defaulted, inputs bound to producer instances with artifact kinds checked — and the
//! files pass ([`check_files`]) that confines the paths its stages name.
//!
//! Invariants: an `ir::Pipeline` is valid by construction (only [`lower()`] builds one);
//! it is acyclic; every input names an existing instance whose output kind matches the
//! slot; stages are keyed by instance name so the order of declarations (and the choice
//! of DSL or YAML) does not matter. Spans are kept for later diagnostics but are not
//! part of [`Pipeline::canonical`], the form compared across syntaxes and snapshotted.

mod checks;
mod eval;
mod files;
mod lower;
#[cfg(test)]
mod tests;

pub use files::check_files;
pub use lower::{DEFAULT_MAX_INSTANCES, LowerOptions, MAX_VALUE_BYTES, Override, lower, lower_with};

use crate::diag::Span;
use crate::stages::{ArtifactKind, Params};
use crate::value::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A lowered pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    /// The top-level pipeline file, canonicalised (`None` for a pipeline built in memory):
    /// the store keeps each file's refs apart, even when two files share a pipeline name.
    pub file: Option<std::path::PathBuf>,
    /// Global variables after `--set` overrides.
    pub vars: BTreeMap<String, Value>,
    /// Every stage instance, by instance name.
    pub stages: BTreeMap<String, Stage>,
}

/// One stage instance (a plain stage, or one cell of a sweep).
#[derive(Debug, Clone)]
pub struct Stage {
    /// `subset[budget=256,band=easy]`, or just `subset` outside sweeps.
    pub instance: String,
    /// The declared name (`subset`): the family this instance belongs to.
    pub name: String,
    /// Sweep coordinates, outermost sweep first.
    pub coords: Vec<(String, Value)>,
    pub kind: String,
    pub params: Params,
    /// Bound inputs, in the kind's slot order (unbound optional slots omitted).
    pub inputs: Vec<Input>,
    pub output: ArtifactKind,
    /// The `stage` declaration (for diagnostics).
    pub span: Span,
    /// Where each explicitly given parameter's value is written (the argument, or the
    /// `--set` override that replaced it), for diagnostics about that value.
    pub param_spans: BTreeMap<String, Span>,
}

impl Stage {
    /// The place to point at for a problem with one parameter's value: where it is
    /// written, else the stage declaration (a default).
    pub fn param_span(&self, name: &str) -> Span {
        self.param_spans.get(name).copied().unwrap_or(self.span)
    }
}

/// The producers bound to one input slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub slot: String,
    /// Producer instance names, in instance order.
    pub sources: Vec<String>,
}

/// Formats an instance name from a family name and its coordinates.
pub fn instance_name(name: &str, coords: &[(String, Value)]) -> String {
    if coords.is_empty() {
        return name.to_string();
    }
    let mut s = format!("{name}[");
    for (i, (k, v)) in coords.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{k}={}", v.coord_string());
    }
    s.push(']');
    s
}

impl Pipeline {
    /// A stable, span-free text form: equal for equivalent DSL and YAML pipelines and
    /// used by golden snapshots.
    pub fn canonical(&self) -> String {
        let mut out = format!("pipeline {}\n", self.name);
        for (k, v) in &self.vars {
            let _ = writeln!(out, "  let {k} = {v}");
        }
        for st in self.stages.values() {
            let _ = writeln!(out, "  stage {} : {} -> {}", st.instance, st.kind, st.output);
            for inp in &st.inputs {
                let _ = writeln!(out, "    input {} <- {}", inp.slot, inp.sources.join(", "));
            }
            for (k, v) in &st.params.0 {
                let _ = writeln!(out, "    {k} = {v}");
            }
        }
        out
    }

    /// Instances of one family, in instance order.
    pub fn family(&self, name: &str) -> impl Iterator<Item = &Stage> + '_ {
        let name = name.to_string();
        self.stages.values().filter(move |s| s.name == name)
    }
}
