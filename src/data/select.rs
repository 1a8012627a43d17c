//! Budgeted, difficulty-aware selection from a scores artifact (see `data::score` for its
//! layout): band the scored rows, order the band's rows by a strategy, take a prefix that
//! fits the budget, write those rows as a dataset.
//!
//! - **Bands**: quantile bands of the scores (`bands = 3` → terciles), explicit `edges`
//!   (`[e0, e1, …, ek]` → k bands `[e_j, e_{j+1})`, the last one closed; rows outside are
//!   in no band), or the `bucket` column stored in the scores. Quantile edges are score
//!   values (`sorted[⌊j·n/B⌋]`), and a row is in band `#{edges ≤ score}`: rows with equal
//!   scores always share a band (ties at an edge go up), so bands are only as balanced as
//!   the distinct scores allow. Band names: `easy` = 0, `hard` = last, `medium` = the middle
//!   of an odd count, `all`, or the 0-based index.
//! - **Strategies**: `random` (a seeded shuffle), `easiest` / `hardest` (by score, ties in
//!   seeded random order), `stratified` (round-robin over strata — the bands, or the values
//!   of a column such as `data_source` — each stratum shuffled, so every prefix is balanced
//!   to within one row while strata last).
//! - **Budget**: a row count, or a token budget (rows are taken in order while the total
//!   tokens of prompt + response stay within it).
//! - **Nesting**: the order depends only on the scores, the band, the strategy and the
//!   seed, and every budget takes a prefix of it; so with `nested = true` each smaller
//!   budget's rows are a subset of each larger one's. `nested = false` draws the order from
//!   an RNG stream keyed by the budget, giving independent subsets.
//!
//! Invariants: rows with a null score are never selected; the output keeps the dataset's
//! row order and schema; the same inputs and seed give the same rows (and bytes).

use super::io::{self, ParquetSink};
use super::schema::{ID, PROMPT, RESPONSE};
use super::score::{DATA_FILE, read_scores};
use super::text::TokenCounter;
use super::{DataError, Result};
use arrow::array::{Array, AsArray, BooleanArray};
use arrow::datatypes::{DataType, Int64Type};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::Path;

/// How rows are ordered before the budget takes a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Random,
    Easiest,
    Hardest,
    Stratified,
}

impl Strategy {
    /// The strategy names accepted by [`Strategy::parse`].
    pub const NAMES: &'static [&'static str] = &["random", "easiest", "hardest", "stratified"];

    /// The strategy's name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::Easiest => "easiest",
            Strategy::Hardest => "hardest",
            Strategy::Stratified => "stratified",
        }
    }

    /// Parses a strategy name.
    pub fn parse(s: &str) -> Result<Strategy> {
        match s {
            "random" => Ok(Strategy::Random),
            "easiest" => Ok(Strategy::Easiest),
            "hardest" => Ok(Strategy::Hardest),
            "stratified" => Ok(Strategy::Stratified),
            o => Err(DataError::Param(format!(
                "unknown strategy `{o}` (expected {})",
                Self::NAMES.join(" | ")
            ))),
        }
    }
}

/// How scores are cut into bands.
#[derive(Debug, Clone, PartialEq)]
pub enum Banding {
    /// `B` quantile bands.
    Quantiles(usize),
    /// Explicit ascending edges `[e0, …, ek]` → k bands.
    Edges(Vec<f64>),
    /// The `bucket` column of the scores.
    Buckets,
}

/// The selection budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Rows(usize),
    /// Total tokens of prompt + response.
    Tokens(usize),
}

impl Budget {
    fn amount(self) -> usize {
        match self {
            Budget::Rows(n) | Budget::Tokens(n) => n,
        }
    }
}

/// Options of [`select`].
#[derive(Debug, Clone)]
pub struct SelectOptions {
    pub budget: Budget,
    pub banding: Banding,
    /// A band name or index (see the module docs); `all` or empty = every band.
    pub band: String,
    pub strategy: Strategy,
    /// Stratify over this column's values instead of over the bands.
    pub stratify_by: Option<String>,
    pub nested: bool,
    pub allow_short: bool,
    pub seed: u64,
}

/// What [`select`] did, for the stage log.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectReport {
    /// Rows written.
    pub rows: usize,
    /// Tokens of the selected rows (token budgets only).
    pub tokens: Option<usize>,
    /// Rows eligible after banding.
    pub candidates: usize,
    /// Rows per band (all scored rows).
    pub band_sizes: Vec<usize>,
    /// Interior band edges used (quantiles / explicit).
    pub edges: Vec<f64>,
    /// The band selected (`None` = all).
    pub band: Option<usize>,
    /// True when the band had fewer rows than the budget and `allow_short` took them all.
    pub short: bool,
}

/// Interior edges of `bands` quantile bands of `scores` (any order): `bands - 1` values,
/// `sorted[⌊j·n/bands⌋]` for j = 1…bands−1; empty when `scores` is empty.
pub fn quantile_edges(scores: &[f64], bands: usize) -> Vec<f64> {
    if scores.is_empty() || bands <= 1 {
        return Vec::new();
    }
    let mut s = scores.to_vec();
    s.sort_by(f64::total_cmp);
    (1..bands)
        .map(|j| s[(j * s.len() / bands).min(s.len() - 1)])
        .collect()
}

/// The band of `v` given interior edges: the number of edges ≤ `v`.
pub fn band_of(v: f64, edges: &[f64]) -> usize {
    edges.partition_point(|e| *e <= v)
}

/// Resolves a band name or index for `bands` bands; `None` = all bands.
pub fn parse_band(name: &str, bands: usize) -> Result<Option<usize>> {
    let bad = |why: String| Err(DataError::Param(format!("band `{name}`: {why}")));
    let idx = match name {
        "" | "all" => return Ok(None),
        "easy" | "easiest" => 0,
        "hard" | "hardest" => bands.saturating_sub(1),
        "medium" => {
            if bands % 2 == 1 && bands >= 3 {
                bands / 2
            } else {
                return bad(format!(
                    "`medium` needs an odd number of bands ≥ 3, there are {bands} (use an index 0..{})",
                    bands.saturating_sub(1)
                ));
            }
        }
        other => match other.parse::<usize>() {
            Ok(i) => i,
            Err(_) => return bad("expected easy | medium | hard | all or a band index".into()),
        },
    };
    if idx >= bands {
        return bad(format!(
            "there are only {bands} bands (indices 0..{})",
            bands.saturating_sub(1)
        ));
    }
    Ok(Some(idx))
}

/// Orders candidate row positions by `strategy`. `strata[i]` is the stratum of row
/// position `i` (for `Stratified`).
pub fn order(
    candidates: &[usize],
    scores: &[Option<f64>],
    strata: Option<&[u32]>,
    strategy: Strategy,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    match strategy {
        Strategy::Random => {
            let mut v = candidates.to_vec();
            v.shuffle(rng);
            v
        }
        Strategy::Easiest | Strategy::Hardest => {
            let mut keyed: Vec<(f64, u64, usize)> = candidates
                .iter()
                .map(|&i| (scores[i].unwrap_or(f64::NAN), rng.random::<u64>(), i))
                .collect();
            if strategy == Strategy::Easiest {
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            } else {
                keyed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            }
            keyed.into_iter().map(|k| k.2).collect()
        }
        Strategy::Stratified => {
            let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
            for &i in candidates {
                groups
                    .entry(strata.map(|s| s[i]).unwrap_or(0))
                    .or_default()
                    .push(i);
            }
            let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
            for g in &mut groups {
                g.shuffle(rng);
            }
            let longest = groups.iter().map(Vec::len).max().unwrap_or(0);
            let mut out = Vec::with_capacity(candidates.len());
            for r in 0..longest {
                // A random stratum order per round, so remainders do not always favour
                // the same strata.
                let mut round: Vec<usize> = (0..groups.len()).filter(|&g| r < groups[g].len()).collect();
                round.shuffle(rng);
                out.extend(round.into_iter().map(|g| groups[g][r]));
            }
            out
        }
    }
}

/// The prefix of `ordered` that fits `budget`; returns the rows and the tokens used.
pub fn take_budget(ordered: &[usize], budget: Budget, tokens: Option<&[usize]>) -> (Vec<usize>, usize) {
    match (budget, tokens) {
        (Budget::Tokens(limit), Some(tok)) => {
            let mut used = 0usize;
            let mut out = Vec::new();
            for &i in ordered {
                if used + tok[i] > limit {
                    break;
                }
                used += tok[i];
                out.push(i);
            }
            (out, used)
        }
        (b, _) => {
            let k = b.amount().min(ordered.len());
            (ordered[..k].to_vec(), 0)
        }
    }
}

/// Selects rows from the scores artifact in `scored_dir` and writes them to `out` (a
/// Parquet dataset). `counter` measures tokens for token budgets.
pub fn select(
    scored_dir: &Path,
    out: &Path,
    opts: &SelectOptions,
    counter: &TokenCounter,
    mut check: impl FnMut() -> Result<()>,
) -> Result<SelectReport> {
    let scores = read_scores(scored_dir)?;
    let data = scored_dir.join(DATA_FILE);
    let n = io::parquet_num_rows(&data)?;
    if n != scores.ids.len() {
        return Err(DataError::invalid(
            scored_dir,
            format!(
                "scores.parquet has {} rows but data.parquet has {n}",
                scores.ids.len()
            ),
        ));
    }
    if n == 0 {
        return Err(DataError::Empty { path: data });
    }
    // Bands.
    let present: Vec<f64> = scores.scores.iter().flatten().copied().collect();
    if present.is_empty() {
        // Not "holds 0 rows": the rows are there, the scoring could not score any of them.
        return Err(DataError::Selection(format!(
            "0 of {n} rows have a score (method {}): every row of the scored dataset was unscorable, so there is nothing to select",
            scores.method
        )));
    }
    let (bands, row_band, edges): (usize, Vec<Option<usize>>, Vec<f64>) = match &opts.banding {
        Banding::Quantiles(b) => {
            let edges = quantile_edges(&present, *b);
            (
                *b,
                scores
                    .scores
                    .iter()
                    .map(|s| s.map(|v| band_of(v, &edges)))
                    .collect(),
                edges,
            )
        }
        Banding::Edges(e) => {
            if e.len() < 2 || e.windows(2).any(|w| w[0] >= w[1]) {
                return Err(DataError::Param(format!(
                    "`edges` must be ≥ 2 increasing numbers, got {e:?}"
                )));
            }
            let (lo, hi) = (e[0], e[e.len() - 1]);
            let interior = e[1..e.len() - 1].to_vec();
            let rb = scores
                .scores
                .iter()
                .map(|s| s.filter(|v| *v >= lo && *v <= hi).map(|v| band_of(v, &interior)))
                .collect();
            (e.len() - 1, rb, interior)
        }
        Banding::Buckets => {
            let max = scores.buckets.iter().flatten().copied().max();
            let Some(max) = max else {
                return Err(DataError::invalid(
                    &scored_dir.join(super::score::SCORES_FILE),
                    "column `bucket` is all null: score with `bands` or select with `bands` ≥ 1 / `edges`",
                ));
            };
            let rb = scores
                .buckets
                .iter()
                .zip(&scores.scores)
                .map(|(b, s)| b.filter(|b| *b >= 0 && s.is_some()).map(|b| b as usize))
                .collect();
            ((max + 1) as usize, rb, Vec::new())
        }
    };
    let band = parse_band(&opts.band, bands)?;
    let mut band_sizes = vec![0usize; bands];
    for b in row_band.iter().flatten() {
        if *b < bands {
            band_sizes[*b] += 1;
        }
    }
    let candidates: Vec<usize> = (0..n)
        .filter(|&i| {
            scores.scores[i].is_some() && row_band[i].is_some() && band.is_none_or(|b| row_band[i] == Some(b))
        })
        .collect();
    check()?;

    // Strata.
    let strata: Option<Vec<u32>> = match (opts.strategy, &opts.stratify_by) {
        (Strategy::Stratified, Some(col)) => Some(column_strata(&data, col)?),
        (Strategy::Stratified, None) => Some(
            row_band
                .iter()
                .map(|b| b.map(|b| b as u32).unwrap_or(u32::MAX))
                .collect(),
        ),
        _ => None,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    if !opts.nested {
        rng.set_stream(1 + opts.budget.amount() as u64);
    }
    let ordered = order(
        &candidates,
        &scores.scores,
        strata.as_deref(),
        opts.strategy,
        &mut rng,
    );
    let tokens = match opts.budget {
        Budget::Tokens(_) => Some(row_tokens(&data, counter, &mut check)?),
        Budget::Rows(_) => None,
    };
    let (chosen, used) = take_budget(&ordered, opts.budget, tokens.as_deref());
    let available = match (&tokens, opts.budget) {
        (Some(t), Budget::Tokens(_)) => candidates.iter().map(|&i| t[i]).sum::<usize>(),
        _ => candidates.len(),
    };
    let short = available < opts.budget.amount();
    if short && !opts.allow_short {
        let which = match band {
            Some(b) => {
                let range = match (b.checked_sub(1).and_then(|j| edges.get(j)), edges.get(b)) {
                    (Some(lo), Some(hi)) => format!(", scores in [{lo}, {hi})"),
                    (Some(lo), None) => format!(", scores ≥ {lo}"),
                    (None, Some(hi)) => format!(", scores < {hi}"),
                    (None, None) => String::new(),
                };
                format!("band `{}` (band {b} of {bands}{range})", opts.band)
            }
            None if present.len() < n => {
                format!(
                    "the scored dataset ({} of its {n} rows have a score)",
                    present.len()
                )
            }
            None => "the scored dataset".to_string(),
        };
        let (unit, what) = match opts.budget {
            Budget::Rows(_) => ("rows", candidates.len()),
            Budget::Tokens(_) => ("tokens", available),
        };
        return Err(DataError::Selection(format!(
            "{which} holds {what} {unit}, fewer than the budget of {} {unit} (pass `allow_short = true` to take them all)",
            opts.budget.amount()
        )));
    }
    // Write the chosen rows in dataset order.
    let mut keep = vec![false; n];
    for &i in &chosen {
        keep[i] = true;
    }
    let reader = io::open_parquet(&data, None)?;
    let mut sink = ParquetSink::create(out, reader.schema())?;
    let mut pos = 0usize;
    for batch in reader {
        check()?;
        let batch = batch?;
        let len = batch.num_rows();
        let ids = batch
            .column_by_name(ID)
            .map(|c| arrow::compute::cast(c, &DataType::Int64));
        if let Some(Ok(ids)) = ids {
            let ids = ids.as_primitive::<Int64Type>();
            if ids.values()[..] != scores.ids[pos..pos + len] {
                return Err(DataError::invalid(
                    scored_dir,
                    format!(
                        "ids of scores.parquet and data.parquet differ near row {pos}: not scores of this dataset"
                    ),
                ));
            }
        }
        let mask = BooleanArray::from(keep[pos..pos + len].to_vec());
        let filtered =
            arrow::compute::filter_record_batch(&batch, &mask).map_err(|e| DataError::arrow(&data, e))?;
        if filtered.num_rows() > 0 {
            sink.write(&filtered)?;
        }
        pos += len;
    }
    if sink.rows() == 0 {
        sink.write(&arrow::array::RecordBatch::new_empty(io::parquet_schema(&data)?))?;
    }
    let rows = sink.finish()?;
    Ok(SelectReport {
        rows,
        tokens: tokens.map(|_| used),
        candidates: candidates.len(),
        band_sizes,
        edges,
        band,
        short,
    })
}

/// Stratum index per row: the rank of the row's value of `col` among its distinct values
/// (nulls form their own stratum).
fn column_strata(data: &Path, col: &str) -> Result<Vec<u32>> {
    let mut values: Vec<Option<String>> = Vec::new();
    for batch in io::open_parquet(data, Some(&[col]))? {
        let batch = batch?;
        let c =
            arrow::compute::cast(batch.column(0), &DataType::Utf8).map_err(|_| DataError::ColumnType {
                path: data.to_path_buf(),
                column: col.to_string(),
                expected: "a column with values convertible to text".into(),
                found: format!("{}", batch.column(0).data_type()),
            })?;
        values.extend(c.as_string::<i32>().iter().map(|v| v.map(str::to_string)));
    }
    let mut distinct: Vec<&Option<String>> = values.iter().collect();
    distinct.sort();
    distinct.dedup();
    let index: BTreeMap<&Option<String>, u32> = distinct
        .into_iter()
        .enumerate()
        .map(|(i, v)| (v, i as u32))
        .collect();
    Ok(values.iter().map(|v| index[v]).collect())
}

/// Tokens of prompt + response per row.
fn row_tokens(
    data: &Path,
    counter: &TokenCounter,
    check: &mut impl FnMut() -> Result<()>,
) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for batch in io::open_parquet(data, Some(&[PROMPT, RESPONSE]))? {
        check()?;
        let batch = batch?;
        let mut cols = Vec::new();
        for name in [PROMPT, RESPONSE] {
            let c = batch
                .column_by_name(name)
                .ok_or_else(|| DataError::invalid(data, format!("no `{name}`")))?;
            cols.push(arrow::compute::cast(c, &DataType::Utf8).map_err(|e| DataError::arrow(data, e))?);
        }
        let (p, r) = (cols[0].as_string::<i32>(), cols[1].as_string::<i32>());
        for i in 0..batch.num_rows() {
            let mut t = 0;
            if p.is_valid(i) {
                t += counter.count(p.value(i))?;
            }
            if r.is_valid(i) {
                t += counter.count(r.value(i))?;
            }
            out.push(t);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::score::{Method, score_dataset};
    use crate::data::testutil::{col_f64, col_i64, col_str, read_all, small_dataset};
    use std::collections::{HashMap, HashSet};

    fn scored(n: usize, method: Method) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d.parquet");
        small_dataset(&data, n);
        let s = dir.path().join("scored");
        std::fs::create_dir(&s).unwrap();
        score_dataset(&data, &s, &method, &TokenCounter::Chars, 0, || Ok(())).unwrap();
        (dir, s)
    }

    fn opts(budget: usize) -> SelectOptions {
        SelectOptions {
            budget: Budget::Rows(budget),
            banding: Banding::Quantiles(3),
            band: "all".into(),
            strategy: Strategy::Random,
            stratify_by: None,
            nested: true,
            allow_short: false,
            seed: 1,
        }
    }

    fn run(s: &Path, o: &SelectOptions) -> Result<(SelectReport, arrow::array::RecordBatch)> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = s.parent().unwrap().join(format!("sel-{k}.parquet"));
        let r = select(s, &out, o, &TokenCounter::Chars, || Ok(()))?;
        Ok((r, read_all(&out)))
    }

    fn ids(b: &arrow::array::RecordBatch) -> HashSet<i64> {
        col_i64(b, "id").into_iter().flatten().collect()
    }

    #[test]
    fn exact_budget_nesting_and_seeds() {
        let (_d, s) = scored(3000, Method::Length);
        for strategy in [
            Strategy::Random,
            Strategy::Stratified,
            Strategy::Easiest,
            Strategy::Hardest,
        ] {
            let mut prev: Option<HashSet<i64>> = None;
            for budget in [10, 100, 400] {
                let o = SelectOptions {
                    strategy,
                    band: "hard".into(),
                    ..opts(budget)
                };
                let (r, b) = run(&s, &o).unwrap();
                assert_eq!(r.rows, budget);
                assert_eq!(b.num_rows(), budget);
                let now = ids(&b);
                if let Some(p) = prev {
                    assert!(p.is_subset(&now), "{strategy:?}: {budget} not nested");
                }
                prev = Some(now);
            }
        }
        let a = ids(&run(&s, &opts(200)).unwrap().1);
        let a2 = ids(&run(&s, &opts(200)).unwrap().1);
        let b = ids(&run(&s, &SelectOptions { seed: 2, ..opts(200) }).unwrap().1);
        assert_eq!(a, a2);
        assert_ne!(a, b);
        // Not nested: the small set is (almost surely) not inside the large one.
        let small = ids(&run(
            &s,
            &SelectOptions {
                nested: false,
                ..opts(100)
            },
        )
        .unwrap()
        .1);
        let large = ids(&run(
            &s,
            &SelectOptions {
                nested: false,
                ..opts(400)
            },
        )
        .unwrap()
        .1);
        assert!(!small.is_subset(&large));
    }

    #[test]
    fn band_boundaries_and_directions() {
        let (_d, s) = scored(999, Method::Column("difficulty".into()));
        let all = read_scores(&s).unwrap();
        let present: Vec<f64> = all.scores.iter().flatten().copied().collect();
        let edges = quantile_edges(&present, 3);
        assert_eq!(edges.len(), 2);
        for (bi, name) in ["easy", "medium", "hard"].iter().enumerate() {
            let o = SelectOptions {
                band: name.to_string(),
                allow_short: true,
                ..opts(100_000)
            };
            let (r, b) = run(&s, &o).unwrap();
            assert!(r.short);
            assert_eq!(r.rows, r.band_sizes[bi]);
            for v in col_f64(&b, "difficulty") {
                let v = v.expect("null-score rows are never selected");
                assert_eq!(band_of(v, &edges), bi);
                if bi > 0 {
                    assert!(v >= edges[bi - 1]);
                }
                if bi < 2 {
                    assert!(v < edges[bi]);
                }
            }
        }
        // Explicit edges: [2, 5) and [5, 8].
        let o = SelectOptions {
            banding: Banding::Edges(vec![2.0, 5.0, 8.0]),
            band: "1".into(),
            ..opts(50)
        };
        let (_, b) = run(&s, &o).unwrap();
        assert!(
            col_f64(&b, "difficulty")
                .iter()
                .flatten()
                .all(|v| (5.0..=8.0).contains(v))
        );
        // Hardest takes the top scores, easiest the bottom.
        let (_, b) = run(
            &s,
            &SelectOptions {
                strategy: Strategy::Hardest,
                ..opts(50)
            },
        )
        .unwrap();
        assert!(col_f64(&b, "difficulty").iter().flatten().all(|v| *v == 8.0));
        let (_, b) = run(
            &s,
            &SelectOptions {
                strategy: Strategy::Easiest,
                ..opts(50)
            },
        )
        .unwrap();
        assert!(col_f64(&b, "difficulty").iter().flatten().all(|v| *v == 0.0));
    }

    #[test]
    fn stratified_is_balanced() {
        let (_d, s) = scored(3000, Method::Length);
        let o = SelectOptions {
            strategy: Strategy::Stratified,
            stratify_by: Some("src".into()),
            ..opts(301)
        };
        let (_, b) = run(&s, &o).unwrap();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for v in col_str(&b, "src") {
            *counts.entry(v.unwrap()).or_default() += 1;
        }
        assert_eq!(counts.len(), 3);
        assert!(counts.values().all(|&c| c == 100 || c == 101), "{counts:?}");
        // Over bands.
        let o = SelectOptions {
            strategy: Strategy::Stratified,
            ..opts(90)
        };
        let (r, b) = run(&s, &o).unwrap();
        let scores = col_str(&b, "prompt");
        assert_eq!(scores.len(), 90);
        let edges = r.edges.clone();
        let all = read_scores(&s).unwrap();
        let by_id: HashMap<i64, f64> = all
            .ids
            .iter()
            .zip(&all.scores)
            .map(|(i, s)| (*i, s.unwrap()))
            .collect();
        let mut per_band = [0usize; 3];
        for id in ids(&b) {
            per_band[band_of(by_id[&id], &edges)] += 1;
        }
        assert_eq!(per_band, [30, 30, 30]);
    }

    #[test]
    fn token_budget_and_errors() {
        let (_d, s) = scored(500, Method::Length);
        let o = SelectOptions {
            budget: Budget::Tokens(1000),
            ..opts(0)
        };
        let (r, b) = run(&s, &o).unwrap();
        let used: usize = col_str(&b, "prompt")
            .iter()
            .zip(col_str(&b, "response"))
            .map(|(p, r)| p.as_ref().map_or(0, |p| p.chars().count()) + r.map_or(0, |r| r.len()))
            .sum();
        assert_eq!(r.tokens, Some(used));
        assert!(used <= 1000 && used > 950, "{used}");

        let e = run(
            &s,
            &SelectOptions {
                band: "hard".into(),
                ..opts(10_000)
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("band `hard` (band 2 of 3") && e.contains("allow_short"),
            "{e}"
        );
        assert!(parse_band("medium", 4).is_err());
        assert!(parse_band("5", 3).is_err());
        assert!(parse_band("oops", 3).is_err());
        assert_eq!(parse_band("hard", 4).unwrap(), Some(3));
        assert!(Strategy::parse("best").is_err());
        let e = run(
            &s,
            &SelectOptions {
                banding: Banding::Buckets,
                ..opts(1)
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("bucket"), "{e}");
        let e = run(
            &s,
            &SelectOptions {
                banding: Banding::Edges(vec![3.0, 1.0]),
                ..opts(1)
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("edges"), "{e}");
        let e = run(
            &s,
            &SelectOptions {
                strategy: Strategy::Stratified,
                stratify_by: Some("zz".into()),
                ..opts(1)
            },
        )
        .unwrap_err();
        assert!(matches!(e, DataError::MissingColumn { .. }), "{e}");
    }

    #[test]
    fn unscored_rows_are_named_as_such() {
        // cot_length leaves the 20 rows without a response (every fifth) unscored.
        let (_d, s) = scored(100, Method::CotLength);
        let e = run(&s, &opts(90)).unwrap_err().to_string();
        assert!(
            e.contains("the scored dataset (80 of its 100 rows have a score) holds 80 rows, fewer than the budget of 90"),
            "{e}"
        );
        // A scoring that scored no row at all: the rows exist, the scores do not.
        let all = read_scores(&s).unwrap();
        let none = vec![None; all.ids.len()];
        let dir = s.parent().unwrap().join("unscored");
        std::fs::create_dir(&dir).unwrap();
        super::super::score::write_scores(&dir, &s.join(DATA_FILE), &all.ids, &none, "pass_rate(2)", 0)
            .unwrap();
        let e = run(&dir, &opts(10)).unwrap_err().to_string();
        assert!(
            e.contains("0 of 100 rows have a score (method pass_rate(2))") && !e.contains("holds 0 rows"),
            "{e}"
        );
    }
}
