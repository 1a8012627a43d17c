//! Data stage kinds: `load`, the generators `synth.igsm`, `synth.arith`, `synth.ruler`,
//! `synth.haystack_qa`, and `split`, `concat`, `export`. Each body parses its parameters
//! and calls the `data` library; every output is a dataset artifact
//! (`out_dir/data.parquet`, the canonical schema of `data`'s module docs).
//!
//! Invariants: parameter problems detectable before running are reported by `validate`
//! (naming the parameter); data problems at run time become `StageError::Input` naming
//! the file, the column, the expected and the found type; outputs are byte-identical for
//! identical inputs, parameters and seed; long loops honour cancellation.

use super::artifact::DATASET_FILE;
use super::{
    ArtifactKind, InputSpec, ParamSpec, ParamType, StageContext, StageError, StageKind, StageResult,
};
use crate::data::io::Format;
use crate::data::text::TokenCounter;
use crate::data::{self, DataError};
use crate::value::{RangeValue, Value};
use std::path::{Path, PathBuf};

/// The data stage kinds.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![
        Box::new(Load),
        Box::new(Igsm),
        Box::new(Arith),
        Box::new(Ruler),
        Box::new(HaystackQa),
        Box::new(Split),
        Box::new(Concat),
        Box::new(Export),
    ]
}

/// Maps a data-library error: data and parameter problems are the user's input;
/// IO failures are run failures; cancellation stays cancellation.
pub(crate) fn data_err(e: DataError) -> StageError {
    match e {
        DataError::Cancelled => StageError::Cancelled,
        e if e.is_input() => StageError::Input(e.to_string()),
        e => StageError::Failed(e.to_string()),
    }
}

/// A cancellation check for library loops.
pub(crate) fn checker<'c>(ctx: &'c StageContext<'_>) -> impl FnMut() -> Result<(), DataError> + 'c {
    move || {
        if ctx.is_cancelled() {
            Err(DataError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// The `seed` parameter as the RNG seed (negative seeds wrap).
pub(crate) fn seed(ctx: &StageContext) -> Result<u64, StageError> {
    Ok(ctx.params().i64("seed")? as u64)
}

/// The token counter of a stage: the tokenizer of the optional `model` input when one
/// is bound, else the `tokenizer` parameter (`chars`, `bytes`, `words` or a path).
pub(crate) fn counter(ctx: &StageContext) -> Result<TokenCounter, StageError> {
    if let Some(m) = ctx.slot("model").first() {
        return TokenCounter::from_path(&m.dir).map_err(data_err);
    }
    TokenCounter::from_spec(ctx.params().str("tokenizer")?).map_err(data_err)
}

/// The `tokenizer` parameter shared by kinds that measure text.
pub(crate) fn tokenizer_param() -> ParamSpec {
    ParamSpec::optional(
        "tokenizer",
        ParamType::TokenizerFile(&["chars", "char", "words", "whitespace", "bytes"]),
        Value::Str("chars".into()),
        "how tokens are counted: chars (= the built-in char tokenizer), words, bytes, or a path to a tokenizer.json / model folder (its contents are part of the cache key); a bound `model` input's tokenizer wins",
    )
}

/// The optional `model` input of kinds that count tokens.
pub(crate) fn model_input(doc: &'static str) -> InputSpec {
    InputSpec::optional("model", ArtifactKind::Model, doc)
}

fn int_range(a: i64, b: i64) -> Value {
    Value::Range(RangeValue { start: a, end: b })
}

fn out_file(ctx: &StageContext) -> PathBuf {
    ctx.out_dir().join(DATASET_FILE)
}

fn dataset_input(ctx: &StageContext, slot: &str) -> Result<PathBuf, StageError> {
    Ok(ctx.input(slot)?.file(DATASET_FILE))
}

/// Most rows a generator writes (`n`): far above any recipe's needs, low enough that a
/// typo such as `n = 1e12` is refused by `sieve check` instead of filling the disk.
pub const MAX_GENERATED_ROWS: i64 = 10_000_000;

/// Most prompt tokens `synth.ruler` writes in all (`n` × the largest `length`): a few
/// gigabytes of text.
pub const MAX_GENERATED_TOKENS: i64 = 1_000_000_000;

/// Checks that an int-set parameter's values all lie in `min..=max`, from its bounds
/// alone (a range is never listed, so `1..1e12` costs nothing here).
fn check_set(
    params: &super::Params,
    name: &'static str,
    (min, max): (i64, i64),
    errs: &mut Vec<(Option<&'static str>, String)>,
) -> bool {
    let Some((lo, hi)) = params.get(name).and_then(Value::int_bounds) else {
        return true;
    };
    if lo < min {
        errs.push((Some(name), format!("every value must be ≥ {min}, found {lo}")));
    }
    if hi > max {
        errs.push((Some(name), format!("every value must be ≤ {max}, found {hi}")));
    }
    lo >= min && hi <= max
}

/// Checks that an int parameter lies in `min..=max`.
fn check_int(
    params: &super::Params,
    name: &'static str,
    (min, max): (i64, i64),
    errs: &mut Vec<(Option<&'static str>, String)>,
) {
    match params.get(name).and_then(Value::as_i64) {
        Some(v) if v < min => errs.push((Some(name), format!("must be ≥ {min}, got {v}"))),
        Some(v) if v > max => errs.push((Some(name), format!("must be ≤ {max}, got {v}"))),
        _ => {}
    }
}

fn check_min(
    params: &super::Params,
    name: &'static str,
    min: i64,
    errs: &mut Vec<(Option<&'static str>, String)>,
) {
    check_int(params, name, (min, i64::MAX), errs);
}

/// Checks a generator's row count `n` (`min` = 1, or 0 where 0 means "one per input row").
fn check_rows(params: &super::Params, min: i64, errs: &mut Vec<(Option<&'static str>, String)>) -> bool {
    let before = errs.len();
    check_int(params, "n", (min, MAX_GENERATED_ROWS), errs);
    errs.len() == before
}

// ---------------------------------------------------------------------------------------
// load

/// `load(path = …)`.
struct Load;

impl Load {
    fn mapping(ctx: &StageContext, name: &str) -> Result<Option<String>, StageError> {
        Ok(match ctx.params().str(name)? {
            "auto" => None,
            "none" => Some(String::new()),
            col => Some(col.to_string()),
        })
    }
}

impl StageKind for Load {
    fn name(&self) -> &'static str {
        "load"
    }
    fn version(&self) -> u32 {
        // 2: the difficulty's source column is kept (`difficulty = "steps"` dropped `steps`).
        2
    }
    fn doc(&self) -> &'static str {
        "Read a Parquet or JSONL file (verl/HF RL, SFT messages, prompt/completion, plain QA) into the canonical dataset schema, streaming by record batch"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        Vec::new()
    }
    fn params(&self) -> Vec<ParamSpec> {
        let col = |name: &'static str, doc: &'static str| {
            ParamSpec::optional(name, ParamType::Str, Value::Str("auto".into()), doc)
        };
        vec![
            ParamSpec::required(
                "path",
                ParamType::InputFile,
                "the file to read (.parquet, .jsonl), relative to the pipeline file; its contents are part of the cache key",
            ),
            ParamSpec::optional(
                "format",
                ParamType::Enum(&["auto", "parquet", "jsonl"]),
                Value::Str("auto".into()),
                "file format (auto = from the extension)",
            ),
            col(
                "id",
                "integer id column (auto: `id`, `index`, else the row number; none = row number)",
            ),
            col(
                "prompt",
                "prompt column or struct path; text or a list of {role, content} messages (auto: prompt, question, problem, input, instruction, query, messages)",
            ),
            col(
                "response",
                "response column: text or messages (auto: response, solution, completion, output, target, generated_solution, messages; none = null)",
            ),
            col(
                "answer",
                "final answer column; text, number or list (auto: answer, reward_model.ground_truth, ground_truth, final_answer, expected_answer; none = null)",
            ),
            col(
                "difficulty",
                "difficulty column: numeric, or text whose first number is used (auto: difficulty, level; none = null)",
            ),
            ParamSpec::optional(
                "keep",
                ParamType::List(Box::new(ParamType::Str)),
                Value::List(vec![Value::Str("*".into())]),
                "extra source columns to keep ([\"*\"] = all, [] = none)",
            ),
            ParamSpec::optional(
                "limit",
                ParamType::Int,
                Value::Int(0),
                "read at most this many rows (0 = all)",
            ),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Dataset
    }
    fn validate(&self, params: &super::Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        if params
            .get("path")
            .and_then(Value::as_str)
            .is_some_and(str::is_empty)
        {
            errs.push((Some("path"), "must not be empty".to_string()));
        }
        if params.get("prompt").and_then(Value::as_str) == Some("none") {
            errs.push((
                Some("prompt"),
                "every row needs a prompt; `none` is not allowed here".to_string(),
            ));
        }
        check_min(params, "limit", 0, &mut errs);
        errs
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        let p = ctx.params();
        let keep = match p.get("keep") {
            Some(Value::List(items)) if items.iter().any(|v| v.as_str() == Some("*")) => {
                data::load::Keep::All
            }
            Some(Value::List(items)) => data::load::Keep::Only(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
            ),
            _ => data::load::Keep::All,
        };
        let limit = p.usize("limit")?;
        let opts = data::load::LoadOptions {
            format: Format::parse(p.str("format")?).map_err(data_err)?,
            id: Self::mapping(ctx, "id")?,
            prompt: Self::mapping(ctx, "prompt")?,
            response: Self::mapping(ctx, "response")?,
            answer: Self::mapping(ctx, "answer")?,
            difficulty: Self::mapping(ctx, "difficulty")?,
            keep,
            limit: (limit > 0).then_some(limit),
        };
        let src = PathBuf::from(p.str("path")?);
        let rep = data::load::load(&src, &out_file(ctx), &opts, checker(ctx)).map_err(data_err)?;
        ctx.log(&format!("load: {} rows from {}", rep.rows, src.display()));
        for m in &rep.mapping {
            ctx.log(&format!("  {m}"));
        }
        ctx.log(&format!("  kept: {}", rep.kept.join(", ")));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// synth.igsm

/// `synth.igsm(n, ops, …)`.
struct Igsm;

impl StageKind for Igsm {
    fn name(&self) -> &'static str {
        "synth.igsm"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "iGSM-lite math problems: a random DAG of `ops` operations mod 23 over named quantities, shuffled sentences, topological CoT; difficulty = ops"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        Vec::new()
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::required("n", ParamType::Int, "number of problems"),
            ParamSpec::optional(
                "ops",
                ParamType::IntSet,
                int_range(2, 12),
                "operations needed per problem (drawn uniformly from the set); the difficulty",
            ),
            ParamSpec::optional(
                "distractors",
                ParamType::IntSet,
                int_range(0, 3),
                "irrelevant sentences per problem (each may add one extra constant)",
            ),
            ParamSpec::optional(
                "vocab",
                ParamType::Int,
                Value::Int(120),
                "name vocabulary size (the first words of datasets/words: nouns, then adjectives, verbs, compounds)",
            ),
            ParamSpec::optional("modulus", ParamType::Int, Value::Int(23), "arithmetic modulus"),
            ParamSpec::optional(
                "style",
                ParamType::Enum(&["text", "compact"]),
                Value::Str("text".into()),
                "text: \"The number of X equals …\"; compact: \"X = Y + Z.\"",
            ),
            ParamSpec::seed(),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Dataset
    }
    fn validate(&self, params: &super::Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        check_rows(params, 1, &mut errs);
        // Every op and distractor needs a name of its own, so the vocabulary bounds both.
        let most = data::words::word_count() as i64;
        let ops_ok = check_set(params, "ops", (1, most), &mut errs);
        let distractors_ok = check_set(params, "distractors", (0, most), &mut errs);
        check_min(params, "modulus", 2, &mut errs);
        if ops_ok
            && distractors_ok
            && let (Some(ops), Some(d), Some(v)) = (
                params.get("ops").and_then(Value::as_int_list),
                params.get("distractors").and_then(Value::as_int_list),
                params.get("vocab").and_then(Value::as_i64),
            )
        {
            let p = data::igsm::IgsmParams {
                n: 1,
                ops,
                distractors: d,
                vocab: v.max(0) as usize,
                modulus: 23,
                style: data::igsm::Style::Text,
                seed: 0,
            };
            if let Err(e) = p.check() {
                let name = if e.to_string().contains("`vocab`") {
                    "vocab"
                } else {
                    "ops"
                };
                errs.push((Some(name), e.to_string()));
            }
        }
        errs
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        let p = ctx.params();
        let params = data::igsm::IgsmParams {
            n: p.usize("n")?,
            ops: p.int_set("ops")?,
            distractors: p.int_set("distractors")?,
            vocab: p.usize("vocab")?,
            modulus: p.i64("modulus")?,
            style: data::igsm::Style::parse(p.str("style")?).map_err(data_err)?,
            seed: seed(ctx)?,
        };
        let rows = data::igsm::generate(&params, &out_file(ctx), checker(ctx)).map_err(data_err)?;
        ctx.log(&format!("synth.igsm: {rows} problems, ops {:?}", params.ops));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// synth.arith

/// `synth.arith(n, digits, op, …)`.
struct Arith;

impl StageKind for Arith {
    fn name(&self) -> &'static str {
        "synth.arith"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Multi-digit addition / subtraction / multiplication with a column-by-column CoT; difficulty = digits, carries or both"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        Vec::new()
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::required("n", ParamType::Int, "number of problems"),
            ParamSpec::optional(
                "digits",
                ParamType::IntSet,
                int_range(1, 6),
                "operand lengths (1–18), drawn uniformly",
            ),
            ParamSpec::optional(
                "op",
                ParamType::Enum(&["add", "sub", "mul", "mixed"]),
                Value::Str("add".into()),
                "operation (mixed = all three, drawn uniformly)",
            ),
            ParamSpec::optional(
                "difficulty",
                ParamType::Enum(&["digits", "carries", "steps"]),
                Value::Str("digits".into()),
                "what the difficulty column holds (steps = digits + carries)",
            ),
            ParamSpec::seed(),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Dataset
    }
    fn validate(&self, params: &super::Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        check_rows(params, 1, &mut errs);
        check_set(params, "digits", (1, 18), &mut errs);
        errs
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        let p = ctx.params();
        let params = data::arith::ArithParams {
            n: p.usize("n")?,
            digits: p.int_set("digits")?,
            ops: data::arith::ArithOp::parse_set(p.str("op")?).map_err(data_err)?,
            difficulty: data::arith::ArithDifficulty::parse(p.str("difficulty")?).map_err(data_err)?,
            seed: seed(ctx)?,
        };
        let rows = data::arith::generate(&params, &out_file(ctx), checker(ctx)).map_err(data_err)?;
        ctx.log(&format!("synth.arith: {rows} problems"));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// synth.ruler

/// `synth.ruler(task, length, …)`.
struct Ruler;

impl StageKind for Ruler {
    fn name(&self) -> &'static str {
        "synth.ruler"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "RULER synthetic long-context tasks (niah single/multikey/multivalue/multiquery, vt, cwe, fwe), each sample fitted to a target token length"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        vec![model_input(
            "optional model whose tokenizer measures the target length",
        )]
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::required("n", ParamType::Int, "number of samples"),
            ParamSpec::optional(
                "task",
                ParamType::Enum(data::ruler::Task::NAMES),
                Value::Str("niah_single".into()),
                "the RULER task",
            ),
            ParamSpec::optional(
                "length",
                ParamType::IntSet,
                Value::Int(4096),
                "target prompt length(s) in tokens; each sample draws one (the difficulty)",
            ),
            tokenizer_param(),
            ParamSpec::optional(
                "haystack",
                ParamType::Enum(&["essay", "repeat", "needles"]),
                Value::Str("essay".into()),
                "niah/vt filler: generated essay text, RULER's repeated noise, or distractor needles (niah only)",
            ),
            ParamSpec::optional(
                "value_type",
                ParamType::Enum(&["numbers", "words", "uuids"]),
                Value::Str("numbers".into()),
                "niah needle values",
            ),
            ParamSpec::optional(
                "keys",
                ParamType::Int,
                Value::Int(4),
                "niah_multikey: needles (one is asked)",
            ),
            ParamSpec::optional(
                "values",
                ParamType::Int,
                Value::Int(4),
                "niah_multivalue: values for the key",
            ),
            ParamSpec::optional(
                "queries",
                ParamType::Int,
                Value::Int(4),
                "niah_multiquery: keys asked",
            ),
            ParamSpec::optional("hops", ParamType::Int, Value::Int(4), "vt: hops per chain"),
            ParamSpec::optional(
                "chains",
                ParamType::Int,
                Value::Int(1),
                "vt: chains (one asked, the rest distract)",
            ),
            ParamSpec::optional(
                "cwe_words",
                ParamType::Int,
                Value::Int(10),
                "cwe: frequent words to find",
            ),
            ParamSpec::seed(),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Dataset
    }
    fn validate(&self, params: &super::Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        let rows_ok = check_rows(params, 1, &mut errs);
        let lengths_ok = check_set(params, "length", (16, data::ruler::MAX_LENGTH), &mut errs);
        if rows_ok
            && lengths_ok
            && let (Some(n), Some((_, longest))) = (
                params.get("n").and_then(Value::as_i64),
                params.get("length").and_then(Value::int_bounds),
            )
            && n.saturating_mul(longest) > MAX_GENERATED_TOKENS
        {
            errs.push((
                Some("n"),
                format!(
                    "{n} samples of up to {longest} tokens exceed the {MAX_GENERATED_TOKENS} tokens a generator writes at most"
                ),
            ));
        }
        for k in ["keys", "values", "queries", "hops", "chains", "cwe_words"] {
            check_int(params, k, (1, RULER_MAX_COUNT), &mut errs);
        }
        let task = params.get("task").and_then(Value::as_str).unwrap_or("");
        if params.get("haystack").and_then(Value::as_str) == Some("needles") && !task.starts_with("niah") {
            errs.push((
                Some("haystack"),
                format!("`needles` only applies to niah tasks, not `{task}`"),
            ));
        }
        errs
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        let p = ctx.params();
        use data::ruler::{Haystack, RulerParams, Task, ValueType};
        let params = RulerParams {
            n: p.usize("n")?,
            task: Task::parse(p.str("task")?).map_err(data_err)?,
            lengths: p.int_set("length")?,
            haystack: Haystack::parse(p.str("haystack")?).map_err(data_err)?,
            value_type: ValueType::parse(p.str("value_type")?).map_err(data_err)?,
            keys: p.usize("keys")?,
            values: p.usize("values")?,
            queries: p.usize("queries")?,
            hops: p.usize("hops")?,
            chains: p.usize("chains")?,
            cwe_words: p.usize("cwe_words")?,
            seed: seed(ctx)?,
        };
        let c = counter(ctx)?;
        ctx.progress().set_total(params.n as u64, "samples");
        let mut done = 0u64;
        let mut check = checker(ctx);
        let rows = data::ruler::generate(&params, &c, &out_file(ctx), || {
            done += 1;
            if done.is_multiple_of(16) {
                ctx.progress().update(done, &[]);
            }
            check()
        })
        .map_err(data_err)?;
        ctx.log(&format!(
            "synth.ruler: {rows} {} samples, lengths {:?} ({})",
            p.str("task")?,
            params.lengths,
            c.name()
        ));
        Ok(())
    }
}

/// Most needles, values, queries, hops, chains or words a RULER sample asks for.
const RULER_MAX_COUNT: i64 = 10_000;

// ---------------------------------------------------------------------------------------
// synth.haystack_qa

/// Most distractor paragraphs per `synth.haystack_qa` sample.
const HAYSTACK_MAX_DISTRACTORS: i64 = 100_000;

/// `synth.haystack_qa(qa, distractors | length, …)`.
struct HaystackQa;

impl StageKind for HaystackQa {
    fn name(&self) -> &'static str {
        "synth.haystack_qa"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Long-context QA from a QA dataset: each question's gold paragraph(s) among distractor paragraphs of other rows, rendered as \"Document i:\" blocks"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        vec![
            InputSpec::one(
                "qa",
                ArtifactKind::Dataset,
                "a QA dataset with question, answer and context columns",
            ),
            model_input("optional model whose tokenizer measures `length`"),
        ]
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::optional(
                "n",
                ParamType::Int,
                Value::Int(0),
                "samples (0 = one per usable input row)",
            ),
            ParamSpec::optional(
                "question",
                ParamType::Str,
                Value::Str("prompt".into()),
                "question column (`load` maps `question` into `prompt`)",
            ),
            ParamSpec::optional(
                "answer",
                ParamType::Str,
                Value::Str("answer".into()),
                "answer column (a JSON array text gives several golds)",
            ),
            ParamSpec::optional(
                "context",
                ParamType::Str,
                Value::Str("context".into()),
                "gold paragraph column: text or a list of texts",
            ),
            ParamSpec::optional(
                "distractors",
                ParamType::Int,
                Value::Int(10),
                "distractor paragraphs per sample (when `length` = 0)",
            ),
            ParamSpec::optional(
                "length",
                ParamType::Int,
                Value::Int(0),
                "target prompt length in tokens; the number of distractors is fitted (0 = use `distractors`)",
            ),
            tokenizer_param(),
            ParamSpec::seed(),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Dataset
    }
    fn validate(&self, params: &super::Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        check_rows(params, 0, &mut errs);
        check_int(params, "distractors", (0, HAYSTACK_MAX_DISTRACTORS), &mut errs);
        check_int(params, "length", (0, data::ruler::MAX_LENGTH), &mut errs);
        errs
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        let p = ctx.params();
        let length = p.usize("length")?;
        let params = data::haystack::HaystackParams {
            n: p.usize("n")?,
            question: p.str("question")?.to_string(),
            answer: p.str("answer")?.to_string(),
            context: p.str("context")?.to_string(),
            distractors: p.usize("distractors")?,
            length: (length > 0).then_some(length),
            seed: seed(ctx)?,
        };
        let c = counter(ctx)?;
        let src = dataset_input(ctx, "qa")?;
        let rows =
            data::haystack::generate(&src, &params, &c, &out_file(ctx), checker(ctx)).map_err(data_err)?;
        ctx.log(&format!("synth.haystack_qa: {rows} samples"));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// split

/// `split(data, mode, part, …)`.
struct Split;

/// `holdout` as `(lo, hi)`: a range `a..b` or a list `[lo, hi]` of numbers.
fn holdout_bounds(v: &Value) -> Option<(f64, f64)> {
    match v {
        Value::Range(r) => Some((r.start as f64, r.end as f64)),
        Value::List(items) if items.len() == 2 => {
            let (a, b) = (items[0].as_f64()?, items[1].as_f64()?);
            (a <= b).then_some((a, b))
        }
        _ => None,
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl StageKind for Split {
    fn name(&self) -> &'static str {
        "split"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Keep the train or test part of a dataset: a random fraction, rows by a column's values, or a held-out difficulty range"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        vec![InputSpec::one(
            "data",
            ArtifactKind::Dataset,
            "the dataset to split",
        )]
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::optional(
                "mode",
                ParamType::Enum(&["random", "values", "holdout"]),
                Value::Str("random".into()),
                "random: `fraction` of rows are train; values: rows whose `column` is in `values` are test; holdout: rows whose difficulty is in `holdout` are test",
            ),
            ParamSpec::optional(
                "part",
                ParamType::Enum(&["train", "test"]),
                Value::Str("train".into()),
                "which side to keep",
            ),
            ParamSpec::optional(
                "fraction",
                ParamType::Float,
                Value::Float(0.9),
                "train fraction in (0, 1) (mode random)",
            ),
            ParamSpec::optional(
                "column",
                ParamType::Str,
                Value::Str(String::new()),
                "key column (mode values)",
            ),
            ParamSpec::optional(
                "values",
                ParamType::List(Box::new(ParamType::Any)),
                Value::List(Vec::new()),
                "test values of `column`, compared as text (mode values)",
            ),
            ParamSpec::optional(
                "holdout",
                ParamType::Any,
                Value::List(Vec::new()),
                "difficulty range held out as test: `a..b` or [lo, hi], both ends included (mode holdout)",
            ),
            ParamSpec::seed(),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Dataset
    }
    fn validate(&self, params: &super::Params) -> Vec<(Option<&'static str>, String)> {
        let mut errs = Vec::new();
        match params.get("mode").and_then(Value::as_str).unwrap_or("random") {
            "random" => {
                if let Some(f) = params.get("fraction").and_then(Value::as_f64)
                    && !(f > 0.0 && f < 1.0)
                {
                    errs.push((Some("fraction"), format!("must be in (0, 1), got {f}")));
                }
            }
            "values" => {
                if params
                    .get("column")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    errs.push((Some("column"), "mode `values` needs the key column".to_string()));
                }
                match params.get("values") {
                    Some(Value::List(items)) if !items.is_empty() => {
                        if let Some(bad) = items.iter().find(|v| value_text(v).is_none()) {
                            errs.push((
                                Some("values"),
                                format!("expected strings or numbers, found `{bad}`"),
                            ));
                        }
                    }
                    _ => errs.push((Some("values"), "mode `values` needs a non-empty list".to_string())),
                }
            }
            _ => {
                if params.get("holdout").and_then(holdout_bounds).is_none() {
                    errs.push((
                        Some("holdout"),
                        "mode `holdout` needs a difficulty range `a..b` or [lo, hi] with lo ≤ hi".to_string(),
                    ));
                }
            }
        }
        errs
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        use data::split::{Part, SplitMode};
        let p = ctx.params();
        let bad = |m: &str| StageError::Input(m.to_string());
        let mode = match p.str("mode")? {
            "random" => SplitMode::Random {
                fraction: p.f64("fraction")?,
            },
            "values" => SplitMode::Values {
                column: p.str("column")?.to_string(),
                values: match p.get("values") {
                    Some(Value::List(items)) => items.iter().filter_map(value_text).collect(),
                    _ => return Err(bad("`values` must be a list")),
                },
            },
            _ => {
                let (lo, hi) = p
                    .get("holdout")
                    .and_then(holdout_bounds)
                    .ok_or_else(|| bad("`holdout` must be a range a..b or [lo, hi]"))?;
                SplitMode::Holdout { lo, hi }
            }
        };
        let part = Part::parse(p.str("part")?).map_err(data_err)?;
        let src = dataset_input(ctx, "data")?;
        let rep = data::split::split(&src, &out_file(ctx), &mode, part, seed(ctx)?, checker(ctx))
            .map_err(data_err)?;
        ctx.log(&format!(
            "split: kept {} of {} rows ({}, {mode:?})",
            rep.rows,
            rep.of,
            p.str("part")?
        ));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// concat

/// `concat(a, b, …)`.
struct Concat;

impl StageKind for Concat {
    fn name(&self) -> &'static str {
        "concat"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Append datasets (columns unified by name, missing ones null), renumbering ids and labelling each row's source in `part`"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        vec![InputSpec::many(
            "parts",
            ArtifactKind::Dataset,
            "the datasets, in order (a sweep family counts as its members)",
        )]
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::optional(
                "ids",
                ParamType::Enum(&["renumber", "keep"]),
                Value::Str("renumber".into()),
                "renumber ids 0…N−1, or keep them (they must then be unique across inputs)",
            ),
            ParamSpec::optional(
                "label",
                ParamType::Bool,
                Value::Bool(true),
                "add a `part` column holding each row's input instance name",
            ),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Dataset
    }
    /// `label = true` writes each input's instance name into `part`.
    fn reads_input_names(&self, params: &super::Params) -> bool {
        params.get("label").and_then(Value::as_bool).unwrap_or(true)
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        let p = ctx.params();
        let members = ctx.slot("parts");
        let paths: Vec<PathBuf> = members.iter().map(|m| m.file(DATASET_FILE)).collect();
        let labels = p
            .bool("label")?
            .then(|| members.iter().map(|m| m.instance.clone()).collect());
        let opts = data::split::ConcatOptions {
            renumber: p.str("ids")? == "renumber",
            labels,
        };
        let rows = data::split::concat(&paths, &out_file(ctx), &opts, checker(ctx)).map_err(data_err)?;
        ctx.log(&format!("concat: {rows} rows from {} inputs", paths.len()));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// export

/// `export(data, path = …)`.
struct Export;

impl StageKind for Export {
    fn name(&self) -> &'static str {
        "export"
    }
    fn version(&self) -> u32 {
        1
    }
    fn doc(&self) -> &'static str {
        "Write a dataset to a user path as Parquet or JSONL (refuses to overwrite unless asked); passes the dataset through"
    }
    fn inputs(&self) -> Vec<InputSpec> {
        vec![InputSpec::one(
            "data",
            ArtifactKind::Dataset,
            "the dataset to write",
        )]
    }
    fn params(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::required(
                "path",
                ParamType::OutputFile,
                "destination file (.parquet or .jsonl), relative to the pipeline file; inside the project folder or an allowed one, never in the store",
            ),
            ParamSpec::optional(
                "format",
                ParamType::Enum(&["auto", "parquet", "jsonl"]),
                Value::Str("auto".into()),
                "file format (auto = from the extension; Parquet when unknown)",
            ),
            ParamSpec::optional(
                "overwrite",
                ParamType::Bool,
                Value::Bool(false),
                "replace an existing file (never a pipeline file, a lock file or sieve.toml)",
            ),
        ]
    }
    fn output(&self) -> ArtifactKind {
        ArtifactKind::Dataset
    }
    fn validate(&self, params: &super::Params) -> Vec<(Option<&'static str>, String)> {
        match params.get("path").and_then(Value::as_str) {
            Some("") => vec![(Some("path"), "must not be empty".to_string())],
            _ => Vec::new(),
        }
    }
    fn run(&self, ctx: &StageContext) -> StageResult {
        let p = ctx.params();
        let src = dataset_input(ctx, "data")?;
        let dst = Path::new(p.str("path")?);
        let format = Format::parse(p.str("format")?).map_err(data_err)?;
        let rows = data::split::export(&src, dst, format, p.bool("overwrite")?).map_err(data_err)?;
        data::io::link_or_copy(&src, &out_file(ctx)).map_err(data_err)?;
        ctx.log(&format!("export: {rows} rows to {}", dst.display()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::testutil::run_kind;
    use super::*;
    use crate::data::testutil::{col_i64, col_str, read_all};
    use crate::value::Value as V;

    fn s(v: &str) -> V {
        V::Str(v.into())
    }

    /// Kind defaults overridden by `over`, as lowering would resolve them.
    fn params_of(kind: &dyn StageKind, over: &[(&str, V)]) -> super::super::Params {
        let mut p = super::super::Params::default();
        for spec in kind.params() {
            if let Some(d) = spec.default {
                p.0.insert(spec.name.to_string(), d);
            }
        }
        for (k, v) in over {
            p.0.insert(k.to_string(), v.clone());
        }
        p
    }

    #[test]
    fn generators_run_and_are_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("w");
        let run = |kind: &dyn StageKind, params: &[(&str, V)], name: &str| -> Vec<u8> {
            let out = dir.path().join(name);
            run_kind(kind, params, &[], &out, &w).unwrap();
            std::fs::read(out.join(DATASET_FILE)).unwrap()
        };
        let igsm = [("n", V::Int(50)), ("seed", V::Int(3))];
        assert_eq!(run(&Igsm, &igsm, "i1"), run(&Igsm, &igsm, "i2"));
        let b = read_all(&dir.path().join("i1").join(DATASET_FILE));
        assert!(
            col_i64(&b, "difficulty")
                .iter()
                .all(|d| (2..=12).contains(&d.unwrap()))
        );
        run(&Arith, &[("n", V::Int(20)), ("op", s("mixed"))], "a");
        run(
            &Ruler,
            &[("n", V::Int(2)), ("length", V::Int(800)), ("task", s("vt"))],
            "r",
        );
        let b = read_all(&dir.path().join("r").join(DATASET_FILE));
        assert_eq!(col_str(&b, "task")[0].as_deref(), Some("vt"));
    }

    #[test]
    fn validate_catches_parameters() {
        let e = Igsm.validate(&params_of(&Igsm, &[("n", V::Int(0)), ("vocab", V::Int(3))]));
        assert!(
            e.iter().any(|(p, _)| *p == Some("n")) && e.iter().any(|(p, _)| *p == Some("vocab")),
            "{e:?}"
        );
        let e = Split.validate(&params_of(&Split, &[("fraction", V::Float(1.5))]));
        assert_eq!(e[0].0, Some("fraction"));
        let e = Split.validate(&params_of(&Split, &[("mode", s("holdout"))]));
        assert_eq!(e[0].0, Some("holdout"));
        let ok = params_of(
            &Split,
            &[
                ("mode", s("holdout")),
                ("holdout", V::Range(RangeValue { start: 9, end: 12 })),
            ],
        );
        assert!(Split.validate(&ok).is_empty());
        let e = Ruler.validate(&params_of(
            &Ruler,
            &[("n", V::Int(1)), ("task", s("cwe")), ("haystack", s("needles"))],
        ));
        assert_eq!(e[0].0, Some("haystack"));
        let e = Load.validate(&params_of(&Load, &[("path", s("")), ("prompt", s("none"))]));
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn generator_sizes_are_bounded_without_allocating() {
        let huge = V::Int(1_000_000_000_000);
        for kind in [&Igsm as &dyn StageKind, &Arith, &Ruler, &HaystackQa] {
            let e = kind.validate(&params_of(kind, &[("n", huge.clone())]));
            assert_eq!(
                e,
                vec![(
                    Some("n"),
                    format!("must be ≤ {MAX_GENERATED_ROWS}, got 1000000000000")
                )],
                "{}",
                kind.name()
            );
        }
        // A range with a trillion members is judged by its ends, never listed.
        let wide = V::Range(RangeValue {
            start: 1,
            end: 1_000_000_000_000,
        });
        let e = Arith.validate(&params_of(&Arith, &[("n", V::Int(5)), ("digits", wide.clone())]));
        assert_eq!(
            e,
            vec![(
                Some("digits"),
                "every value must be ≤ 18, found 1000000000000".into()
            )]
        );
        let e = Igsm.validate(&params_of(&Igsm, &[("n", V::Int(5)), ("distractors", wide)]));
        assert!(
            e.iter().all(|(p, _)| *p == Some("distractors")) && e.len() == 1,
            "{e:?}"
        );
        // RULER: within the row bound, but n × length is too much text.
        let e = Ruler.validate(&params_of(
            &Ruler,
            &[("n", V::Int(1_000_000)), ("length", V::Int(4096))],
        ));
        assert!(
            e.len() == 1 && e[0].0 == Some("n") && e[0].1.contains("exceed"),
            "{e:?}"
        );
        assert!(
            Ruler
                .validate(&params_of(&Ruler, &[("n", V::Int(100))]))
                .is_empty()
        );
    }

    #[test]
    fn load_split_concat_export_chain() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("w");
        let src = dir.path().join("in.jsonl");
        let lines: String = (0..40)
            .map(|i| {
                format!(
                    "{{\"question\": \"q{i}\", \"answer\": \"{i}\", \"level\": \"Level {}\"}}\n",
                    i % 5
                )
            })
            .collect();
        std::fs::write(&src, lines).unwrap();
        let loaded = dir.path().join("loaded");
        run_kind(&Load, &[("path", s(src.to_str().unwrap()))], &[], &loaded, &w).unwrap();
        let e = run_kind(
            &Load,
            &[("path", s("/no/such/file.parquet"))],
            &[],
            &dir.path().join("x"),
            &w,
        )
        .unwrap_err();
        assert!(
            matches!(&e, StageError::Input(m) if m.contains("file not found")),
            "{e}"
        );

        let train = dir.path().join("train");
        let hold = [
            ("mode", s("holdout")),
            ("holdout", V::List(vec![V::Float(3.0), V::Float(4.0)])),
        ];
        run_kind(&Split, &hold, &[("data", &loaded)], &train, &w).unwrap();
        let test = dir.path().join("test");
        let mut hold_test = hold.to_vec();
        hold_test.push(("part", s("test")));
        run_kind(&Split, &hold_test, &[("data", &loaded)], &test, &w).unwrap();
        let (a, b) = (
            read_all(&train.join(DATASET_FILE)),
            read_all(&test.join(DATASET_FILE)),
        );
        assert_eq!((a.num_rows(), b.num_rows()), (24, 16));

        let both = dir.path().join("both");
        run_kind(&Concat, &[], &[("parts", &train), ("parts", &test)], &both, &w).unwrap();
        let c = read_all(&both.join(DATASET_FILE));
        assert_eq!(c.num_rows(), 40);
        assert_eq!(col_str(&c, "part")[0].as_deref(), Some("parts"));

        let target = dir.path().join("user/out.jsonl");
        let ex = [("path", s(target.to_str().unwrap()))];
        run_kind(&Export, &ex, &[("data", &both)], &dir.path().join("e1"), &w).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap().lines().count(), 40);
        let e = run_kind(&Export, &ex, &[("data", &both)], &dir.path().join("e2"), &w).unwrap_err();
        assert!(
            matches!(&e, StageError::Input(m) if m.contains("already exists")),
            "{e}"
        );
    }
}
