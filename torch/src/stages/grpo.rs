//! The body of `grpo`: loads the policy (and, with `kl_coef > 0`, a frozen copy as the
//! reference), tokenises `prompt` → `answer` rows, fills an [`RlConfig`] from the preset
//! and the explicit parameters, trains through [`crate::rl::trainer`] and saves the
//! model, its metric logs and `rollouts.parquet`.
//!
//! Invariants: see `sieve::stages::grpo` (outputs are a pure function of the key
//! material; checkpoints in the work folder make a killed run resume exactly).

use super::common::{Sampling, StageHooks, device, write_trained_model};
use super::rl_common::{read_prompts, rl_err};
use crate::model::{default_kind, load_pretrained};
use crate::rl::advantage::AdvantageNorm;
use crate::rl::aggregate::LossAgg;
use crate::rl::objective::KlKind;
use crate::rl::preset::{Preset, RlConfig};
use crate::rl::reward::Overlong;
use crate::rl::sampling::FilterMetric;
use crate::rl::trainer::{TrainerConfig, train_rl};
use crate::rl::update::UpdateConfig;
use crate::train::AdamWConfig;
use sieve::stages::grpo::GrpoParams;
use sieve::stages::{StageContext, StageError, StageResult};

/// A word of an engine enum as the library's value (the two lists are pinned equal by a
/// test, so a miss here is a bug, reported as such).
fn word<T>(what: &str, w: &str, parse: fn(&str) -> Option<T>) -> Result<T, StageError> {
    parse(w).ok_or_else(|| StageError::Failed(format!("{what} `{w}` has no RL-library counterpart")))
}

/// The RL settings of `p`: the preset, then every explicit parameter over it.
pub fn rl_config(p: &GrpoParams) -> Result<RlConfig, StageError> {
    let max_new = p.max_new_tokens.get() as usize;
    let mut c = RlConfig::preset(
        word("preset", p.preset.as_str(), Preset::parse)?,
        p.metric,
        max_new,
    );
    c.reward.tail_chars = p.tail_chars as usize;
    c.objective.temperature = p.temperature;
    if let Some(v) = p.reward_correct {
        c.reward.values.correct = v;
    }
    if let Some(v) = p.reward_incorrect {
        c.reward.values.incorrect = v;
    }
    let factor = p
        .overlong_factor
        .or(c.reward.overlong.map(|o| o.factor))
        .unwrap_or(1.0);
    let buffer = match p.overlong_buffer {
        Some(b) => Some(b as usize).filter(|&b| b > 0),
        None => c.reward.overlong.map(|o| o.buffer),
    };
    c.reward.overlong = match buffer {
        Some(b) => Some(Overlong::new(max_new, b, factor).map_err(rl_err)?),
        None => None,
    };
    if let Some(v) = p.clip_low {
        c.objective.clip_low = v;
    }
    if let Some(v) = p.clip_high {
        c.objective.clip_high = v;
    }
    if let Some(v) = p.dual_clip {
        c.objective.dual_clip = (v != 0.0).then_some(v);
    }
    if let Some(v) = p.kl_coef {
        c.objective.kl_coef = v;
    }
    if let Some(k) = p.kl_kind {
        c.objective.kl_kind = word("kl_kind", k.as_str(), KlKind::parse)?;
    }
    if let Some(v) = p.entropy_coef {
        c.objective.entropy_coef = v;
    }
    if let Some(n) = p.adv_norm {
        c.advantage.norm = word("adv_norm", n.as_str(), AdvantageNorm::parse)?;
    }
    if let Some(v) = p.adv_eps {
        c.advantage.eps = v;
    }
    if let Some(a) = p.loss_agg {
        c.loss_agg = word("loss_agg", a.as_str(), LossAgg::parse)?;
    }
    if let Some(d) = p.dynamic_sampling {
        c.sampling.dynamic = d;
    }
    if let Some(f) = p.filter_metric {
        c.sampling.filter_metric = word("filter_metric", f.as_str(), FilterMetric::parse)?;
    }
    c.sampling.max_gen_batches = p.max_gen_batches.get() as usize;
    c.sampling.mask_truncated = p.mask_truncated;
    c.validate().map_err(rl_err)?;
    Ok(c)
}

/// `grpo`'s body.
pub fn run(p: &GrpoParams, ctx: &StageContext) -> StageResult {
    let device = device(&p.device)?;
    let kind = default_kind(device);
    let src = ctx.input("model")?;
    let loaded = load_pretrained(&src.dir, device, kind)?;
    let tok = &loaded.tok;
    let rl = rl_config(p)?;
    let reference = if rl.objective.kl_coef > 0.0 {
        Some(load_pretrained(&src.dir, device, kind)?)
    } else {
        None
    };
    let prompts = read_prompts(&ctx.input("data")?.dir, tok, p.chat, "data")?;
    if prompts.is_empty() {
        return Err(StageError::Input("data: no rows".into()));
    }
    let eval = match ctx.slot("eval").first() {
        Some(e) => read_prompts(&e.dir, tok, p.chat, "eval")?,
        None => Vec::new(),
    };
    let mut generate = Sampling {
        max_new_tokens: p.max_new_tokens.get(),
        temperature: p.temperature,
        top_p: p.top_p,
        top_k: p.top_k,
        stop: &p.stop,
    }
    .options(&loaded);
    generate.seed = p.seed.0;
    let cfg = TrainerConfig {
        rl,
        update: UpdateConfig {
            optim: AdamWConfig {
                weight_decay: p.weight_decay,
                ..AdamWConfig::default()
            },
            max_grad_norm: p.max_grad_norm,
            mini_batches: p.mini_batches.get() as usize,
            epochs: p.epochs.get() as usize,
            micro_batch_tokens: p.micro_batch_tokens.get() as usize,
            measure_entropy: true,
        },
        generate,
        steps: p.steps.get() as usize,
        prompts_per_step: p.prompts_per_step.get() as usize,
        group_size: p.group_size as usize,
        gen_batch_prompts: p.gen_batch_prompts.map_or(0, u64::from) as usize,
        lr: p.lr,
        warmup_steps: p.warmup_steps as usize,
        save_every: p.save_every.map_or(0, u64::from) as usize,
        eval_every: p.eval_every.map_or(0, u64::from) as usize,
        seed: p.seed.0,
    };
    ctx.log(&format!(
        "grpo: {} prompts ({} eval), preset {}, {} parameters on {device:?} ({kind:?})",
        prompts.len(),
        eval.len(),
        p.preset,
        loaded.model.num_parameters()
    ));
    let work = ctx.work_dir()?.join("grpo");
    let mut hooks = StageHooks { ctx };
    let out = train_rl(
        &loaded.model,
        reference.as_ref().map(|r| &r.model),
        tok,
        &prompts,
        &eval,
        &cfg,
        Some(&work),
        &mut hooks,
    )
    .map_err(rl_err)?;
    write_trained_model(ctx, &loaded, tok, kind, &out.log)?;
    out.rollouts
        .write_parquet(&ctx.out_dir().join("rollouts.parquet"))
        .map_err(rl_err)?;
    ctx.log(&format!(
        "grpo: {} steps{}{}",
        out.steps,
        out.eval_acc
            .map(|a| format!(", greedy eval accuracy {a:.4}"))
            .unwrap_or_default(),
        out.resumed_from
            .map(|s| format!(" (resumed from step {s})"))
            .unwrap_or_default()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::sft::tests::write_addition;
    use crate::stages::testutil::{kind, nano_addition_model, run_kind};
    use sieve::stages::declare::ParamStruct;
    use sieve::stages::grpo::{AdvNorm, FilterMetricParam, KlKindParam, LossAggParam, RlPreset};
    use sieve::stages::params::Params;
    use sieve::value::Value;

    #[test]
    fn every_engine_word_has_its_library_value() {
        assert_eq!(RlPreset::NAMES, crate::rl::preset::PRESETS);
        assert_eq!(AdvNorm::NAMES, crate::rl::advantage::ADVANTAGE_NORMS);
        assert_eq!(LossAggParam::NAMES, crate::rl::aggregate::LOSS_AGGS);
        assert_eq!(KlKindParam::NAMES, crate::rl::objective::KL_KINDS);
        assert_eq!(FilterMetricParam::NAMES, crate::rl::sampling::FILTER_METRICS);
    }

    fn params(pairs: &[(&str, Value)]) -> GrpoParams {
        let p = Params(pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect());
        GrpoParams::from_params(&p).unwrap()
    }

    #[test]
    fn explicit_parameters_win_over_the_preset() {
        let dapo = rl_config(&params(&[
            ("preset", Value::Str("dapo".into())),
            ("max_new_tokens", Value::Int(50)),
        ]))
        .unwrap();
        assert_eq!(
            dapo,
            RlConfig::preset(Preset::Dapo, sieve::eval::Metric::ExactMatch, 50)
        );
        let c = rl_config(&params(&[
            ("preset", Value::Str("dapo".into())),
            ("max_new_tokens", Value::Int(50)),
            ("overlong_buffer", Value::Int(0)),
            ("clip_high", Value::Float(0.3)),
            ("dual_clip", Value::Float(0.0)),
            ("dynamic_sampling", Value::Bool(false)),
            ("loss_agg", Value::Str("seq_mean_token_mean".into())),
            ("reward_incorrect", Value::Float(0.0)),
        ]))
        .unwrap();
        assert_eq!(c.reward.overlong, None);
        assert_eq!((c.objective.clip_high, c.objective.dual_clip), (0.3, None));
        assert!(!c.sampling.dynamic);
        assert_eq!(c.loss_agg, LossAgg::SeqMeanTokenMean);
        assert_eq!(c.reward.values.incorrect, 0.0);
        let c = rl_config(&params(&[
            ("max_new_tokens", Value::Int(50)),
            ("overlong_buffer", Value::Int(10)),
        ]))
        .unwrap();
        assert_eq!(c.reward.overlong.map(|o| (o.buffer, o.factor)), Some((10, 1.0)));
    }

    /// A dataset whose second row has no answer.
    fn write_without_answer(dir: &std::path::Path) {
        use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        use std::sync::Arc;
        std::fs::create_dir_all(dir).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("prompt", DataType::Utf8, true),
            Field::new("answer", DataType::Utf8, true),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![0, 7])),
            Arc::new(StringArray::from(vec!["1+1=", "2+2="])),
            Arc::new(StringArray::from(vec![Some("2"), None])),
        ];
        let path = dir.join(sieve::stages::artifact::DATASET_FILE);
        let mut sink = sieve::data::io::ParquetSink::create(&path, schema.clone()).unwrap();
        sink.write(&RecordBatch::try_new(schema, cols).unwrap()).unwrap();
        sink.finish().unwrap();
    }

    #[test]
    fn grpo_stage_trains_logs_rollouts_and_resumes() {
        tch::set_num_threads(1);
        let dir = tempfile::tempdir().unwrap();
        let init = nano_addition_model(dir.path(), "w0");
        let data = dir.path().join("data");
        write_addition(&data, 12, 0);
        let p = [
            ("steps", Value::Int(4)),
            ("prompts_per_step", Value::Int(2)),
            ("group_size", Value::Int(2)),
            ("max_new_tokens", Value::Int(3)),
            ("lr", Value::Float(1e-3)),
            ("save_every", Value::Int(2)),
            ("device", Value::Str("cpu".into())),
        ];
        let (out, work) = (dir.path().join("out"), dir.path().join("work"));
        let inputs = [("model", init.as_path()), ("data", data.as_path())];
        run_kind(kind("grpo"), &p, &inputs, &out, &work).unwrap();
        let log = std::fs::read_to_string(out.join("training_metrics.jsonl")).unwrap();
        assert_eq!(log.lines().count(), 4);
        assert!(log.contains("\"reward_mean\"") && !log.contains("gen_s"), "{log}");
        let rolls =
            sieve::stages::columns::read_columns(&out.join("rollouts.parquet"), &["response", "finish"], &[])
                .unwrap();
        assert_eq!(rolls.len(), 4 * 2 * 2);
        // The work folder kept the step-2 checkpoint: a rerun resumes and writes the same bytes.
        let out2 = dir.path().join("out2");
        run_kind(kind("grpo"), &p, &inputs, &out2, &work).unwrap();
        for f in [
            "model.safetensors",
            "training_metrics.jsonl",
            "training_metrics.parquet",
            "rollouts.parquet",
        ] {
            assert_eq!(
                std::fs::read(out.join(f)).unwrap(),
                std::fs::read(out2.join(f)).unwrap(),
                "{f}"
            );
        }
        // Rows without an answer are refused by id.
        let bad = dir.path().join("bad");
        write_without_answer(&bad);
        let e = run_kind(
            kind("grpo"),
            &p,
            &[("model", &init), ("data", &bad)],
            &dir.path().join("o3"),
            &work,
        )
        .unwrap_err();
        assert!(
            matches!(&e, StageError::Input(m) if m.contains("row id 7 has no answer")),
            "{e:?}"
        );
    }
}
