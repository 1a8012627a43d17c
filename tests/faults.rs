//! The fault campaign (`scripts/faults.sh`, docs/reliability.md) at CI size, on the
//! binaries this test run built: kill -9 trials, concurrent runs, every kind of store
//! tampering and both corpora must leave every cell of its table at 0. And the campaign
//! itself must see faults: run against a `sieve` that panics or hangs, its table says so.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/faults.sh")
}

/// Runs the campaign with `args`, the binaries in `bin_dir` and `env`, in a scratch folder.
fn campaign(bin_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let work = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new("bash");
    cmd.arg(script())
        .args(args)
        .env("SIEVE_BIN_DIR", bin_dir)
        .env("FAULTS_WORK", work.path())
        .env_remove("SIEVE_CACHE")
        .env_remove("N")
        .env_remove("M");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run scripts/faults.sh");
    let text = format!("{}\n{}", stdout(&out), stderr(&out));
    (out, text)
}

/// The table row of one class, as its cells.
fn row(text: &str, class: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("| {class} ")))
        .unwrap_or_else(|| panic!("no row for {class}:\n{text}"));
    line.split('|')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
#[cfg_attr(sieve_skip_faults, ignore = "needs GNU time (/usr/bin/time) and mkfifo")]
fn the_fault_campaign_at_ci_size_finds_nothing() {
    let bin_dir = Path::new(sieve_bin()).parent().expect("bin dir");
    // Debug binaries parse several times slower than release ones: the 1 s bound per
    // corpus file is the documented release run's (docs/reliability.md).
    let (out, text) = campaign(bin_dir, &["2", "2"], &[("FAULTS_LIMIT_S", "5")]);
    assert!(out.status.success(), "the campaign found problems:\n{text}");
    for class in ["kill", "concurrent", "tamper", "pipelines", "data"] {
        let cells = row(&text, class);
        assert_eq!(cells.len(), 11, "{cells:?}");
        assert!(
            cells[1].parse::<u32>().is_ok_and(|n| n > 0),
            "{class} ran no trial: {cells:?}"
        );
        assert!(cells[2..].iter().all(|c| c == "0"), "{class}: {cells:?}");
    }
    assert!(text.contains("every cell that must be 0 is 0"), "{text}");
}

#[test]
#[cfg_attr(sieve_skip_faults, ignore = "needs GNU time (/usr/bin/time) and mkfifo")]
fn the_fault_campaign_sees_panics_hangs_and_wrong_exit_codes() {
    // A `sieve` that panics on every corpus pipeline (the corpus generator still gets
    // the real one for the model it starts from), and one that takes too long.
    let fake = tempfile::tempdir().expect("temp dir");
    let real = sieve_bin();
    let write_fake = |body: &str| {
        let text =
            format!("#!/bin/sh\ncase \"$*\" in *.model/m.sieve*) exec {real} \"$@\" ;; esac\n{body}\n");
        let path = fake.path().join("sieve");
        std::fs::write(&path, text).expect("write fake");
        std::fs::copy(&path, fake.path().join("sieve-torch")).expect("copy fake");
        for f in ["sieve", "sieve-torch"] {
            let status = Command::new("chmod").arg("+x").arg(fake.path().join(f)).status();
            assert!(status.expect("chmod").success());
        }
    };
    write_fake("echo \"thread 'main' panicked at src/main.rs:1:1\" >&2\nexit 101");
    let (out, text) = campaign(
        fake.path(),
        &["0", "1"],
        &[("FAULTS_CLASSES", "pipelines"), ("FAULTS_CASES", "syntax_*")],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    let cells = row(&text, "pipelines");
    let trials: u32 = cells[1].parse().expect("trials");
    // Each case runs `check` and `run`: both panic, exit 101 and name no place.
    for (column, at) in [("panics", 4), ("exit", 6), ("no-loc", 7)] {
        assert_eq!(cells[at], (2 * trials).to_string(), "{column}: {cells:?}");
    }
    assert!(trials > 30, "{cells:?}");
    write_fake("sleep 1.5\nexit 2");
    let (out, text) = campaign(
        fake.path(),
        &["0", "1"],
        &[
            ("FAULTS_CLASSES", "pipelines"),
            ("FAULTS_CASES", "syntax_missing_*"),
            ("FAULTS_LIMIT_S", "1"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    let cells = row(&text, "pipelines");
    let trials: u32 = cells[1].parse().expect("trials");
    assert!(trials >= 3, "{cells:?}");
    assert_eq!(cells[8], (2 * trials).to_string(), "slow: {cells:?}");
    assert_eq!(cells[6], "0", "exit 2 is right: {cells:?}");
}
