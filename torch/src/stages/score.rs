//! The body of `score` for the model-based methods: `loss` (mean NLL of the response
//! given the prompt), `ifd` (that loss over the loss of the response alone) and
//! `pass_rate(k)` (k seeded samples judged against `answer`; the score is 1 − pass
//! rate). The plain methods run in the engine (`sieve::stages::score`).
//!
//! Invariants: model-based scores are computed in length-sorted batches whose
//! composition depends only on the data and `batch_size`, and a sample's seed only on
//! (seed, row id, sample index), so a rerun writes byte-identical files.

use super::common::{Sampling, device, encode_prompt};
use crate::eval::model_scores::{LossPair, SampleJob, batch_losses, judge_samples, loss_pair, sample_seed};
use crate::model::{Example, LoadedModel, default_kind, load_pretrained};
use sieve::data::schema::{ANSWER, PROMPT, RESPONSE};
use sieve::data::score::write_scores;
use sieve::stages::artifact::DATASET_FILE;
use sieve::stages::columns::read_columns;
use sieve::stages::data::data_err;
use sieve::stages::score::{ScoreBy, ScoreParams, article, bands, check_unscorable, columns_of};
use sieve::stages::{StageContext, StageError, StageResult};
use std::path::Path;

/// `score`'s body for the model-based methods (`loss`, `ifd`, `pass_rate`).
pub fn run(p: &ScoreParams, ctx: &StageContext) -> StageResult {
    let by = &p.by;
    let data = ctx.input("data")?.file(DATASET_FILE);
    let method = by.model_method();
    let Some(model) = ctx.slot("model").first() else {
        return Err(StageError::Input(format!(
            "score(by = {method}) needs a model input: score(data, model, by = {method})"
        )));
    };
    let ModelScores { ids, scores, missing } = score_with_model(p, ctx, &model.dir, &data)?;
    let failed = scores.iter().filter(|s| s.is_none()).count() - missing;
    let why = match by {
        ScoreBy::PassRate(_) => "could not be judged",
        _ => "leave no room for a response token within max_seq_len or score a non-finite loss",
    };
    check_unscorable(p, &method, &data, scores.len(), missing, Some((failed, why)))?;
    write_scores(ctx.out_dir(), &data, &ids, &scores, &method, bands(p)).map_err(data_err)?;
    let present: Vec<f64> = scores.iter().flatten().copied().collect();
    ctx.log(&format!(
        "score: {method} over {}: {} rows, {} unscorable, mean {:.5}",
        data.display(),
        scores.len(),
        scores.len() - present.len(),
        present.iter().sum::<f64>() / present.len().max(1) as f64
    ));
    Ok(())
}

/// What a model-based method computed for a dataset.
struct ModelScores {
    ids: Vec<i64>,
    /// One per row; null = unscorable.
    scores: Vec<Option<f64>>,
    /// Rows whose input column (`response` or `answer`) is null.
    missing: usize,
}

/// Scores every row of `data` by a model-based method. Fails before loading the model
/// when the rows with a null input column alone exceed `max_unscorable`.
fn score_with_model(
    p: &ScoreParams,
    ctx: &StageContext,
    model_dir: &Path,
    data: &Path,
) -> Result<ModelScores, StageError> {
    let by = &p.by;
    let device = device(&p.device)?;
    let kind = default_kind(device);
    let method = by.model_method();
    let gold = by.needed_column().unwrap_or(RESPONSE);
    let schema = sieve::data::io::parquet_schema(data).map_err(data_err)?;
    if schema.index_of(gold).is_err() {
        return Err(StageError::Input(format!(
            "score(by = {method}): {} needs {} `{gold}` column; the dataset has: {}",
            by.word(),
            article(gold),
            columns_of(data)
        )));
    }
    let cols = read_columns(data, &[PROMPT, gold], &[]).map_err(|e| match e {
        StageError::Input(m) => StageError::Input(format!("score(by = {method}): {m}")),
        e => e,
    })?;
    let missing = cols.get(gold).iter().filter(|v| v.is_none()).count();
    check_unscorable(p, &method, data, cols.len(), missing, None)?;
    let loaded = load_pretrained(model_dir, device, kind)?;
    ctx.log(&format!(
        "score: {} of {} rows with {} parameters on {device:?} ({kind:?})",
        by.model_method(),
        cols.len(),
        loaded.model.num_parameters()
    ));
    let chat = p.chat;
    let prompts: Vec<Vec<i64>> = cols
        .get(PROMPT)
        .iter()
        .map(|pr| encode_prompt(&loaded.tok, pr.as_deref().unwrap_or(""), chat))
        .collect::<Result<_, _>>()?;
    let batch = p.batch_size.get() as usize;
    let scores = match by {
        ScoreBy::PassRate(k) => pass_rate_scores(
            p,
            ctx,
            &loaded,
            &prompts,
            &cols.ids,
            cols.get(ANSWER),
            *k as usize,
            batch,
        )?,
        _ => loss_scores(
            p,
            ctx,
            &loaded,
            &prompts,
            cols.get(RESPONSE),
            *by == ScoreBy::Ifd,
            batch,
        )?,
    };
    Ok(ModelScores {
        ids: cols.ids,
        scores,
        missing,
    })
}

/// `loss` (or `ifd`) of each row; null where the response is null or no response token
/// fits in `max_seq_len`, or the value is not finite.
fn loss_scores(
    p: &ScoreParams,
    ctx: &StageContext,
    loaded: &LoadedModel,
    prompts: &[Vec<i64>],
    responses: &[Option<String>],
    ifd: bool,
    batch: usize,
) -> Result<Vec<Option<f64>>, StageError> {
    let tok = &loaded.tok;
    let max_len = match p.max_seq_len {
        None => loaded.model.config().max_position_embeddings,
        Some(n) => n.get() as usize,
    };
    let pairs: Vec<Option<LossPair>> = prompts
        .iter()
        .zip(responses)
        .map(|(pr, r)| match r {
            Some(r) => loss_pair(tok, pr, r, max_len),
            None => Ok(None),
        })
        .collect::<Result<_, _>>()?;
    // (row, unconditional?, example), sorted by length so batches pad little.
    let mut jobs: Vec<(usize, bool, &Example)> = Vec::new();
    for (i, pair) in pairs.iter().enumerate() {
        if let Some(pair) = pair {
            jobs.push((i, false, &pair.conditional));
            if ifd {
                jobs.push((i, true, &pair.unconditional));
            }
        }
    }
    jobs.sort_by_key(|&(i, u, e)| (e.tokens.len(), i, u));
    let n = prompts.len();
    let (mut cond, mut uncond) = (vec![f64::NAN; n], vec![f64::NAN; n]);
    ctx.progress().set_total(jobs.len() as u64, "sequence");
    let mut done = 0u64;
    for chunk in jobs.chunks(batch) {
        ctx.check_cancelled()?;
        let refs: Vec<&Example> = chunk.iter().map(|j| j.2).collect();
        let losses = batch_losses(&loaded.model, &refs, tok.pad_id())?;
        for (&(i, u, _), l) in chunk.iter().zip(losses) {
            if u {
                uncond[i] = l;
            } else {
                cond[i] = l;
            }
        }
        done += chunk.len() as u64;
        ctx.progress().update(done, &[]);
    }
    Ok((0..n)
        .map(|i| {
            let v = if ifd { cond[i] / uncond[i] } else { cond[i] };
            v.is_finite().then_some(v)
        })
        .collect())
}

/// `1 − pass rate` over `k` samples of each row; null where `answer` is null.
#[allow(clippy::too_many_arguments)]
fn pass_rate_scores(
    p: &ScoreParams,
    ctx: &StageContext,
    loaded: &LoadedModel,
    prompts: &[Vec<i64>],
    ids: &[i64],
    answers: &[Option<String>],
    k: usize,
    batch: usize,
) -> Result<Vec<Option<f64>>, StageError> {
    let metric = p.metric;
    let opts = Sampling {
        max_new_tokens: p.max_new_tokens.get(),
        temperature: p.temperature,
        top_p: p.top_p,
        top_k: p.top_k,
        stop: &p.stop,
    }
    .options(loaded);
    let seed = p.seed.0;
    // (row, sample index, job), sorted by prompt length like evaluate's batches.
    let mut jobs: Vec<(usize, usize, SampleJob)> = Vec::new();
    for (i, gold) in answers.iter().enumerate() {
        if let Some(gold) = gold {
            for j in 0..k {
                let job = SampleJob {
                    prompt: &prompts[i],
                    gold,
                    seed: sample_seed(seed, ids[i], j),
                };
                jobs.push((i, j, job));
            }
        }
    }
    jobs.sort_by_key(|&(i, j, job)| (job.prompt.len(), i, j));
    let mut correct = vec![0usize; prompts.len()];
    ctx.progress().set_total(jobs.len() as u64, "sample");
    let mut done = 0u64;
    for chunk in jobs.chunks(batch) {
        ctx.check_cancelled()?;
        let batch: Vec<SampleJob> = chunk.iter().map(|j| j.2).collect();
        let judged = judge_samples(&loaded.model, &loaded.tok, &batch, metric, &opts)?;
        for (&(i, _, _), ok) in chunk.iter().zip(judged) {
            correct[i] += ok as usize;
        }
        done += chunk.len() as u64;
        ctx.progress().update(done, &[]);
    }
    Ok(answers
        .iter()
        .zip(&correct)
        .map(|(a, &c)| a.as_ref().map(|_| 1.0 - c as f64 / k as f64))
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::stages::testutil::{kind, run_kind};
    use sieve::data::score::read_scores;
    use sieve::stages::StageError;
    use sieve::stages::artifact::DATASET_FILE;
    use sieve::stages::columns::read_columns;
    use sieve::value::{CallValue, Value};
    use std::path::Path;

    fn call(name: &str, args: &[&str]) -> Value {
        Value::Call(CallValue {
            call: name.into(),
            args: args.iter().map(|a| Value::Str(a.to_string())).collect(),
        })
    }

    fn int_call(name: &str, arg: Value) -> Value {
        Value::Call(CallValue {
            call: name.into(),
            args: vec![arg],
        })
    }

    /// A nano `model.init` model and a 20-row addition dataset under `dir`.
    fn model_and_data(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let init = crate::stages::testutil::nano_addition_model(dir, "w");
        let data = dir.join("data");
        crate::stages::sft::tests::write_addition(&data, 20, 0);
        (init, data)
    }

    #[test]
    fn model_based_methods_are_finite_deterministic_and_selectable() {
        tch::set_num_threads(1);
        let dir = tempfile::tempdir().unwrap();
        let (init, data) = model_and_data(dir.path());
        let w = dir.path().join("w");
        let inputs = [("data", data.as_path()), ("model", init.as_path())];
        let run = |by: Value, extra: &[(&str, Value)], out: &str| {
            let mut params = vec![
                ("by", by),
                ("device", Value::Str("cpu".into())),
                ("batch_size", Value::Int(7)),
            ];
            params.extend(extra.iter().cloned());
            let out = dir.path().join(out);
            run_kind(kind("score"), &params, &inputs, &out, &w).unwrap();
            (read_scores(&out).unwrap(), out)
        };

        // loss: finite, near ln |V| for an untrained model, byte-identical on a rerun.
        let (loss, a) = run(call("loss", &[]), &[], "loss_a");
        let (_, b) = run(call("loss", &[]), &[], "loss_b");
        assert_eq!(loss.method, "loss");
        assert_eq!(loss.ids, (0..20).collect::<Vec<i64>>());
        assert!(
            loss.scores
                .iter()
                .all(|s| s.is_some_and(|v| v.is_finite() && v > 0.5)),
            "{loss:?}"
        );
        let bytes = |d: &Path| std::fs::read(d.join("scores.parquet")).unwrap();
        assert_eq!(bytes(&a), bytes(&b), "loss scores are deterministic");
        // Batching changes only float rounding.
        let (loss1, _) = run(call("loss", &[]), &[("batch_size", Value::Int(1))], "loss_1");
        for (x, y) in loss.scores.iter().zip(&loss1.scores) {
            assert!((x.unwrap() - y.unwrap()).abs() < 1e-4);
        }
        // A context too short for any response token leaves every row unscorable: an
        // error, unless max_unscorable allows it.
        let short = [
            ("max_seq_len", Value::Int(2)),
            ("max_unscorable", Value::Float(1.0)),
        ];
        let (short_scores, _) = run(call("loss", &[]), &short, "loss_short");
        assert!(short_scores.scores.iter().all(Option::is_none));
        let mut params = vec![
            ("by", call("loss", &[])),
            ("device", Value::Str("cpu".into())),
            ("max_seq_len", Value::Int(2)),
        ];
        let e = run_kind(
            kind("score"),
            &params,
            &inputs,
            &dir.path().join("loss_short_err"),
            &w,
        );
        assert!(
            matches!(&e, Err(StageError::Input(m)) if m.contains("20 of 20 rows cannot be scored")
                && m.contains("20 rows leave no room for a response token")),
            "{e:?}"
        );
        params.push(("max_unscorable", Value::Float(0.5)));
        let e = run_kind(
            kind("score"),
            &params,
            &inputs,
            &dir.path().join("loss_short_err2"),
            &w,
        );
        assert!(
            matches!(&e, Err(StageError::Input(m)) if m.contains("max_unscorable = 0.5")),
            "{e:?}"
        );

        // ifd: a ratio of two losses of an untrained model, near 1.
        let (ifd, _) = run(call("ifd", &[]), &[], "ifd");
        assert_eq!(ifd.method, "ifd");
        assert!(
            ifd.scores
                .iter()
                .all(|s| s.is_some_and(|v| (v - 1.0).abs() < 0.5)),
            "{ifd:?}"
        );

        // pass_rate(4): 1 − the evaluate stage's n_correct / 4 under the same seed and
        // sampling options (same seeds, same batches).
        let sampling = [
            ("metric", Value::Str("contains".into())),
            ("max_new_tokens", Value::Int(3)),
            ("seed", Value::Int(5)),
        ];
        let (pr, c) = run(int_call("pass_rate", Value::Int(4)), &sampling, "pass_a");
        let (_, d) = run(int_call("pass_rate", Value::Int(4)), &sampling, "pass_b");
        assert_eq!(pr.method, "pass_rate(4)");
        assert_eq!(bytes(&c), bytes(&d), "pass_rate scores are deterministic");
        assert!(
            pr.scores
                .iter()
                .all(|s| s.is_some_and(|v| (0.0..=1.0).contains(&v)))
        );
        let eval = kind("evaluate");
        let mut ep: Vec<(&str, Value)> = sampling.to_vec();
        ep.extend([
            ("samples", Value::Int(4)),
            ("temperature", Value::Float(1.0)),
            ("batch_size", Value::Int(7)),
            ("device", Value::Str("cpu".into())),
        ]);
        let eo = dir.path().join("eval");
        run_kind(eval, &ep, &[("model", &init), ("data", &data)], &eo, &w).unwrap();
        let n_correct = read_columns(
            &eo.join(sieve::stages::artifact::METRICS_TABLE_FILE),
            &["n_correct"],
            &[],
        )
        .unwrap()
        .get("n_correct")
        .iter()
        .map(|v| v.as_deref().unwrap().parse::<f64>().unwrap())
        .collect::<Vec<_>>();
        let expected: Vec<Option<f64>> = n_correct.iter().map(|c| Some(1.0 - c / 4.0)).collect();
        assert_eq!(pr.scores, expected);
        assert!(
            n_correct.iter().any(|&c| c > 0.0),
            "some sample should pass: {n_correct:?}"
        );

        // select over the loss-scored artifact: the easy band's rows score no higher than
        // the hard band's.
        let select = kind("select");
        let pick = |band: &str| {
            let out = dir.path().join(format!("sel_{band}"));
            let params = [
                ("budget", Value::Int(5)),
                ("band", Value::Str(band.into())),
                ("bands", Value::Int(3)),
            ];
            run_kind(select, &params, &[("scored", &a)], &out, &w).unwrap();
            let ids = read_columns(&out.join(DATASET_FILE), &["id"], &[]).unwrap().ids;
            assert_eq!(ids.len(), 5);
            ids.iter()
                .map(|&i| loss.scores[i as usize].unwrap())
                .collect::<Vec<f64>>()
        };
        let (easy, hard) = (pick("easy"), pick("hard"));
        assert!(
            easy.iter().cloned().fold(f64::MIN, f64::max) <= hard.iter().cloned().fold(f64::MAX, f64::min)
        );
    }

    #[test]
    fn null_responses_and_missing_answers() {
        use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        use sieve::data::io::ParquetSink;
        use std::sync::Arc;
        tch::set_num_threads(1);
        let dir = tempfile::tempdir().unwrap();
        let (init, _) = model_and_data(dir.path());
        let data = dir.path().join("plain");
        std::fs::create_dir(&data).unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("prompt", DataType::Utf8, true),
            Field::new("response", DataType::Utf8, true),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![0, 1])),
            Arc::new(StringArray::from(vec!["1+1=", "2+2="])),
            Arc::new(StringArray::from(vec![Some("2"), None])),
        ];
        let mut sink = ParquetSink::create(&data.join(DATASET_FILE), schema.clone()).unwrap();
        sink.write(&RecordBatch::try_new(schema, cols).unwrap()).unwrap();
        sink.finish().unwrap();
        // loss cannot score the row without a response: an error naming the column by
        // default; a null score when max_unscorable allows one row in two.
        let out = dir.path().join("l");
        let cpu = ("device", Value::Str("cpu".into()));
        let inputs = [("data", data.as_path()), ("model", init.as_path())];
        let w = dir.path().join("w");
        let e = run_kind(
            kind("score"),
            &[("by", call("loss", &[])), cpu.clone()],
            &inputs,
            &out,
            &w,
        );
        assert!(
            matches!(&e, Err(StageError::Input(m)) if m.contains("1 of 2 rows cannot be scored")
                && m.contains("`response` (which loss needs) is null in 1 of 2 rows")),
            "{e:?}"
        );
        let half = ("max_unscorable", Value::Float(0.5));
        run_kind(
            kind("score"),
            &[("by", call("loss", &[])), cpu.clone(), half],
            &inputs,
            &out,
            &w,
        )
        .unwrap();
        let s = read_scores(&out).unwrap();
        assert!(s.scores[0].is_some() && s.scores[1].is_none(), "{s:?}");
        // No `answer` column at all.
        let e = run_kind(
            kind("score"),
            &[("by", call("pass_rate", &[])), cpu.clone()],
            &inputs,
            &dir.path().join("o"),
            &w,
        );
        assert!(
            matches!(&e, Err(StageError::Input(m)) if m.contains("pass_rate(8)")
                && m.contains("pass_rate needs an `answer` column; the dataset has: id, prompt, response")),
            "{e:?}"
        );
        // A canonical dataset whose `answer` is null in every row (what `load` writes for
        // a file without answers): an error before any sampling, even with max_unscorable
        // just under 1.
        let e = run_kind(
            kind("score"),
            &[
                ("by", int_call("pass_rate", Value::Int(2))),
                cpu,
                ("max_unscorable", Value::Float(0.99)),
            ],
            &[
                ("data", init_data_without_answers(dir.path()).as_path()),
                ("model", init.as_path()),
            ],
            &dir.path().join("p"),
            &w,
        );
        assert!(
            matches!(&e, Err(StageError::Input(m)) if m.contains("20 of 20 rows cannot be scored")
                && m.contains("pass_rate needs an `answer` column, and `answer` is null in every row; the dataset has: id, prompt, response, answer, ops")),
            "{e:?}"
        );
    }

    /// The 20-row addition dataset with its `answer` column all null.
    fn init_data_without_answers(dir: &Path) -> std::path::PathBuf {
        use arrow::array::{Array, RecordBatch, new_null_array};
        use sieve::data::io::ParquetSink;
        let src = dir.join("data").join(DATASET_FILE);
        let (schema, batches) = sieve::data::io::read_parquet(&src, None).unwrap();
        let out = dir.join("no_answers");
        std::fs::create_dir_all(&out).unwrap();
        let mut sink = ParquetSink::create(&out.join(DATASET_FILE), schema.clone()).unwrap();
        for b in batches {
            let mut cols = b.columns().to_vec();
            let i = schema.index_of("answer").unwrap();
            cols[i] = new_null_array(cols[i].data_type(), cols[i].len());
            sink.write(&RecordBatch::try_new(schema.clone(), cols).unwrap())
                .unwrap();
        }
        sink.finish().unwrap();
        out
    }
}
