//! Evaluation library: answer extraction from model outputs, correctness checks and the
//! aggregate metrics (exact match, pass@k, avg@k), overall and sliced by a column.
//!
//! Invariants: extraction and comparison are pure string functions (no model here);
//! pass@k uses the unbiased estimator of Chen et al. 2021 (Codex, Eq. 1) over the `n`
//! samples drawn per prompt; avg@k is the mean correctness over those samples; slices
//! are reported in ascending order of their key (numeric when every key is a number).
//! Model-based difficulty scores (loss, IFD, pass rate) live in the `sieve-torch` crate.

use std::collections::BTreeMap;

/// How a prediction is compared with the gold answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// The final answer equals the gold answer after trimming whitespace. The final answer
    /// is the rest of the line after the last `Answer:` marker (the convention of every
    /// built-in generator's worked solutions), or the whole output when it has none.
    ExactMatch,
    /// The last `\boxed{…}` of the output equals the answer (both normalised).
    Boxed,
    /// The last number in the output equals the answer numerically.
    LastNumber,
    /// Normalised strings (lower case, no punctuation / articles / extra spaces) are equal.
    Normalized,
    /// The normalised answer occurs in the normalised output (RULER / MemAgent scoring).
    Contains,
}

/// Names accepted by [`Metric::parse`].
pub const METRICS: &[&str] = &["exact_match", "boxed", "last_number", "normalized", "contains"];

impl Metric {
    /// The metric's name (as in [`METRICS`]).
    pub fn name(self) -> &'static str {
        match self {
            Metric::ExactMatch => "exact_match",
            Metric::Boxed => "boxed",
            Metric::LastNumber => "last_number",
            Metric::Normalized => "normalized",
            Metric::Contains => "contains",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "exact_match" => Metric::ExactMatch,
            "boxed" => Metric::Boxed,
            "last_number" => Metric::LastNumber,
            "normalized" => Metric::Normalized,
            "contains" => Metric::Contains,
            _ => return None,
        })
    }

    /// The part of `output` this metric compares (for the per-example table).
    pub fn extract(self, output: &str) -> Option<String> {
        match self {
            Metric::ExactMatch => Some(final_answer(output).to_string()),
            Metric::Boxed => last_boxed(output),
            Metric::LastNumber => last_number(output),
            Metric::Normalized | Metric::Contains => Some(normalize(output)),
        }
    }

    /// Whether `output` is correct for `gold`.
    pub fn is_correct(self, output: &str, gold: &str) -> bool {
        match self {
            Metric::ExactMatch => final_answer(output) == final_answer(gold),
            Metric::Boxed => {
                let g = last_boxed(gold).unwrap_or_else(|| gold.to_string());
                last_boxed(output).is_some_and(|p| normalize(&p) == normalize(&g) || numbers_equal(&p, &g))
            }
            Metric::LastNumber => {
                let g = last_number(gold).unwrap_or_else(|| gold.trim().to_string());
                last_number(output).is_some_and(|p| numbers_equal(&p, &g))
            }
            Metric::Normalized => normalize(output) == normalize(gold),
            Metric::Contains => {
                let g = normalize(gold);
                !g.is_empty() && normalize(output).contains(&g)
            }
        }
    }
}

/// The marker that introduces a final answer in worked solutions.
pub const ANSWER_MARKER: &str = "Answer:";

/// The text after the last `Answer:` up to the end of its line, trimmed; the whole
/// output, trimmed, when there is no marker.
pub fn final_answer(output: &str) -> &str {
    match output.rfind(ANSWER_MARKER) {
        Some(i) => {
            let rest = &output[i + ANSWER_MARKER.len()..];
            rest.lines().next().unwrap_or("").trim()
        }
        None => output.trim(),
    }
}

/// The content of the last `\boxed{…}` (or `\fbox{…}`), braces balanced.
pub fn last_boxed(s: &str) -> Option<String> {
    let start = s.rfind("\\boxed").or_else(|| s.rfind("\\fbox"))?;
    let rest = &s[start..];
    let open = rest.find('{')?;
    let mut depth = 0usize;
    for (i, c) in rest[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(rest[open + 1..open + i].trim().to_string());
                }
            }
            _ => {}
        }
    }
    None
}

/// The last number in `s` (optional sign, thousands separators removed, decimals kept).
pub fn last_number(s: &str) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut end = chars.len();
    while end > 0 {
        if chars[end - 1].is_ascii_digit() {
            let mut start = end;
            while start > 0
                && (chars[start - 1].is_ascii_digit() || chars[start - 1] == ',' || chars[start - 1] == '.')
            {
                start -= 1;
            }
            while start < end && !chars[start].is_ascii_digit() {
                start += 1;
            }
            let mut num: String = chars[start..end].iter().filter(|&&c| c != ',').collect();
            if start > 0 && chars[start - 1] == '-' {
                num.insert(0, '-');
            }
            return Some(num);
        }
        end -= 1;
    }
    None
}

fn numbers_equal(a: &str, b: &str) -> bool {
    let clean = |s: &str| s.trim().replace(',', "").trim_end_matches('.').to_string();
    let (a, b) = (clean(a), clean(b));
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// SQuAD-style normalisation: lower case, punctuation removed, articles dropped,
/// whitespace collapsed.
pub fn normalize(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() {
                c
            } else {
                ' '
            }
        })
        .collect();
    lower
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Unbiased pass@k from `n` samples of which `c` are correct: `1 − C(n−c, k) / C(n, k)`.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    if k == 0 || n == 0 {
        return 0.0;
    }
    let k = k.min(n);
    if n - c < k {
        return 1.0;
    }
    // C(n−c, k)/C(n, k) = Π_{i=n−c+1}^{n} (1 − k/i), numerically stable.
    let mut prod = 1.0;
    for i in (n - c + 1)..=n {
        prod *= 1.0 - k as f64 / i as f64;
    }
    1.0 - prod
}

/// Aggregates of a set of prompts, each with `n` judged samples.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Prompts counted.
    pub n: usize,
    /// Mean correctness over all samples (= exact-match accuracy for one greedy sample).
    pub accuracy: f64,
    /// Unbiased pass@k.
    pub pass_at_k: f64,
    /// Mean correctness of the samples (avg@k).
    pub avg_at_k: f64,
    pub k: usize,
}

/// Summarises per-prompt correctness lists (`samples[p]` = correctness of prompt p's samples).
pub fn summarize(samples: &[Vec<bool>], k: usize) -> Summary {
    let n = samples.len();
    if n == 0 {
        return Summary {
            n: 0,
            accuracy: 0.0,
            pass_at_k: 0.0,
            avg_at_k: 0.0,
            k,
        };
    }
    let avg: f64 = samples
        .iter()
        .map(|s| {
            if s.is_empty() {
                0.0
            } else {
                s.iter().filter(|&&b| b).count() as f64 / s.len() as f64
            }
        })
        .sum::<f64>()
        / n as f64;
    let pass: f64 = samples
        .iter()
        .map(|s| pass_at_k(s.len(), s.iter().filter(|&&b| b).count(), k))
        .sum::<f64>()
        / n as f64;
    Summary {
        n,
        accuracy: avg,
        pass_at_k: pass,
        avg_at_k: avg,
        k,
    }
}

/// Summaries per slice key (`keys[p]` is prompt p's value of the slicing column), in
/// ascending key order (numeric when all keys parse as numbers).
pub fn summarize_by(samples: &[Vec<bool>], keys: &[String], k: usize) -> Vec<(String, Summary)> {
    let mut groups: BTreeMap<String, Vec<Vec<bool>>> = BTreeMap::new();
    for (s, key) in samples.iter().zip(keys) {
        groups.entry(key.clone()).or_default().push(s.clone());
    }
    let mut out: Vec<(String, Summary)> = groups
        .into_iter()
        .map(|(key, g)| (key, summarize(&g, k)))
        .collect();
    if out.iter().all(|(key, _)| key.parse::<f64>().is_ok()) {
        out.sort_by(|a, b| {
            a.0.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.0.parse::<f64>().unwrap_or(0.0))
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extraction() {
        assert_eq!(
            last_boxed(r"so \boxed{\frac{1}{2}} and \boxed{42}."),
            Some("42".into())
        );
        assert_eq!(last_boxed(r"\boxed{\frac{1}{2}}"), Some(r"\frac{1}{2}".into()));
        assert_eq!(last_boxed("no box"), None);
        assert_eq!(last_number("x = 3, y = -1,234.5."), Some("-1234.5".into()));
        assert_eq!(last_number("none"), None);
        assert_eq!(normalize("The  Answer: Paris!"), "answer paris");
    }

    #[test]
    fn metrics() {
        assert!(Metric::ExactMatch.is_correct(" 57\n", "57"));
        assert!(Metric::ExactMatch.is_correct("7+8=15, write 5\nAnswer: 57\n", "57"));
        assert!(!Metric::ExactMatch.is_correct("Answer: 5\nAnswer: 58", "57"));
        assert!(!Metric::ExactMatch.is_correct("carry 1\nAnswer: ", "57"));
        assert!(!Metric::ExactMatch.is_correct("57 apples", "57"));
        assert!(Metric::LastNumber.is_correct("so it is 57.", "57"));
        assert!(Metric::LastNumber.is_correct("= 1,000", "1000.0"));
        assert!(Metric::Boxed.is_correct(r"\boxed{ 7 }", "7"));
        assert!(Metric::Boxed.is_correct(r"\boxed{7}", r"\boxed{7.0}"));
        assert!(Metric::Contains.is_correct("it was the Eiffel Tower.", "eiffel tower"));
        assert!(Metric::Normalized.is_correct("The Eiffel tower", "eiffel Tower."));
    }

    #[test]
    fn pass_at_k_estimator() {
        assert_eq!(pass_at_k(4, 0, 1), 0.0);
        assert_eq!(pass_at_k(4, 4, 2), 1.0);
        assert!((pass_at_k(4, 1, 1) - 0.25).abs() < 1e-12);
        // 1 − C(3,2)/C(4,2) = 1 − 3/6.
        assert!((pass_at_k(4, 1, 2) - 0.5).abs() < 1e-12);
        let s = summarize(&[vec![true, false], vec![false, false]], 2);
        assert_eq!((s.avg_at_k, s.pass_at_k), (0.25, 0.5));
        let by = summarize_by(
            &[vec![true], vec![false], vec![true]],
            &["10".into(), "9".into(), "10".into()],
            1,
        );
        assert_eq!(by[0].0, "9");
        assert_eq!(by[1].1.accuracy, 1.0);
    }
}
