//! The data-layer benchmark (`docs/performance.md`): `load` → `score(by = length("chars"))`
//! → `select(budget, band = "hard", bands = 3)` over the file named by
//! `SIEVE_BENCH_INPUT`, through the same library calls the stages make. Compiled into the
//! library's unit tests as an ignored test; `bench/data/run.sh` builds it in release mode
//! and compares it with `bench/data/pyarrow_pipeline.py` in the same run.
//!
//! Prints one JSON line: seconds per step and the peak RSS (VmHWM) of the process.

use super::load::{LoadOptions, load};
use super::score::{Method, score_dataset};
use super::select::{Banding, Budget, SelectOptions, Strategy, select};
use super::text::TokenCounter;
use std::path::PathBuf;
use std::time::Instant;

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM")
}

/// A memory figure of `/proc/self/status` in MiB (`VmHWM` = peak RSS, `VmRSS` = now).
fn status_mib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kib| (kib / 1024.0 * 10.0).round() / 10.0)
        .unwrap_or(0.0)
}

#[test]
#[ignore]
fn data_pipeline_bench() {
    let Ok(input) = std::env::var("SIEVE_BENCH_INPUT") else {
        eprintln!("note: set SIEVE_BENCH_INPUT (see bench/data/run.sh)");
        return;
    };
    let work =
        PathBuf::from(std::env::var("SIEVE_BENCH_WORK").unwrap_or_else(|_| "bench-out/data/sieve".into()));
    let budget: usize = std::env::var("SIEVE_BENCH_BUDGET")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(100_000);
    std::fs::create_dir_all(work.join("scored")).unwrap();
    let ok = || Ok(());
    // The test binary maps libtorch and friends; the pipeline's own memory is the growth
    // over this baseline.
    let baseline = status_mib("VmRSS");

    let t = Instant::now();
    let rep = load(
        &PathBuf::from(&input),
        &work.join("data.parquet"),
        &LoadOptions::default(),
        ok,
    )
    .unwrap();
    let load_s = t.elapsed().as_secs_f64();
    let rss_load = peak_rss_mib();

    let t = Instant::now();
    score_dataset(
        &work.join("data.parquet"),
        &work.join("scored"),
        &Method::Length,
        &TokenCounter::Chars,
        0,
        ok,
    )
    .unwrap();
    let score_s = t.elapsed().as_secs_f64();
    let rss_score = peak_rss_mib();

    let t = Instant::now();
    let opts = SelectOptions {
        budget: Budget::Rows(budget),
        banding: Banding::Quantiles(3),
        band: "hard".into(),
        strategy: Strategy::Random,
        stratify_by: None,
        nested: true,
        allow_short: false,
        seed: 1,
    };
    let sel = select(
        &work.join("scored"),
        &work.join("out.parquet"),
        &opts,
        &TokenCounter::Chars,
        ok,
    )
    .unwrap();
    let select_s = t.elapsed().as_secs_f64();
    assert_eq!(sel.rows, budget);
    println!(
        "{}",
        serde_json::json!({
            "load_s": load_s, "score_s": score_s, "select_s": select_s,
            "rows": rep.rows, "peak_rss_mib": peak_rss_mib(), "threads": 1,
            "peak_rss_after_load_mib": rss_load, "peak_rss_after_score_mib": rss_score,
            "baseline_rss_mib": baseline,
        })
    );
}
