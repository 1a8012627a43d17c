//! The generator stage kinds: `synth.igsm`, `synth.arith`, `synth.ruler` (from nothing
//! but their parameters and seed) and `synth.haystack_qa` (from a QA dataset). Each
//! calls its `data` generator and writes a dataset artifact.
//!
//! Invariants: sizes are bounded at lowering — rows by [`MAX_GENERATED_ROWS`], RULER's
//! text by [`MAX_GENERATED_TOKENS`], each count by its own bound — judged from a set's
//! bounds, so `sieve check` refuses a typo such as `n = 1e12` before anything is
//! generated; the output is a pure function of the parameters, the seed and (for
//! `haystack_qa`) the input dataset and tokenizer.

use super::data::{checker, data_err, dataset_input, dataset_output, model_input, token_counter};
use super::declare::{Field, IntSet, Problems, Seed, Stage, TokenizerSpec, positive};
use super::{ArtifactKind, InputSpec, StageContext, StageResult};
use crate::data::arith::{ArithDifficulty, ArithOp, ArithParams};
use crate::data::haystack::HaystackParams;
use crate::data::igsm::{IgsmParams, Style};
use crate::data::ruler::{Haystack, RulerParams, Task, ValueType};
use crate::data::{arith, haystack, igsm, ruler, words};
use std::num::NonZeroU64;

/// Most rows a generator writes (`n`): far above any recipe's needs, low enough that a
/// typo such as `n = 1e12` is refused by `sieve check` instead of filling the disk.
pub const MAX_GENERATED_ROWS: u64 = 10_000_000;

/// Most prompt tokens `synth.ruler` writes in all (`n` × the largest `length`): a few
/// gigabytes of text.
pub const MAX_GENERATED_TOKENS: u64 = 1_000_000_000;

/// Most needles, values, queries, hops, chains or words a RULER sample asks for.
const RULER_MAX_COUNT: u64 = 10_000;

/// Most distractor paragraphs per `synth.haystack_qa` sample.
const HAYSTACK_MAX_DISTRACTORS: u64 = 100_000;

crate::word_param!(Style);
crate::word_param!(ArithDifficulty);
crate::word_param!(Task);
crate::word_param!(Haystack);
crate::word_param!(ValueType);

/// Checks that a positive count is at most `max` (the type guarantees ≥ 1); whether it is.
fn check_positive(problems: &mut Problems, field: Field, v: NonZeroU64, max: u64) -> bool {
    check_count(problems, field, v.get(), (1, max))
}

/// Checks that a count lies in `min..=max`; whether it does.
fn check_count(problems: &mut Problems, field: Field, v: u64, (min, max): (u64, u64)) -> bool {
    if v < min {
        problems.at(field, format!("must be ≥ {min}, got {v}"));
    } else if v > max {
        problems.at(field, format!("must be ≤ {max}, got {v}"));
    }
    (min..=max).contains(&v)
}

/// Checks that every value of a set lies in `min..=max`, from its bounds; whether they do.
fn check_set(problems: &mut Problems, field: Field, set: &IntSet, (min, max): (i64, i64)) -> bool {
    let Some((lo, hi)) = set.bounds() else {
        return true;
    };
    if lo < min {
        problems.at(field, format!("every value must be ≥ {min}, found {lo}"));
    }
    if hi > max {
        problems.at(field, format!("every value must be ≤ {max}, found {hi}"));
    }
    lo >= min && hi <= max
}

/// Checks a generator's row count `n` against [`MAX_GENERATED_ROWS`].
fn check_rows(problems: &mut Problems, field: Field, n: NonZeroU64) -> bool {
    check_positive(problems, field, n, MAX_GENERATED_ROWS)
}

// ---------------------------------------------------------------------------------------
// synth.igsm

crate::stage_params! {
    /// Parameters of [`Igsm`].
    pub struct IgsmStageParams {
        /// number of problems
        n: NonZeroU64,
        /// operations needed per problem (drawn uniformly from the set); the difficulty
        ops: IntSet = IntSet::range(2, 12),
        /// irrelevant sentences per problem (each may add one extra constant)
        distractors: IntSet = IntSet::range(0, 3),
        /// name vocabulary size (the first words of datasets/words: nouns, then adjectives, verbs, compounds)
        vocab: u64 = 120,
        /// arithmetic modulus
        modulus: u64 = 23,
        /// text: "The number of X equals …"; compact: "X = Y + Z."
        style: Style = Style::Text,
        seed: Seed,
    }
}

impl IgsmStageParams {
    /// The generator's parameters.
    fn generator(&self) -> IgsmParams {
        IgsmParams {
            n: self.n.get() as usize,
            ops: self.ops.0.clone(),
            distractors: self.distractors.0.clone(),
            vocab: usize::try_from(self.vocab).unwrap_or(usize::MAX),
            modulus: i64::try_from(self.modulus).unwrap_or(i64::MAX),
            style: self.style,
            seed: self.seed.0,
        }
    }
}

/// `synth.igsm(n, ops, …)`.
pub struct Igsm;

impl Stage for Igsm {
    const NAME: &'static str = "synth.igsm";
    const VERSION: u32 = 1;
    const DOC: &'static str = "iGSM-lite math problems: a random DAG of `ops` operations mod 23 over named quantities, shuffled sentences, topological CoT; difficulty = ops";
    const INPUTS: &'static [InputSpec] = &[];
    const OUTPUT: ArtifactKind = ArtifactKind::Dataset;
    type Params = IgsmStageParams;

    fn validate(p: &IgsmStageParams, problems: &mut Problems) {
        check_rows(problems, IgsmStageParams::n, p.n);
        // Every op and distractor needs a name of its own, so the vocabulary bounds both.
        let most = words::word_count() as i64;
        let ops_ok = check_set(problems, IgsmStageParams::ops, &p.ops, (1, most));
        let distractors_ok = check_set(problems, IgsmStageParams::distractors, &p.distractors, (0, most));
        let modulus_ok = check_count(problems, IgsmStageParams::modulus, p.modulus, (2, u64::MAX));
        if ops_ok
            && distractors_ok
            && modulus_ok
            && let Err(e) = p.generator().check()
        {
            // The generator's message names the parameter at fault in backquotes.
            let e = e.to_string();
            let field = [
                IgsmStageParams::vocab,
                IgsmStageParams::distractors,
                IgsmStageParams::modulus,
            ]
            .into_iter()
            .find(|f| e.contains(&format!("`{}`", f.0)))
            .unwrap_or(IgsmStageParams::ops);
            problems.at(field, e);
        }
    }

    fn run(p: &IgsmStageParams, ctx: &StageContext) -> StageResult {
        let params = p.generator();
        let rows = igsm::generate(&params, &dataset_output(ctx), checker(ctx)).map_err(data_err)?;
        ctx.log(&format!("synth.igsm: {rows} problems, ops {:?}", params.ops));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// synth.arith

crate::param_enum! {
    /// The operations `synth.arith` draws from.
    pub enum ArithOps {
        Add = "add",
        Sub = "sub",
        Mul = "mul",
        /// all three, drawn uniformly
        Mixed = "mixed",
    }
}

impl ArithOps {
    /// The operations, as the generator takes them.
    pub fn ops(self) -> Vec<ArithOp> {
        match self {
            ArithOps::Add => vec![ArithOp::Add],
            ArithOps::Sub => vec![ArithOp::Sub],
            ArithOps::Mul => vec![ArithOp::Mul],
            ArithOps::Mixed => vec![ArithOp::Add, ArithOp::Sub, ArithOp::Mul],
        }
    }
}

crate::stage_params! {
    /// Parameters of [`Arith`].
    pub struct ArithStageParams {
        /// number of problems
        n: NonZeroU64,
        /// operand lengths (1–18), drawn uniformly
        digits: IntSet = IntSet::range(1, 6),
        /// operation (mixed = all three, drawn uniformly)
        op: ArithOps = ArithOps::Add,
        /// what the difficulty column holds (steps = digits + carries)
        difficulty: ArithDifficulty = ArithDifficulty::Digits,
        seed: Seed,
    }
}

/// `synth.arith(n, digits, op, …)`.
pub struct Arith;

impl Stage for Arith {
    const NAME: &'static str = "synth.arith";
    const VERSION: u32 = 1;
    const DOC: &'static str = "Multi-digit addition / subtraction / multiplication with a column-by-column CoT; difficulty = digits, carries or both";
    const INPUTS: &'static [InputSpec] = &[];
    const OUTPUT: ArtifactKind = ArtifactKind::Dataset;
    type Params = ArithStageParams;

    fn validate(p: &ArithStageParams, problems: &mut Problems) {
        check_rows(problems, ArithStageParams::n, p.n);
        check_set(problems, ArithStageParams::digits, &p.digits, (1, 18));
    }

    fn run(p: &ArithStageParams, ctx: &StageContext) -> StageResult {
        let params = ArithParams {
            n: p.n.get() as usize,
            digits: p.digits.0.clone(),
            ops: p.op.ops(),
            difficulty: p.difficulty,
            seed: p.seed.0,
        };
        let rows = arith::generate(&params, &dataset_output(ctx), checker(ctx)).map_err(data_err)?;
        ctx.log(&format!("synth.arith: {rows} problems"));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// synth.ruler

crate::stage_params! {
    /// Parameters of [`Ruler`].
    pub struct RulerStageParams {
        /// number of samples
        n: NonZeroU64,
        /// the RULER task
        task: Task = Task::NiahSingle,
        /// target prompt length(s) in tokens; each sample draws one (the difficulty)
        length: IntSet = IntSet(vec![4096]),
        tokenizer: TokenizerSpec = TokenizerSpec::default(),
        /// niah/vt filler: generated essay text, RULER's repeated noise, or distractor needles (niah only)
        haystack: Haystack = Haystack::Essay,
        /// niah needle values
        value_type: ValueType = ValueType::Numbers,
        /// niah_multikey: needles (one is asked)
        keys: NonZeroU64 = positive(4),
        /// niah_multivalue: values for the key
        values: NonZeroU64 = positive(4),
        /// niah_multiquery: keys asked
        queries: NonZeroU64 = positive(4),
        /// vt: hops per chain
        hops: NonZeroU64 = positive(4),
        /// vt: chains (one asked, the rest distract)
        chains: NonZeroU64 = positive(1),
        /// cwe: frequent words to find
        cwe_words: NonZeroU64 = positive(10),
        seed: Seed,
    }
}

/// `synth.ruler(task, length, …)`.
pub struct Ruler;

impl Stage for Ruler {
    const NAME: &'static str = "synth.ruler";
    const VERSION: u32 = 1;
    const DOC: &'static str = "RULER synthetic long-context tasks (niah single/multikey/multivalue/multiquery, vt, cwe, fwe), each sample fitted to a target token length";
    const INPUTS: &'static [InputSpec] = &[model_input(
        "optional model whose tokenizer measures the target length",
    )];
    const OUTPUT: ArtifactKind = ArtifactKind::Dataset;
    type Params = RulerStageParams;

    fn validate(p: &RulerStageParams, problems: &mut Problems) {
        type P = RulerStageParams;
        let rows_ok = check_rows(problems, P::n, p.n);
        let lengths_ok = check_set(problems, P::length, &p.length, (16, ruler::MAX_LENGTH));
        if rows_ok
            && lengths_ok
            && let Some((_, longest)) = p.length.bounds()
            && p.n.get().saturating_mul(longest as u64) > MAX_GENERATED_TOKENS
        {
            problems.at(
                P::n,
                format!(
                    "{} samples of up to {longest} tokens exceed the {MAX_GENERATED_TOKENS} tokens a generator writes at most",
                    p.n
                ),
            );
        }
        for (field, v) in [
            (P::keys, p.keys),
            (P::values, p.values),
            (P::queries, p.queries),
            (P::hops, p.hops),
            (P::chains, p.chains),
            (P::cwe_words, p.cwe_words),
        ] {
            check_positive(problems, field, v, RULER_MAX_COUNT);
        }
        let task = p.task.name();
        if p.haystack == Haystack::Needles && !task.starts_with("niah") {
            problems.at(
                P::haystack,
                format!("`needles` only applies to niah tasks, not `{task}`"),
            );
        }
    }

    fn run(p: &RulerStageParams, ctx: &StageContext) -> StageResult {
        let params = RulerParams {
            n: p.n.get() as usize,
            task: p.task,
            lengths: p.length.0.clone(),
            haystack: p.haystack,
            value_type: p.value_type,
            keys: p.keys.get() as usize,
            values: p.values.get() as usize,
            queries: p.queries.get() as usize,
            hops: p.hops.get() as usize,
            chains: p.chains.get() as usize,
            cwe_words: p.cwe_words.get() as usize,
            seed: p.seed.0,
        };
        let c = token_counter(ctx, &p.tokenizer)?;
        ctx.progress().set_total(p.n.get(), "samples");
        let mut done = 0u64;
        let mut check = checker(ctx);
        let rows = ruler::generate(&params, &c, &dataset_output(ctx), || {
            done += 1;
            if done.is_multiple_of(16) {
                ctx.progress().update(done, &[]);
            }
            check()
        })
        .map_err(data_err)?;
        ctx.log(&format!(
            "synth.ruler: {rows} {} samples, lengths {:?} ({})",
            p.task.name(),
            params.lengths,
            c.name()
        ));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// synth.haystack_qa

crate::stage_params! {
    /// Parameters of [`HaystackQa`].
    pub struct HaystackQaParams {
        /// samples (0 = one per usable input row)
        n: u64 = 0,
        /// question column (`load` maps `question` into `prompt`)
        question: String = "prompt".to_string(),
        /// answer column (a JSON array text gives several golds)
        answer: String = "answer".to_string(),
        /// gold paragraph column: text or a list of texts
        context: String = "context".to_string(),
        /// distractor paragraphs per sample (when `length` = 0)
        distractors: u64 = 10,
        /// target prompt length in tokens; the number of distractors is fitted (0 = use `distractors`)
        length: u64 = 0,
        tokenizer: TokenizerSpec = TokenizerSpec::default(),
        seed: Seed,
    }
}

/// `synth.haystack_qa(qa, distractors | length, …)`.
pub struct HaystackQa;

impl Stage for HaystackQa {
    const NAME: &'static str = "synth.haystack_qa";
    const VERSION: u32 = 1;
    const DOC: &'static str = "Long-context QA from a QA dataset: each question's gold paragraph(s) among distractor paragraphs of other rows, rendered as \"Document i:\" blocks";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::one(
            "qa",
            ArtifactKind::Dataset,
            "a QA dataset with question, answer and context columns",
        ),
        model_input("optional model whose tokenizer measures `length`"),
    ];
    const OUTPUT: ArtifactKind = ArtifactKind::Dataset;
    type Params = HaystackQaParams;

    fn validate(p: &HaystackQaParams, problems: &mut Problems) {
        type P = HaystackQaParams;
        check_count(problems, P::n, p.n, (0, MAX_GENERATED_ROWS));
        check_count(
            problems,
            P::distractors,
            p.distractors,
            (0, HAYSTACK_MAX_DISTRACTORS),
        );
        check_count(problems, P::length, p.length, (0, ruler::MAX_LENGTH as u64));
    }

    fn run(p: &HaystackQaParams, ctx: &StageContext) -> StageResult {
        let params = HaystackParams {
            n: p.n as usize,
            question: p.question.clone(),
            answer: p.answer.clone(),
            context: p.context.clone(),
            distractors: p.distractors as usize,
            length: (p.length > 0).then_some(p.length as usize),
            seed: p.seed.0,
        };
        let c = token_counter(ctx, &p.tokenizer)?;
        let src = dataset_input(ctx, "qa")?;
        let rows =
            haystack::generate(&src, &params, &c, &dataset_output(ctx), checker(ctx)).map_err(data_err)?;
        ctx.log(&format!("synth.haystack_qa: {rows} samples"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::{col_i64, col_str, read_all};
    use crate::stages::artifact::DATASET_FILE;
    use crate::stages::testutil::{kind, params, params_of, run_kind};
    use crate::value::{RangeValue, Value as V};

    fn s(v: &str) -> V {
        V::Str(v.into())
    }

    fn range(start: i64, end: i64) -> V {
        V::Range(RangeValue { start, end })
    }

    /// The problems `validate` finds with the kind's defaults overridden by `over`.
    fn problems(name: &str, over: &[(&str, V)]) -> Vec<(Option<&'static str>, String)> {
        let k = kind(name);
        k.validate(&params_of(k, over))
    }

    #[test]
    fn generators_run_and_are_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("w");
        let run = |name: &str, params: &[(&str, V)], out: &str| -> Vec<u8> {
            let out = dir.path().join(out);
            run_kind(kind(name), params, &[], &out, &w).unwrap();
            std::fs::read(out.join(DATASET_FILE)).unwrap()
        };
        let igsm = [("n", V::Int(50)), ("seed", V::Int(3))];
        assert_eq!(run("synth.igsm", &igsm, "i1"), run("synth.igsm", &igsm, "i2"));
        let b = read_all(&dir.path().join("i1").join(DATASET_FILE));
        assert!(
            col_i64(&b, "difficulty")
                .iter()
                .all(|d| (2..=12).contains(&d.unwrap()))
        );
        run("synth.arith", &[("n", V::Int(20)), ("op", s("mixed"))], "a");
        let b = read_all(&dir.path().join("a").join(DATASET_FILE));
        let prompts = col_str(&b, "prompt");
        assert!(
            ['+', '-', '*']
                .iter()
                .all(|op| prompts.iter().flatten().any(|p| p.contains(*op))),
            "{prompts:?}"
        );
        run(
            "synth.ruler",
            &[("n", V::Int(2)), ("length", V::Int(800)), ("task", s("vt"))],
            "r",
        );
        let b = read_all(&dir.path().join("r").join(DATASET_FILE));
        assert_eq!(col_str(&b, "task")[0].as_deref(), Some("vt"));
    }

    #[test]
    fn declared_defaults_keep_their_key_material() {
        // Int sets enter the key as the pipelines spell them: a range, a single int.
        let p = params::<IgsmStageParams>(&[]);
        assert_eq!(p.get("ops"), Some(&range(2, 12)));
        assert_eq!(p.get("distractors"), Some(&range(0, 3)));
        assert_eq!(params::<ArithStageParams>(&[]).get("digits"), Some(&range(1, 6)));
        assert_eq!(params::<RulerStageParams>(&[]).get("length"), Some(&V::Int(4096)));
    }

    #[test]
    fn validate_catches_parameters() {
        // A count of 0 is refused by its type (at lowering, before `validate`).
        let e = problems("synth.igsm", &[("n", V::Int(0))]);
        assert_eq!(e, vec![(Some("n"), "must be ≥ 1, got 0".to_string())]);
        let e = problems("synth.igsm", &[("n", V::Int(5)), ("vocab", V::Int(3))]);
        assert!(e.iter().any(|(p, _)| *p == Some("vocab")), "{e:?}");
        let e = problems(
            "synth.igsm",
            &[("n", V::Int(5)), ("distractors", V::List(vec![]))],
        );
        assert!(e.len() == 1 && e[0].0 == Some("distractors"), "{e:?}");
        let e = problems("synth.igsm", &[("n", V::Int(5)), ("modulus", V::Int(1))]);
        assert_eq!(e, vec![(Some("modulus"), "must be ≥ 2, got 1".to_string())]);
        let e = problems(
            "synth.ruler",
            &[("n", V::Int(1)), ("task", s("cwe")), ("haystack", s("needles"))],
        );
        assert_eq!(e[0].0, Some("haystack"));
        let e = problems("synth.ruler", &[("n", V::Int(1)), ("hops", V::Int(0))]);
        assert_eq!(e, vec![(Some("hops"), "must be ≥ 1, got 0".to_string())]);
        let e = problems("synth.haystack_qa", &[("distractors", V::Int(100_001))]);
        assert_eq!(
            e,
            vec![(Some("distractors"), "must be ≤ 100000, got 100001".to_string())]
        );
        assert!(problems("synth.haystack_qa", &[]).is_empty());
    }

    #[test]
    fn generator_sizes_are_bounded_without_allocating() {
        let huge = V::Int(1_000_000_000_000);
        for name in ["synth.igsm", "synth.arith", "synth.ruler", "synth.haystack_qa"] {
            let e = problems(name, &[("n", huge.clone())]);
            assert_eq!(
                e,
                vec![(
                    Some("n"),
                    format!("must be ≤ {MAX_GENERATED_ROWS}, got 1000000000000")
                )],
                "{name}"
            );
        }
        // A set is judged by its ends (lowering refuses a range too long to list).
        let wide = range(1, 1_000_000);
        let e = problems("synth.arith", &[("n", V::Int(5)), ("digits", wide.clone())]);
        assert_eq!(
            e,
            vec![(Some("digits"), "every value must be ≤ 18, found 1000000".into())]
        );
        let e = problems("synth.igsm", &[("n", V::Int(5)), ("distractors", wide)]);
        assert!(
            e.iter().all(|(p, _)| *p == Some("distractors")) && e.len() == 1,
            "{e:?}"
        );
        // A range that slipped past lowering is refused by its length, never listed.
        let e = problems(
            "synth.arith",
            &[("n", V::Int(5)), ("digits", range(1, 1_000_000_000_000))],
        );
        assert!(
            e.len() == 1 && e[0].0 == Some("digits") && e[0].1.contains("holds more than"),
            "{e:?}"
        );
        // RULER: within the row bound, but n × length is too much text.
        let e = problems(
            "synth.ruler",
            &[("n", V::Int(1_000_000)), ("length", V::Int(4096))],
        );
        assert!(
            e.len() == 1 && e[0].0 == Some("n") && e[0].1.contains("exceed"),
            "{e:?}"
        );
        assert!(problems("synth.ruler", &[("n", V::Int(100))]).is_empty());
    }
}
