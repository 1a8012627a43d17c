//! The `sft` stage kind: supervised fine-tuning of a model artifact on a dataset's
//! `prompt` → `response` pairs (completion-only loss), through [`crate::train::sft`].
//!
//! Invariants: the output is the fine-tuned model as a Hugging Face folder (f32 on the
//! CPU, bf16 on CUDA) plus `training_metrics.jsonl` / `training_metrics.parquet`;
//! checkpoints live in `work_dir/sft` so a killed run resumes from the last one, while
//! the cache entry is only committed when training completes. Every output file is a
//! pure function of the key material: throughput and times go to the stage log only. Examples are
//! `encode(prompt, special tokens) ++ encode(response) ++ [eos]`, truncated to
//! `max_seq_len`; rows without a response are skipped (an error if none remain).

use super::model::{Columns, StageHooks, device_param, model_err, read_columns, train_err};
use super::{
    ArtifactKind, InputSpec, ParamSpec, ParamType, StageContext, StageError, StageKind, StageResult,
};
use crate::model::logprobs::Example;
use crate::model::{Tok, default_kind, load_pretrained, save_pretrained};
use crate::stages::artifact::DATASET_FILE;
use crate::train::sft::{LossKind, SftConfig, prepare_examples, train_sft};
use crate::train::{AdamWConfig, ScheduleKind};
use crate::value::Value;

/// The training stage kinds.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![Box::new(Sft)]
}

/// The token ids of a prompt: through the chat template as one user turn with the
/// generation prompt (the template supplies any BOS) when `chat`, else the plain text
/// with the tokenizer's special tokens.
pub(crate) fn encode_prompt(tok: &Tok, prompt: &str, chat: bool) -> Result<Vec<i64>, StageError> {
    if chat {
        let text = tok
            .apply_chat_template(&[("user", prompt)], true)
            .map_err(model_err)?;
        tok.encode(&text, false).map_err(model_err)
    } else {
        tok.encode(prompt, true).map_err(model_err)
    }
}

/// Tokenises prompt/response rows into training examples.
pub(crate) fn examples_from(cols: &Columns, tok: &Tok, chat: bool) -> Result<Vec<Example>, StageError> {
    let eos = tok.eos_id();
    let mut out = Vec::with_capacity(cols.len());
    for (p, r) in cols.get("prompt").iter().zip(cols.get("response")) {
        let (Some(p), Some(r)) = (p, r) else { continue };
        let prompt = encode_prompt(tok, p, chat)?;
        let mut tokens = prompt.clone();
        tokens.extend(tok.encode(r, false).map_err(model_err)?);
        tokens.extend(eos);
        out.push(Example {
            tokens,
            prompt_len: prompt.len(),
        });
    }
    Ok(out)
}

struct Sft;

impl StageKind for Sft {
    fn name(&self) -> &'static str {
        "sft"
    }
    fn version(&self) -> u32 {
        // 2: `training_metrics.*` no longer hold the wall-clock `tok/s` column, which made
        // two runs of one key write different bytes (it is in the stage log instead).
        2
    }
    fn doc(&self) -> &'static str {
        "Supervised fine-tuning on prompt → response (completion-only loss, optional packing and DFT weighting), AdamW, warmup + cosine/constant, checkpoints + resume"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        vec![
            InputSpec::one("model", ArtifactKind::Model, "the model to fine-tune"),
            InputSpec::one(
                "data",
                ArtifactKind::Dataset,
                "training rows (`prompt`, `response`)",
            ),
            InputSpec::optional(
                "eval",
                ArtifactKind::Dataset,
                "held-out rows for the periodic eval loss",
            ),
        ]
    }
    fn params(&self) -> Vec<ParamSpec> {
        use ParamSpec as P;
        use ParamType as T;
        vec![
            P::optional("lr", T::Float, Value::Float(1e-4), "peak learning rate"),
            P::optional(
                "schedule",
                T::Enum(&["cosine", "constant"]),
                Value::Str("cosine".into()),
                "decay after warmup",
            ),
            P::optional(
                "warmup_ratio",
                T::Float,
                Value::Float(0.03),
                "fraction of steps in linear warmup",
            ),
            P::optional(
                "min_lr_ratio",
                T::Float,
                Value::Float(0.0),
                "final cosine learning rate / peak",
            ),
            P::optional(
                "epochs",
                T::Int,
                Value::Int(1),
                "passes over the data (when steps = 0)",
            ),
            P::optional(
                "steps",
                T::Int,
                Value::Int(0),
                "optimiser steps; 0 = derived from epochs",
            ),
            P::optional(
                "batch_size",
                T::Int,
                Value::Int(16),
                "examples (or packed rows) per micro-batch",
            ),
            P::optional(
                "grad_accum",
                T::Int,
                Value::Int(1),
                "micro-batches per optimiser step",
            ),
            P::optional(
                "max_grad_norm",
                T::Float,
                Value::Float(1.0),
                "gradient clipping; 0 = off",
            ),
            P::optional(
                "weight_decay",
                T::Float,
                Value::Float(0.0),
                "AdamW decoupled weight decay (matrices only)",
            ),
            P::optional("beta1", T::Float, Value::Float(0.9), "AdamW β1"),
            P::optional("beta2", T::Float, Value::Float(0.999), "AdamW β2"),
            P::optional(
                "loss",
                T::Enum(&["ce", "dft"]),
                Value::Str("ce".into()),
                "ce = cross-entropy; dft = Dynamic Fine-Tuning (CE × sg(p))",
            ),
            P::optional(
                "packing",
                T::Bool,
                Value::Bool(false),
                "pack short examples into max_seq_len rows",
            ),
            P::optional(
                "max_seq_len",
                T::Int,
                Value::Int(1024),
                "truncate examples to this many tokens",
            ),
            P::optional(
                "eval_every",
                T::Int,
                Value::Int(0),
                "eval loss every N steps (0 = at the end only)",
            ),
            P::optional(
                "save_every",
                T::Int,
                Value::Int(0),
                "checkpoint every N steps (0 = ~10 per run)",
            ),
            P::chat(),
            P::seed(),
            P::device(),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Model
    }
    fn needs_torch(&self, _params: &super::Params) -> bool {
        true
    }
    fn validate(&self, p: &super::Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        let int = |n: &str| p.get(n).and_then(Value::as_i64).unwrap_or(1);
        let float = |n: &str| p.get(n).and_then(Value::as_f64).unwrap_or(0.0);
        if float("lr") <= 0.0 {
            errs.push((Some("lr"), "must be > 0".to_string()));
        }
        if !(0.0..1.0).contains(&float("warmup_ratio")) {
            errs.push((Some("warmup_ratio"), "must be in [0, 1)".into()));
        }
        for n in ["batch_size", "grad_accum", "max_seq_len"] {
            if int(n) < 1 {
                errs.push((None, format!("`{n}` must be ≥ 1")));
            }
        }
        if int("steps") < 0 || int("epochs") < 0 || (int("steps") == 0 && int("epochs") == 0) {
            errs.push((Some("steps"), "give steps ≥ 1 or epochs ≥ 1".into()));
        }
        errs
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        super::torch::run(self.name(), ctx)
    }
}

/// The libtorch body of `sft` (installed by [`crate::torch_runtime`]).
pub(crate) fn sft_body(ctx: &StageContext) -> StageResult {
    let p = ctx.params();
    let device = device_param(ctx)?;
    let kind = default_kind(device);
    let src = ctx.input("model")?;
    let loaded = load_pretrained(&src.dir, device, kind).map_err(model_err)?;
    let tok = &loaded.tok;
    let max_len = p.usize("max_seq_len")?;
    let chat = p.bool("chat")?;
    let data = read_columns(
        &ctx.input("data")?.file(DATASET_FILE),
        &["prompt", "response"],
        &[],
    )?;
    let train = prepare_examples(examples_from(&data, tok, chat)?, max_len);
    if train.is_empty() {
        return Err(StageError::Input(
            "no row has both a prompt and a non-empty response".into(),
        ));
    }
    let eval = match ctx.slot("eval").first() {
        Some(e) => {
            let cols = read_columns(&e.file(DATASET_FILE), &["prompt", "response"], &[])?;
            prepare_examples(examples_from(&cols, tok, chat)?, max_len)
        }
        None => Vec::new(),
    };
    let steps = p.usize("steps")?;
    let cfg = SftConfig {
        lr: p.f64("lr")?,
        optim: AdamWConfig {
            beta1: p.f64("beta1")?,
            beta2: p.f64("beta2")?,
            eps: 1e-8,
            weight_decay: p.f64("weight_decay")?,
        },
        schedule: ScheduleKind::parse(p.str("schedule")?).unwrap_or(ScheduleKind::Cosine),
        warmup_ratio: p.f64("warmup_ratio")?,
        min_lr_ratio: p.f64("min_lr_ratio")?,
        batch_size: p.usize("batch_size")?,
        grad_accum: p.usize("grad_accum")?,
        max_grad_norm: p.f64("max_grad_norm")?,
        epochs: p.usize("epochs")?,
        steps: (steps > 0).then_some(steps),
        packing: p.bool("packing")?,
        max_seq_len: max_len,
        loss: if p.str("loss")? == "dft" {
            LossKind::Dft
        } else {
            LossKind::CrossEntropy
        },
        eval_every: p.usize("eval_every")?,
        save_every: p.usize("save_every")?,
        log_every: 1,
        seed: p.i64("seed")? as u64,
    };
    ctx.log(&format!(
        "sft: {} examples ({} eval), {} parameters on {device:?} ({kind:?})",
        train.len(),
        eval.len(),
        loaded.model.num_parameters()
    ));
    let work = ctx.work_dir()?.join("sft");
    let mut hooks = StageHooks { ctx };
    let out = train_sft(
        &loaded.model,
        &train,
        &eval,
        tok.pad_id(),
        &cfg,
        Some(&work),
        &mut hooks,
    )
    .map_err(train_err)?;
    save_pretrained(
        &loaded.model,
        tok,
        loaded.generation_config.as_ref(),
        ctx.out_dir(),
        kind,
    )
    .map_err(model_err)?;
    out.log
        .write_jsonl(&ctx.out_dir().join("training_metrics.jsonl"))
        .map_err(train_err)?;
    out.log
        .write_parquet(&ctx.out_dir().join("training_metrics.parquet"))
        .map_err(train_err)?;
    ctx.log(&format!(
        "sft: {} steps, final loss {:.5}{}{}",
        out.steps,
        out.final_loss,
        out.eval_loss
            .map(|e| format!(", eval loss {e:.5}"))
            .unwrap_or_default(),
        out.resumed_from
            .map(|s| format!(" (resumed from step {s})"))
            .unwrap_or_default()
    ));
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::model::testutil::run_kind;
    use super::*;
    use crate::data::io::ParquetSink;
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use std::path::Path;
    use std::sync::Arc;

    /// Writes an addition dataset with canonical columns plus `ops`.
    pub(crate) fn write_addition(dir: &Path, n: usize, offset: usize) {
        std::fs::create_dir_all(dir).unwrap();
        let (mut ids, mut prompts, mut responses, mut ops) = (vec![], vec![], vec![], vec![]);
        for i in 0..n {
            let (a, b) = (((i + offset) * 7) % 10, ((i + offset) * 3) % 10);
            ids.push(i as i64);
            prompts.push(format!("{a}+{b}="));
            responses.push(format!("{}", a + b));
            ops.push((a % 2) as i64);
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("prompt", DataType::Utf8, false),
            Field::new("response", DataType::Utf8, true),
            Field::new("answer", DataType::Utf8, true),
            Field::new("ops", DataType::Int64, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(prompts)),
            Arc::new(StringArray::from(responses.clone())),
            Arc::new(StringArray::from(responses)),
            Arc::new(Int64Array::from(ops)),
        ];
        let batch = RecordBatch::try_new(schema.clone(), cols).unwrap();
        let mut sink = ParquetSink::create(&dir.join(DATASET_FILE), schema).unwrap();
        sink.write(&batch).unwrap();
        sink.finish().unwrap();
    }

    #[test]
    fn sft_stage_trains_and_resumes() {
        tch::set_num_threads(1);
        let dir = tempfile::tempdir().unwrap();
        let init = dir.path().join("init");
        let init_kind = super::super::model::kinds()
            .into_iter()
            .find(|k| k.name() == "model.init")
            .unwrap();
        let p = [
            ("arch", Value::Str("nano".into())),
            ("alphabet", Value::Str("0123456789+=".into())),
        ];
        run_kind(init_kind.as_ref(), &p, &[], &init, &dir.path().join("w0")).unwrap();
        let data = dir.path().join("data");
        write_addition(&data, 64, 0);
        let params = [
            ("steps", Value::Int(12)),
            ("lr", Value::Float(3e-3)),
            ("save_every", Value::Int(5)),
            ("device", Value::Str("cpu".into())),
        ];
        let out = dir.path().join("out");
        let work = dir.path().join("work");
        run_kind(&Sft, &params, &[("model", &init), ("data", &data)], &out, &work).unwrap();
        let log = std::fs::read_to_string(out.join("training_metrics.jsonl")).unwrap();
        assert_eq!(log.lines().count(), 12);
        assert!(out.join("training_metrics.parquet").is_file() && out.join("tokenizer.json").is_file());
        // The work folder kept the step-10 checkpoint: a rerun resumes from it and ends at
        // the same weights.
        // Every output file, the metric logs included, is identical: they hold no
        // throughput or times, and the resumed rows round-trip exactly.
        assert!(!log.contains("tok/s"), "{log}");
        let out2 = dir.path().join("out2");
        run_kind(&Sft, &params, &[("model", &init), ("data", &data)], &out2, &work).unwrap();
        for f in [
            "model.safetensors",
            "config.json",
            "training_metrics.jsonl",
            "training_metrics.parquet",
        ] {
            assert_eq!(
                std::fs::read(out.join(f)).unwrap(),
                std::fs::read(out2.join(f)).unwrap(),
                "{f} differs after a resume"
            );
        }
        let bad = run_kind(&Sft, &params, &[("model", &init), ("data", &init)], &out2, &work);
        assert!(matches!(bad, Err(StageError::Input(_))), "{bad:?}");
    }
}
