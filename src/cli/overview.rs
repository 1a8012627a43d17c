//! The run overview page: one HTML file per pipeline with every stage's status (ran in
//! the last run, cached, failed, not run), time, metrics and charts, built from the store's
//! manifests and the record of the last `sieve run`. Written by `sieve run` and by
//! `sieve report FILE`.

use super::compile::Compiled;
use crate::cache::Store;
use crate::exec::{self, RunSummary, Status};
use crate::report::overview::{RunOverview, StageRecord, Status as PageStatus, render_html};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// What the last `sieve run` of a pipeline did, kept in the store.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RunRecord {
    pub executed: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<String>,
}

fn record_path(store: &Store, pipeline: &str) -> PathBuf {
    let safe: String = pipeline
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    store.root().join("runs").join(format!("{safe}.json"))
}

/// Where the overview page of a pipeline goes.
pub fn page_path(store: &Store, pipeline: &str) -> PathBuf {
    record_path(store, pipeline).with_extension("html")
}

/// Saves what a run did (best effort: the page is a convenience).
pub fn save_record(store: &Store, pipeline: &str, s: &RunSummary) {
    let rec = RunRecord {
        executed: s.executed.clone(),
        failed: s.failed.clone(),
        skipped: s.skipped.clone(),
    };
    if let Ok(json) = serde_json::to_vec_pretty(&rec) {
        let _ = crate::cache::write_atomically(&record_path(store, pipeline), &json);
    }
}

fn load_record(store: &Store, pipeline: &str) -> RunRecord {
    std::fs::read(record_path(store, pipeline))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Builds and writes the page; returns its path.
pub fn write(c: &Compiled, store: &Store) -> anyhow::Result<PathBuf> {
    let rec = load_record(store, &c.ir.name);
    let ran: HashSet<&str> = rec.executed.iter().map(String::as_str).collect();
    let failed: HashMap<&str, &str> = rec.failed.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let skipped: HashSet<&str> = rec.skipped.iter().map(String::as_str).collect();
    let mut page = RunOverview {
        title: c.ir.name.clone(),
        stages: Vec::new(),
    };
    for s in exec::assess(&c.plan, store, &HashSet::new())? {
        let inst = s.instance.as_str();
        let mut record = match &s.status {
            Status::Cached { key, .. } => {
                let status = if ran.contains(inst) {
                    PageStatus::Ran
                } else {
                    PageStatus::Cached
                };
                let mut r = StageRecord::new(inst, &s.kind, status);
                if let Some(entry) = store.get(key) {
                    r.seconds = Some(entry.manifest.wall_time_s);
                    r.metrics = entry.manifest.metrics.clone();
                    r = r.with_images_from(
                        &entry.out_dir(),
                        entry.manifest.files.iter().map(|f| f.path.as_str()),
                    );
                }
                r.key = Some(key.clone());
                r
            }
            _ if failed.contains_key(inst) => {
                StageRecord::new(inst, &s.kind, PageStatus::Failed(failed[inst].to_string()))
            }
            _ if skipped.contains(inst) => StageRecord::new(inst, &s.kind, PageStatus::Blocked),
            _ => StageRecord::new(inst, &s.kind, PageStatus::NotRun),
        };
        if record.key.is_none() {
            record.key = s.status.key().map(str::to_string);
        }
        page.stages.push(record);
    }
    let path = page_path(store, &c.ir.name);
    crate::cache::write_atomically(&path, render_html(&page).as_bytes())?;
    Ok(path)
}
