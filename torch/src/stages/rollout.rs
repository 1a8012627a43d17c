//! The body of `rollout`: samples `samples` responses per prompt through
//! [`crate::rl::rollout`] (whole groups per generation call), judges them with
//! [`crate::rl::reward`] and writes one dataset row per sample with the prompt's pass rate.
//!
//! Invariants: see `sieve::stages::rollout` (seeds depend only on (seed, row id, sample
//! index), the same as `evaluate`'s, so the dataset does not depend on batching).

use super::common::{Sampling, device};
use super::rl_common::{read_prompts, rl_err};
use crate::model::{default_kind, load_pretrained};
use crate::rl::reward::{RewardConfig, RewardValues};
use crate::rl::rollout::{RlPrompt, Rollout};
use crate::rl::rollout_log::finish_name;
use crate::rl::sampling::Group;
use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use sieve::data::io::ParquetSink;
use sieve::stages::artifact::DATASET_FILE;
use sieve::stages::columns::read_columns;
use sieve::stages::rollout::RolloutParams;
use sieve::stages::{StageContext, StageError, StageResult};
use std::sync::Arc;

/// `rollout`'s body.
pub fn run(p: &RolloutParams, ctx: &StageContext) -> StageResult {
    let device = device(&p.device)?;
    let loaded = load_pretrained(&ctx.input("model")?.dir, device, default_kind(device))?;
    let tok = &loaded.tok;
    let data_dir = &ctx.input("data")?.dir;
    let prompts = read_prompts(data_dir, tok, p.chat, "data")?;
    let texts = read_columns(&data_dir.join(DATASET_FILE), &["prompt"], &[])?;
    let opts = Sampling {
        max_new_tokens: p.max_new_tokens.get(),
        temperature: p.temperature,
        top_p: p.top_p,
        top_k: p.top_k,
        stop: &p.stop,
    }
    .options(&loaded);
    let reward = RewardConfig {
        tail_chars: p.tail_chars as usize,
        values: RewardValues {
            correct: p.reward_correct,
            incorrect: p.reward_incorrect,
        },
        ..RewardConfig::accuracy(p.metric)
    };
    let samples = p.samples.get() as usize;
    let ro = Rollout {
        model: &loaded.model,
        tok,
        opts: &opts,
        reward: &reward,
        group_size: samples,
        seed: p.seed.0,
    };
    // Whole groups per generation call; prompts sorted by length so batches pad little.
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    order.sort_by_key(|&i| (prompts[i].tokens.len(), i));
    let per_call = (p.batch_size.get() as usize / samples).max(1);
    let mut groups: Vec<Option<Group>> = vec![None; prompts.len()];
    ctx.progress()
        .set_total((prompts.len() * samples) as u64, "sample");
    let mut done = 0u64;
    for chunk in order.chunks(per_call) {
        ctx.check_cancelled()?;
        let batch: Vec<&RlPrompt> = chunk.iter().map(|&i| &prompts[i]).collect();
        // Step 0, batch 0: the seeds are `sample_seed(seed, id, j)`, as in `evaluate`.
        for (&i, g) in chunk.iter().zip(ro.groups(&batch, 0, 0).map_err(rl_err)?) {
            groups[i] = Some(g);
        }
        done += (chunk.len() * samples) as u64;
        ctx.progress().update(done, &[]);
    }
    let n = prompts.len() * samples;
    let (mut source_id, mut sample, mut prompt, mut response, mut answer) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut correct, mut rewards, mut finish, mut length, mut pass_rate) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut solved = 0usize;
    for (i, g) in groups.into_iter().enumerate() {
        let g = g.ok_or_else(|| StageError::Failed(format!("prompt {i} was not rolled out")))?;
        let rate = g.samples.iter().map(|s| s.score.acc).sum::<f64>() / samples as f64;
        solved += usize::from(rate > 0.0);
        for (j, s) in g.samples.into_iter().enumerate() {
            source_id.push(prompts[i].id);
            sample.push(j as i64);
            prompt.push(texts.get("prompt")[i].clone());
            response.push(s.text);
            answer.push(prompts[i].gold.clone());
            correct.push(s.score.acc > 0.0);
            rewards.push(s.score.reward);
            finish.push(finish_name(s.finish));
            length.push(s.tokens.len() as i64);
            pass_rate.push(rate);
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "id",
            Arc::new(Int64Array::from((0..n as i64).collect::<Vec<_>>())),
        ),
        ("source_id", Arc::new(Int64Array::from(source_id))),
        ("sample", Arc::new(Int64Array::from(sample))),
        ("prompt", Arc::new(StringArray::from(prompt))),
        ("response", Arc::new(StringArray::from(response))),
        ("answer", Arc::new(StringArray::from(answer))),
        ("correct", Arc::new(BooleanArray::from(correct))),
        ("reward", Arc::new(Float64Array::from(rewards))),
        ("finish", Arc::new(StringArray::from(finish))),
        ("tokens", Arc::new(Int64Array::from(length))),
        ("pass_rate", Arc::new(Float64Array::from(pass_rate))),
    ];
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), *name == "prompt"))
            .collect::<Vec<_>>(),
    ));
    let failed = |e: &dyn std::fmt::Display| StageError::Failed(format!("writing the rollouts: {e}"));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect())
        .map_err(|e| failed(&e))?;
    let mut sink = ParquetSink::create(&ctx.out_dir().join(DATASET_FILE), schema).map_err(|e| failed(&e))?;
    sink.write(&batch).map_err(|e| failed(&e))?;
    sink.finish().map_err(|e| failed(&e))?;
    ctx.log(&format!(
        "rollout: {} prompts × {samples} samples; {solved} prompts solved at least once",
        prompts.len()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::stages::sft::tests::write_addition;
    use crate::stages::testutil::{kind, nano_addition_model, run_kind};
    use sieve::stages::artifact::DATASET_FILE;
    use sieve::stages::columns::read_columns;
    use sieve::value::Value;

    #[test]
    fn rollout_writes_one_row_per_sample_with_pass_rates_independent_of_batching() {
        tch::set_num_threads(1);
        let dir = tempfile::tempdir().unwrap();
        let init = nano_addition_model(dir.path(), "w0");
        let data = dir.path().join("data");
        write_addition(&data, 5, 0);
        let inputs = [("model", init.as_path()), ("data", data.as_path())];
        let run = |name: &str, batch: i64| {
            let out = dir.path().join(name);
            let p = [
                ("samples", Value::Int(3)),
                ("max_new_tokens", Value::Int(3)),
                ("batch_size", Value::Int(batch)),
                ("device", Value::Str("cpu".into())),
            ];
            run_kind(kind("rollout"), &p, &inputs, &out, &dir.path().join("w")).unwrap();
            out
        };
        let a = run("a", 64);
        let b = run("b", 3);
        assert_eq!(
            std::fs::read(a.join(DATASET_FILE)).unwrap(),
            std::fs::read(b.join(DATASET_FILE)).unwrap(),
            "batching changed the samples"
        );
        let t = read_columns(
            &a.join(DATASET_FILE),
            &[
                "source_id",
                "sample",
                "correct",
                "pass_rate",
                "finish",
                "response",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(t.len(), 15);
        assert_eq!(t.ids, (0..15).collect::<Vec<i64>>());
        let src = t.get("source_id");
        let correct = t.get("correct");
        let rate = t.get("pass_rate");
        for g in 0..5 {
            let rows = g * 3..g * 3 + 3;
            assert!(
                rows.clone()
                    .all(|r| src[r].as_deref() == Some(&g.to_string()[..]))
            );
            let hits = rows
                .clone()
                .filter(|&r| correct[r].as_deref() == Some("true"))
                .count();
            let expect = hits as f64 / 3.0;
            for r in rows {
                let got: f64 = rate[r].as_deref().unwrap().parse().unwrap();
                assert!((got - expect).abs() < 1e-12, "row {r}: {got} vs {expect}");
            }
        }
        assert!(
            t.get("finish")
                .iter()
                .all(|f| matches!(f.as_deref(), Some("stop" | "length")))
        );
    }
}
