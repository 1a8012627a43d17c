//! The files pass: every path a stage parameter names is resolved and checked against the
//! pipeline's confinement before anything runs (`check`, `plan` and `run` alike), so a
//! recipe that would read or write outside its project fails with exit 2 at the place
//! that names the path — nothing is read, hashed or computed first.
//!
//! Invariants: the check is [`Confinement::stage_file`], the same one freshness and the
//! scheduler apply again later; every refusal of the pipeline is reported (one per place
//! and path: the instances of a sweep that name the same file share one diagnostic).

use super::Pipeline;
use crate::confine::Confinement;
use crate::diag::{Diagnostic, Diagnostics};
use crate::stages::{file_params, registry};
use std::collections::HashSet;

/// Checks every file parameter of every stage instance.
pub fn check_files(pipeline: &Pipeline, files: &Confinement) -> Result<(), Diagnostics> {
    let mut diags = Diagnostics::new();
    let mut reported = HashSet::new();
    for st in pipeline.stages.values() {
        let Some(kind) = registry().get(&st.kind) else {
            continue;
        };
        for f in file_params(kind, &st.params) {
            let Err(refusal) = files.stage_file(f.written, f.access) else {
                continue;
            };
            let span = st.param_span(f.spec.name);
            if !reported.insert((span, f.written.to_string())) {
                continue;
            }
            let mut d = Diagnostic::error(format!(
                "stage `{}`, parameter `{}`: {refusal}",
                st.name, f.spec.name
            ))
            .at(span, refusal.label());
            if let Some(hint) = refusal.hint() {
                d = d.with_note(hint);
            }
            diags.push(d);
        }
    }
    if diags.is_empty() { Ok(()) } else { Err(diags) }
}
