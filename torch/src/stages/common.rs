//! What the libtorch bodies share: resolving the device, mapping training errors,
//! sampling options, prompt encoding and the progress hooks of training.
//!
//! Invariant: errors keep the engine's split — the user's input (`StageError::Input`)
//! versus a failed run (`StageError::Failed`) — and cancellation stays cancellation.

use crate::model::{GenerateOptions, LoadedModel, Tok};
use crate::train::TrainError;
use sieve::stages::columns::Columns;
use sieve::stages::declare::DeviceSpec;
use sieve::stages::{StageContext, StageError};
use tch::Device;

/// Maps a training-library error.
pub fn train_err(e: TrainError) -> StageError {
    match e {
        TrainError::Cancelled => StageError::Cancelled,
        TrainError::Invalid(m) => StageError::Input(m),
        TrainError::Model(m) => m.into(),
        other => StageError::Failed(other.to_string()),
    }
}

/// The stage's `device` parameter, resolved to a libtorch device.
pub fn device(spec: &DeviceSpec) -> Result<Device, StageError> {
    crate::model::parse_device(&spec.0).map_err(StageError::from)
}

/// The generation parameters shared by `evaluate` and the sampling scores.
pub struct Sampling<'a> {
    pub max_new_tokens: u64,
    pub temperature: f64,
    pub top_p: f64,
    pub top_k: u64,
    pub stop: &'a [String],
}

impl Sampling<'_> {
    /// Sampling options for `loaded`; the per-row seed is set by the caller.
    pub fn options(&self, loaded: &LoadedModel) -> GenerateOptions {
        GenerateOptions {
            max_new_tokens: self.max_new_tokens as usize,
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k as usize,
            stop_ids: loaded.stop_ids(),
            stop_strings: self.stop.to_vec(),
            seed: 0,
        }
    }
}

/// The token ids of a prompt: through the chat template as one user turn with the
/// generation prompt (the template supplies any BOS) when `chat`, else the plain text
/// with the tokenizer's special tokens.
pub fn encode_prompt(tok: &Tok, prompt: &str, chat: bool) -> Result<Vec<i64>, StageError> {
    if chat {
        let text = tok.apply_chat_template(&[("user", prompt)], true)?;
        Ok(tok.encode(&text, false)?)
    } else {
        Ok(tok.encode(prompt, true)?)
    }
}

/// Tokenises prompt/response rows into training examples (rows without both skipped).
pub fn examples_from(
    cols: &Columns,
    tok: &Tok,
    chat: bool,
) -> Result<Vec<crate::model::Example>, StageError> {
    let eos = tok.eos_id();
    let mut out = Vec::with_capacity(cols.len());
    for (p, r) in cols.get("prompt").iter().zip(cols.get("response")) {
        let (Some(p), Some(r)) = (p, r) else { continue };
        let prompt = encode_prompt(tok, p, chat)?;
        let mut tokens = prompt.clone();
        tokens.extend(tok.encode(r, false)?);
        tokens.extend(eos);
        out.push(crate::model::Example {
            tokens,
            prompt_len: prompt.len(),
        });
    }
    Ok(out)
}

/// Training hooks that feed the stage's progress bar, log and cancellation flag.
pub struct StageHooks<'c, 'a> {
    pub ctx: &'c StageContext<'a>,
}

impl crate::train::TrainHooks for StageHooks<'_, '_> {
    fn on_step(&mut self, step: usize, total: usize, metrics: &[(&str, f64)]) {
        if step == 1 {
            self.ctx.progress().set_total(total as u64, "step");
        }
        self.ctx.progress().update(step as u64, metrics);
        if step.is_multiple_of(50) || step == total {
            let m: Vec<String> = metrics.iter().map(|(k, v)| format!("{k}={v:.5}")).collect();
            self.ctx.log(&format!("step {step}/{total} {}", m.join(" ")));
        }
    }
    fn message(&mut self, msg: &str) {
        self.ctx.log(msg);
        self.ctx.progress().message(msg);
    }
    fn should_stop(&mut self) -> bool {
        self.ctx.is_cancelled()
    }
}

/// Writes a trained model's output folder, as `sft` and `grpo` both produce it: the
/// Hugging Face model (weights in `kind`) and its per-step metrics as
/// `training_metrics.jsonl` and `training_metrics.parquet`.
pub fn write_trained_model(
    ctx: &StageContext,
    loaded: &LoadedModel,
    tok: &Tok,
    kind: tch::Kind,
    log: &crate::train::metrics::MetricsLog,
) -> Result<(), StageError> {
    crate::model::save_pretrained(
        &loaded.model,
        tok,
        loaded.generation_config.as_ref(),
        ctx.out_dir(),
        kind,
    )?;
    log.write_jsonl(&ctx.out_dir().join("training_metrics.jsonl"))
        .map_err(train_err)?;
    log.write_parquet(&ctx.out_dir().join("training_metrics.parquet"))
        .map_err(train_err)?;
    Ok(())
}
