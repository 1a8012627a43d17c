//! The body of `sft`: loads the model, tokenises `prompt` → `response` rows into
//! examples (`encode(prompt, special tokens) ++ encode(response) ++ [eos]`, truncated to
//! `max_seq_len`; rows without a response are skipped), trains through
//! [`crate::train::sft`] and saves the model and its metric logs.
//!
//! Invariants: see `sieve::stages::sft` (outputs are a pure function of the key
//! material; checkpoints in the work folder make a killed run resume).

use super::common::{StageHooks, device, examples_from, train_err, write_trained_model};
use crate::model::{default_kind, load_pretrained};
use crate::train::sft::{LossKind, SftConfig, prepare_examples, train_sft};
use crate::train::{AdamWConfig, ScheduleKind};
use sieve::stages::artifact::DATASET_FILE;
use sieve::stages::columns::read_columns;
use sieve::stages::sft::{Schedule, SftLoss, SftParams};
use sieve::stages::{StageContext, StageError, StageResult};

/// `sft`'s body.
pub fn run(p: &SftParams, ctx: &StageContext) -> StageResult {
    let device = device(&p.device)?;
    let kind = default_kind(device);
    let src = ctx.input("model")?;
    let loaded = load_pretrained(&src.dir, device, kind)?;
    let tok = &loaded.tok;
    let max_len = p.max_seq_len.get() as usize;
    let data = read_columns(
        &ctx.input("data")?.file(DATASET_FILE),
        &["prompt", "response"],
        &[],
    )?;
    let train = prepare_examples(examples_from(&data, tok, p.chat)?, max_len);
    if train.is_empty() {
        return Err(StageError::Input(
            "no row has both a prompt and a non-empty response".into(),
        ));
    }
    let eval = match ctx.slot("eval").first() {
        Some(e) => {
            let cols = read_columns(&e.file(DATASET_FILE), &["prompt", "response"], &[])?;
            prepare_examples(examples_from(&cols, tok, p.chat)?, max_len)
        }
        None => Vec::new(),
    };
    let cfg = SftConfig {
        lr: p.lr,
        optim: AdamWConfig {
            beta1: p.beta1,
            beta2: p.beta2,
            eps: 1e-8,
            weight_decay: p.weight_decay,
        },
        schedule: match p.schedule {
            Schedule::Cosine => ScheduleKind::Cosine,
            Schedule::Constant => ScheduleKind::Constant,
        },
        warmup_ratio: p.warmup_ratio,
        min_lr_ratio: p.min_lr_ratio,
        batch_size: p.batch_size.get() as usize,
        grad_accum: p.grad_accum.get() as usize,
        max_grad_norm: p.max_grad_norm,
        epochs: p.epochs as usize,
        steps: p.steps.map(|s| s.get() as usize),
        packing: p.packing,
        max_seq_len: max_len,
        loss: match p.loss {
            SftLoss::Ce => LossKind::CrossEntropy,
            SftLoss::Dft => LossKind::Dft,
        },
        eval_every: p.eval_every.map_or(0, u64::from) as usize,
        save_every: p.save_every.map_or(0, u64::from) as usize,
        log_every: 1,
        seed: p.seed.0,
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
    write_trained_model(ctx, &loaded, tok, kind, &out.log)?;
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
    use crate::stages::testutil::{kind, run_kind};
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use sieve::data::io::ParquetSink;
    use sieve::stages::StageError;
    use sieve::stages::artifact::DATASET_FILE;
    use sieve::value::Value;
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
        let init = crate::stages::testutil::nano_addition_model(dir.path(), "w0");
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
        run_kind(
            kind("sft"),
            &params,
            &[("model", &init), ("data", &data)],
            &out,
            &work,
        )
        .unwrap();
        let log = std::fs::read_to_string(out.join("training_metrics.jsonl")).unwrap();
        assert_eq!(log.lines().count(), 12);
        assert!(out.join("training_metrics.parquet").is_file() && out.join("tokenizer.json").is_file());
        // The work folder kept the step-10 checkpoint: a rerun resumes from it and ends at
        // the same weights.
        // Every output file, the metric logs included, is identical: they hold no
        // throughput or times, and the resumed rows round-trip exactly.
        assert!(!log.contains("tok/s"), "{log}");
        let out2 = dir.path().join("out2");
        run_kind(
            kind("sft"),
            &params,
            &[("model", &init), ("data", &data)],
            &out2,
            &work,
        )
        .unwrap();
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
        let bad = run_kind(
            kind("sft"),
            &params,
            &[("model", &init), ("data", &init)],
            &out2,
            &work,
        );
        assert!(matches!(bad, Err(StageError::Input(_))), "{bad:?}");
    }
}
