//! The plain data library: Parquet/JSONL IO, mapping foreign schemas into sieve's
//! canonical dataset schema, synthetic generators, split/concat/export, difficulty
//! scores, budgeted selection and dataset summaries. It knows nothing about stages;
//! the data stage kinds (`stages::load`, `synth`, `split`, `concat`, `export`, `score`,
//! `select`) call it.
//!
//! # Canonical dataset schema
//!
//! Every dataset artifact (`data.parquet`) has these columns, in this order, followed by
//! any extra columns kept from the source or added by a generator (`ops`, `data_source`,
//! `digits`, `answers`, …):
//!
//! | column       | type                | nulls | meaning                                        |
//! |--------------|---------------------|-------|------------------------------------------------|
//! | `id`         | int64               | never | stable per row, unique within the dataset      |
//! | `prompt`     | utf8                | never | the model input (question, task, context)      |
//! | `response`   | utf8                | yes   | the target text: chain of thought + answer     |
//! | `answer`     | utf8                | yes   | the final answer alone (what metrics compare)  |
//! | `difficulty` | int64 or float64    | yes   | higher = harder; generators fill it            |
//!
//! Invariants: ids are unique; files are written with fixed writer properties
//! ([`io::writer_properties`]) and no timestamps, so the same rows give byte-identical
//! Parquet (the cache's early cutoff relies on it); all randomness comes from
//! `ChaCha8Rng` seeded by the caller.

pub mod arith;
pub mod haystack;
pub mod igsm;
pub mod io;
pub mod jsonl;
pub mod load;
pub mod ruler;
pub mod schema;
pub mod score;
pub mod select;
pub mod show;
pub mod split;
pub mod text;
pub mod words;

#[cfg(test)]
#[path = "../../bench/data/bench.rs"]
mod bench;
#[cfg(test)]
mod datasets;
#[cfg(test)]
mod interop;
#[cfg(test)]
pub(crate) mod testutil;

use std::path::{Path, PathBuf};

/// Errors of the data library. Each names the file and, where one is involved, the
/// column, the expected and the found type.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The input file does not exist.
    #[error("{}: file not found", .path.display())]
    NotFound { path: PathBuf },
    /// The file exists but is not readable in the expected format.
    #[error("{}: not a readable {format} file: {msg}", .path.display())]
    Unreadable {
        path: PathBuf,
        format: &'static str,
        msg: String,
    },
    /// A required column is absent.
    #[error("{}: column `{column}` is missing (columns: {available})", .path.display())]
    MissingColumn {
        path: PathBuf,
        column: String,
        available: String,
    },
    /// A column has a type the operation cannot use.
    #[error("{}: column `{column}`: expected {expected}, found {found}", .path.display())]
    ColumnType {
        path: PathBuf,
        column: String,
        expected: String,
        found: String,
    },
    /// The dataset has no rows.
    #[error("{}: dataset is empty (0 rows)", .path.display())]
    Empty { path: PathBuf },
    /// The data violates an invariant (null prompt, duplicate id, …).
    #[error("{}: {msg}", .path.display())]
    Invalid { path: PathBuf, msg: String },
    /// A parameter value the library cannot use.
    #[error("{0}")]
    Param(String),
    /// A selection cannot be satisfied (too few rows for the budget, …).
    #[error("{0}")]
    Selection(String),
    /// The output path exists and overwriting was not asked for.
    #[error("{}: already exists (pass `overwrite = true` to replace it)", .path.display())]
    Exists { path: PathBuf },
    /// A tokenizer could not be loaded or failed to encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// The user interrupted the run.
    #[error("cancelled")]
    Cancelled,
    /// An Arrow computation failed on otherwise valid input.
    #[error("{}: {msg}", .path.display())]
    Arrow { path: PathBuf, msg: String },
}

/// The error of a parameter that names none of its choices: ``unknown {what} `{given}`
/// (expected {choices})``.
pub fn unknown_choice(what: &str, given: &str, choices: &str) -> DataError {
    DataError::Param(format!("unknown {what} `{given}` (expected {choices})"))
}

impl DataError {
    /// Wraps an IO error with the path it concerns.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Wraps an Arrow/Parquet error with the path it concerns.
    pub fn arrow(path: &Path, e: impl std::fmt::Display) -> Self {
        DataError::Arrow {
            path: path.to_path_buf(),
            msg: e.to_string(),
        }
    }

    /// A data invariant violation in `path`.
    pub fn invalid(path: &Path, msg: impl Into<String>) -> Self {
        DataError::Invalid {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }

    /// True when the error is about the user's data or parameters rather than the
    /// machine (IO, cancellation); stages map the former to `StageError::Input`.
    pub fn is_input(&self) -> bool {
        !matches!(self, DataError::Io { .. } | DataError::Cancelled)
    }
}

/// Result alias of the data library.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
