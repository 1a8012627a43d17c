//! Checks across instances, made once lowering has built every instance: what a stage
//! would only find out at run time from its inputs, known already from how those inputs
//! are declared.
//!
//! - A [`ParamType::Axis`] parameter (`report`'s `x`, `y`, `series`) names a variable that
//!   every artifact bound to the kind's first input slot has: one of its sweep
//!   coordinates, a variable its kind adds ([`StageKind::output_variables`]: evaluate's
//!   `slice_by` column), or [`INSTANCE_AXIS`].
//! - `chat = true` needs a model input that can have a chat template. A model whose
//!   lineage — through stages that keep their model input's tokenizer, such as `sft` —
//!   starts at a stage with a built-in tokenizer (`model.init(tokenizer = chars)`) has
//!   none, so the stage would fail on its first prompt.
//!
//! Invariant: only what is certain is reported: a variable that an input might have (its
//! kind unknown here) or a model that might carry a template (a tokenizer folder, a
//! loaded model) passes.

use super::Stage;
use crate::diag::{Diagnostic, Span};
use crate::stages::{ArtifactKind, INSTANCE_AXIS, ParamType, registry};
use crate::value::Value;
use std::collections::BTreeMap;

/// Where a stage's parameter is written (its value, or the `--set` giving it).
pub(super) type ParamSpan<'a> = dyn Fn(&Stage, &str) -> Span + 'a;

/// Every problem found, one per stage declaration and parameter.
pub(super) fn check(stages: &BTreeMap<String, Stage>, at: &ParamSpan<'_>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for st in stages.values() {
        out.extend(axes(st, stages, at));
        out.extend(chat(st, stages, at));
    }
    out
}

/// The axis parameters of `st` that name a variable its inputs lack.
fn axes(st: &Stage, stages: &BTreeMap<String, Stage>, at: &ParamSpan<'_>) -> Vec<Diagnostic> {
    let Some(kind) = registry().get(&st.kind) else {
        return Vec::new();
    };
    let Some(slot) = kind.inputs().first().map(|s| s.name) else {
        return Vec::new();
    };
    let sources = st
        .inputs
        .iter()
        .find(|i| i.slot == slot)
        .map(|i| i.sources.as_slice())
        .unwrap_or_default();
    let mut out = Vec::new();
    for spec in kind.params().iter().filter(|p| p.ty == ParamType::Axis) {
        let var = st
            .params
            .get(spec.name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim();
        if var.is_empty() || var == INSTANCE_AXIS {
            continue;
        }
        let lacking = sources.iter().filter_map(|s| stages.get(s)).find_map(|p| {
            let vars = variables(p)?;
            (!vars.iter().any(|v| v == var)).then_some((p, vars))
        });
        let Some((producer, vars)) = lacking else {
            continue;
        };
        let coords: Vec<String> = producer.coords.iter().map(|(k, _)| format!("`{k}`")).collect();
        let has = if coords.is_empty() {
            format!("`{}` is not swept", producer.name)
        } else {
            format!("`{}` is swept over {}", producer.name, coords.join(", "))
        };
        let added: Vec<String> = vars
            .iter()
            .filter(|v| !producer.coords.iter().any(|(k, _)| k == *v))
            .map(|v| format!("`{v}`"))
            .collect();
        let added = match added.is_empty() {
            true => String::new(),
            false => format!(", and `{}` adds {}", producer.kind, added.join(", ")),
        };
        let mut candidates = vars.clone();
        candidates.push(INSTANCE_AXIS.to_string());
        out.push(
            Diagnostic::error(format!(
                "`{} = {var}`: `{}` has no variable `{var}`",
                spec.name, producer.name
            ))
            .at(
                at(st, spec.name),
                format!("not a variable of `{}`", producer.name),
            )
            .with_suggestion(var, candidates.iter().map(String::as_str))
            .with_note(format!("{has}{added}; `{INSTANCE_AXIS}` names each input")),
        );
    }
    out
}

/// The variables a consumer may address in `p`'s output: its sweep coordinates and what
/// its kind adds; `None` when its kind is unknown.
fn variables(p: &Stage) -> Option<Vec<String>> {
    let kind = registry().get(&p.kind)?;
    let mut vars: Vec<String> = p.coords.iter().map(|(k, _)| k.clone()).collect();
    vars.extend(kind.output_variables(&p.params));
    Some(vars)
}

/// `chat = true` on a stage whose model input certainly has no chat template.
fn chat(st: &Stage, stages: &BTreeMap<String, Stage>, at: &ParamSpan<'_>) -> Option<Diagnostic> {
    if st.params.get("chat") != Some(&Value::Bool(true)) {
        return None;
    }
    let kind = registry().get(&st.kind)?;
    let model_slots: Vec<&str> = kind
        .inputs()
        .iter()
        .filter(|s| s.kind == ArtifactKind::Model)
        .map(|s| s.name)
        .collect();
    let (model, origin, word) = st
        .inputs
        .iter()
        .filter(|i| model_slots.contains(&i.slot.as_str()))
        .flat_map(|i| &i.sources)
        .find_map(|m| builtin_tokenizer(m, stages).map(|(o, w)| (m, o, w)))?;
    let from = if origin.instance == *model {
        format!("`{model}` has the built-in `{word}` tokenizer")
    } else {
        format!(
            "`{model}` keeps the tokenizer of `{}`, the built-in `{word}` one",
            origin.instance
        )
    };
    Some(
        Diagnostic::error(format!(
            "`chat = true`, but the model `{model}` has no chat template"
        ))
        .at(at(st, "chat"), "no chat template to apply")
        .with_note(format!(
            "{from}, which has none; chat templates come with a Hugging Face tokenizer (`model.load`, or `model.init(tokenizer = \"folder\")`)"
        )),
    )
}

/// Follows a model back through the stages that keep their model input's tokenizer to
/// where it was made; the stage and the word when that is a built-in tokenizer (a
/// tokenizer parameter set to one of its words).
fn builtin_tokenizer<'s>(model: &str, stages: &'s BTreeMap<String, Stage>) -> Option<(&'s Stage, String)> {
    let mut current = stages.get(model)?;
    // Each step moves to an upstream stage, and the graph is acyclic once lowered; the
    // bound only guards a malformed pipeline.
    for _ in 0..=stages.len() {
        let kind = registry().get(&current.kind)?;
        if current.output != ArtifactKind::Model {
            return None;
        }
        let upstream = kind
            .inputs()
            .iter()
            .filter(|s| s.kind == ArtifactKind::Model)
            .find_map(|s| current.inputs.iter().find(|i| i.slot == s.name))
            .and_then(|i| i.sources.first());
        if let Some(up) = upstream {
            current = stages.get(up)?;
            continue;
        }
        return kind
            .params()
            .iter()
            .find_map(|spec| match (&spec.ty, current.params.get(spec.name)) {
                (ParamType::TokenizerFile(words), Some(Value::Str(w))) if words.contains(&w.as_str()) => {
                    Some((current, w.clone()))
                }
                _ => None,
            });
    }
    None
}
