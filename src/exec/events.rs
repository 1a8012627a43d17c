//! Run events and their renderers: indicatif bars on a terminal, plain log lines
//! otherwise, or one JSON object per line with `--json`.
//!
//! Invariant: every renderer receives the same [`Event`] stream; JSON lines always carry
//! `event`, `stage` and `key` (null when not known yet), so scripts can rely on them;
//! stale reasons appear as their text and, in JSON, also as `reasons` (tagged objects).

use super::reason::{StaleReason, join, to_json};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Something that happened during a run.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// Announces the run: number of stages.
    Begin {
        pipeline: &'a str,
        total: usize,
    },
    Started {
        stage: &'a str,
        key: &'a str,
        kind: &'a str,
    },
    Cached {
        stage: &'a str,
        key: &'a str,
    },
    Progress {
        stage: &'a str,
        key: &'a str,
        done: u64,
        total: Option<u64>,
        unit: &'a str,
        metrics: &'a [(&'a str, f64)],
    },
    Message {
        stage: &'a str,
        key: &'a str,
        message: &'a str,
    },
    Finished {
        stage: &'a str,
        key: &'a str,
        seconds: f64,
    },
    Failed {
        stage: &'a str,
        key: Option<&'a str>,
        error: &'a str,
        log: Option<&'a Path>,
        /// Why `--locked` refused the stage (its key differs from the lock's), which
        /// `error` words; empty for every other failure.
        reasons: &'a [StaleReason],
    },
    /// `--locked`, before anything runs: the stage differs from the lock file.
    Refused {
        stage: &'a str,
        key: Option<&'a str>,
        reasons: &'a [StaleReason],
    },
    /// A stage's committed entry was found damaged (or gone) when another stage came to
    /// read it, or its folder has no readable manifest when the stage itself is about to
    /// compute; it was moved to `quarantined` (when there was a folder to move) and is
    /// recomputed next. Nothing read it.
    Damaged {
        stage: &'a str,
        key: &'a str,
        problem: &'a str,
        quarantined: Option<&'a Path>,
    },
    /// Not run because an input failed (or the run stopped).
    Skipped {
        stage: &'a str,
        reason: &'a str,
    },
    End {
        executed: usize,
        cached: usize,
        failed: usize,
        skipped: usize,
        seconds: f64,
    },
}

/// Receives events (from the scheduler and from stages' progress handles).
pub trait Reporter: Send + Sync {
    fn event(&self, e: &Event);
}

/// One JSON object per line on stdout.
pub struct JsonReporter {
    out: Mutex<std::io::Stdout>,
}

impl JsonReporter {
    pub fn new() -> Self {
        JsonReporter {
            out: Mutex::new(std::io::stdout()),
        }
    }
}

impl Default for JsonReporter {
    fn default() -> Self {
        Self::new()
    }
}

fn metrics_json(metrics: &[(&str, f64)]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in metrics {
        // JSON has no NaN/inf: keep the line valid, say what it was.
        let val = if v.is_finite() {
            json!(v)
        } else {
            json!(v.to_string())
        };
        m.insert((*k).to_string(), val);
    }
    serde_json::Value::Object(m)
}

/// The JSON object of an event.
pub fn event_json(e: &Event) -> serde_json::Value {
    match e {
        Event::Begin { pipeline, total } => {
            json!({"event": "begin", "stage": null, "key": null, "pipeline": pipeline, "total": total})
        }
        Event::Started { stage, key, kind } => {
            json!({"event": "started", "stage": stage, "key": key, "kind": kind})
        }
        Event::Cached { stage, key } => json!({"event": "cached", "stage": stage, "key": key}),
        Event::Progress {
            stage,
            key,
            done,
            total,
            unit,
            metrics,
        } => json!({
            "event": "progress", "stage": stage, "key": key, "done": done, "total": total, "unit": unit,
            "metrics": metrics_json(metrics),
        }),
        Event::Message { stage, key, message } => {
            json!({"event": "message", "stage": stage, "key": key, "message": message})
        }
        Event::Finished { stage, key, seconds } => {
            json!({"event": "finished", "stage": stage, "key": key, "seconds": seconds})
        }
        Event::Failed {
            stage,
            key,
            error,
            log,
            reasons,
        } => {
            let mut line = json!({
                "event": "failed", "stage": stage, "key": key, "error": error, "log": log.map(|p| p.display().to_string()),
            });
            if !reasons.is_empty() {
                line["reasons"] = to_json(reasons);
            }
            line
        }
        Event::Refused { stage, key, reasons } => json!({
            "event": "refused", "stage": stage, "key": key, "reason": join(reasons), "reasons": to_json(reasons),
        }),
        Event::Damaged {
            stage,
            key,
            problem,
            quarantined,
        } => json!({
            "event": "damaged", "stage": stage, "key": key, "problem": problem,
            "quarantined": quarantined.map(|p| p.display().to_string()),
        }),
        Event::Skipped { stage, reason } => {
            json!({"event": "skipped", "stage": stage, "key": null, "reason": reason})
        }
        Event::End {
            executed,
            cached,
            failed,
            skipped,
            seconds,
        } => json!({
            "event": "end", "stage": null, "key": null, "executed": executed, "cached": cached, "failed": failed,
            "skipped": skipped, "seconds": seconds,
        }),
    }
}

impl Reporter for JsonReporter {
    fn event(&self, e: &Event) {
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{}", event_json(e));
            let _ = out.flush();
        }
    }
}

fn fmt_metrics(metrics: &[(&str, f64)]) -> String {
    metrics
        .iter()
        .map(|(k, v)| format!("{k}={}", fmt_num(*v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 1000.0 || v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}

/// The line a text renderer prints for an event: the plain renderer prints every event's
/// (progress throttled), the bar renderer those of the events that end a stage or the run.
fn text_line(e: &Event) -> String {
    match e {
        Event::Begin { pipeline, total } => format!("pipeline {pipeline}: {total} stages"),
        Event::Started { stage, kind, .. } => format!("started   {stage} ({kind})"),
        Event::Cached { stage, .. } => format!("cached    {stage}"),
        Event::Progress {
            stage,
            done,
            total,
            unit,
            metrics,
            ..
        } => {
            let of = total.map(|t| format!("/{t}")).unwrap_or_default();
            format!("progress  {stage}: {done}{of} {unit} {}", fmt_metrics(metrics))
        }
        Event::Message { stage, message, .. } => format!("          {stage}: {message}"),
        Event::Finished { stage, seconds, .. } => format!("finished  {stage} in {seconds:.2}s"),
        Event::Failed {
            stage, error, log, ..
        } => match log {
            Some(l) => format!("FAILED    {stage}: {error}\n          log: {}", l.display()),
            None => format!("FAILED    {stage}: {error}"),
        },
        Event::Damaged {
            stage,
            key,
            problem,
            quarantined,
        } => {
            let moved = quarantined
                .map(|q| format!("; moved to {}", q.display()))
                .unwrap_or_default();
            format!(
                "damaged   {stage}: entry {} {problem}{moved}; recomputing",
                crate::cache::digest::short(key)
            )
        }
        Event::Refused { stage, reasons, .. } => format!("refused   {stage}: {}", join(reasons)),
        Event::Skipped { stage, reason } => format!("skipped   {stage}: {reason}"),
        Event::End {
            executed,
            cached,
            failed,
            skipped,
            seconds,
        } => format!(
            "done: {executed} run, {cached} cached, {failed} failed, {skipped} skipped in {seconds:.2}s"
        ),
    }
}

/// Plain lines on stderr (for logs and CI); progress at most every few seconds per stage.
pub struct PlainReporter {
    last_progress: Mutex<HashMap<String, Instant>>,
    interval: Duration,
}

impl PlainReporter {
    pub fn new() -> Self {
        PlainReporter {
            last_progress: Mutex::new(HashMap::new()),
            interval: Duration::from_secs(5),
        }
    }
}

impl Default for PlainReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl PlainReporter {
    /// Whether a progress line of `stage` is due: the first, one at least `interval`
    /// after the last printed, or the last (`done` reached `total`). Records it when due.
    fn progress_due(&self, stage: &str, done: u64, total: Option<u64>) -> bool {
        let now = Instant::now();
        let mut last = self.last_progress.lock().unwrap_or_else(|p| p.into_inner());
        let due = last
            .get(stage)
            .is_none_or(|t| now.duration_since(*t) >= self.interval);
        if !due && total.is_none_or(|t| done < t) {
            return false;
        }
        last.insert(stage.to_string(), now);
        true
    }
}

impl Reporter for PlainReporter {
    fn event(&self, e: &Event) {
        if let Event::Progress {
            stage, done, total, ..
        } = e
            && !self.progress_due(stage, *done, *total)
        {
            return;
        }
        eprintln!("{}", text_line(e));
    }
}

/// indicatif bars: one overall bar plus one per running stage.
pub struct BarsReporter {
    multi: MultiProgress,
    overall: ProgressBar,
    bars: Mutex<HashMap<String, ProgressBar>>,
    counts: Mutex<(usize, usize, usize)>, // done, cached, failed
}

impl BarsReporter {
    pub fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} stages {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        overall.enable_steady_tick(Duration::from_millis(120));
        BarsReporter {
            multi,
            overall,
            bars: Mutex::new(HashMap::new()),
            counts: Mutex::new((0, 0, 0)),
        }
    }

    /// The bars of the running stages, by stage (a poisoned lock still holds them).
    fn bars(&self) -> MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.bars.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The (done, cached, failed) counts (a poisoned lock still holds them).
    fn counts(&self) -> MutexGuard<'_, (usize, usize, usize)> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refresh(&self) {
        let (done, cached, failed) = *self.counts();
        let running = self.bars().len();
        self.overall.set_message(format!(
            "(run {done}, cached {cached}, running {running}, failed {failed})"
        ));
    }

    fn finish_bar(&self, stage: &str) {
        if let Some(bar) = self.bars().remove(stage) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }
}

impl Default for BarsReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for BarsReporter {
    fn event(&self, e: &Event) {
        match e {
            Event::Begin { total, .. } => self.overall.set_length(*total as u64),
            Event::Started { stage, kind, .. } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {spinner} {prefix} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(format!("{stage} ({kind})"));
                bar.enable_steady_tick(Duration::from_millis(120));
                self.bars().insert((*stage).to_string(), bar);
            }
            Event::Progress {
                stage,
                done,
                total,
                unit,
                metrics,
                ..
            } => {
                if let Some(bar) = self.bars().get(*stage) {
                    if let Some(t) = total
                        && bar.length() != Some(*t)
                    {
                        bar.set_length(*t);
                        bar.set_style(
                            ProgressStyle::with_template("  {prefix} {bar:24} {pos}/{len} {msg} eta {eta}")
                                .unwrap_or_else(|_| ProgressStyle::default_bar()),
                        );
                    }
                    bar.set_position(*done);
                    bar.set_message(format!("{unit} {}", fmt_metrics(metrics)));
                }
            }
            Event::Message { stage, message, .. } => {
                if let Some(bar) = self.bars().get(*stage) {
                    bar.set_message(message.to_string());
                }
            }
            Event::Cached { .. } => {
                self.counts().1 += 1;
                self.overall.inc(1);
            }
            Event::Finished { stage, .. } => {
                self.finish_bar(stage);
                self.counts().0 += 1;
                self.overall.inc(1);
                let _ = self.multi.println(text_line(e));
            }
            Event::Failed { stage, .. } => {
                self.finish_bar(stage);
                self.counts().2 += 1;
                self.overall.inc(1);
                let _ = self.multi.println(text_line(e));
            }
            Event::Damaged { .. } => {
                // Counted as done when it was first found cached or computed; it is
                // counted again when the recompute finishes.
                let mut counts = self.counts();
                if counts.1 > 0 {
                    counts.1 -= 1;
                }
                drop(counts);
                self.overall
                    .set_position(self.overall.position().saturating_sub(1));
                let _ = self.multi.println(text_line(e));
            }
            Event::Refused { .. } => {
                let _ = self.multi.println(text_line(e));
            }
            Event::Skipped { .. } => {
                self.overall.inc(1);
                let _ = self.multi.println(text_line(e));
            }
            Event::End { .. } => {
                self.overall.finish_and_clear();
                let _ = self.multi.clear();
                eprintln!("{}", text_line(e));
                return;
            }
        }
        self.refresh();
    }
}

/// Discards events (library use, tests).
pub struct NullReporter;

impl Reporter for NullReporter {
    fn event(&self, _: &Event) {}
}
