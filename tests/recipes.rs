//! The shipped recipes: every file in pipelines/ checks; each YAML twin lowers to the same
//! IR as its DSL file; the headline recipe runs end to end (quick profile) and its
//! report's numbers are the ones in the metrics artifacts.

use crate::common::*;
use sieve::diag::SourceMap;
use std::path::{Path, PathBuf};

fn recipes() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("sieve" | "yaml")))
        .collect();
    v.sort();
    v
}

fn canonical(path: &Path) -> String {
    let mut sm = SourceMap::new();
    let files = sieve::confine::Confinement::of_pipeline(path).expect("confinement");
    let file =
        sieve::dsl::load_pipeline(path, &files, &mut sm).unwrap_or_else(|d| panic!("{}", d.render(&sm)));
    sieve::ir::lower(&file, &[])
        .unwrap_or_else(|d| panic!("{}", d.render(&sm)))
        .canonical()
}

#[test]
fn every_recipe_lowers_and_twins_agree() {
    let all = recipes();
    assert!(all.len() >= 3, "{all:?}");
    for p in &all {
        let dsl = canonical(p);
        if p.extension().is_some_and(|e| e == "sieve") {
            let twin = p.with_extension("yaml");
            if twin.exists() {
                assert_eq!(dsl, canonical(&twin), "{} and its YAML twin differ", p.display());
            }
        }
    }
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("pipelines/difficulty_budget.yaml")
            .exists()
    );
}

/// Every stage's key, from `sieve plan --json` (the run used `--set`, so no lock pins it).
fn plan_keys(project: &Project, args: &[&str]) -> std::collections::HashMap<String, String> {
    let mut plan = vec!["plan", "difficulty_budget.sieve", "--json"];
    plan.extend_from_slice(args);
    json_lines(&project.run(&plan))
        .iter()
        .map(|l| {
            (
                l["stage"].as_str().unwrap().to_string(),
                l["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn metrics_of(
    project: &Project,
    keys: &std::collections::HashMap<String, String>,
    instance: &str,
) -> serde_json::Value {
    let key = keys
        .get(instance)
        .unwrap_or_else(|| panic!("{instance} not in the plan"));
    let path = project
        .path()
        .join(".sieve/entries")
        .join(key)
        .join("out/metrics.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn headline_recipe_runs_and_its_report_matches_the_metrics() {
    let p = Project::new();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/difficulty_budget.sieve"),
    )
    .unwrap();
    p.write("difficulty_budget.sieve", &text);
    // The quick profile's tiny model scores ~0 exact match; sampling and `contains` give
    // non-trivial accuracies, so the recomputed cell is not a 0 − 0.
    let sets = [
        "--set",
        "acc.metric=contains",
        "--set",
        "base_acc.metric=contains",
        "--set",
        "acc.temperature=1.0",
        "--set",
        "base_acc.temperature=1.0",
    ];
    let mut args = vec!["run", "difficulty_budget.sieve", "--json"];
    args.extend(sets);
    let first = p.run(&args);
    assert_ok(&first);
    assert_eq!(stages_with(&json_lines(&first), "started").len(), 22);
    let keys = plan_keys(&p, &sets);
    let gain = metrics_of(&p, &keys, "gain");
    let base = metrics_of(&p, &keys, "base_acc")["accuracy"].as_f64().unwrap();
    let cell = metrics_of(&p, &keys, "acc[budget=64,bucket=5-6]")["accuracy"]
        .as_f64()
        .unwrap();
    let row = gain["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["label"] == "64")
        .expect("row 64");
    let col = gain["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c == "5-6")
        .expect("column 5-6");
    let shown = row["values"][col].as_f64().unwrap();
    assert!(
        (shown - (cell - base)).abs() < 1e-12,
        "report shows {shown}, metrics give {cell} − {base}"
    );
    assert!(cell > 0.0 || base > 0.0, "expected a non-trivial cell");
    for f in ["chart.png", "chart.svg", "report.md", "table.csv"] {
        let key = &keys["gain"];
        assert!(
            p.path()
                .join(".sieve/entries")
                .join(key)
                .join("out")
                .join(f)
                .is_file(),
            "{f}"
        );
    }
    // Rerun: fully cached.
    let second = p.run(&args);
    assert_ok(&second);
    assert!(stages_with(&json_lines(&second), "started").is_empty());
    assert_eq!(stages_with(&json_lines(&second), "cached").len(), 22);
}
