//! Golden cases. `tests/golden/valid/NAME.sieve` must have a twin `NAME.yaml`: both must
//! lower to the identical IR, whose canonical form and plan are snapshot-tested.
//! `tests/golden/invalid/*.{sieve,yaml}` must fail, and their rendered diagnostics (all
//! of them, with file:line:col, source line, caret and hint) are snapshot-tested.
//!
//! Update snapshots after an intended change with `INSTA_UPDATE=always cargo test golden`
//! and review the diff of `tests/snapshots/`.

use sieve::confine::Confinement;
use sieve::diag::SourceMap;
use sieve::dsl::load_pipeline;
use sieve::plan::Plan;
use std::path::Path;

fn lower(path: &Path) -> Result<sieve::ir::Pipeline, String> {
    let mut sm = SourceMap::new();
    let file = load_pipeline(path, &confined(path), &mut sm).map_err(|d| d.render(&sm))?;
    sieve::ir::lower(&file, &[]).map_err(|d| d.render(&sm))
}

/// The confinement of a golden case: its own folder (and its default store).
fn confined(path: &Path) -> Confinement {
    Confinement::of_pipeline(path).expect("confinement")
}

fn relative(path: &Path) -> &Path {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path)
}

/// The pipeline with every parameter equal to its kind's declared default left out, so a
/// snapshot shows what the case sets (and a new default rewrites no snapshot).
fn without_defaults(mut p: sieve::ir::Pipeline) -> sieve::ir::Pipeline {
    for st in p.stages.values_mut() {
        let kind = sieve::stages::registry()
            .get(&st.kind)
            .expect("a lowered kind is registered");
        for spec in kind.params() {
            if spec.default.is_some() && st.params.0.get(spec.name) == spec.default.as_ref() {
                st.params.0.remove(spec.name);
            }
        }
    }
    p
}

#[test]
fn valid_cases_lower_identically_in_both_syntaxes() {
    let mut n = 0;
    insta::glob!("golden/valid/*.sieve", |path| {
        n += 1;
        let rel = relative(path);
        let dsl = lower(rel).unwrap_or_else(|e| panic!("{} should lower:\n{e}", rel.display()));
        let twin = rel.with_extension("yaml");
        assert!(
            twin.exists(),
            "{} has no YAML twin {}",
            rel.display(),
            twin.display()
        );
        let yaml = lower(&twin).unwrap_or_else(|e| panic!("{} should lower:\n{e}", twin.display()));
        assert_eq!(
            dsl.canonical(),
            yaml.canonical(),
            "DSL and YAML twins differ: {}",
            rel.display()
        );
        let plan = Plan::build(&dsl, confined(rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
        insta::assert_snapshot!(format!(
            "{}\n--- plan ---\n{}",
            without_defaults(dsl).canonical(),
            plan.render_text()
        ));
    });
    assert!(n >= 15, "expected at least 15 golden cases, found {n}");
}

#[test]
fn invalid_cases_render_their_diagnostics() {
    let mut n = 0;
    insta::glob!("golden/invalid/*.{sieve,yaml}", |path| {
        n += 1;
        let rel = relative(path);
        match lower(rel) {
            Ok(_) => panic!("{} should not lower", rel.display()),
            Err(rendered) => insta::assert_snapshot!(rendered),
        }
    });
    assert!(n >= 15, "expected at least 15 invalid cases, found {n}");
}
