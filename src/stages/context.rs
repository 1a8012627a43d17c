//! What a running stage sees: its parameters, its input artifacts (folders in the cache),
//! an output folder, a persistent work folder for checkpoints, a progress handle and a log.
//!
//! Invariants: a stage writes only into `out_dir` (committed atomically by the executor
//! when `run` returns Ok) and `work_dir` (kept across interrupted runs of the same key,
//! so training can resume; removed after a successful commit). Cancellation is
//! cooperative: long loops call [`StageContext::check_cancelled`].

use super::{ArtifactKind, Params, StageError};
use crate::value::Value;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// One input artifact: a committed cache entry's output folder.
#[derive(Debug, Clone)]
pub struct InputArtifact {
    /// Instance name of the producing stage, e.g. `acc[budget=256,band="easy"]`.
    pub instance: String,
    /// Sweep coordinates of the producer (empty when not swept).
    pub coords: Vec<(String, Value)>,
    pub kind: ArtifactKind,
    pub dir: PathBuf,
}

impl InputArtifact {
    /// Path of a file inside the artifact.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The value of one sweep coordinate, if this artifact came from a sweep.
    pub fn coord(&self, var: &str) -> Option<&Value> {
        self.coords.iter().find(|(k, _)| k == var).map(|(_, v)| v)
    }
}

/// All artifacts bound to one declared input slot.
#[derive(Debug, Clone)]
pub struct InputSlot {
    pub name: String,
    pub members: Vec<InputArtifact>,
}

/// Progress reporting from inside a stage; rendered as an indicatif bar, a plain log
/// line or a JSON event depending on the terminal and `--json`.
pub trait Progress: Send + Sync {
    /// Declares the amount of work (e.g. training steps) and its unit.
    fn set_total(&self, total: u64, unit: &str);
    /// Reports work done so far with current metrics (`loss`, `tok/s`, …).
    fn update(&self, done: u64, metrics: &[(&str, f64)]);
    /// A free-form status message.
    fn message(&self, msg: &str);
}

/// A progress sink that discards everything (tests, library use).
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_total(&self, _: u64, _: &str) {}
    fn update(&self, _: u64, _: &[(&str, f64)]) {}
    fn message(&self, _: &str) {}
}

/// The environment of one stage run.
pub struct StageContext<'a> {
    pub instance: String,
    pub params: Params,
    pub inputs: Vec<InputSlot>,
    out_dir: PathBuf,
    work_dir: PathBuf,
    progress: &'a dyn Progress,
    log: Mutex<Option<File>>,
    cancel: &'a AtomicBool,
}

impl<'a> StageContext<'a> {
    /// Builds a context; `log_path` receives the stage's log lines.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        instance: String,
        params: Params,
        inputs: Vec<InputSlot>,
        out_dir: PathBuf,
        work_dir: PathBuf,
        log_path: Option<&Path>,
        progress: &'a dyn Progress,
        cancel: &'a AtomicBool,
    ) -> std::io::Result<Self> {
        let log = match log_path {
            Some(p) => Some(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
            None => None,
        };
        Ok(StageContext {
            instance,
            params,
            inputs,
            out_dir,
            work_dir,
            progress,
            log: Mutex::new(log),
            cancel,
        })
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Where outputs go (a temp folder renamed into the cache on success).
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// A folder that survives an interrupted run of the same key (checkpoints); created
    /// on first use and removed once the entry is committed.
    pub fn work_dir(&self) -> Result<&Path, StageError> {
        std::fs::create_dir_all(&self.work_dir)?;
        Ok(&self.work_dir)
    }

    pub fn progress(&self) -> &dyn Progress {
        self.progress
    }

    /// The artifacts of input slot `name` (empty if an optional slot is unbound).
    pub fn slot(&self, name: &str) -> &[InputArtifact] {
        self.inputs
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.members.as_slice())
            .unwrap_or(&[])
    }

    /// The single artifact of a one-artifact slot.
    pub fn input(&self, name: &str) -> Result<&InputArtifact, StageError> {
        match self.slot(name) {
            [one] => Ok(one),
            [] => Err(StageError::Failed(format!(
                "internal: input `{name}` is not bound"
            ))),
            many => Err(StageError::Input(format!(
                "input `{name}` expects one artifact, got {}",
                many.len()
            ))),
        }
    }

    /// Appends a line to the stage's log (kept with its cache entry).
    pub fn log(&self, line: &str) {
        if let Ok(mut guard) = self.log.lock()
            && let Some(f) = guard.as_mut()
        {
            let _ = writeln!(f, "{line}");
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Returns `Err(Cancelled)` once the user interrupted the run.
    pub fn check_cancelled(&self) -> Result<(), StageError> {
        if self.is_cancelled() {
            Err(StageError::Cancelled)
        } else {
            Ok(())
        }
    }
}
