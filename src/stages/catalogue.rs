//! Human-readable descriptions of stage kinds (for `sieve stages` and the stage
//! catalogue in docs/), generated from the kinds' own schemas so they never drift.

use super::{Arity, StageKind};
use std::fmt::Write as _;

/// Describes one kind: inputs, parameters with types and defaults, output.
pub fn describe_kind(k: &dyn StageKind, markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        let _ = writeln!(out, "### `{}` → {}\n\n{}\n", k.name(), k.output(), k.doc());
        let inputs = k.inputs();
        if !inputs.is_empty() {
            let _ = writeln!(out, "| input | kind | arity | description |\n|---|---|---|---|");
            for i in inputs {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} |",
                    i.name,
                    i.kind,
                    arity(i.arity),
                    i.doc
                );
            }
            out.push('\n');
        }
        let params = k.params();
        if !params.is_empty() {
            let _ = writeln!(
                out,
                "| parameter | type | default | description |\n|---|---|---|---|"
            );
            for p in params {
                let default = p
                    .default
                    .as_ref()
                    .map(|d| format!("`{d}`"))
                    .unwrap_or_else(|| if p.optional { "—" } else { "required" }.into());
                let ty = p.ty.describe().replace('|', "\\|");
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} |",
                    p.name,
                    ty,
                    default,
                    p.doc.replace('|', "\\|")
                );
            }
            out.push('\n');
        }
        let _ = writeln!(out, "Kind version: {}.\n", k.version());
    } else {
        let _ = writeln!(
            out,
            "{} → {} (v{})\n  {}",
            k.name(),
            k.output(),
            k.version(),
            k.doc()
        );
        for i in k.inputs() {
            let _ = writeln!(
                out,
                "  input  {} : {} ({}) — {}",
                i.name,
                i.kind,
                arity(i.arity),
                i.doc
            );
        }
        for p in k.params() {
            let default = p
                .default
                .as_ref()
                .map(|d| format!(" = {d}"))
                .unwrap_or_else(|| if p.optional { " (optional)" } else { " (required)" }.into());
            let _ = writeln!(
                out,
                "  param  {} : {}{} — {}",
                p.name,
                p.ty.describe(),
                default,
                p.doc
            );
        }
        out.push('\n');
    }
    out
}

fn arity(a: Arity) -> &'static str {
    match a {
        Arity::One => "one",
        Arity::Optional => "optional",
        Arity::Many => "one or more",
    }
}
