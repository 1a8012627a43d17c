//! CLI behaviour on real (cheap) data stages: caching across runs, `--set` overrides
//! with explanations, early cutoff, `kill -9` safety, concurrent runs on one store, lock
//! files, exit codes and the graph / show / cache commands.

use crate::common::*;

const PIPE: &str = r#"# two independent sources and a sweep
pipeline cli {
  let n = 40
  stage a = synth.arith(n = n, seed = 1)
  stage b = synth.arith(n = n, seed = 2)
  stage ab = concat(a, b, label = false)
  sweep s in [3, 4, 5] {
    stage gen = synth.arith(n = 10, seed = s)
  }
  stage all = concat(gen, ab)
}
"#;

fn started(out: &std::process::Output) -> Vec<String> {
    stages_with(&json_lines(out), "started")
}

#[test]
fn second_run_is_fully_cached() {
    let p = Project::new();
    p.write("p.sieve", PIPE);
    let first = p.run(&["run", "p.sieve", "--json"]);
    assert_ok(&first);
    assert_eq!(started(&first).len(), 7);
    let second = p.run(&["run", "p.sieve", "--json"]);
    assert_ok(&second);
    let ev = json_lines(&second);
    assert!(
        started(&second).is_empty(),
        "second run executed {:?}",
        started(&second)
    );
    assert_eq!(stages_with(&ev, "cached").len(), 7);
    for e in ev.iter().filter(|e| e["event"] == "cached") {
        assert!(e["key"].as_str().is_some_and(|k| k.len() == 64), "{e}");
    }
    // plan agrees: everything cached.
    let plan = p.run(&["plan", "p.sieve", "--json"]);
    assert_ok(&plan);
    let lines = json_lines(&plan);
    assert_eq!(lines.len(), 7);
    assert!(
        lines
            .iter()
            .all(|l| l["status"] == "cached" && l["kind"].is_string() && l["reason"].is_string())
    );
}

#[test]
fn set_reruns_exactly_the_downstream_and_plan_explains_it() {
    let p = Project::new();
    p.write("p.sieve", PIPE);
    assert_ok(&p.run(&["run", "p.sieve"]));
    let plan = p.run(&["plan", "p.sieve", "--json", "--set", "a.n=50"]);
    assert_ok(&plan);
    let lines = json_lines(&plan);
    let status = |s: &str| {
        lines
            .iter()
            .find(|l| l["stage"] == s)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(status("a")["status"], "stale");
    assert_eq!(status("a")["reason"], "parameter n changed 40 → 50");
    // The same reasons, structured.
    assert_eq!(
        status("a")["reasons"],
        serde_json::json!([{"kind": "param_changed", "param": "n", "from": 40, "to": 50}])
    );
    assert_eq!(status("b")["status"], "cached");
    assert_eq!(status("b")["reasons"], serde_json::json!([]));
    assert_eq!(status("ab")["status"], "blocked");
    assert_eq!(
        status("ab")["reasons"],
        serde_json::json!([{"kind": "waits_on", "stages": ["a"]}])
    );
    assert_eq!(status("gen[s=3]")["status"], "cached");
    let run = p.run(&["run", "p.sieve", "--json", "--set", "a.n=50"]);
    assert_ok(&run);
    assert_eq!(started(&run), vec!["a", "ab", "all"]);
    // A variable override reaches every use.
    let run = p.run(&["run", "p.sieve", "--json", "--set", "n=41"]);
    assert_ok(&run);
    assert_eq!(started(&run), vec!["a", "ab", "all", "b"]);
}

#[test]
fn identical_upstream_output_keeps_downstream_cached() {
    let p = Project::new();
    p.write("make.sieve", "pipeline make {\n stage a = synth.arith(n = 30, seed = 9)\n stage out = export(a, path = \"d1.parquet\")\n}\n");
    assert_ok(&p.run(&["run", "make.sieve"]));
    std::fs::copy(p.path().join("d1.parquet"), p.path().join("d2.parquet")).unwrap();
    p.write("use.sieve", "pipeline use {\n let file = \"d1.parquet\"\n stage src = load(path = file)\n stage twice = concat(src, src)\n}\n");
    assert_ok(&p.run(&["run", "use.sieve"]));
    let run = p.run(&["run", "use.sieve", "--json", "--set", "file=\"d2.parquet\""]);
    assert_ok(&run);
    assert_eq!(
        started(&run),
        vec!["src"],
        "only the loader reruns; its output bytes are identical"
    );
    assert_eq!(stages_with(&json_lines(&run), "cached"), vec!["twice"]);
}

#[test]
fn kill_9_mid_run_leaves_a_consistent_store() {
    use std::os::unix::process::ExitStatusExt;
    let p = Project::new();
    p.write(
        "slow.sieve",
        "pipeline slow {\n sweep s in 1..6 {\n  stage g = synth.igsm(n = 20_000, ops = 2..8, seed = s)\n }\n stage all = concat(g)\n}\n",
    );
    let entries = || {
        std::fs::read_dir(p.path().join(".sieve/entries"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    // Killed at moments the run itself announces (its `--json` events), not after fixed
    // sleeps: while the first stages compute (nothing committed yet), then right after
    // the first commit, with other stages still computing (each takes about 2 s here).
    for (event, committed) in [("started", 0..1), ("finished", 1..7)] {
        let moment = format!("at the first `{event}` event");
        let pattern = format!("\"event\":\"{event}\"");
        let (_, out) = kill_9_when(p.cmd(&["run", "slow.sieve", "-j", "2", "--json"]), |l| {
            l.contains(&pattern)
        });
        assert_eq!(
            out.status.signal(),
            Some(9),
            "killed {moment}, the run still ended by itself: {:?}",
            out.status
        );
        assert!(
            committed.contains(&entries()),
            "killed {moment}: {} entries committed, expected {committed:?}",
            entries()
        );
        let verify = p.run(&["cache", "verify", "--cache-dir", ".sieve"]);
        assert_ok(&verify);
    }
    let before = entries();
    let run = p.run(&["run", "slow.sieve", "--json"]);
    assert_ok(&run);
    assert_eq!(started(&run).len(), 7 - before, "committed entries are reused");
    let verify = p.run(&["cache", "verify", "--cache-dir", ".sieve"]);
    assert_ok(&verify);
    assert!(stdout(&verify).contains("ok: 7 entries"), "{}", stdout(&verify));
    let again = p.run(&["run", "slow.sieve", "--json"]);
    assert!(started(&again).is_empty());
    // gc cleans leftovers of the killed runs and keeps live entries.
    assert_ok(&p.run(&["cache", "gc", "--cache-dir", ".sieve"]));
    assert!(started(&p.run(&["run", "slow.sieve", "--json"])).is_empty());
}

#[test]
fn concurrent_runs_compute_each_stage_once() {
    let p = Project::new();
    p.write("p.sieve", PIPE);
    let spawn = || {
        p.cmd(&["run", "p.sieve", "--json", "-j", "2"])
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (c1, c2) = (spawn(), spawn());
    let (o1, o2) = (c1.wait_with_output().unwrap(), c2.wait_with_output().unwrap());
    assert_ok(&o1);
    assert_ok(&o2);
    let mut all = started(&o1);
    all.extend(started(&o2));
    all.sort();
    let mut expected: Vec<String> = ["a", "ab", "all", "b", "gen[s=3]", "gen[s=4]", "gen[s=5]"]
        .map(String::from)
        .to_vec();
    expected.sort();
    assert_eq!(all, expected, "each stage computed exactly once across both runs");
}

#[test]
fn lock_file_pins_a_recipe() {
    let p = Project::new();
    p.write("p.sieve", PIPE);
    assert!(
        p.run(&["run", "p.sieve", "--locked"]).status.code() == Some(2),
        "no lock yet"
    );
    assert_ok(&p.run(&["run", "p.sieve"]));
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.path().join("p.lock")).unwrap()).unwrap();
    assert_eq!(lock["stages"].as_object().unwrap().len(), 7);
    // A colleague with the pipeline + lock and an empty store reproduces every digest.
    let colleague = Project::new();
    colleague.write("p.sieve", PIPE);
    std::fs::copy(p.path().join("p.lock"), colleague.path().join("p.lock")).unwrap();
    assert_ok(&colleague.run(&["run", "p.sieve", "--locked"]));
    let out = p.run(&["run", "p.sieve", "--locked", "--set", "a.n=41"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("parameter n changed 40 → 41"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exit_codes_and_diagnostics() {
    let p = Project::new();
    p.write(
        "bad.sieve",
        "pipeline bad {\n stage a = synth.arith(n = 10, sed = 1)\n stage b = concat(zz)\n}\n",
    );
    let out = p.run(&["check", "bad.sieve"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("bad.sieve:2:32") && err.contains("did you mean `seed`?"),
        "{err}"
    );
    assert!(err.contains("undefined stage `zz`"), "{err}");
    assert_eq!(p.run(&["run", "missing.sieve"]).status.code(), Some(2));
    p.write("p.sieve", PIPE);
    assert_eq!(
        p.run(&["run", "p.sieve", "--set", "nope=1"]).status.code(),
        Some(2)
    );
    assert_eq!(
        p.run(&["run", "p.sieve", "--set", "novalue"]).status.code(),
        Some(2)
    );
    assert_eq!(
        p.run(&["run", "p.sieve", "--force", "nosuch"]).status.code(),
        Some(2)
    );
    assert_eq!(p.run(&["frobnicate"]).status.code(), Some(2));
    // A stage failing at run time: exit 1, the error names the file.
    p.write(
        "fail.sieve",
        "pipeline f {\n stage src = load(path = \"no-such-file.parquet\")\n}\n",
    );
    let out = p.run(&["run", "fail.sieve"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-file.parquet"), "{}", stderr(&out));
}

/// Every command error is printed once, as `error: …` with its causes on the same line,
/// and ends the process with the code of its kind.
#[test]
fn command_errors_are_printed_once_with_their_exit_code() {
    let p = Project::new();
    p.write("p.sieve", PIPE);
    let error_lines = |out: &std::process::Output| -> Vec<String> {
        stderr(out)
            .lines()
            .filter(|l| l.starts_with("error"))
            .map(String::from)
            .collect()
    };
    for (args, code, want) in [
        (
            &["run", "p.sieve", "-j", "0"][..],
            2,
            "error: -j must be at least 1",
        ),
        (
            &["run", "p.sieve", "--gpu-jobs", "0"],
            2,
            "error: --gpu-jobs must be at least 1",
        ),
        (
            &["run", "p.sieve", "--locked"],
            2,
            "error: --locked: no lock file at p.lock (run once without --locked to create it)",
        ),
        (
            &["show", "p.sieve", "alll"],
            2,
            "error: no stage `alll` in this pipeline (did you mean `all`?)",
        ),
        (
            &["stages", "synth.arth"],
            2,
            "error: unknown stage kind `synth.arth` (did you mean `synth.arith`?)",
        ),
    ] {
        let out = p.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert_eq!(error_lines(&out), vec![want], "{args:?}");
    }
    // A cause is appended to its context on one line (exit 1: the work failed).
    assert_ok(&p.run(&["run", "p.sieve"]));
    let out = p.run(&["report", "p.sieve", "--out", "no-such-folder/page.html"]);
    assert_eq!(out.status.code(), Some(1));
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("error: cannot write no-such-folder/page.html: No such file or directory"),
        "{lines:?}"
    );
    // An invalid pipeline: its diagnostics and their count, and nothing after them.
    p.write("bad.sieve", "pipeline bad {\n stage b = concat(zz)\n}\n");
    let out = p.run(&["plan", "bad.sieve"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.trim_end().ends_with("error: the pipeline has 1 error"),
        "{err}"
    );
}

#[test]
fn graph_show_and_cache_commands() {
    let p = Project::new();
    p.write("p.sieve", PIPE);
    for fmt in ["text", "dot", "mermaid"] {
        let out = p.run(&["graph", "p.sieve", "--format", fmt]);
        assert_ok(&out);
        assert!(stdout(&out).contains("gen[s=4]"), "{fmt}: {}", stdout(&out));
    }
    assert!(stdout(&p.run(&["graph", "p.sieve", "--format", "dot"])).starts_with("digraph"));
    assert_ok(&p.run(&["run", "p.sieve"]));
    let show = p.run(&["show", "p.sieve", "ab"]);
    assert_ok(&show);
    let text = stdout(&show);
    assert!(
        text.contains("status  cached") && text.contains("data.parquet"),
        "{text}"
    );
    let ls = p.run(&["cache", "ls", "--cache-dir", ".sieve"]);
    assert!(stdout(&ls).contains("7 entries"), "{}", stdout(&ls));
    // Damage is detected.
    let entry = std::fs::read_dir(p.path().join(".sieve/entries"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(entry.join("out/data.parquet"), b"garbage").unwrap();
    let verify = p.run(&["cache", "verify", "--cache-dir", ".sieve"]);
    assert_eq!(verify.status.code(), Some(1));
}

#[test]
fn ctrl_c_stops_cleanly_and_the_rerun_completes() {
    let p = Project::new();
    p.write(
        "slow.sieve",
        "pipeline slow {\n sweep s in 1..6 {\n  stage g = synth.igsm(n = 20_000, ops = 2..8, seed = s)\n }\n stage all = concat(g)\n}\n",
    );
    let (rest, out) = interrupt_when(p.cmd(&["run", "slow.sieve", "-j", "1", "--json"]), |l| {
        l.contains("\"event\":\"started\"")
    });
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        rest.iter().any(|l| l.contains("\"event\":\"end\"")),
        "no end event after the interrupt: {rest:?}"
    );
    if out.status.code() == Some(0) {
        eprintln!("the run finished before the interrupt; nothing to check");
        return;
    }
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_ok(&p.run(&["cache", "verify", "--cache-dir", ".sieve"]));
    let rerun = p.run(&["run", "slow.sieve", "--json"]);
    assert_ok(&rerun);
    assert!(!started(&rerun).is_empty(), "the interrupted stages run now");
}

/// A word-level Hugging Face tokenizer with the given vocabulary.
fn tokenizer_json(words: &[&str]) -> String {
    let vocab: Vec<String> = std::iter::once("[UNK]")
        .chain(words.iter().copied())
        .enumerate()
        .map(|(i, w)| format!("\"{w}\": {i}"))
        .collect();
    format!(
        r#"{{"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
  "normalizer": null, "pre_tokenizer": {{"type": "Whitespace"}}, "post_processor": null,
  "decoder": null, "model": {{"type": "WordLevel", "vocab": {{{}}}, "unk_token": "[UNK]"}}}}"#,
        vocab.join(", ")
    )
}

#[test]
fn tokenizer_files_resolve_beside_the_pipeline_and_key_their_contents() {
    let p = Project::new();
    p.write("proj/tok/tokenizer.json", &tokenizer_json(&["What", "is"]));
    p.write(
        "proj/p.sieve",
        "pipeline t {\n stage d = synth.arith(n = 20, seed = 1)\n stage s = score(d, by = length(), tokenizer = \"tok/tokenizer.json\")\n}\n",
    );
    // Run from the project root: the path is relative to the pipeline, not the cwd.
    let first = p.run(&["run", "proj/p.sieve", "--json"]);
    assert_ok(&first);
    assert_eq!(started(&first), vec!["d", "s"]);
    let again = p.run(&["run", "proj/p.sieve", "--json"]);
    assert_ok(&again);
    assert!(started(&again).is_empty());

    // Editing the tokenizer in place makes exactly the scorer stale.
    p.write("proj/tok/tokenizer.json", &tokenizer_json(&["What", "is", "+"]));
    let plan = p.run(&["plan", "proj/p.sieve"]);
    assert_ok(&plan);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        text.contains("stale") && text.contains("1 cached, 1 stale"),
        "{text}"
    );
    let rerun = p.run(&["run", "proj/p.sieve", "--json"]);
    assert_ok(&rerun);
    assert_eq!(started(&rerun), vec!["s"]);

    // Recomputed from another working folder, the scores are the same bytes (the lock
    // written above pins them).
    let inside = p
        .cmd(&["run", "p.sieve", "--locked", "--force", "s"])
        .current_dir(p.path().join("proj"))
        .output()
        .expect("run sieve");
    assert_ok(&inside);
}

/// `stage -> key` from `sieve plan --json`.
fn plan_keys(p: &Project, extra: &[&str]) -> std::collections::BTreeMap<String, String> {
    let mut args = vec!["plan", "p.sieve", "--json"];
    args.extend_from_slice(extra);
    let out = p.run(&args);
    json_lines(&out)
        .iter()
        .map(|l| {
            (
                l["stage"].as_str().unwrap().to_string(),
                l["key"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Every stage's key and committed output digest: what a run produced.
fn results(p: &Project, extra: &[&str]) -> Vec<(String, String, String)> {
    plan_keys(p, extra)
        .into_iter()
        .map(|(stage, key)| {
            let manifest = p.path().join(".sieve/entries").join(&key).join("manifest.json");
            let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
            (stage, key, m["digest"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn a_damaged_upstream_entry_is_quarantined_and_recomputed_by_run() {
    let clean = Project::new();
    clean.write("p.sieve", PIPE);
    assert_ok(&clean.run(&["run", "p.sieve"]));
    let want = results(&clean, &[]);
    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage); 3] = [
        ("flipped byte", |f| {
            let mut b = std::fs::read(f).unwrap();
            let mid = b.len() / 2;
            b[mid] ^= 0x20;
            std::fs::write(f, b).unwrap();
        }),
        ("truncated", |f| {
            let b = std::fs::read(f).unwrap();
            std::fs::write(f, &b[..b.len() - 7]).unwrap();
        }),
        ("deleted", |f| std::fs::remove_file(f).unwrap()),
    ];
    for (what, damage) in damages {
        let p = Project::new();
        p.write("p.sieve", PIPE);
        assert_ok(&p.run(&["run", "p.sieve"]));
        let a_key = plan_keys(&p, &[])["a"].clone();
        let a_entry = p.path().join(".sieve/entries").join(&a_key);
        damage(&a_entry.join("out/data.parquet"));
        // `plan` alone trusts the manifest; `plan --verify` finds the damage.
        let verify = p.run(&["plan", "p.sieve", "--verify", "--json"]);
        assert_eq!(verify.status.code(), Some(1), "{what}");
        let a = json_lines(&verify)
            .into_iter()
            .find(|l| l["stage"] == "a")
            .unwrap();
        assert_eq!(a["status"], "damaged", "{what}: {a}");
        assert!(
            a["reason"].as_str().unwrap().contains("data.parquet"),
            "{what}: {a}"
        );
        let text = stdout(&p.run(&["plan", "p.sieve", "--verify"]));
        assert!(
            text.contains("damaged  a  (synth.arith)  entry damaged: file data.parquet"),
            "{what}: {text}"
        );
        assert!(text.contains("1 damaged"), "{what}: {text}");

        // `ab` reads `a`: the run finds the damage first, quarantines and recomputes `a`.
        let run = p.run(&["run", "p.sieve", "--json", "--force", "ab"]);
        assert_ok(&run);
        let events = json_lines(&run);
        let damaged: Vec<_> = events.iter().filter(|e| e["event"] == "damaged").collect();
        assert_eq!(damaged.len(), 1, "{what}: {damaged:?}");
        assert_eq!(damaged[0]["stage"], "a");
        assert_eq!(damaged[0]["key"], a_key.as_str());
        assert!(
            damaged[0]["problem"].as_str().unwrap().contains("data.parquet"),
            "{what}"
        );
        // Named as the store is (relative to where sieve runs).
        let kept = p.path().join(damaged[0]["quarantined"].as_str().unwrap());
        assert!(
            kept.join("manifest.json").is_file(),
            "{what}: the damaged entry is kept"
        );
        assert_eq!(started(&run), vec!["a", "ab"], "{what}");
        assert_eq!(results(&p, &[]), want, "{what}: same results as a clean run");
        assert_ok(&p.run(&["cache", "verify", "--cache-dir", ".sieve"]));
        // The damaged folder stays until gc.
        let gc = p.run(&["cache", "gc", "--cache-dir", ".sieve"]);
        assert!(stdout(&gc).contains("removed quarantine/"), "{}", stdout(&gc));
    }
}

#[test]
fn an_entry_folder_without_a_manifest_is_reported_and_recomputed() {
    let p = Project::new();
    p.write("p.sieve", PIPE);
    assert_ok(&p.run(&["run", "p.sieve"]));
    let key = plan_keys(&p, &[])["b"].clone();
    std::fs::remove_file(p.path().join(".sieve/entries").join(&key).join("manifest.json")).unwrap();
    let verify = p.run(&["cache", "verify", "--cache-dir", ".sieve"]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        stdout(&verify).contains(&format!("damaged {key}: manifest missing")),
        "{}",
        stdout(&verify)
    );
    let plan = stdout(&p.run(&["plan", "p.sieve"]));
    assert!(
        plan.contains("stale    b  (synth.arith)  entry damaged: its manifest is missing or unreadable"),
        "{plan}"
    );
    let plan_json = json_lines(&p.run(&["plan", "p.sieve", "--json"]));
    let b = plan_json.iter().find(|l| l["stage"] == "b").unwrap();
    assert_eq!(b["reasons"], serde_json::json!([{"kind": "manifest_unreadable"}]));
    // The stage reruns, saying why, and the folder is moved aside.
    let run = p.run(&["run", "p.sieve", "--json"]);
    assert_ok(&run);
    assert_eq!(started(&run), vec!["b"]);
    let events = json_lines(&run);
    let damaged: Vec<_> = events.iter().filter(|e| e["event"] == "damaged").collect();
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert_eq!(damaged[0]["stage"], "b");
    assert_eq!(damaged[0]["problem"], "its manifest is missing or unreadable");
    let kept = p.path().join(damaged[0]["quarantined"].as_str().unwrap());
    assert!(kept.join("out/data.parquet").is_file(), "{}", kept.display());
    assert_ok(&p.run(&["cache", "verify", "--cache-dir", ".sieve"]));
    // And gc sweeps such a folder.
    std::fs::remove_file(p.path().join(".sieve/entries").join(&key).join("manifest.json")).unwrap();
    let gc = p.run(&["cache", "gc", "--cache-dir", ".sieve", "--keep-unreferenced"]);
    assert!(
        stdout(&gc).contains(&format!("removed entries/{key}")),
        "{}",
        stdout(&gc)
    );
}

#[test]
fn two_pipeline_files_with_one_name_on_one_store_keep_their_results() {
    let p = Project::new();
    p.write(
        "one/p.sieve",
        "pipeline same {\n stage a = synth.arith(n = 20, seed = 1)\n}\n",
    );
    p.write(
        "two/p.sieve",
        "pipeline same {\n stage a = synth.arith(n = 20, seed = 2)\n}\n",
    );
    for f in ["one/p.sieve", "two/p.sieve"] {
        assert_ok(&p.run(&["run", f, "--cache-dir", "store"]));
    }
    let gc = p.run(&["cache", "gc", "--cache-dir", "store"]);
    assert_ok(&gc);
    assert!(!stdout(&gc).contains("removed entries/"), "{}", stdout(&gc));
    for f in ["one/p.sieve", "two/p.sieve"] {
        let plan = p.run(&["plan", f, "--cache-dir", "store"]);
        assert!(stdout(&plan).contains("1 cached"), "{f}: {}", stdout(&plan));
    }
    // Reasons read the file's own refs.
    let plan = p.run(&["plan", "one/p.sieve", "--cache-dir", "store", "--set", "a.n=21"]);
    assert!(
        stdout(&plan).contains("parameter n changed 20 → 21"),
        "{}",
        stdout(&plan)
    );
    assert!(!stdout(&plan).contains("seed"), "{}", stdout(&plan));
}

#[test]
fn gc_cleans_locks_failure_logs_and_digest_records() {
    let p = Project::new();
    p.write("d.sieve", "pipeline d {\n stage a = synth.arith(n = 20, seed = 1)\n stage out = export(a, path = \"d.parquet\")\n}\n");
    assert_ok(&p.run(&["run", "d.sieve"]));
    p.write("p.sieve", "pipeline p {\n stage src = load(path = \"d.parquet\")\n stage bad = load(path = \"missing.parquet\")\n}\n");
    assert_eq!(p.run(&["run", "p.sieve", "--keep-going"]).status.code(), Some(1));
    let count = |sub: &str| {
        std::fs::read_dir(p.path().join(".sieve").join(sub))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(count("failed"), 1);
    assert!(count("locks") >= 4);
    // The current failure's log is kept; free lock files go.
    let gc = p.run(&["cache", "gc", "--cache-dir", ".sieve"]);
    assert_ok(&gc);
    assert_eq!(count("failed"), 1, "{}", stdout(&gc));
    assert_eq!(count("locks"), 0, "{}", stdout(&gc));
    // Once the stage succeeds, its failure log is stale; a changed input file's memo too.
    std::fs::copy(p.path().join("d.parquet"), p.path().join("missing.parquet")).unwrap();
    assert_ok(&p.run(&["run", "p.sieve"]));
    std::fs::remove_file(p.path().join("missing.parquet")).unwrap();
    let gc = p.run(&["cache", "gc", "--cache-dir", ".sieve", "--dry-run"]);
    assert!(stdout(&gc).contains("would remove failed/"), "{}", stdout(&gc));
    assert_ok(&p.run(&["cache", "gc", "--cache-dir", ".sieve"]));
    assert_eq!(count("failed"), 0);
}

#[test]
fn set_runs_leave_the_lock_alone_and_locked_refusals_explain() {
    let p = Project::new();
    p.write("p.sieve", PIPE);
    assert_ok(&p.run(&["run", "p.sieve"]));
    let lock = std::fs::read(p.path().join("p.lock")).unwrap();
    let lock_json: serde_json::Value = serde_json::from_slice(&lock).unwrap();
    assert_eq!(lock_json["stages"]["a"]["material"]["params"]["n"], 40);
    // The tour's experiment with an override: the lock still pins the file as written.
    let run = p.run(&["run", "p.sieve", "--set", "a.n=41"]);
    assert_ok(&run);
    assert!(
        stderr(&run).contains("lock file not updated: this run used --set overrides (a.n=41)"),
        "{}",
        stderr(&run)
    );
    assert_eq!(std::fs::read(p.path().join("p.lock")).unwrap(), lock);
    assert_ok(&p.run(&["run", "p.sieve", "--locked"]));

    // A store holding a result the lock does not pin is refused up front, at that stage.
    let mut other = lock_json.clone();
    other["stages"]["a"]["digest"] = "0".repeat(64).into();
    std::fs::write(
        p.path().join("p.lock"),
        serde_json::to_vec_pretty(&other).unwrap(),
    )
    .unwrap();
    let out = p.run(&["run", "p.sieve", "--locked"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a: its cached output")
            && stderr(&out).contains("differs from the lock's 000000000000"),
        "{}",
        stderr(&out)
    );
    std::fs::write(p.path().join("p.lock"), &lock).unwrap();

    // A colleague with an empty store hears what differs, in `plan`'s words.
    let colleague = Project::new();
    colleague.write("p.sieve", &PIPE.replace("n = 10, seed = s", "n = 12, seed = s"));
    std::fs::write(colleague.path().join("p.lock"), &lock).unwrap();
    let out = colleague.run(&["run", "p.sieve", "--locked"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for s in [
        "gen[s=3]: parameter n changed 10 → 12",
        "gen[s=5]: parameter n changed 10 → 12",
    ] {
        assert!(err.contains(s), "{err}");
    }
    assert!(
        !err.contains("never run") && !err.contains("key differs"),
        "{err}"
    );
    // With --json, each refused stage is also an event with its reasons.
    let out = colleague.run(&["run", "p.sieve", "--locked", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let refused = json_lines(&out);
    assert_eq!(
        stages_with(&refused, "refused"),
        vec!["gen[s=3]", "gen[s=4]", "gen[s=5]"]
    );
    assert_eq!(refused.len(), 3, "nothing ran: {refused:?}");
    assert_eq!(refused[0]["reason"], "parameter n changed 10 → 12");
    assert_eq!(
        refused[0]["reasons"],
        serde_json::json!([{"kind": "param_changed", "param": "n", "from": 10, "to": 12}])
    );
    assert!(
        refused[0]["key"].as_str().is_some_and(|k| k.len() == 64),
        "{}",
        refused[0]
    );
    // Downstream stages are compared too, assuming locked inputs: only the root cause shows.
    assert!(!err.contains("all:"), "{err}");
    colleague.write("p.sieve", &PIPE.replace("label = false", "label = true"));
    let err = stderr(&colleague.run(&["run", "p.sieve", "--locked"]));
    assert!(err.contains("ab: parameter label changed false → true"), "{err}");
    colleague.write(
        "p.sieve",
        &PIPE
            .replace("stage b = ", "stage b2 = ")
            .replace("concat(a, b,", "concat(a, b2,"),
    );
    let err = stderr(&colleague.run(&["run", "p.sieve", "--locked"]));
    assert!(err.contains("b2: not in the lock file"), "{err}");
    assert!(
        err.contains("b: in the lock file but not in the pipeline"),
        "{err}"
    );

    // An old lock (no key material) is still read; its refusals can only name the key.
    let mut old: serde_json::Value = lock_json.clone();
    for (_, st) in old["stages"].as_object_mut().unwrap() {
        st.as_object_mut().unwrap().remove("material");
    }
    std::fs::write(
        colleague.path().join("p.lock"),
        serde_json::to_vec_pretty(&old).unwrap(),
    )
    .unwrap();
    colleague.write("p.sieve", PIPE);
    assert_ok(&colleague.run(&["run", "p.sieve", "--locked"]));
    let out = colleague.run(&["run", "p.sieve", "--locked", "--set", "a.n=41"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("a: key "), "{}", stderr(&out));
}

#[test]
fn path_prints_the_committed_output_folder_or_says_why_there_is_none() {
    let p = Project::new();
    p.write("p.sieve", PIPE);
    // Nothing computed yet: exit 1, the reason in plan's words.
    let out = p.run(&["path", "p.sieve", "ab"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("error: `ab` is blocked: waits on `a`, `b`"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&p.run(&["path", "p.sieve", "a"])).contains("error: `a` is stale: never run"));

    assert_ok(&p.run(&["run", "p.sieve"]));
    let out = p.run(&["path", "p.sieve", "gen[s=4]"]);
    assert_ok(&out);
    let folder = std::path::PathBuf::from(stdout(&out).trim_end());
    assert!(folder.is_absolute(), "{}", folder.display());
    let key = &plan_keys(&p, &[])["gen[s=4]"];
    assert_eq!(folder, p.path().join(".sieve/entries").join(key).join("out"));
    assert!(folder.join("data.parquet").is_file());

    // With overrides: the instance the overrides describe, which has not run.
    let out = p.run(&["path", "p.sieve", "a", "--set", "n=41"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("`a` is stale: parameter n changed 40 → 41"), "{err}");
    assert!(err.contains("sieve run p.sieve --set n=41"), "{err}");

    // A family or an unknown name is a usage error (exit 2).
    let out = p.run(&["path", "p.sieve", "gen"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`gen` is a family of 3 instances; name one: `gen[s=3]`"),
        "{}",
        stderr(&out)
    );
    let out = p.run(&["path", "p.sieve", "abb"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("did you mean `ab`?"), "{}", stderr(&out));

    // A damaged entry is never handed to a script.
    let a = p.run(&["path", "p.sieve", "a"]);
    let data = std::path::PathBuf::from(stdout(&a).trim_end()).join("data.parquet");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&data, bytes).unwrap();
    let out = p.run(&["path", "p.sieve", "a"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("`a` is damaged: entry damaged: file data.parquet differs from the manifest"),
        "{err}"
    );
    assert!(err.contains("sieve run p.sieve --force 'a'"), "{err}");
    assert_ok(&p.run(&["run", "p.sieve", "--force", "a"]));
    assert_ok(&p.run(&["path", "p.sieve", "a"]));
}

/// `show` and `path` of a model stage name its output folder, the Hugging Face folder
/// itself (not the entry around it, which holds sieve's manifest and log).
#[test]
#[cfg_attr(
    sieve_skip_python,
    ignore = "needs SIEVE_PYTHON (the torch virtual environment with transformers)"
)]
fn show_and_path_of_a_model_name_the_folder_transformers_loads() {
    let p = Project::new();
    p.write(
        "m.sieve",
        "pipeline m {\n stage init = model.init(arch = \"nano\", tokenizer = \"chars\", seed = 1)\n}\n",
    );
    assert_ok(&p.run(&["run", "m.sieve"]));
    let path = p.run(&["path", "m.sieve", "init"]);
    assert_ok(&path);
    let folder = std::path::PathBuf::from(stdout(&path).trim_end());
    let show = stdout(&p.run(&["show", "m.sieve", "init"]));
    let shown = show
        .lines()
        .find_map(|l| l.strip_prefix("model   "))
        .unwrap_or_else(|| panic!("no model line:\n{show}"));
    assert_eq!(std::path::absolute(p.path().join(shown)).unwrap(), folder);
    assert!(!show.contains("\nentry "), "{show}");
    let python = std::env::var("SIEVE_PYTHON")
        .ok()
        .or_else(|| option_env!("SIEVE_PYTHON").map(String::from))
        .expect("SIEVE_PYTHON");
    let load = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, transformers\n\
             m = transformers.AutoModelForCausalLM.from_pretrained(sys.argv[1])\n\
             t = transformers.AutoTokenizer.from_pretrained(sys.argv[1])\n\
             print(type(m).__name__, len(t('1+2=')['input_ids']))",
        ])
        .arg(&folder)
        .output()
        .expect("run python");
    assert!(
        load.status.success(),
        "transformers cannot load {}:\n{}",
        folder.display(),
        String::from_utf8_lossy(&load.stderr)
    );
}

/// A tiny trainable setup: a `nano` model, addition data, three SFT steps and their
/// consumers.
const TRAIN: &str = r#"pipeline train {
  stage data  = synth.arith(n = 32, digits = 1..1, seed = 1)
  stage test  = synth.arith(n = 6, digits = 1..1, seed = 2)
  stage init  = model.init(arch = "nano", seed = 1)
  stage tuned = sft(init, data, steps = 3, batch_size = 8, max_seq_len = 64, device = "cpu")
  stage acc   = evaluate(tuned, test, max_new_tokens = 4, device = "cpu")
  stage loss  = score(test, tuned, by = loss, device = "cpu")
}
"#;

#[test]
fn forced_retraining_with_identical_weights_keeps_consumers_cached() {
    let p = Project::new();
    p.write("t.sieve", TRAIN);
    assert_ok(&p.run(&["run", "t.sieve"]));
    let forced = p.run(&["run", "t.sieve", "--json", "--force", "tuned"]);
    assert_ok(&forced);
    assert_eq!(started(&forced), vec!["tuned"], "only the forced stage runs");
    // Early cutoff: the retrained entry is byte-identical (weights and metric logs), so
    // what consumes it is still cached.
    assert_eq!(
        stages_with(&json_lines(&forced), "cached"),
        vec!["acc", "data", "init", "loss", "test"]
    );
    assert_ok(&p.run(&["cache", "verify", "--cache-dir", ".sieve"]));
}

/// `n` rows of questions without answers or responses, as JSONL.
fn questions_only(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"question\": \"{i}+{i}=\", \"steps\": {}}}\n", i % 7))
        .collect()
}

#[test]
fn scoring_without_the_needed_column_fails_and_says_which() {
    let p = Project::new();
    p.write("q.jsonl", &questions_only(40));
    p.write(
        "s.sieve",
        r#"pipeline s {
  stage q      = load(path = "q.jsonl", difficulty = "steps")
  stage init   = model.init(arch = "nano", seed = 1)
  stage passes = score(q, init, by = pass_rate(2), device = "cpu")
  stage loss   = score(q, init, by = loss, device = "cpu")
}
"#,
    );
    let out = p.run(&["run", "s.sieve", "--keep-going"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    for (stage, method, col) in [("passes", "pass_rate(2)", "answer"), ("loss", "loss", "response")] {
        let word = method.split('(').next().unwrap();
        let article = if col == "answer" { "an" } else { "a" };
        let expected = format!(
            "score(by = {method}): 40 of 40 rows cannot be scored, more than max_unscorable = 0 allows: {word} needs {article} `{col}` column, and `{col}` is null in every row; the dataset has: id, prompt, response, answer, difficulty, steps"
        );
        assert!(err.contains(&expected), "{stage}: {err}");
    }
    // `load(difficulty = "steps")` kept the `steps` column (listed above) too.

    // Allowed to be unscorable, the scores exist but hold nothing to select; `select`
    // says so instead of calling the dataset empty.
    p.write(
        "t.sieve",
        r#"pipeline t {
  stage q      = load(path = "q.jsonl")
  stage init   = model.init(arch = "nano", seed = 1)
  stage passes = score(q, init, by = pass_rate(2), max_unscorable = 1, device = "cpu")
  stage pick   = select(passes, budget = 5)
}
"#,
    );
    let out = p.run(&["run", "t.sieve"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("0 of 40 rows have a score (method pass_rate(2))") && !err.contains("holds 0 rows"),
        "{err}"
    );
}

#[test]
fn oversized_parameters_are_refused_before_anything_runs() {
    let p = Project::new();
    p.write(
        "big.sieve",
        "pipeline big {\n stage a = synth.arith(n = 1e12, seed = 1)\n stage m = model.init(layers = 1_000_000_000)\n stage r = synth.ruler(n = 10, length = 1..100_000_000_000)\n}\n",
    );
    let out = p.run(&["check", "big.sieve"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("big.sieve:2:") && err.contains("must be ≤ 10000000, got 1000000000000"),
        "{err}"
    );
    assert!(
        err.contains("big.sieve:3:") && err.contains("at most 1024, got 1000000000"),
        "{err}"
    );
    assert!(
        err.contains("big.sieve:4:") && err.contains("holds 100000000000 integers"),
        "{err}"
    );
    assert!(!p.path().join(".sieve").exists(), "check ran nothing");
}

#[test]
fn broken_model_folders_and_jsonl_lines_are_named() {
    let p = Project::new();
    // A model folder whose weights file lost its tail.
    p.write(
        "m.sieve",
        "pipeline m {\n stage init = model.init(arch = \"nano\", seed = 1)\n}\n",
    );
    assert_ok(&p.run(&["run", "m.sieve"]));
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.path().join("m.lock")).unwrap()).unwrap();
    let out_dir = p
        .path()
        .join(".sieve/entries")
        .join(lock["stages"]["init"]["key"].as_str().unwrap())
        .join("out");
    std::fs::create_dir(p.path().join("cut")).unwrap();
    for f in std::fs::read_dir(&out_dir).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), p.path().join("cut").join(f.file_name())).unwrap();
    }
    let weights = p.path().join("cut/model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 1000]).unwrap();
    p.write(
        "l.sieve",
        "pipeline l {\n stage m = model.load(path = \"cut\")\n}\n",
    );
    let out = p.run(&["run", "l.sieve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cut/model.safetensors: truncated: its header describes"),
        "{}",
        stderr(&out)
    );

    // A JSONL file with a syntax error on its fifth line (after a blank line).
    p.write(
        "bad.jsonl",
        "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n\n{\"prompt\": \"c\"}\n{\"prompt\": \"d\", oops}\n",
    );
    p.write(
        "j.sieve",
        "pipeline j {\n stage d = load(path = \"bad.jsonl\")\n}\n",
    );
    let out = p.run(&["run", "j.sieve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("bad.jsonl: not a readable JSONL file: line 5, column 17: key must be a string"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn renaming_a_producer_reruns_only_stages_that_show_its_name() {
    let p = Project::new();
    let pipe = |name: &str| {
        format!(
            "pipeline r {{\n stage {name} = synth.arith(n = 10, seed = 1)\n stage labelled = concat({name})\n stage plain = concat({name}, label = false)\n}}\n"
        )
    };
    p.write("r.sieve", &pipe("a"));
    assert_ok(&p.run(&["run", "r.sieve"]));
    p.write("r.sieve", &pipe("renamed"));
    let plan = p.run(&["plan", "r.sieve"]);
    assert!(
        stdout(&plan).contains("input `parts` renamed (a → renamed): the output shows its names"),
        "{}",
        stdout(&plan)
    );
    let run = p.run(&["run", "r.sieve", "--json"]);
    assert_ok(&run);
    assert_eq!(started(&run), vec!["labelled"], "`part` holds the new name");
    assert_eq!(stages_with(&json_lines(&run), "cached"), vec!["plain", "renamed"]);
}
