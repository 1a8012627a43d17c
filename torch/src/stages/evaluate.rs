//! The body of `evaluate`: generates `samples` answers per test prompt (greedy or
//! sampled, in length-sorted batches), judges them with the metric, and writes
//! `metrics.json` (overall and per slice) and `metrics.parquet` (per example).
//!
//! Invariants: see `sieve::stages::evaluate` (sample seeds depend only on (seed, row id,
//! sample index), so results do not depend on batching).

use super::common::{Sampling, device, encode_prompt};
use crate::eval::model_scores::sample_seed;
use crate::model::{default_kind, generate_with_seeds, load_pretrained};
use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde_json::json;
use sieve::eval::{summarize, summarize_by};
use sieve::stages::artifact::{DATASET_FILE, METRICS_FILE, METRICS_TABLE_FILE};
use sieve::stages::columns::read_columns;
use sieve::stages::evaluate::EvaluateParams;
use sieve::stages::{StageContext, StageError, StageResult};
use std::sync::Arc;

/// `evaluate`'s body.
pub fn run(p: &EvaluateParams, ctx: &StageContext) -> StageResult {
    let metric = p.metric;
    let metric_name = metric.name();
    let samples = p.samples.get() as usize;
    let k = p.pass_k() as usize;
    let slice_by = p.slice_by.clone().unwrap_or_default();
    let device = device(&p.device)?;
    let loaded = load_pretrained(&ctx.input("model")?.dir, device, default_kind(device))?;
    let tok = &loaded.tok;
    let optional: Vec<&str> = if slice_by.is_empty() {
        vec![]
    } else {
        vec![slice_by.as_str()]
    };
    let cols = read_columns(
        &ctx.input("data")?.file(DATASET_FILE),
        &["prompt", "answer"],
        &optional,
    )?;
    if !slice_by.is_empty() && cols.get(&slice_by).is_empty() && !cols.is_empty() {
        return Err(StageError::Input(format!(
            "slice_by: the test data has no column `{slice_by}`"
        )));
    }
    let opts = Sampling {
        max_new_tokens: p.max_new_tokens.get(),
        temperature: p.temperature,
        top_p: p.top_p,
        top_k: p.top_k,
        stop: &p.stop,
    }
    .options(&loaded);
    let seed = p.seed.0;
    let chat = p.chat;
    let n = cols.len();
    let prompts = cols.get("prompt");
    let answers = cols.get("answer");
    let encoded: Vec<Vec<i64>> = prompts
        .iter()
        .map(|pr| encode_prompt(tok, pr.as_deref().unwrap_or(""), chat))
        .collect::<Result<_, _>>()?;
    // Rows (example, sample) sorted by prompt length, so batches pad little.
    let mut rows: Vec<(usize, usize)> = (0..n).flat_map(|i| (0..samples).map(move |j| (i, j))).collect();
    rows.sort_by_key(|&(i, j)| (encoded[i].len(), i, j));
    let mut outputs: Vec<Vec<String>> = vec![vec![String::new(); samples]; n];
    ctx.progress().set_total(rows.len() as u64, "sample");
    let mut done = 0u64;
    for chunk in rows.chunks(p.batch_size.get() as usize) {
        ctx.check_cancelled()?;
        let batch: Vec<Vec<i64>> = chunk.iter().map(|&(i, _)| encoded[i].clone()).collect();
        let seeds: Vec<u64> = chunk
            .iter()
            .map(|&(i, j)| sample_seed(seed, cols.ids[i], j))
            .collect();
        let gens = generate_with_seeds(&loaded.model, tok, &batch, &seeds, &opts)?;
        for (&(i, j), g) in chunk.iter().zip(gens) {
            outputs[i][j] = g.text;
        }
        done += chunk.len() as u64;
        ctx.progress().update(done, &[]);
    }
    let judged: Vec<Vec<bool>> = (0..n)
        .map(|i| {
            let gold = answers[i].as_deref().unwrap_or("");
            outputs[i]
                .iter()
                .map(|o| answers[i].is_some() && metric.is_correct(o, gold))
                .collect()
        })
        .collect();
    let overall = summarize(&judged, k);
    let mut summary = json!({
        "metric": metric_name,
        "accuracy": overall.accuracy,
        "n": overall.n,
        "samples": samples,
        "k": k,
        format!("pass@{k}"): overall.pass_at_k,
        format!("avg@{k}"): overall.avg_at_k,
        "temperature": opts.temperature,
        "max_new_tokens": opts.max_new_tokens,
    });
    let keys: Vec<String> = if slice_by.is_empty() {
        Vec::new()
    } else {
        cols.get(&slice_by)
            .iter()
            .map(|v| v.clone().unwrap_or_else(|| "null".into()))
            .collect()
    };
    if !slice_by.is_empty() {
        let mut slices = serde_json::Map::new();
        for (key, s) in summarize_by(&judged, &keys, k) {
            slices.insert(
                key,
                json!({"n": s.n, "accuracy": s.accuracy, format!("pass@{k}"): s.pass_at_k, format!("avg@{k}"): s.avg_at_k}),
            );
        }
        summary["slice_by"] = json!(slice_by);
        summary["slices"] = serde_json::Value::Object(slices);
    }
    std::fs::write(
        ctx.out_dir().join(METRICS_FILE),
        serde_json::to_vec_pretty(&summary)?,
    )?;

    let mut fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("prompt", DataType::Utf8, true),
        Field::new("answer", DataType::Utf8, true),
        Field::new("output", DataType::Utf8, false),
        Field::new("extracted", DataType::Utf8, true),
        Field::new("correct", DataType::Boolean, false),
        Field::new("n_correct", DataType::Int64, false),
        Field::new("outputs", DataType::Utf8, false),
    ];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(cols.ids.clone())),
        Arc::new(StringArray::from(prompts.to_vec())),
        Arc::new(StringArray::from(answers.to_vec())),
        Arc::new(StringArray::from(
            outputs.iter().map(|o| o[0].clone()).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            outputs.iter().map(|o| metric.extract(&o[0])).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            judged.iter().map(|j| j[0]).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            judged
                .iter()
                .map(|j| j.iter().filter(|&&b| b).count() as i64)
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            outputs
                .iter()
                .map(|o| serde_json::to_string(o).unwrap_or_default())
                .collect::<Vec<_>>(),
        )),
    ];
    if !slice_by.is_empty() {
        fields.push(Field::new(slice_by.as_str(), DataType::Utf8, true));
        arrays.push(Arc::new(StringArray::from(cols.get(&slice_by).to_vec())));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    let table = ctx.out_dir().join(METRICS_TABLE_FILE);
    let mut sink = sieve::data::io::ParquetSink::create(&table, schema)
        .map_err(|e| StageError::Failed(e.to_string()))?;
    sink.write(&batch)
        .map_err(|e| StageError::Failed(e.to_string()))?;
    sink.finish().map_err(|e| StageError::Failed(e.to_string()))?;
    ctx.log(&format!(
        "evaluate: {metric_name} accuracy {:.4} on {n} prompts × {samples} samples",
        overall.accuracy
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::stages::testutil::{kind, run_kind};
    use sieve::stages::artifact::{METRICS_FILE, METRICS_TABLE_FILE};
    use sieve::stages::evaluate::EvaluateParams;
    use sieve::value::Value;

    #[test]
    fn evaluates_and_slices() {
        tch::set_num_threads(1);
        let dir = tempfile::tempdir().unwrap();
        let init = crate::stages::testutil::nano_addition_model(dir.path(), "w");
        let data = dir.path().join("data");
        crate::stages::sft::tests::write_addition(&data, 20, 0);
        let out = dir.path().join("out");
        let params = [
            ("max_new_tokens", Value::Int(3)),
            ("slice_by", Value::Str("ops".into())),
            ("samples", Value::Int(2)),
            ("temperature", Value::Float(1.0)),
            ("device", Value::Str("cpu".into())),
            ("batch_size", Value::Int(7)),
        ];
        run_kind(
            kind("evaluate"),
            &params,
            &[("model", &init), ("data", &data)],
            &out,
            &dir.path().join("w"),
        )
        .unwrap();
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(METRICS_FILE)).unwrap()).unwrap();
        assert_eq!(m["n"], 20);
        assert!(m["pass@2"].as_f64().is_some() && m["slices"]["0"]["n"].as_u64().is_some());
        let (_, batches) = sieve::data::io::read_parquet(&out.join(METRICS_TABLE_FILE), None).unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 20);
        // Batching does not change sampled outputs.
        let out2 = dir.path().join("out2");
        let mut p2 = params.to_vec();
        p2[5] = ("batch_size", Value::Int(40));
        run_kind(
            kind("evaluate"),
            &p2,
            &[("model", &init), ("data", &data)],
            &out2,
            &dir.path().join("w"),
        )
        .unwrap();
        assert_eq!(
            std::fs::read(out.join(METRICS_TABLE_FILE)).unwrap(),
            std::fs::read(out2.join(METRICS_TABLE_FILE)).unwrap()
        );
        let greedy_samples = sieve::stages::testutil::params::<EvaluateParams>(&[
            ("samples", Value::Int(4)),
            ("temperature", Value::Float(0.0)),
        ]);
        assert!(
            kind("evaluate")
                .validate(&greedy_samples)
                .iter()
                .any(|(p, _)| *p == Some("temperature"))
        );
    }
}
