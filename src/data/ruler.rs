//! `synth.ruler`: RULER's synthetic long-context tasks (PAPERS.md §5), each sample fitted
//! to a target length in tokens of a given tokenizer.
//!
//! Tasks: `niah_single` (one key, one value), `niah_multikey` (`keys` needles, ask one),
//! `niah_multivalue` (one key, `values` values), `niah_multiquery` (`queries` needles, ask
//! all), `vt` (variable tracking: a chain `VAR A = 12345`, `VAR B = VAR A`, … of `hops`
//! hops, plus `chains − 1` distractor chains), `cwe` (common words: a numbered word list in
//! which `cwe_words` words are frequent), `fwe` (frequent words: coded words drawn from a
//! Zipf(2) law; the three most frequent are asked).
//!
//! Haystacks for niah / vt: `repeat` (RULER's noise sentences), `essay` (essay-like filler
//! generated from the shipped word lists) or `needles` (distractor needles with other
//! keys; niah only). Needles sit at random depths (vt's chain in order).
//!
//! Length fitting: the sample is a deterministic function of its random draws and a size
//! `k` (filler sentences, list words); `k` is searched (bracketed interpolation) until
//! the prompt's token count is within 1% of the target, else the closest size is kept;
//! the actual count is stored in `tokens`. A target below the size of the sample without
//! any filler is an error naming the minimum.
//!
//! Invariants: every gold answer occurs verbatim in the prompt; filler cannot contain a
//! key, a value or a `VAR` (see `data::words`); output depends only on parameters and seed.
//!
//! Columns: canonical (`prompt` = context + question, `response` = `Answer: a, b`,
//! `answer` = golds joined by `, `, `difficulty` = target length) + `task`, `length`
//! (target), `tokens` (actual), `depth` (first needle's relative depth, null for cwe/fwe),
//! `answers` (list of golds).

use super::schema::{Cell, ColType, TableBuilder, float, int, text, write_generated};
use super::text::TokenCounter;
use super::words;
use super::{DataError, Result, unknown_choice};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The longest target length accepted (tokens).
pub const MAX_LENGTH: i64 = 4 << 20;

/// A RULER task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    NiahSingle,
    NiahMultikey,
    NiahMultivalue,
    NiahMultiquery,
    Vt,
    Cwe,
    Fwe,
}

impl Task {
    /// Task names as used by `synth.ruler(task = …)`.
    pub const NAMES: &'static [&'static str] = &[
        "niah_single",
        "niah_multikey",
        "niah_multivalue",
        "niah_multiquery",
        "vt",
        "cwe",
        "fwe",
    ];

    /// Parses a task name.
    pub fn parse(s: &str) -> Result<Task> {
        Ok(match s {
            "niah_single" | "niah" => Task::NiahSingle,
            "niah_multikey" => Task::NiahMultikey,
            "niah_multivalue" => Task::NiahMultivalue,
            "niah_multiquery" => Task::NiahMultiquery,
            "vt" => Task::Vt,
            "cwe" => Task::Cwe,
            "fwe" => Task::Fwe,
            o => {
                return Err(unknown_choice("RULER task", o, &Self::NAMES.join(" | ")));
            }
        })
    }

    /// The task's name.
    pub fn name(self) -> &'static str {
        match self {
            Task::NiahSingle => "niah_single",
            Task::NiahMultikey => "niah_multikey",
            Task::NiahMultivalue => "niah_multivalue",
            Task::NiahMultiquery => "niah_multiquery",
            Task::Vt => "vt",
            Task::Cwe => "cwe",
            Task::Fwe => "fwe",
        }
    }
}

/// Filler for niah / vt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Haystack {
    Repeat,
    Essay,
    Needles,
}

impl Haystack {
    /// The names accepted by [`Haystack::parse`] (besides the alias `noise`).
    pub const NAMES: &'static [&'static str] = &["essay", "repeat", "needles"];

    /// The filler's name.
    pub fn name(self) -> &'static str {
        match self {
            Haystack::Essay => "essay",
            Haystack::Repeat => "repeat",
            Haystack::Needles => "needles",
        }
    }

    /// Parses `repeat` / `essay` / `needles`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "repeat" | "noise" => Ok(Haystack::Repeat),
            "essay" => Ok(Haystack::Essay),
            "needles" => Ok(Haystack::Needles),
            o => Err(unknown_choice("haystack", o, "repeat | essay | needles")),
        }
    }
}

/// The kind of needle values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Numbers,
    Words,
    Uuids,
}

impl ValueType {
    /// The names accepted by [`ValueType::parse`].
    pub const NAMES: &'static [&'static str] = &["numbers", "words", "uuids"];

    /// Parses `numbers` / `words` / `uuids`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "numbers" => Ok(ValueType::Numbers),
            "words" => Ok(ValueType::Words),
            "uuids" => Ok(ValueType::Uuids),
            o => Err(unknown_choice("value type", o, "numbers | words | uuids")),
        }
    }

    /// The value type's name, a plural that the prompts use as is ("the special magic
    /// numbers").
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Numbers => "numbers",
            ValueType::Words => "words",
            ValueType::Uuids => "uuids",
        }
    }
}

/// Parameters of the generator.
#[derive(Debug, Clone)]
pub struct RulerParams {
    pub n: usize,
    pub task: Task,
    /// Target lengths in tokens; each sample draws one uniformly.
    pub lengths: Vec<i64>,
    pub haystack: Haystack,
    pub value_type: ValueType,
    /// Needles of `niah_multikey` (one is asked).
    pub keys: usize,
    /// Values of `niah_multivalue`.
    pub values: usize,
    /// Keys asked by `niah_multiquery`.
    pub queries: usize,
    /// Hops of a `vt` chain.
    pub hops: usize,
    /// Chains of `vt` (one asked, the others distract).
    pub chains: usize,
    /// Frequent words of `cwe`.
    pub cwe_words: usize,
    pub seed: u64,
}

impl RulerParams {
    /// Defaults for `task` at one target length.
    pub fn new(task: Task, length: i64, n: usize, seed: u64) -> Self {
        RulerParams {
            n,
            task,
            lengths: vec![length],
            haystack: Haystack::Essay,
            value_type: ValueType::Numbers,
            keys: 4,
            values: 4,
            queries: 4,
            hops: 4,
            chains: 1,
            cwe_words: 10,
            seed,
        }
    }

    fn check(&self) -> Result<()> {
        let p = |m: String| Err(DataError::Param(m));
        if self.lengths.is_empty() || self.lengths.iter().any(|&l| !(16..=MAX_LENGTH).contains(&l)) {
            return p(format!(
                "`length` must be ints in 16..{MAX_LENGTH} (tokens), got {:?}",
                self.lengths
            ));
        }
        if self.haystack == Haystack::Needles && matches!(self.task, Task::Vt | Task::Cwe | Task::Fwe) {
            return p(format!(
                "haystack `needles` only applies to niah tasks, not `{}`",
                self.task.name()
            ));
        }
        for (name, v, lo) in [
            ("keys", self.keys, 1),
            ("values", self.values, 1),
            ("queries", self.queries, 1),
            ("hops", self.hops, 1),
            ("chains", self.chains, 1),
            ("cwe_words", self.cwe_words, 1),
        ] {
            if v < lo || v > 1000 {
                return p(format!("`{name}` must be in {lo}..1000, got {v}"));
            }
        }
        Ok(())
    }
}

/// One sample before length fitting: a function from size `k` to the prompt.
struct Sample {
    answers: Vec<String>,
    depth: Option<f64>,
    build: Box<dyn Fn(usize) -> String>,
    /// The largest meaningful size.
    max_k: usize,
}

/// Sizes beyond any practical context.
const NO_LIMIT: usize = 50_000_000;

fn uuid(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-{}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        ["8", "9", "a", "b"][(b[8] % 4) as usize],
        &h[17..20],
        &h[20..32]
    )
}

fn value(rng: &mut ChaCha8Rng, t: ValueType) -> String {
    match t {
        ValueType::Numbers => rng.random_range(1_000_000..10_000_000u32).to_string(),
        // Compound words (`amberapple`) never occur in the filler.
        ValueType::Words => words::word(rng.random_range(words::plain_count()..words::word_count())),
        ValueType::Uuids => uuid(rng),
    }
}

/// Distinct `adjective-noun` keys.
fn keys(rng: &mut ChaCha8Rng, n: usize) -> Vec<String> {
    let (a, no) = (words::adjectives(), words::nouns());
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while out.len() < n {
        let k = format!(
            "{}-{}",
            a[rng.random_range(0..a.len())],
            no[rng.random_range(0..no.len())]
        );
        if seen.insert(k.clone()) {
            out.push(k);
        }
    }
    out
}

fn var_name(rng: &mut ChaCha8Rng, used: &mut HashSet<String>) -> String {
    loop {
        let s: String = (0..5)
            .map(|_| char::from(b'A' + rng.random_range(0..26u8)))
            .collect();
        if used.insert(s.clone()) {
            return s;
        }
    }
}

/// Filler sentences: the `i`-th sentence of a per-sample stream.
fn filler(h: Haystack, seed: u64, k: usize, distract: &dyn Fn(&mut ChaCha8Rng) -> String) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise: Vec<&str> = words::NOISE.split_inclusive(". ").map(str::trim).collect();
    (0..k)
        .map(|i| match h {
            Haystack::Repeat => noise[i % noise.len()].to_string(),
            Haystack::Essay => words::essay_sentence(&mut rng),
            Haystack::Needles => distract(&mut rng),
        })
        .collect()
}

/// Inserts `needles` into `k` filler sentences at relative `depths` (kept in order).
fn weave(fill: Vec<String>, needles: &[String], depths: &[f64]) -> String {
    let k = fill.len();
    let mut at: Vec<(usize, usize)> = depths
        .iter()
        .enumerate()
        .map(|(j, d)| (((d * k as f64).round() as usize).min(k), j))
        .collect();
    at.sort();
    let mut out = String::with_capacity(fill.iter().map(|s| s.len() + 1).sum::<usize>() + 64 * needles.len());
    let mut next = 0;
    for (i, s) in fill.iter().enumerate() {
        while next < at.len() && at[next].0 == i {
            out.push_str(&needles[at[next].1]);
            out.push(' ');
            next += 1;
        }
        out.push_str(s);
        out.push(' ');
    }
    while next < at.len() {
        out.push_str(&needles[at[next].1]);
        out.push(' ');
        next += 1;
    }
    out.trim_end().to_string()
}

fn niah(p: &RulerParams, rng: &mut ChaCha8Rng) -> Sample {
    let vt = p.value_type;
    let (n_keys, n_vals) = match p.task {
        Task::NiahMultikey => (p.keys.max(1), 1),
        Task::NiahMultivalue => (1, p.values.max(1)),
        Task::NiahMultiquery => (p.queries.max(1), 1),
        _ => (1, 1),
    };
    // Distractor keys for a `needles` haystack are drawn from the same space; reserve
    // the real keys so fillers never reuse them.
    let ks = keys(rng, n_keys);
    let mut needles = Vec::new();
    let mut golds: HashMap<String, Vec<String>> = HashMap::new();
    let mut used_values = HashSet::new();
    for k in &ks {
        for _ in 0..n_vals {
            let mut v = value(rng, vt);
            while !used_values.insert(v.clone()) {
                v = value(rng, vt);
            }
            needles.push(format!("One of the special magic {} for {k} is: {v}.", vt.name()));
            golds.entry(k.clone()).or_default().push(v);
        }
    }
    let asked: Vec<String> = match p.task {
        Task::NiahMultikey => vec![ks[rng.random_range(0..ks.len())].clone()],
        _ => ks.clone(),
    };
    let answers: Vec<String> = asked.iter().flat_map(|k| golds[k].clone()).collect();
    let depths: Vec<f64> = (0..needles.len()).map(|_| rng.random_range(0.0..1.0)).collect();
    let first_depth = depths.first().copied();
    let fill_seed: u64 = rng.random();
    let haystack = p.haystack;
    let real: HashSet<String> = ks.iter().cloned().collect();
    let question = match asked.len() {
        1 => format!(
            "What are all the special magic {} for {} mentioned in the provided text?",
            vt.name(),
            asked[0]
        ),
        _ => format!(
            "What are all the special magic {} for {} and {} mentioned in the provided text?",
            vt.name(),
            asked[..asked.len() - 1].join(", "),
            asked[asked.len() - 1]
        ),
    };
    let header = format!(
        "Some special magic {t} are hidden within the following text. Make sure to memorize it. \
         I will quiz you about the {t} afterwards.\n",
        t = vt.name()
    );
    let build = move |k: usize| {
        let distract = |r: &mut ChaCha8Rng| loop {
            let key = keys(r, 1).remove(0);
            if !real.contains(&key) {
                return format!(
                    "One of the special magic {} for {key} is: {}.",
                    vt.name(),
                    value(r, vt)
                );
            }
        };
        let body = weave(filler(haystack, fill_seed, k, &distract), &needles, &depths);
        format!("{header}{body}\nQuestion: {question}")
    };
    Sample {
        answers,
        depth: first_depth,
        build: Box::new(build),
        max_k: NO_LIMIT,
    }
}

fn vt(p: &RulerParams, rng: &mut ChaCha8Rng) -> Sample {
    let mut used = HashSet::new();
    let mut used_vals = HashSet::new();
    let mut statements = Vec::new();
    let mut asked_names = Vec::new();
    let mut asked_value = String::new();
    for c in 0..p.chains.max(1) {
        let mut v = rng.random_range(10_000..100_000u32).to_string();
        while !used_vals.insert(v.clone()) {
            v = rng.random_range(10_000..100_000u32).to_string();
        }
        let names: Vec<String> = (0..=p.hops).map(|_| var_name(rng, &mut used)).collect();
        let mut chain = vec![format!("VAR {} = {v}.", names[0])];
        for h in 1..names.len() {
            chain.push(format!("VAR {} = VAR {}.", names[h], names[h - 1]));
        }
        if c == 0 {
            asked_names = names;
            asked_value = v;
        }
        statements.push(chain);
    }
    // Each chain in order at sorted random depths.
    let mut needles = Vec::new();
    let mut depths = Vec::new();
    for chain in statements {
        let mut d: Vec<f64> = (0..chain.len()).map(|_| rng.random_range(0.0..1.0)).collect();
        d.sort_by(f64::total_cmp);
        depths.extend(d);
        needles.extend(chain);
    }
    let first_depth = depths.first().copied();
    let fill_seed: u64 = rng.random();
    let haystack = p.haystack;
    let header = "Memorize and track the chain(s) of variable assignment hidden in the following text.\n";
    let question = format!("Find all variables that are assigned the value {asked_value} in the text above.");
    let build = move |k: usize| {
        let none = |_: &mut ChaCha8Rng| String::new();
        let body = weave(filler(haystack, fill_seed, k, &none), &needles, &depths);
        format!("{header}{body}\nQuestion: {question}")
    };
    Sample {
        answers: asked_names,
        depth: first_depth,
        build: Box::new(build),
        max_k: NO_LIMIT,
    }
}

/// Frequencies tried for cwe's frequent words, largest first (RULER uses 30).
const CWE_FREQS: [usize; 9] = [30, 24, 18, 14, 10, 8, 6, 5, 4];

/// A cwe sample whose frequent words each appear `fc` times and the others 3 times
/// (fewer if `fc` ≤ 3). All draws come from `seed`, so samples for different `fc` share
/// their words.
fn cwe(p: &RulerParams, seed: u64, fc: usize) -> Sample {
    let rng = &mut ChaCha8Rng::seed_from_u64(seed);
    let c = p.cwe_words.max(1);
    let mut pool: Vec<usize> = (0..words::word_count()).collect();
    let (chosen, _) = pool.partial_shuffle(rng, c + 20_000.min(words::word_count() - c));
    let chosen: Vec<String> = chosen.iter().map(|&i| words::word(i)).collect();
    let answers: Vec<String> = chosen[..c].to_vec();
    let others: Vec<String> = chosen[c..].to_vec();
    let shuffle_seed: u64 = rng.random();
    let header = "Below is a numbered list of words. In these words, some appear more often than others. \
                  Memorize the ones that appear most often.\n";
    let question = format!("What are the {c} most common words in the above list?");
    let common = answers.clone();
    let max_k = others.len();
    let build = move |k: usize| {
        let mut list: Vec<&str> = Vec::new();
        for w in &common {
            list.extend(std::iter::repeat_n(w.as_str(), fc));
        }
        for w in others.iter().take(k) {
            list.extend(std::iter::repeat_n(w.as_str(), 3.min(fc - 1)));
        }
        let mut r = ChaCha8Rng::seed_from_u64(shuffle_seed);
        list.shuffle(&mut r);
        let body: Vec<String> = list
            .iter()
            .enumerate()
            .map(|(i, w)| format!("{}. {w}", i + 1))
            .collect();
        format!("{header}{}\nQuestion: {question}", body.join(" "))
    };
    Sample {
        answers,
        depth: None,
        build: Box::new(build),
        max_k,
    }
}

fn fwe(rng: &mut ChaCha8Rng) -> Sample {
    let coded = |r: &mut ChaCha8Rng| -> String {
        (0..6)
            .map(|_| char::from(b'a' + r.random_range(0..26u8)))
            .collect()
    };
    let mut seen = HashSet::new();
    let vocab: Vec<String> = std::iter::from_fn(|| Some(coded(rng)))
        .filter(|w| seen.insert(w.clone()))
        .take(1000)
        .collect();
    let seed: u64 = rng.random();
    // Zipf(2) ranks; the top three words are fixed to ranks 1–3 and the counts below
    // guarantee they are strictly the most frequent.
    let header = "Read the following coded text and track the frequency of each coded word. \
                  Find the three most frequently appeared coded words.\n";
    let question = "What are the three most frequently appeared words in the above coded text?";
    let answers = vocab[..3].to_vec();
    let build = move |k: usize| {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let w = k + 10;
        // Expected Zipf(2) counts (1/r² normalised by ζ(2) ≈ 1.645), made strictly
        // decreasing at the top; the tail is drawn from the same law over ranks ≥ 4.
        let top: Vec<usize> = (1..=3)
            .map(|rank| ((w as f64) / 1.645 / (rank * rank) as f64).ceil() as usize)
            .collect();
        let top = [top[0].max(4), top[1].max(3), top[2].max(2)];
        let tail_n = w.saturating_sub(top.iter().sum());
        let mut words_: Vec<&str> = Vec::with_capacity(w);
        for (i, &c) in top.iter().enumerate() {
            words_.extend(std::iter::repeat_n(vocab[i].as_str(), c));
        }
        let mut tail_counts = vec![0usize; vocab.len()];
        let cap = top[2] - 1;
        let mut drawn = 0;
        let mut attempts = 0;
        while drawn < tail_n && attempts < tail_n * 50 + 100 {
            attempts += 1;
            // Zipf(2) restricted to ranks ≥ 4: P(rank ≥ r) = 1/r, so rank = ⌊1/u⌋ with
            // u uniform in (0, 1/4].
            let u: f64 = r.random_range(1e-9..0.25);
            let rank = (1.0 / u).floor() as usize - 1;
            if rank >= vocab.len() {
                continue;
            }
            if tail_counts[rank] < cap.max(1) {
                tail_counts[rank] += 1;
                words_.push(vocab[rank].as_str());
                drawn += 1;
            }
        }
        words_.shuffle(&mut r);
        format!("{header}{}\nQuestion: {question}", words_.join(" ... "))
    };
    Sample {
        answers,
        depth: None,
        build: Box::new(build),
        max_k: NO_LIMIT,
    }
}

/// Finds the size `k` (at most `max_k`) whose prompt is closest to `target` tokens;
/// returns the prompt, its token count and `k`.
pub(crate) fn fit(
    build: &dyn Fn(usize) -> String,
    target: usize,
    counter: &TokenCounter,
    max_k: usize,
) -> Result<(String, usize, usize)> {
    let count = |k: usize| -> Result<(String, usize)> {
        let s = build(k);
        let t = counter.count(&s)?;
        Ok((s, t))
    };
    let (s0, t0) = count(0)?;
    if t0 >= target {
        if (t0 as f64) <= target as f64 * 1.05 {
            return Ok((s0, t0, 0));
        }
        return Err(DataError::Param(format!(
            "target length {target} is too short for this task: the sample without filler already has {t0} tokens"
        )));
    }
    // Bracket: lo has fewer tokens than the target, hi at least as many.
    let (mut lo, mut t_lo, mut s_lo) = (0usize, t0, s0);
    let mut k = 16usize.min(max_k);
    let (mut hi, mut t_hi, mut s_hi);
    loop {
        let (s, t) = count(k)?;
        if t >= target {
            (hi, t_hi, s_hi) = (k, t, s);
            break;
        }
        if k >= max_k {
            if (t as f64) >= target as f64 * 0.95 {
                return Ok((s, t, k));
            }
            return Err(DataError::Param(format!(
                "cannot reach {target} tokens: the longest possible sample has {t} (not enough material)"
            )));
        }
        (lo, t_lo, s_lo) = (k, t, s);
        // Extrapolate with a margin.
        let per = (t - t0).max(1) as f64 / k as f64;
        k = ((k as f64 + ((target - t) as f64 / per) * 1.1 + 1.0).ceil() as usize).min(max_k);
    }
    let tol = (target as f64 * 0.01).max(1.0);
    for _ in 0..60 {
        if hi - lo <= 1 || (t_hi - target) as f64 <= tol || ((target - t_lo) as f64) <= tol {
            break;
        }
        // Interpolate, kept strictly inside the bracket.
        let f = (target - t_lo) as f64 / (t_hi - t_lo).max(1) as f64;
        let mid = (lo as f64 + f * (hi - lo) as f64).round() as usize;
        let mid = mid.clamp(lo + 1, hi - 1);
        let (s, t) = count(mid)?;
        if t >= target {
            (hi, t_hi, s_hi) = (mid, t, s);
        } else {
            (lo, t_lo, s_lo) = (mid, t, s);
        }
    }
    Ok(if t_hi - target <= target - t_lo {
        (s_hi, t_hi, hi)
    } else {
        (s_lo, t_lo, lo)
    })
}

/// Writes `p.n` samples to `path`, counting tokens with `counter`.
pub fn generate(
    p: &RulerParams,
    counter: &TokenCounter,
    path: &Path,
    mut check: impl FnMut() -> Result<()>,
) -> Result<usize> {
    p.check()?;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let b = TableBuilder::new(
        ColType::Int,
        &[
            ("task", ColType::Str),
            ("length", ColType::Int),
            ("tokens", ColType::Int),
            ("depth", ColType::Float),
            ("answers", ColType::StrList),
        ],
    );
    write_generated(path, b, p.n, |i| {
        check()?;
        let target = p.lengths[rng.random_range(0..p.lengths.len())] as usize;
        let sample = match p.task {
            Task::Vt => vt(p, &mut rng),
            Task::Cwe => {
                // The largest frequency whose frequent words fill at most half the target.
                let seed: u64 = rng.random();
                let mut chosen = None;
                for fc in CWE_FREQS {
                    let s = cwe(p, seed, fc);
                    if counter.count(&(s.build)(0))? * 2 <= target {
                        chosen = Some(s);
                        break;
                    }
                }
                chosen.unwrap_or_else(|| cwe(p, seed, CWE_FREQS[CWE_FREQS.len() - 1]))
            }
            Task::Fwe => fwe(&mut rng),
            _ => niah(p, &mut rng),
        };
        let (prompt, tokens, _) = fit(&*sample.build, target, counter, sample.max_k)?;
        let answer = sample.answers.join(", ");
        Ok(vec![
            int(i as i64),
            text(prompt),
            text(format!("Answer: {answer}")),
            text(answer),
            int(target as i64),
            text(p.task.name()),
            int(target as i64),
            int(tokens as i64),
            sample.depth.map(float).unwrap_or(Cell::Float(None)),
            Cell::StrList(sample.answers),
        ])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::testutil::{col_i64, col_str, read_all};
    use arrow::array::{Array, AsArray};

    fn golds(b: &arrow::array::RecordBatch) -> Vec<Vec<String>> {
        let l = b.column_by_name("answers").unwrap().as_list::<i32>();
        (0..l.len())
            .map(|i| {
                let v = l.value(i);
                let s = v.as_string::<i32>();
                (0..s.len()).map(|j| s.value(j).to_string()).collect()
            })
            .collect()
    }

    #[test]
    fn every_task_fits_length_and_contains_golds() {
        let dir = tempfile::tempdir().unwrap();
        for (ti, task) in Task::NAMES.iter().enumerate() {
            for (hi, hay) in ["essay", "repeat", "needles"].iter().enumerate() {
                let t = Task::parse(task).unwrap();
                if *hay == "needles" && matches!(t, Task::Vt | Task::Cwe | Task::Fwe) {
                    continue;
                }
                let mut p = RulerParams::new(t, 0, 6, (ti * 10 + hi) as u64);
                p.lengths = vec![1000, 2500, 6000];
                p.haystack = Haystack::parse(hay).unwrap();
                p.value_type = [ValueType::Numbers, ValueType::Words, ValueType::Uuids][ti % 3];
                let path = dir.path().join(format!("{task}-{hay}.parquet"));
                generate(&p, &TokenCounter::Chars, &path, || Ok(())).unwrap();
                let b = read_all(&path);
                let (prompts, lens, toks) = (
                    col_str(&b, "prompt"),
                    col_i64(&b, "length"),
                    col_i64(&b, "tokens"),
                );
                for (i, g) in golds(&b).iter().enumerate() {
                    let pr = prompts[i].as_deref().unwrap();
                    let (len, tok) = (lens[i].unwrap() as f64, toks[i].unwrap() as f64);
                    assert_eq!(pr.chars().count() as f64, tok);
                    assert!(
                        (tok - len).abs() <= 0.05 * len,
                        "{task}/{hay}: {tok} tokens for target {len}"
                    );
                    assert!(!g.is_empty());
                    for a in g {
                        assert!(pr.contains(a.as_str()), "{task}: gold {a} not in prompt");
                    }
                }
            }
        }
    }

    #[test]
    fn golds_are_right() {
        let dir = tempfile::tempdir().unwrap();
        // cwe: the golds are strictly the most frequent words.
        let path = dir.path().join("cwe.parquet");
        let p = RulerParams::new(Task::Cwe, 3000, 3, 1);
        generate(&p, &TokenCounter::Words, &path, || Ok(())).unwrap();
        let b = read_all(&path);
        for (pr, g) in col_str(&b, "prompt").iter().zip(golds(&b)) {
            let body = pr.as_deref().unwrap().split('\n').nth(1).unwrap();
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for tok in body.split(' ').filter(|t| !t.ends_with('.')) {
                *counts.entry(tok).or_default() += 1;
            }
            let min_gold = g.iter().map(|w| counts[w.as_str()]).min().unwrap();
            let max_other = counts
                .iter()
                .filter(|(w, _)| !g.iter().any(|x| x == *w))
                .map(|(_, c)| *c)
                .max()
                .unwrap();
            assert!(min_gold > max_other, "{min_gold} vs {max_other}");
        }
        // fwe: the three golds are the three most frequent, in order.
        let path = dir.path().join("fwe.parquet");
        generate(
            &RulerParams::new(Task::Fwe, 2000, 3, 2),
            &TokenCounter::Chars,
            &path,
            || Ok(()),
        )
        .unwrap();
        let b = read_all(&path);
        for (pr, g) in col_str(&b, "prompt").iter().zip(golds(&b)) {
            let body = pr.as_deref().unwrap().split('\n').nth(1).unwrap();
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for tok in body.split(" ... ") {
                *counts.entry(tok).or_default() += 1;
            }
            let mut by: Vec<(&str, usize)> = counts.into_iter().collect();
            by.sort_by_key(|x| std::cmp::Reverse(x.1));
            assert!(by[2].1 > by[3].1);
            let top: HashSet<&str> = by[..3].iter().map(|x| x.0).collect();
            assert_eq!(top, g.iter().map(String::as_str).collect());
        }
        // vt: following the chain from the asked value reaches exactly the golds.
        let path = dir.path().join("vt.parquet");
        let mut p = RulerParams::new(Task::Vt, 1500, 4, 3);
        p.chains = 2;
        generate(&p, &TokenCounter::Chars, &path, || Ok(())).unwrap();
        let b = read_all(&path);
        for (pr, g) in col_str(&b, "prompt").iter().zip(golds(&b)) {
            let pr = pr.as_deref().unwrap();
            let value = pr
                .rsplit("assigned the value ")
                .next()
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            let mut names: HashSet<String> = HashSet::new();
            let mut stmts: Vec<(String, String)> = Vec::new();
            let mut rest = pr;
            while let Some(i) = rest.find("VAR ") {
                rest = &rest[i + 4..];
                if let Some((l, r)) = rest.split_once(" = ")
                    && l.len() == 5
                    && l.chars().all(|c| c.is_ascii_uppercase())
                {
                    let r = r.split('.').next().unwrap().trim_start_matches("VAR ");
                    stmts.push((l.to_string(), r.to_string()));
                }
            }
            let mut frontier = vec![value.to_string()];
            while let Some(v) = frontier.pop() {
                for (l, r) in &stmts {
                    if *r == v && names.insert(l.clone()) {
                        frontier.push(l.clone());
                    }
                }
            }
            assert_eq!(names, g.iter().cloned().collect());
            assert_eq!(g.len(), 5);
        }
    }

    #[test]
    fn fits_hugging_face_tokenizer_lengths() {
        let dir = tempfile::tempdir().unwrap();
        let tok = crate::data::testutil::word_tokenizer(dir.path());
        let counter = TokenCounter::from_path(&tok).unwrap();
        for task in [Task::NiahMultivalue, Task::Vt, Task::Cwe, Task::Fwe] {
            let mut p = RulerParams::new(task, 0, 3, 9);
            p.lengths = vec![600, 3000];
            let path = dir.path().join("x.parquet");
            generate(&p, &counter, &path, || Ok(())).unwrap();
            let b = read_all(&path);
            for (pr, len) in col_str(&b, "prompt").iter().zip(col_i64(&b, "length")) {
                let t = counter.count(pr.as_deref().unwrap()).unwrap() as f64;
                let len = len.unwrap() as f64;
                assert!((t - len).abs() <= 0.05 * len, "{task:?}: {t} tokens for {len}");
            }
        }
    }

    #[test]
    fn errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let e = generate(
            &RulerParams::new(Task::NiahMultiquery, 40, 1, 1),
            &TokenCounter::Chars,
            &path,
            || Ok(()),
        )
        .unwrap_err();
        assert!(e.to_string().contains("too short"), "{e}");
        let mut p = RulerParams::new(Task::Vt, 1000, 1, 1);
        p.haystack = Haystack::Needles;
        assert!(generate(&p, &TokenCounter::Chars, &path, || Ok(())).is_err());
        assert!(Task::parse("niah_x").is_err());
    }
}
