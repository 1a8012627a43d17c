//! The `score` stage kind: per-row difficulty scores of a dataset, written as a scores
//! artifact (`scores.parquet` + the scored `data.parquet`; layout in `data::score`).
//!
//! `by` selects the method: `column("ops")` (a numeric column as is), `length()` /
//! `length("chars" | "words" | "bytes" | "tokens")` (prompt + response) and
//! `cot_length(…)` (the response, i.e. the reference chain of thought). `tokens` counts
//! with the bound `model` input's tokenizer, else the `tokenizer` parameter. The
//! model-based methods need a `model` input (a reference model): `loss` (mean NLL of the
//! response given the prompt, nats/token), `ifd` (that loss / the loss of the response
//! without the prompt) and `pass_rate(k)` (k seeded samples judged against `answer`;
//! the score is 1 − pass rate). Every method is "higher = harder".
//!
//! Invariant: the scores artifact is a pure function of the dataset bytes, the method and
//! its parameters (tokenizer; for model-based methods the model bytes, seed, sampling
//! options, batch size and device class), so one scoring is cached and reused by every
//! `select` over it. Model-based scores are computed in length-sorted batches whose
//! composition depends only on the data and `batch_size`, and a sample's seed only on
//! (seed, row id, sample index), so a rerun writes byte-identical files.

use super::artifact::DATASET_FILE;
use super::data::{checker, data_err, model_input, tokenizer_param};
use super::model::{device_param, generate_options, model_err, read_columns};
use super::train::encode_prompt;
use super::{
    ArtifactKind, InputSpec, ParamSpec, ParamType, Params, StageContext, StageError, StageKind, StageResult,
};
use crate::data::schema::{ANSWER, PROMPT, RESPONSE};
use crate::data::score::{Method, compute, method_name, write_scores};
use crate::data::text::TokenCounter;
use crate::eval::model_scores::{LossPair, SampleJob, batch_losses, judge_samples, loss_pair, sample_seed};
use crate::eval::{METRICS, Metric};
use crate::model::logprobs::Example;
use crate::model::{LoadedModel, default_kind, load_pretrained};
use crate::value::{CallValue, Value};
use std::path::Path;

/// The score stage kinds.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![Box::new(Score)]
}

/// Constructors accepted by `by`.
pub const METHODS: &[&str] = &["column", "length", "cot_length", "loss", "pass_rate", "ifd"];
/// Units of `length(…)` / `cot_length(…)`.
const UNITS: &[&str] = &["chars", "words", "bytes", "tokens"];
/// Samples per row of a bare `pass_rate`.
const DEFAULT_K: usize = 8;
/// Most samples per row `pass_rate(k)` accepts (a guard against typos, not a limit of the method).
const MAX_K: i64 = 65_536;

/// `score(data, [model], by = …)`.
struct Score;

/// A checked `by` value.
#[derive(Debug, Clone, PartialEq)]
enum By {
    /// `column("name")`.
    Column(String),
    /// `length(unit?)`.
    Length(Option<String>),
    /// `cot_length(unit?)`.
    CotLength(Option<String>),
    /// `loss`: mean response NLL given the prompt.
    Loss,
    /// `ifd`: conditional / unconditional response loss.
    Ifd,
    /// `pass_rate(k)`: 1 − the fraction of k samples judged correct.
    PassRate(usize),
}

impl By {
    fn needs_model(&self) -> bool {
        matches!(self, By::Loss | By::Ifd | By::PassRate(_))
    }

    /// The `method` string stored in `scores.parquet` (plain methods name theirs in
    /// `data::score::score_dataset`).
    fn model_method(&self) -> String {
        match self {
            By::Loss => "loss".into(),
            By::Ifd => "ifd".into(),
            By::PassRate(k) => format!("pass_rate({k})"),
            _ => String::new(),
        }
    }
}

/// Checks the `by` call.
fn parse_by(by: &Value) -> Result<By, String> {
    let c = match by {
        Value::Call(c) => c.clone(),
        Value::Str(s) => CallValue {
            call: s.clone(),
            args: Vec::new(),
        },
        other => {
            return Err(format!(
                "expected one of {}, found `{other}`",
                METHODS.join(" | ")
            ));
        }
    };
    if c.args.len() > 1 {
        return Err(format!("`{}(…)` takes at most one argument", c.call));
    }
    let arg = c.args.first();
    let text = match arg {
        None => None,
        Some(Value::Str(s)) => Some(s.clone()),
        Some(other) if c.call != "pass_rate" => {
            return Err(format!("`{}(…)` takes a string, found `{other}`", c.call));
        }
        Some(_) => None,
    };
    match c.call.as_str() {
        "column" => text
            .map(By::Column)
            .ok_or_else(|| "`column(…)` needs the column name, e.g. column(\"ops\")".into()),
        "length" | "cot_length" => match &text {
            Some(u) if !UNITS.contains(&u.as_str()) => Err(format!(
                "unit `{u}` of `{}(…)`: expected {}",
                c.call,
                UNITS.join(" | ")
            )),
            _ if c.call == "length" => Ok(By::Length(text)),
            _ => Ok(By::CotLength(text)),
        },
        "loss" | "ifd" if arg.is_some() => Err(format!("`{}` takes no arguments", c.call)),
        "loss" => Ok(By::Loss),
        "ifd" => Ok(By::Ifd),
        "pass_rate" => match arg {
            None => Ok(By::PassRate(DEFAULT_K)),
            Some(Value::Int(k)) if (1..=MAX_K).contains(k) => Ok(By::PassRate(*k as usize)),
            Some(other) => Err(format!(
                "`pass_rate(k)` takes the number of samples per row, an int in 1..={MAX_K}, found `{other}`"
            )),
        },
        other => Err(format!(
            "unknown method `{other}` (expected {})",
            METHODS.join(" | ")
        )),
    }
}

impl StageKind for Score {
    fn name(&self) -> &'static str {
        "score"
    }
    fn version(&self) -> u32 {
        // 2: a Hugging Face tokenizer is named by its content digest in the `method`
        // column (it was the path, which made outputs depend on the store's location).
        2
    }
    fn doc(&self) -> &'static str {
        "Per-row difficulty scores (higher = harder) by a column, the example or CoT length, or a reference model's loss, IFD or 1 − pass rate; a scores artifact reused by every selection"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        vec![
            InputSpec::one("data", ArtifactKind::Dataset, "the dataset to score"),
            model_input(
                "reference model: its tokenizer for token lengths; required by loss / pass_rate / ifd",
            ),
        ]
    }
    fn params(&self) -> Vec<ParamSpec> {
        use ParamSpec as P;
        use ParamType as T;
        vec![
            P::optional(
                "by",
                T::Call(METHODS),
                Value::Call(CallValue {
                    call: "cot_length".into(),
                    args: Vec::new(),
                }),
                "column(\"name\") | length(unit) | cot_length(unit) with unit chars | words | bytes | tokens (default tokens) | model-based: loss (response NLL) | ifd (loss with / without the prompt) | pass_rate(k) (1 − pass rate over k samples, default 8)",
            ),
            tokenizer_param(),
            P::optional(
                "bands",
                T::Int,
                Value::Int(0),
                "also store quantile bands in the `bucket` column (0 = none); select(bands = 0) uses them",
            ),
            P::optional(
                "metric",
                T::Enum(METRICS),
                Value::Str("exact_match".into()),
                "pass_rate: how a sample is judged against `answer` (as in evaluate)",
            ),
            P::optional(
                "temperature",
                T::Float,
                Value::Float(1.0),
                "pass_rate: sampling temperature (0 = greedy, only with k = 1)",
            ),
            P::optional(
                "top_p",
                T::Float,
                Value::Float(1.0),
                "pass_rate: nucleus sampling mass (1 = off)",
            ),
            P::optional(
                "top_k",
                T::Int,
                Value::Int(0),
                "pass_rate: top-k sampling (0 = off)",
            ),
            P::optional(
                "max_new_tokens",
                T::Int,
                Value::Int(256),
                "pass_rate: generation budget per sample",
            ),
            P::optional(
                "stop",
                T::List(Box::new(T::Str)),
                Value::List(Vec::new()),
                "pass_rate: stop strings (besides EOS)",
            ),
            P::optional(
                "max_seq_len",
                T::Int,
                Value::Int(0),
                "loss / ifd: cut prompt + response to this many tokens (0 = the model's context); rows whose prompt fills it score null",
            ),
            P::optional(
                "batch_size",
                T::Int,
                Value::Int(32),
                "model-based: sequences per forward batch / generated together",
            ),
            P::optional(
                "max_unscorable",
                T::Float,
                Value::Float(0.0),
                "largest fraction of rows allowed to get a null score (a null input column, a prompt that leaves no room for the response, a non-finite value); above it the stage fails naming the cause",
            ),
            P::chat().described("model-based: wrap each prompt in the model's chat template (one user turn)"),
            P::seed(),
            P::device(),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Scores
    }
    /// Only the model-based methods (`loss`, `ifd`, `pass_rate`) run libtorch; the plain
    /// ones neither load it nor fold the device class into their key.
    fn needs_torch(&self, params: &Params) -> bool {
        params
            .get("by")
            .map(parse_by)
            .is_some_and(|b| b.is_ok_and(|b| b.needs_model()))
    }
    fn validate(&self, params: &Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        let by = params.get("by").map(parse_by);
        if let Some(Err(m)) = &by {
            errs.push((Some("by"), m.clone()));
        }
        let int = |n: &str| params.get(n).and_then(Value::as_i64).unwrap_or(1);
        if int("bands") < 0 {
            errs.push((Some("bands"), format!("must be ≥ 0, got {}", int("bands"))));
        }
        let temp = params.get("temperature").and_then(Value::as_f64).unwrap_or(1.0);
        if temp < 0.0 {
            errs.push((Some("temperature"), format!("must be ≥ 0, got {temp}")));
        } else if let Some(Ok(By::PassRate(k))) = &by
            && *k > 1
            && temp == 0.0
        {
            errs.push((
                Some("temperature"),
                format!("pass_rate({k}) needs temperature > 0 (greedy samples are identical)"),
            ));
        }
        for n in ["max_new_tokens", "batch_size"] {
            if int(n) < 1 {
                errs.push((None, format!("`{n}` must be ≥ 1, got {}", int(n))));
            }
        }
        if int("max_seq_len") < 0 {
            errs.push((
                Some("max_seq_len"),
                "must be ≥ 0 (0 = the model's context)".into(),
            ));
        }
        if int("top_k") < 0 {
            errs.push((Some("top_k"), "must be ≥ 0".into()));
        }
        if let Some(f) = params.get("max_unscorable").and_then(Value::as_f64)
            && !(0.0..=1.0).contains(&f)
        {
            errs.push((
                Some("max_unscorable"),
                format!("a fraction of the rows, in [0, 1]; got {f}"),
            ));
        }
        errs
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        if self.needs_torch(ctx.params()) {
            return super::torch::run(self.name(), ctx);
        }
        let (by, data, bands) = method_data_bands(ctx)?;
        let counter = |unit: Option<&str>| -> Result<TokenCounter, StageError> {
            match unit.unwrap_or("tokens") {
                "tokens" => super::data::counter(ctx),
                u => TokenCounter::from_spec(u).map_err(data_err),
            }
        };
        let (m, c) = match &by {
            By::Column(col) => (Method::Column(col.clone()), TokenCounter::Chars),
            By::Length(u) => (Method::Length, counter(u.as_deref())?),
            By::CotLength(u) => (Method::CotLength, counter(u.as_deref())?),
            other => return Err(StageError::Failed(format!("internal: {other:?} is model-based"))),
        };
        let (ids, scores) = compute(&data, &m, &c, checker(ctx)).map_err(data_err)?;
        let name = method_name(&m, &c);
        // Plain methods leave a row unscored only where their input column is null.
        let missing = scores.iter().filter(|s| s.is_none()).count();
        check_unscorable(ctx, &by, &name, &data, scores.len(), missing, None)?;
        write_scores(ctx.out_dir(), &data, &ids, &scores, &name, bands).map_err(data_err)?;
        ctx.log(&format!(
            "score: {name} over {}: {} rows, {missing} unscorable",
            data.display(),
            scores.len()
        ));
        Ok(())
    }
}

/// The column whose null values leave a row without a score under `by`.
fn needed_column(by: &By) -> Option<&str> {
    match by {
        By::Column(c) => Some(c),
        By::Length(_) => None,
        By::CotLength(_) | By::Loss | By::Ifd => Some(RESPONSE),
        By::PassRate(_) => Some(ANSWER),
    }
}

/// The method's short name for messages: `pass_rate`, `loss`, `cot_length`, `column(ops)`.
fn method_word(by: &By) -> String {
    match by {
        By::Column(c) => format!("column({c})"),
        By::Length(_) => "length".into(),
        By::CotLength(_) => "cot_length".into(),
        By::Loss => "loss".into(),
        By::Ifd => "ifd".into(),
        By::PassRate(_) => "pass_rate".into(),
    }
}

/// "a" or "an" before a column name.
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// The column names of a dataset file, for messages.
fn columns_of(data: &Path) -> String {
    crate::data::io::parquet_schema(data)
        .map(|s| {
            s.fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|e| format!("(unreadable: {e})"))
}

/// Fails when more than `max_unscorable` of the `rows` rows got no score: `missing` of
/// them because the method's input column is null there, `failed` (with why) because the
/// method could not score them. The error names the column the method needs and what
/// the dataset has, since an all-null `answer` or `response` column is the usual cause.
fn check_unscorable(
    ctx: &StageContext,
    by: &By,
    method: &str,
    data: &Path,
    rows: usize,
    missing: usize,
    failed: Option<(usize, &str)>,
) -> Result<(), StageError> {
    let max = ctx.params().f64("max_unscorable")?;
    let (failed, why) = failed.unwrap_or((0, ""));
    let unscorable = missing + failed;
    if unscorable == 0 || unscorable as f64 <= max * rows as f64 {
        return Ok(());
    }
    let mut causes = Vec::new();
    if missing > 0
        && let Some(col) = needed_column(by)
    {
        let word = method_word(by);
        causes.push(if missing == rows {
            format!(
                "{word} needs {} `{col}` column, and `{col}` is null in every row; the dataset has: {}",
                article(col),
                columns_of(data)
            )
        } else {
            format!("`{col}` (which {word} needs) is null in {missing} of {rows} rows")
        });
    }
    if failed > 0 {
        causes.push(format!("{failed} rows {why}"));
    }
    Err(StageError::Input(format!(
        "score(by = {method}): {unscorable} of {rows} rows cannot be scored, more than max_unscorable = {max} allows: {}",
        causes.join("; ")
    )))
}

/// The parsed `by` method, the input dataset file and `bands`, as both bodies need them.
fn method_data_bands(ctx: &StageContext) -> Result<(By, std::path::PathBuf, usize), StageError> {
    let p = ctx.params();
    let by = p
        .get("by")
        .ok_or_else(|| StageError::Failed("internal: `by` unresolved".into()))?;
    let by = parse_by(by).map_err(StageError::Input)?;
    Ok((by, ctx.input("data")?.file(DATASET_FILE), p.usize("bands")?))
}

/// The libtorch body of `score` with a model-based method (installed by
/// [`crate::torch_runtime`]).
pub(crate) fn score_with_model_body(ctx: &StageContext) -> StageResult {
    let (by, data, bands) = method_data_bands(ctx)?;
    let method = by.model_method();
    let Some(model) = ctx.slot("model").first() else {
        return Err(StageError::Input(format!(
            "score(by = {method}) needs a model input: score(data, model, by = {method})"
        )));
    };
    let ModelScores { ids, scores, missing } = score_with_model(ctx, &model.dir, &data, &by)?;
    let failed = scores.iter().filter(|s| s.is_none()).count() - missing;
    let why = match by {
        By::PassRate(_) => "could not be judged",
        _ => "leave no room for a response token within max_seq_len or score a non-finite loss",
    };
    check_unscorable(
        ctx,
        &by,
        &method,
        &data,
        scores.len(),
        missing,
        Some((failed, why)),
    )?;
    write_scores(ctx.out_dir(), &data, &ids, &scores, &method, bands).map_err(data_err)?;
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
    ctx: &StageContext,
    model_dir: &Path,
    data: &Path,
    by: &By,
) -> Result<ModelScores, StageError> {
    let p = ctx.params();
    let device = device_param(ctx)?;
    let kind = default_kind(device);
    let method = by.model_method();
    let gold = needed_column(by).unwrap_or(RESPONSE);
    let schema = crate::data::io::parquet_schema(data).map_err(data_err)?;
    if schema.index_of(gold).is_err() {
        return Err(StageError::Input(format!(
            "score(by = {method}): {} needs {} `{gold}` column; the dataset has: {}",
            method_word(by),
            article(gold),
            columns_of(data)
        )));
    }
    let cols = read_columns(data, &[PROMPT, gold], &[]).map_err(|e| match e {
        StageError::Input(m) => StageError::Input(format!("score(by = {method}): {m}")),
        e => e,
    })?;
    let missing = cols.get(gold).iter().filter(|v| v.is_none()).count();
    check_unscorable(ctx, by, &method, data, cols.len(), missing, None)?;
    let loaded = load_pretrained(model_dir, device, kind).map_err(model_err)?;
    ctx.log(&format!(
        "score: {} of {} rows with {} parameters on {device:?} ({kind:?})",
        by.model_method(),
        cols.len(),
        loaded.model.num_parameters()
    ));
    let chat = p.bool("chat")?;
    let prompts: Vec<Vec<i64>> = cols
        .get(PROMPT)
        .iter()
        .map(|pr| encode_prompt(&loaded.tok, pr.as_deref().unwrap_or(""), chat))
        .collect::<Result<_, _>>()?;
    let batch = p.usize("batch_size")?.max(1);
    let scores = match by {
        By::PassRate(k) => pass_rate_scores(ctx, &loaded, &prompts, &cols.ids, cols.get(ANSWER), *k, batch)?,
        _ => loss_scores(ctx, &loaded, &prompts, cols.get(RESPONSE), *by == By::Ifd, batch)?,
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
    ctx: &StageContext,
    loaded: &LoadedModel,
    prompts: &[Vec<i64>],
    responses: &[Option<String>],
    ifd: bool,
    batch: usize,
) -> Result<Vec<Option<f64>>, StageError> {
    let tok = &loaded.tok;
    let max_len = match ctx.params().usize("max_seq_len")? {
        0 => loaded.model.config().max_position_embeddings,
        n => n,
    };
    let pairs: Vec<Option<LossPair>> = prompts
        .iter()
        .zip(responses)
        .map(|(pr, r)| match r {
            Some(r) => loss_pair(tok, pr, r, max_len),
            None => Ok(None),
        })
        .collect::<Result<_, _>>()
        .map_err(model_err)?;
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
        let losses = batch_losses(&loaded.model, &refs, tok.pad_id()).map_err(model_err)?;
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
fn pass_rate_scores(
    ctx: &StageContext,
    loaded: &LoadedModel,
    prompts: &[Vec<i64>],
    ids: &[i64],
    answers: &[Option<String>],
    k: usize,
    batch: usize,
) -> Result<Vec<Option<f64>>, StageError> {
    let p = ctx.params();
    let metric_name = p.str("metric")?;
    let metric = Metric::parse(metric_name)
        .ok_or_else(|| StageError::Input(format!("unknown metric `{metric_name}`")))?;
    let opts = generate_options(p, loaded)?;
    let seed = p.i64("seed")? as u64;
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
        let judged = judge_samples(&loaded.model, &loaded.tok, &batch, metric, &opts).map_err(model_err)?;
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
    use super::super::model::testutil::run_kind;
    use super::*;
    use crate::data::score::read_scores;
    use crate::data::testutil::small_dataset;

    fn call(name: &str, args: &[&str]) -> Value {
        Value::Call(CallValue {
            call: name.into(),
            args: args.iter().map(|a| Value::Str(a.to_string())).collect(),
        })
    }

    #[test]
    fn only_model_based_methods_run_libtorch() {
        let with_by = |by: Value| {
            let mut p = Params::default();
            p.0.insert("by".into(), by);
            p
        };
        for plain in [call("column", &["ops"]), call("length", &[])] {
            let p = with_by(plain);
            assert!(!Score.needs_torch(&p) && !Score.device_sensitive(&p));
        }
        let p = with_by(Value::Str("loss".into()));
        assert!(Score.needs_torch(&p) && Score.device_sensitive(&p));
    }

    #[test]
    fn scores_by_each_plain_method() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        small_dataset(&data.join("data.parquet"), 50);
        let w = dir.path().join("w");
        // `difficulty` is null in 4 rows of 50 (8 %), `response` in 10 (20 %).
        let allow = ("max_unscorable", Value::Float(0.2));
        for (by, method, nulls) in [
            (call("column", &["difficulty"]), "column(difficulty)", 4),
            (call("length", &[]), "length(chars)", 0),
            (call("cot_length", &["words"]), "cot_length(words)", 10),
        ] {
            let out = dir.path().join(method);
            run_kind(
                &Score,
                &[("by", by.clone()), allow.clone()],
                &[("data", &data)],
                &out,
                &w,
            )
            .unwrap();
            let s = read_scores(&out).unwrap();
            assert_eq!((s.ids.len(), s.method.as_str()), (50, method));
            assert_eq!(s.scores.iter().filter(|v| v.is_none()).count(), nulls);
            assert!(out.join("data.parquet").is_file());
            // By default every row must be scorable.
            let e = run_kind(
                &Score,
                &[("by", by)],
                &[("data", &data)],
                &dir.path().join("d"),
                &w,
            );
            if nulls > 0 {
                let col = if method.starts_with("column") {
                    "difficulty"
                } else {
                    "response"
                };
                assert!(
                    matches!(&e, Err(StageError::Input(m)) if m.contains(&format!("{nulls} of 50 rows cannot be scored"))
                        && m.contains(&format!("`{col}`")) && m.contains("max_unscorable = 0")),
                    "{e:?}"
                );
            } else {
                assert!(e.is_ok(), "{e:?}");
            }
        }
        let e = run_kind(
            &Score,
            &[("by", call("loss", &[]))],
            &[("data", &data)],
            &dir.path().join("l"),
            &w,
        );
        assert!(matches!(e, Err(StageError::Input(m)) if m.contains("needs a model input")));
        let e = run_kind(
            &Score,
            &[("by", call("column", &["src"]))],
            &[("data", &data)],
            &dir.path().join("c"),
            &w,
        );
        assert!(matches!(e, Err(StageError::Input(m)) if m.contains("expected a numeric")));
    }

    #[test]
    fn validate_checks_by() {
        let mut p = Params::default();
        p.0.insert("by".into(), call("column", &[]));
        assert_eq!(Score.validate(&p)[0].0, Some("by"));
        p.0.insert("by".into(), call("length", &["furlongs"]));
        assert!(Score.validate(&p)[0].1.contains("furlongs"));
        p.0.insert("by".into(), call("length", &["tokens"]));
        assert!(Score.validate(&p).is_empty());
        p.0.insert("by".into(), call("loss", &["x"]));
        assert!(Score.validate(&p)[0].1.contains("no arguments"));
        for bad in [Value::Int(0), Value::Int(MAX_K + 1), Value::Str("8".into())] {
            p.0.insert("by".into(), int_call("pass_rate", bad));
            assert!(Score.validate(&p)[0].1.contains("int in 1..="));
        }
        p.0.insert("by".into(), int_call("pass_rate", Value::Int(4)));
        assert!(Score.validate(&p).is_empty());
        p.0.insert("temperature".into(), Value::Float(0.0));
        assert_eq!(Score.validate(&p)[0].0, Some("temperature"));
        p.0.insert("by".into(), int_call("pass_rate", Value::Int(1)));
        assert!(Score.validate(&p).is_empty());
        assert_eq!(
            parse_by(&Value::Str("pass_rate".into())),
            Ok(By::PassRate(DEFAULT_K))
        );
        p.0.insert("max_unscorable".into(), Value::Float(1.5));
        assert_eq!(Score.validate(&p)[0].0, Some("max_unscorable"));
        p.0.insert("max_unscorable".into(), Value::Float(1.0));
        assert!(Score.validate(&p).is_empty());
    }

    fn int_call(name: &str, arg: Value) -> Value {
        Value::Call(CallValue {
            call: name.into(),
            args: vec![arg],
        })
    }

    /// A nano `model.init` model and a 20-row addition dataset under `dir`.
    fn model_and_data(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let init = dir.join("init");
        let init_kind = super::super::model::kinds()
            .into_iter()
            .find(|k| k.name() == "model.init")
            .unwrap();
        let p = [
            ("arch", Value::Str("nano".into())),
            ("alphabet", Value::Str("0123456789+=".into())),
        ];
        run_kind(init_kind.as_ref(), &p, &[], &init, &dir.join("w")).unwrap();
        let data = dir.join("data");
        super::super::train::tests::write_addition(&data, 20, 0);
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
            run_kind(&Score, &params, &inputs, &out, &w).unwrap();
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
        let e = run_kind(&Score, &params, &inputs, &dir.path().join("loss_short_err"), &w);
        assert!(
            matches!(&e, Err(StageError::Input(m)) if m.contains("20 of 20 rows cannot be scored")
                && m.contains("20 rows leave no room for a response token")),
            "{e:?}"
        );
        params.push(("max_unscorable", Value::Float(0.5)));
        let e = run_kind(&Score, &params, &inputs, &dir.path().join("loss_short_err2"), &w);
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
        let eval = super::super::evaluate::kinds().pop().unwrap();
        let mut ep: Vec<(&str, Value)> = sampling.to_vec();
        ep.extend([
            ("samples", Value::Int(4)),
            ("temperature", Value::Float(1.0)),
            ("batch_size", Value::Int(7)),
            ("device", Value::Str("cpu".into())),
        ]);
        let eo = dir.path().join("eval");
        run_kind(eval.as_ref(), &ep, &[("model", &init), ("data", &data)], &eo, &w).unwrap();
        let n_correct = read_columns(
            &eo.join(crate::stages::artifact::METRICS_TABLE_FILE),
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
        let select = super::super::select::kinds().pop().unwrap();
        let pick = |band: &str| {
            let out = dir.path().join(format!("sel_{band}"));
            let params = [
                ("budget", Value::Int(5)),
                ("band", Value::Str(band.into())),
                ("bands", Value::Int(3)),
            ];
            run_kind(select.as_ref(), &params, &[("scored", &a)], &out, &w).unwrap();
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
        use crate::data::io::ParquetSink;
        use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
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
            &Score,
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
            &Score,
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
            &Score,
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
            &Score,
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
        use crate::data::io::ParquetSink;
        use arrow::array::{Array, RecordBatch, new_null_array};
        let src = dir.join("data").join(DATASET_FILE);
        let (schema, batches) = crate::data::io::read_parquet(&src, None).unwrap();
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
