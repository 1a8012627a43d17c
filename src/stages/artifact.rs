//! Artifact kinds and the file layout of each inside a cache entry's output folder.
//!
//! Invariant: formats are the ecosystem's own — datasets and scores are Parquet, models
//! are Hugging Face folders, metrics are JSON (+ Parquet table), reports are Markdown
//! plus images. Stages read and write through these names only.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The type of a stage's output, checked on every edge at lowering time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    Dataset,
    Scores,
    Model,
    Metrics,
    Report,
}

impl ArtifactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Dataset => "dataset",
            ArtifactKind::Scores => "scores",
            ArtifactKind::Model => "model",
            ArtifactKind::Metrics => "metrics",
            ArtifactKind::Report => "report",
        }
    }
}

impl ArtifactKind {
    /// "a dataset", "a scores artifact", … for messages.
    pub fn with_article(self) -> &'static str {
        match self {
            ArtifactKind::Dataset => "a dataset",
            ArtifactKind::Scores => "a scores artifact",
            ArtifactKind::Model => "a model",
            ArtifactKind::Metrics => "a metrics artifact",
            ArtifactKind::Report => "a report",
        }
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A dataset artifact: one Parquet file.
pub const DATASET_FILE: &str = "data.parquet";
/// A scores artifact: one Parquet file (`id`, `score`, `method`, `bucket`).
pub const SCORES_FILE: &str = "scores.parquet";
/// A metrics artifact: summary JSON …
pub const METRICS_FILE: &str = "metrics.json";
/// … plus a per-example / per-slice table.
pub const METRICS_TABLE_FILE: &str = "table.parquet";
/// A report artifact's entry page.
pub const REPORT_FILE: &str = "report.md";
