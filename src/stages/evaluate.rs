//! The `evaluate` stage kind: generates answers for a test dataset with a model
//! artifact and scores them (exact match, boxed, last number, normalised, contains),
//! overall and sliced by a column, with pass@k / avg@k when several samples are drawn.
//!
//! Invariants: the output is a metrics artifact — `metrics.json` (summary + slices) and
//! `table.parquet` (one row per example: id, prompt, gold answer, first output, its
//! extraction, correctness, number of correct samples, all outputs, slice value); the
//! sample `j` of example `id` is drawn with a seed derived from (seed, id, j) only, so
//! results do not depend on batching; prompts are batched by length to limit padding.

use super::model::{device_param, generate_options, model_err, read_columns};
use super::train::encode_prompt;
use super::{
    ArtifactKind, InputSpec, ParamSpec, ParamType, StageContext, StageError, StageKind, StageResult,
};
use crate::eval::{METRICS, Metric, summarize, summarize_by};
use crate::model::{default_kind, generate_with_seeds, load_pretrained};
use crate::stages::artifact::{DATASET_FILE, METRICS_FILE, METRICS_TABLE_FILE};
use crate::value::Value;
use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use serde_json::json;
use std::sync::Arc;

/// The evaluation stage kinds.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![Box::new(Evaluate)]
}

struct Evaluate;

impl StageKind for Evaluate {
    fn name(&self) -> &'static str {
        "evaluate"
    }
    fn version(&self) -> u32 {
        // 2: exact_match compares the final answer after the last `Answer:` marker.
        2
    }
    fn doc(&self) -> &'static str {
        "Generates answers for a test set (greedy or sampled) and reports accuracy, pass@k and avg@k, overall and per slice"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        vec![
            InputSpec::one("model", ArtifactKind::Model, "the model to evaluate"),
            InputSpec::one("data", ArtifactKind::Dataset, "test rows (`prompt`, `answer`)"),
        ]
    }
    fn params(&self) -> Vec<ParamSpec> {
        use ParamSpec as P;
        use ParamType as T;
        vec![
            P::optional(
                "metric",
                T::Enum(METRICS),
                Value::Str("exact_match".into()),
                "how an output is judged against `answer`: exact_match (the final answer after the last `Answer:`, else the whole output), boxed (last \\boxed{}), last_number, normalized, contains",
            ),
            P::optional(
                "max_new_tokens",
                T::Int,
                Value::Int(256),
                "generation budget per sample",
            ),
            P::optional("temperature", T::Float, Value::Float(0.0), "0 = greedy"),
            P::optional(
                "top_p",
                T::Float,
                Value::Float(1.0),
                "nucleus sampling mass (1 = off)",
            ),
            P::optional("top_k", T::Int, Value::Int(0), "top-k sampling (0 = off)"),
            P::optional("samples", T::Int, Value::Int(1), "samples per prompt (n)"),
            P::optional("k", T::Int, Value::Int(0), "k of pass@k / avg@k (0 = samples)"),
            P::optional(
                "slice_by",
                T::Str,
                Value::Str(String::new()),
                "column to slice the metrics by (e.g. `ops`)",
            ),
            P::optional(
                "stop",
                T::List(Box::new(T::Str)),
                Value::List(Vec::new()),
                "stop strings (besides EOS)",
            ),
            P::optional(
                "batch_size",
                T::Int,
                Value::Int(64),
                "sequences generated together",
            ),
            P::chat(),
            P::seed(),
            P::device(),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Metrics
    }
    fn needs_torch(&self, _params: &super::Params) -> bool {
        true
    }
    /// The metrics are sliced by the `slice_by` column: a report axis may name it (or
    /// `slice`), as `report` reads them.
    fn output_variables(&self, p: &super::Params) -> Vec<String> {
        match p.get("slice_by").and_then(Value::as_str) {
            Some(col) if !col.is_empty() => vec![col.to_string(), "slice".to_string()],
            _ => Vec::new(),
        }
    }
    fn validate(&self, p: &super::Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        let int = |n: &str| p.get(n).and_then(Value::as_i64).unwrap_or(1);
        let temp = p.get("temperature").and_then(Value::as_f64).unwrap_or(0.0);
        if int("samples") < 1 {
            errs.push((Some("samples"), "must be ≥ 1".to_string()));
        }
        if int("samples") > 1 && temp <= 0.0 {
            errs.push((
                Some("temperature"),
                "several samples per prompt need temperature > 0 (greedy samples are identical)".into(),
            ));
        }
        if int("k") < 0 || int("k") > int("samples") {
            errs.push((
                Some("k"),
                format!("must be in 0..={} (the number of samples)", int("samples")),
            ));
        }
        if temp < 0.0 {
            errs.push((Some("temperature"), "must be ≥ 0".into()));
        }
        if int("max_new_tokens") < 1 || int("batch_size") < 1 {
            errs.push((None, "`max_new_tokens` and `batch_size` must be ≥ 1".into()));
        }
        errs
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        super::torch::run(self.name(), ctx)
    }
}

/// The libtorch body of `evaluate` (installed by [`crate::torch_runtime`]).
pub(crate) fn evaluate_body(ctx: &StageContext) -> StageResult {
    let p = ctx.params();
    let metric_name = p.str("metric")?;
    let metric = Metric::parse(metric_name)
        .ok_or_else(|| StageError::Input(format!("unknown metric `{metric_name}`")))?;
    let samples = p.usize("samples")?;
    let k = match p.usize("k")? {
        0 => samples,
        k => k,
    };
    let slice_by = p.str("slice_by")?.to_string();
    let device = device_param(ctx)?;
    let loaded =
        load_pretrained(&ctx.input("model")?.dir, device, default_kind(device)).map_err(model_err)?;
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
    if !slice_by.is_empty() && cols.get(&slice_by).is_empty() && cols.len() > 0 {
        return Err(StageError::Input(format!(
            "slice_by: the test data has no column `{slice_by}`"
        )));
    }
    let opts = generate_options(p, &loaded)?;
    let seed = p.i64("seed")? as u64;
    let chat = p.bool("chat")?;
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
    for chunk in rows.chunks(p.usize("batch_size")?) {
        ctx.check_cancelled()?;
        let batch: Vec<Vec<i64>> = chunk.iter().map(|&(i, _)| encoded[i].clone()).collect();
        let seeds: Vec<u64> = chunk
            .iter()
            .map(|&(i, j)| crate::eval::model_scores::sample_seed(seed, cols.ids[i], j))
            .collect();
        let gens = generate_with_seeds(&loaded.model, tok, &batch, &seeds, &opts).map_err(model_err)?;
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
    let mut sink = crate::data::io::ParquetSink::create(&table, schema)
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
    use super::super::model::testutil::run_kind;
    use super::*;

    #[test]
    fn evaluates_and_slices() {
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
        run_kind(init_kind.as_ref(), &p, &[], &init, &dir.path().join("w")).unwrap();
        let data = dir.path().join("data");
        super::super::train::tests::write_addition(&data, 20, 0);
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
            &Evaluate,
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
        let (_, batches) = crate::data::io::read_parquet(&out.join(METRICS_TABLE_FILE), None).unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 20);
        // Batching does not change sampled outputs.
        let out2 = dir.path().join("out2");
        let mut p2 = params.to_vec();
        p2[5] = ("batch_size", Value::Int(40));
        run_kind(
            &Evaluate,
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
        assert!(
            Evaluate
                .validate(&crate::stages::Params(
                    [
                        ("samples".to_string(), Value::Int(4)),
                        ("temperature".to_string(), Value::Float(0.0))
                    ]
                    .into_iter()
                    .collect()
                ))
                .iter()
                .any(|(p, _)| *p == Some("temperature"))
        );
    }
}
