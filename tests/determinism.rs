//! Determinism as a rule of the store: every stage kind of the registry, run in two fresh
//! stores (other folders, other thread counts, other scheduling), writes the same output
//! digests; the shipped quickstart lock reproduces with `sieve run --locked` in an empty
//! store.

use crate::common::*;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::Path;

/// One stage of every kind, on tiny inputs (a few seconds on a CPU). `model.load` reads
/// the folder `model/`, `load` the file `qa.jsonl` (rows with their keys in two orders,
/// which once made the column order of a JSONL load vary between processes).
const EVERY_KIND: &str = r#"pipeline every_kind {
  let seed = 3
  stage qa     = load(path = "qa.jsonl")
  stage arith  = synth.arith(n = 24, digits = 1..2, seed = seed)
  stage igsm   = synth.igsm(n = 6, ops = 2..3, seed = seed)
  stage ruler  = synth.ruler(n = 2, task = "vt", length = 400, seed = seed)
  stage hay    = synth.haystack_qa(qa, n = 4, distractors = 2, seed = seed)
  stage mixed  = concat(arith, igsm)
  stage train  = split(arith, fraction = 0.75, seed = seed)
  stage test   = split(arith, fraction = 0.75, part = "test", seed = seed)
  stage copy   = export(test, path = "test.jsonl")
  stage init   = model.init(arch = "nano", seed = seed)
  stage loaded = model.load(path = "model")
  stage plain  = score(train, by = cot_length("chars"), bands = 2)
  stage loss   = score(train, loaded, by = loss, device = "cpu")
  stage ifd    = score(train, init, by = ifd, device = "cpu")
  stage passes = score(train, init, by = pass_rate(2), max_new_tokens = 4, device = "cpu")
  stage subset = select(plain, budget = 8, band = "all", seed = seed)
  stage tuned  = sft(init, subset, steps = 3, batch_size = 4, max_seq_len = 64, device = "cpu")
  stage acc    = evaluate(tuned, test, max_new_tokens = 6, slice_by = "difficulty", device = "cpu")
  stage rolls  = rollout(init, test, samples = 2, max_new_tokens = 4, device = "cpu")
  stage rl     = grpo(init, train, test, steps = 2, prompts_per_step = 2, group_size = 2,
                      max_new_tokens = 4, lr = 1e-3, device = "cpu")
  stage chart  = report(acc, kind = "line", x = "difficulty")
}
"#;

fn qa_jsonl() -> String {
    (0..12)
        .map(|i| {
            let (q, a, c) = (
                format!("What is the capital of land {i}?"),
                format!("City{i}"),
                format!(
                    "Land {i} has its capital at City{i}. It is known for item {}.",
                    i * 7
                ),
            );
            if i % 2 == 0 {
                serde_json::json!({"question": q, "answer": a, "context": c}).to_string() + "\n"
            } else {
                serde_json::json!({"context": c, "extra": i, "question": q, "answer": a}).to_string() + "\n"
            }
        })
        .collect()
}

fn lock_of(p: &Project, stem: &str) -> Json {
    serde_json::from_slice(&std::fs::read(p.path().join(format!("{stem}.lock"))).unwrap()).unwrap()
}

/// The files of an entry's output with their digests, from its manifest (to say which
/// file differs when a digest does).
fn entry_files(p: &Project, key: &str) -> Json {
    let m: Json = serde_json::from_slice(
        &std::fs::read(p.path().join(".sieve/entries").join(key).join("manifest.json")).unwrap(),
    )
    .unwrap();
    m["files"].clone()
}

#[test]
fn every_kind_writes_the_same_bytes_in_two_fresh_stores() {
    let model = tempfile::tempdir().unwrap();
    write_model(model.path(), "nano", 11);
    let project = || {
        let p = Project::new();
        p.write("p.sieve", EVERY_KIND);
        p.write("qa.jsonl", &qa_jsonl());
        std::fs::create_dir(p.path().join("model")).unwrap();
        for f in std::fs::read_dir(model.path()).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), p.path().join("model").join(f.file_name())).unwrap();
        }
        p
    };
    // Two stores that differ in everything a stage must not depend on: the folder, the
    // intra-op thread count and the number of stages run at once.
    let (a, b) = (project(), project());
    let run_a = a
        .cmd(&["run", "p.sieve", "--json", "-j", "4"])
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert_ok(&run_a);
    let run_b = b
        .cmd(&["run", "p.sieve", "--json", "-j", "1"])
        .env("OMP_NUM_THREADS", "2")
        .output()
        .unwrap();
    assert_ok(&run_b);
    let (la, lb) = (lock_of(&a, "p"), lock_of(&b, "p"));
    let stages = la["stages"].as_object().unwrap();

    // Every kind of the registry has a case here: a new kind fails this test until it
    // gets one.
    let covered: BTreeSet<&str> = stages.values().filter_map(|s| s["kind"].as_str()).collect();
    let missing: Vec<&str> = sieve::stages::registry()
        .names()
        .filter(|k| !covered.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "stage kinds without a case in EVERY_KIND: {missing:?}"
    );

    // Digests first: a stage whose output differs changes its consumers' keys, and the
    // message should name the stage, not its consumers.
    let mut differ = Vec::new();
    for (name, sa) in stages {
        let sb = &lb["stages"][name];
        if sa["key"] == sb["key"] && sa["digest"] != sb["digest"] {
            let key = sa["key"].as_str().unwrap();
            differ.push(format!(
                "{name} ({}):\n  a: {}\n  b: {}",
                sa["kind"],
                entry_files(&a, key),
                entry_files(&b, key)
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "outputs differ between two fresh stores:\n{}",
        differ.join("\n")
    );
    for (name, sa) in stages {
        assert_eq!(
            sa["key"], lb["stages"][name]["key"],
            "{name}: the two stores computed different keys"
        );
    }

    // The manifest keeps a copy of the metrics a stage wrote (for `sieve show` and the
    // run overview).
    for name in ["acc", "chart"] {
        let entry = a
            .path()
            .join(".sieve/entries")
            .join(stages[name]["key"].as_str().unwrap());
        let read =
            |f: &str| -> Json { serde_json::from_slice(&std::fs::read(entry.join(f)).unwrap()).unwrap() };
        assert_eq!(
            read("manifest.json")["metrics"],
            read("out/metrics.json"),
            "{name}"
        );
    }
}

#[test]
fn quickstart_lock_reproduces_in_an_empty_store() {
    let recipes = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let p = Project::new();
    for f in ["quickstart.sieve", "quickstart.lock"] {
        std::fs::copy(recipes.join(f), p.path().join(f))
            .unwrap_or_else(|e| panic!("{f}: {e} (the lock is committed beside the recipe)"));
    }
    // The lock is the CPU recipe (a visible GPU would change the device class in every
    // training key); its keys also fix the CPU numerics mode, which every x86-64 machine
    // with AVX2 shares (see `sieve::device::cpu_numerics`).
    // One intra-op thread: the bytes do not depend on the count (the test above runs 1
    // and 2), and on a machine busy with other tests OpenMP's spinning threads made this
    // run several times slower (619 s with 2 threads on a loaded 2-core VM).
    let out = p
        .cmd(&["run", "quickstart.sieve", "--locked", "--json"])
        .env("CUDA_VISIBLE_DEVICES", "")
        .env("OMP_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(stages_with(&json_lines(&out), "started").len(), 5);
    let before = std::fs::read(recipes.join("quickstart.lock")).unwrap();
    assert_eq!(
        std::fs::read(p.path().join("quickstart.lock")).unwrap(),
        before,
        "--locked does not rewrite the lock"
    );
}
