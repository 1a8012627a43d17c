//! Training checkpoints in a work folder: model parameters, optimiser state and the
//! loop's counters, so an interrupted run resumes where it stopped.
//!
//! Layout: `work/ckpt-<step>/{tensors.safetensors, state.json}` plus a `work/LATEST`
//! pointer naming the newest complete checkpoint. A checkpoint folder is fully written
//! (under a temporary name, then renamed) before `LATEST` is atomically replaced, so a
//! crash at any moment leaves either the previous or the new checkpoint valid; older
//! folders are deleted only after the pointer moved. A checkpoint whose `fingerprint`
//! (a digest of the run's configuration and data) differs from the current run's is
//! ignored, never resumed. There is no RNG state to save: data order and sampling are
//! pure functions of (seed, step).

use super::TrainError;
use super::optim::AdamW;
use crate::model::Transformer;
use crate::model::hf::{read_tensors, write_tensors};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// Counters saved with a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps completed.
    pub step: usize,
    /// Response tokens trained on so far.
    pub tokens: u64,
    /// Digest of the run's configuration and data.
    pub fingerprint: String,
    /// Prompts drawn so far, for loops whose data position is not a function of the
    /// step (RL with dynamic sampling draws a varying number per step); absent for SFT,
    /// so its `state.json` is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u64>,
}

const LATEST: &str = "LATEST";

/// Writes a checkpoint of `model` + `opt` at `state.step` into `dir`.
pub fn save(dir: &Path, model: &Transformer, opt: &AdamW, state: &TrainState) -> Result<PathBuf, TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
    let name = format!("ckpt-{}", state.step);
    let tmp = dir.join(format!("{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    let mut tensors: Vec<(String, Tensor)> = model
        .named_parameters()
        .into_iter()
        .map(|(n, t)| (format!("param.{n}"), t))
        .collect();
    tensors.extend(opt.state_tensors());
    write_tensors(&tmp.join("tensors.safetensors"), &tensors)?;
    let sp = tmp.join("state.json");
    std::fs::write(&sp, serde_json::to_vec_pretty(state).unwrap_or_default())
        .map_err(|e| TrainError::io(&sp, e))?;
    let final_dir = dir.join(&name);
    let _ = std::fs::remove_dir_all(&final_dir);
    std::fs::rename(&tmp, &final_dir).map_err(|e| TrainError::io(&final_dir, e))?;
    let ptr_tmp = dir.join("LATEST.tmp");
    std::fs::write(&ptr_tmp, &name).map_err(|e| TrainError::io(&ptr_tmp, e))?;
    std::fs::rename(&ptr_tmp, dir.join(LATEST)).map_err(|e| TrainError::io(dir, e))?;
    // Older checkpoints are now unreachable.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("ckpt-") && n != name {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(final_dir)
}

/// The newest checkpoint's state, when one exists and matches `fingerprint`.
pub fn latest(dir: &Path, fingerprint: &str) -> Option<(PathBuf, TrainState)> {
    let name = std::fs::read_to_string(dir.join(LATEST)).ok()?;
    let ck = dir.join(name.trim());
    let state: TrainState = serde_json::from_slice(&std::fs::read(ck.join("state.json")).ok()?).ok()?;
    (state.fingerprint == fingerprint).then_some((ck, state))
}

/// Loads the checkpoint folder `ck` into `model` and `opt`.
pub fn restore(ck: &Path, model: &Transformer, opt: &mut AdamW) -> Result<(), TrainError> {
    let all: HashMap<String, Tensor> = read_tensors(&ck.join("tensors.safetensors"))?
        .into_iter()
        .collect();
    for (name, mut p) in model.named_parameters() {
        let src = all.get(&format!("param.{name}")).ok_or_else(|| {
            TrainError::Invalid(format!("checkpoint {} lacks parameter {name}", ck.display()))
        })?;
        tch::no_grad(|| p.f_copy_(src))
            .map_err(|e| TrainError::Invalid(format!("checkpoint parameter {name}: {e}")))?;
    }
    opt.load_state(&all)
        .map_err(|e| TrainError::Invalid(format!("checkpoint {}: {e}", ck.display())))
}
