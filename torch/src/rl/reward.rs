//! Rewards of sampled responses: correctness under any `evaluate` metric as a 0/1
//! accuracy mapped to the run's reward values, an optional format reward, and DAPO's
//! overlong shaping.
//!
//! `reward = (acc ? correct : incorrect) + format_weight · format_ok + overlong_penalty`
//!
//! Invariants:
//! - correctness is [`Metric::is_correct`] on the response's last `tail_chars`
//!   characters (0: all of it) — `math_dapo.compute_score` and MemAgent's verifier both
//!   read `solution_str[-300:]`, which keeps a long chain of thought's earlier numbers
//!   and boxes from being taken for the answer;
//! - a gold that is a JSON array of strings (how `load` renders a list column, e.g.
//!   RULER's `answers`) means "any of": the response is correct when it matches one of
//!   them. Any other gold, including a JSON array of numbers such as an interval
//!   `[1, 2]`, is one answer;
//! - `acc` is always the plain 0/1 correctness, whatever the reward values and shaping,
//!   so accuracy can be logged next to the shaped reward;
//! - the overlong penalty follows verl's `DAPORewardManager`: with limit `L_max`,
//!   buffer `B` and factor `α`, a response of `L` tokens gets
//!   `min(−(L − (L_max − B)) / B · α, 0)`: 0 up to `L_max − B` tokens, then linear down
//!   to `−α` at `L_max`. `L` counts every generated token, a final stop id included
//!   (verl sums the response's attention mask, which covers the EOS token). TRL's soft
//!   overlong punishment is the same function up to `L_max`; the two differ only beyond
//!   it, which a generation capped at `L_max` never reaches.

use super::RlError;
use sieve::eval::{self, Metric};

/// The reward of a correct and of an incorrect response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RewardValues {
    pub correct: f64,
    pub incorrect: f64,
}

impl RewardValues {
    /// `1` / `0`: verl's and TRL's accuracy rewards.
    pub const ZERO_ONE: RewardValues = RewardValues {
        correct: 1.0,
        incorrect: 0.0,
    };
    /// `1` / `−1`: DAPO's `math_dapo.compute_score`.
    pub const PLUS_MINUS_ONE: RewardValues = RewardValues {
        correct: 1.0,
        incorrect: -1.0,
    };
}

/// What a well-formatted response looks like.
#[derive(Debug, Clone, PartialEq)]
pub enum FormatRule {
    /// The metric can read an answer from the response (the same tail it judges): an
    /// `Answer:` line with something on it (exact match), a `\boxed{…}` with content
    /// (boxed), a number (last number), any word (normalized, contains).
    Extractable,
    /// These strings occur in the whole response in this order, without overlapping
    /// (e.g. `["<think>", "</think>"]`).
    Markers(Vec<String>),
}

/// A reward for the response's form, independent of its correctness.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatReward {
    pub rule: FormatRule,
    /// Added to the reward when the rule holds (0 when it does not).
    pub weight: f64,
}

/// DAPO's soft overlong punishment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overlong {
    /// `L_max`: the generation limit in tokens (`max_new_tokens`).
    pub max_tokens: usize,
    /// `B`: the penalty ramps over the last `buffer` tokens of `max_tokens`.
    pub buffer: usize,
    /// `α`: the penalty at `max_tokens`, negated.
    pub factor: f64,
}

impl Overlong {
    /// The shaping for `max_tokens` / `buffer` / `factor`, checked: the buffer lies
    /// inside the limit and the factor is a finite non-negative number.
    pub fn new(max_tokens: usize, buffer: usize, factor: f64) -> Result<Overlong, RlError> {
        if buffer == 0 || buffer >= max_tokens {
            return Err(RlError::Invalid(format!(
                "overlong_buffer must be between 1 and max_new_tokens - 1 (= {}), got {buffer}",
                max_tokens.saturating_sub(1)
            )));
        }
        if !(factor.is_finite() && factor >= 0.0) {
            return Err(RlError::Invalid(format!(
                "overlong_factor must be a finite number ≥ 0, got {factor}"
            )));
        }
        Ok(Overlong {
            max_tokens,
            buffer,
            factor,
        })
    }

    /// The (non-positive) penalty of a response of `tokens` generated tokens.
    pub fn penalty(&self, tokens: usize) -> f64 {
        let expected = self.max_tokens as f64 - self.buffer as f64;
        let exceed = tokens as f64 - expected;
        (-exceed / self.buffer as f64 * self.factor).min(0.0)
    }
}

/// How a response is scored.
#[derive(Debug, Clone, PartialEq)]
pub struct RewardConfig {
    pub metric: Metric,
    /// Only the last `tail_chars` characters are judged; 0 judges the whole response.
    pub tail_chars: usize,
    pub values: RewardValues,
    pub format: Option<FormatReward>,
    pub overlong: Option<Overlong>,
}

impl RewardConfig {
    /// `metric` as a plain 0/1 reward on the whole response: no format reward, no shaping.
    pub fn accuracy(metric: Metric) -> RewardConfig {
        RewardConfig {
            metric,
            tail_chars: 0,
            values: RewardValues::ZERO_ONE,
            format: None,
            overlong: None,
        }
    }

    /// Scores `response` (`tokens` generated tokens) against `gold`.
    pub fn score(&self, response: &str, gold: &str, tokens: usize) -> Scored {
        let judged = tail(response, self.tail_chars);
        let correct = golds(gold).iter().any(|g| self.metric.is_correct(judged, g));
        let format_ok = self.format.as_ref().map(|f| match &f.rule {
            FormatRule::Extractable => extractable(self.metric, judged),
            FormatRule::Markers(m) => markers_in_order(response, m),
        });
        let overlong = self.overlong.map_or(0.0, |o| o.penalty(tokens));
        let mut reward = if correct {
            self.values.correct
        } else {
            self.values.incorrect
        };
        if let (Some(f), Some(true)) = (&self.format, format_ok) {
            reward += f.weight;
        }
        reward += overlong;
        Scored {
            acc: if correct { 1.0 } else { 0.0 },
            format_ok,
            overlong,
            reward,
        }
    }
}

/// The score of one response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// 1 when correct, 0 otherwise.
    pub acc: f64,
    /// Whether the format rule holds (None without a format reward).
    pub format_ok: Option<bool>,
    /// The overlong penalty included in `reward` (0 without shaping).
    pub overlong: f64,
    /// The shaped reward.
    pub reward: f64,
}

/// The last `chars` characters of `s` (all of it when `chars` is 0 or `s` is shorter).
/// Characters, not bytes: Python's `s[-300:]`.
pub fn tail(s: &str, chars: usize) -> &str {
    if chars == 0 {
        return s;
    }
    match s.char_indices().rev().nth(chars - 1) {
        Some((i, _)) => &s[i..],
        None => s,
    }
}

/// The gold answers `gold` stands for: the strings of a JSON array of strings, else
/// `gold` itself.
pub fn golds(gold: &str) -> Vec<String> {
    let t = gold.trim();
    if t.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(t)
    {
        return list;
    }
    vec![gold.to_string()]
}

/// Whether `metric` can read an answer from `output` at all.
fn extractable(metric: Metric, output: &str) -> bool {
    match metric {
        // `final_answer` falls back to the whole output; a format reward asks for the
        // marker itself.
        Metric::ExactMatch => output.contains(eval::ANSWER_MARKER) && !eval::final_answer(output).is_empty(),
        _ => metric.extract(output).is_some_and(|a| !a.is_empty()),
    }
}

/// Whether `markers` occur in `s` in order, each after the end of the previous one.
fn markers_in_order(s: &str, markers: &[String]) -> bool {
    let mut rest = s;
    for m in markers {
        match rest.find(m.as_str()) {
            Some(i) => rest = &rest[i + m.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(metric: Metric, response: &str, gold: &str) -> f64 {
        RewardConfig::accuracy(metric).score(response, gold, 1).acc
    }

    #[test]
    fn every_evaluate_metric_is_a_zero_one_reward() {
        let cases = [
            (Metric::ExactMatch, "3 + 4 = 7\nAnswer: 7", "7", 1.0),
            (Metric::ExactMatch, "3 + 4 = 7\nAnswer: 8", "7", 0.0),
            (Metric::ExactMatch, "Answer: 12\n", "Answer: 12", 1.0),
            (Metric::Boxed, "so it is \\boxed{ 12 }.", "12.0", 1.0),
            (Metric::Boxed, "so it is 12", "12", 0.0),
            (Metric::LastNumber, "the sum is 1,234.", "1234", 1.0),
            (Metric::LastNumber, "1234 then 5", "1234", 0.0),
            (Metric::Normalized, "The Eiffel Tower!", "eiffel tower", 1.0),
            (Metric::Normalized, "Eiffel Tower in Paris", "eiffel tower", 0.0),
            (Metric::Contains, "I think it is Paris, France", "paris", 1.0),
            (Metric::Contains, "I think it is Lyon", "paris", 0.0),
        ];
        for (metric, response, gold, want) in cases {
            assert_eq!(
                acc(metric, response, gold),
                want,
                "{metric:?} {response:?} {gold:?}"
            );
        }
        // Every metric `evaluate` offers is covered.
        for name in eval::METRICS {
            let m = Metric::parse(name).unwrap();
            assert!(cases.iter().any(|c| c.0 == m && c.3 == 1.0), "{name}");
        }
    }

    #[test]
    fn a_json_list_of_strings_is_any_of_and_other_golds_are_one_answer() {
        let gold = r#"["Paris", "Lyon"]"#;
        assert_eq!(golds(gold), vec!["Paris", "Lyon"]);
        assert_eq!(acc(Metric::Contains, "it is lyon", gold), 1.0);
        assert_eq!(acc(Metric::Contains, "it is nice", gold), 0.0);
        // An interval is an answer, not a list of alternatives.
        assert_eq!(golds("[1, 2]"), vec!["[1, 2]"]);
        assert_eq!(acc(Metric::Normalized, "1 2", "[1, 2]"), 1.0);
        assert_eq!(acc(Metric::ExactMatch, "Answer: [1, 2]", "[1, 2]"), 1.0);
        assert_eq!(acc(Metric::ExactMatch, "Answer: 1", "[1, 2]"), 0.0);
    }

    #[test]
    fn only_the_tail_is_judged() {
        let long = format!("Answer: 7\n{}", "x".repeat(400));
        let mut cfg = RewardConfig::accuracy(Metric::ExactMatch);
        assert_eq!(cfg.score(&long, "7", 1).acc, 1.0);
        cfg.tail_chars = 300;
        assert_eq!(cfg.score(&long, "7", 1).acc, 0.0);
        // The tail is counted in characters (each `é` is two bytes).
        let mut cfg = RewardConfig::accuracy(Metric::Boxed);
        let text = format!("\\boxed{{5}}{}", "é".repeat(295));
        assert_eq!(cfg.score(&text, "5", 1).acc, 1.0);
        cfg.tail_chars = 304;
        assert_eq!(cfg.score(&text, "5", 1).acc, 1.0);
        cfg.tail_chars = 303;
        assert_eq!(cfg.score(&text, "5", 1).acc, 0.0);
        assert_eq!(tail("aébc", 3), "ébc");
        assert_eq!(tail("abc", 5), "abc");
        assert_eq!(tail("abc", 0), "abc");
    }

    #[test]
    fn reward_values_map_accuracy() {
        let cfg = RewardConfig {
            values: RewardValues::PLUS_MINUS_ONE,
            ..RewardConfig::accuracy(Metric::LastNumber)
        };
        let right = cfg.score("= 9", "9", 3);
        let wrong = cfg.score("= 8", "9", 3);
        assert_eq!((right.acc, right.reward), (1.0, 1.0));
        assert_eq!((wrong.acc, wrong.reward), (0.0, -1.0));
    }

    #[test]
    fn format_reward_checks_the_form_not_the_answer() {
        let fmt = |metric, rule| RewardConfig {
            format: Some(FormatReward { rule, weight: 0.5 }),
            ..RewardConfig::accuracy(metric)
        };
        let boxed = fmt(Metric::Boxed, FormatRule::Extractable);
        // Well-formed and wrong: 0 + 0.5; badly formed: 0; well-formed and right: 1.5.
        assert_eq!(boxed.score("\\boxed{3}", "4", 1).reward, 0.5);
        assert_eq!(boxed.score("\\boxed{3}", "4", 1).format_ok, Some(true));
        assert_eq!(boxed.score("3", "3", 1).reward, 0.0);
        assert_eq!(boxed.score("\\boxed{}", "4", 1).format_ok, Some(false));
        assert_eq!(boxed.score("\\boxed{4}", "4", 1).reward, 1.5);
        let exact = fmt(Metric::ExactMatch, FormatRule::Extractable);
        assert_eq!(exact.score("7", "7", 1).format_ok, Some(false));
        assert_eq!(exact.score("so\nAnswer: 7", "8", 1).format_ok, Some(true));
        assert_eq!(exact.score("Answer:   \n", "8", 1).format_ok, Some(false));
        let number = fmt(Metric::LastNumber, FormatRule::Extractable);
        assert_eq!(number.score("no digits", "1", 1).format_ok, Some(false));
        assert_eq!(number.score("a 2", "1", 1).format_ok, Some(true));
        let tags = fmt(
            Metric::ExactMatch,
            FormatRule::Markers(vec!["<think>".into(), "</think>".into()]),
        );
        assert_eq!(tags.score("<think>a</think>Answer: 1", "1", 1).reward, 1.5);
        assert_eq!(tags.score("</think><think>Answer: 1", "1", 1).reward, 1.0);
        assert_eq!(tags.score("<think>Answer: 1", "2", 1).format_ok, Some(false));
        assert_eq!(
            RewardConfig::accuracy(Metric::Boxed).score("x", "y", 1).format_ok,
            None
        );
    }

    #[test]
    fn overlong_shaping_ramps_over_the_buffer() {
        // L_max = 20, B = 5, α = 1: no penalty up to 15 tokens, −1 at 20.
        let o = Overlong::new(20, 5, 1.0).unwrap();
        for (len, want) in [(0, 0.0), (10, 0.0), (15, 0.0), (16, -0.2), (18, -0.6), (20, -1.0)] {
            assert!((o.penalty(len) - want).abs() < 1e-12, "{len}: {}", o.penalty(len));
        }
        // verl's formula keeps going past L_max (a capped generation never gets there).
        assert!((o.penalty(21) + 1.2).abs() < 1e-12);
        let half = Overlong::new(20, 5, 0.5).unwrap();
        assert!((half.penalty(18) + 0.3).abs() < 1e-12);
        // The DAPO script's geometry: L_max = 20480, B = 4096.
        let dapo = Overlong::new(20480, 4096, 1.0).unwrap();
        assert_eq!(dapo.penalty(16384), 0.0);
        assert_eq!(dapo.penalty(18432), -0.5);
        // Shaping adds to the correctness reward and is reported apart.
        let cfg = RewardConfig {
            overlong: Some(o),
            ..RewardConfig::accuracy(Metric::ExactMatch)
        };
        let s = cfg.score("Answer: 3", "3", 18);
        assert_eq!(s.acc, 1.0);
        assert!(
            (s.overlong + 0.6).abs() < 1e-12 && (s.reward - 0.4).abs() < 1e-12,
            "{s:?}"
        );
    }

    #[test]
    fn overlong_settings_are_checked() {
        for (max, buffer, factor) in [
            (20, 0, 1.0),
            (20, 20, 1.0),
            (20, 25, 1.0),
            (20, 5, -1.0),
            (20, 5, f64::NAN),
        ] {
            let e = Overlong::new(max, buffer, factor).unwrap_err().to_string();
            assert!(e.contains("overlong_"), "{e}");
        }
        let e = Overlong::new(20, 20, 1.0).unwrap_err().to_string();
        assert!(
            e.contains("between 1 and max_new_tokens - 1 (= 19), got 20"),
            "{e}"
        );
    }
}
