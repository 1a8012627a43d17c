//! Loss aggregation: how per-token losses of a mini-batch are summed into one number,
//! expressed as a weight per sequence that every response token of the sequence gets.
//!
//! With `S` sequences counted in the mini-batch, `n_s` response tokens in sequence `s`,
//! `N = Σ n_s` and `L_max` the generation limit:
//!
//! | [`LossAgg`] | weight of each token of `s` | reference |
//! |---|---|---|
//! | `token_mean` | `1 / N` | verl `token-mean`; TRL `loss_type = "dapo"` (DAPO's token-level loss) |
//! | `seq_mean_token_mean` | `1 / (S · n_s)` | verl `seq-mean-token-mean`; TRL `"grpo"` (the original GRPO) |
//! | `seq_mean_token_sum` | `1 / S` | verl `seq-mean-token-sum` |
//! | `dr_grpo` | `1 / (S · L_max)` | Dr.GRPO; TRL `"dr_grpo"` (verl's `seq-mean-token-sum-norm` omits the `1/S`: a learning-rate rescale) |
//!
//! Invariants:
//! - weights are computed on the host from the *whole* mini-batch before its first
//!   micro-batch runs, so splitting a mini-batch into micro-batches changes the memory,
//!   never the objective (verl's legacy actor token-means each micro-batch instead);
//! - a sequence that is not counted (a truncated response under `mask_truncated`) gets
//!   weight 0 and is left out of `S` and `N`, as if it were not in the mini-batch; it
//!   still took part in its group's advantage baseline. A sequence without response
//!   tokens is not counted either.

use super::RlError;

/// How per-token losses are aggregated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossAgg {
    TokenMean,
    SeqMeanTokenMean,
    SeqMeanTokenSum,
    DrGrpo,
}

/// Names accepted by [`LossAgg::parse`].
pub const LOSS_AGGS: &[&str] = &[
    "token_mean",
    "seq_mean_token_mean",
    "seq_mean_token_sum",
    "dr_grpo",
];

impl LossAgg {
    pub fn name(self) -> &'static str {
        match self {
            LossAgg::TokenMean => "token_mean",
            LossAgg::SeqMeanTokenMean => "seq_mean_token_mean",
            LossAgg::SeqMeanTokenSum => "seq_mean_token_sum",
            LossAgg::DrGrpo => "dr_grpo",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "token_mean" => LossAgg::TokenMean,
            "seq_mean_token_mean" => LossAgg::SeqMeanTokenMean,
            "seq_mean_token_sum" => LossAgg::SeqMeanTokenSum,
            "dr_grpo" => LossAgg::DrGrpo,
            _ => return None,
        })
    }

    /// The token weight of every sequence of a mini-batch: sequence `s` has `targets[s]`
    /// response tokens and is counted when `counted[s]`; `max_new_tokens` is `L_max`
    /// (used by `dr_grpo` only, which refuses 0).
    pub fn sequence_weights(
        self,
        targets: &[usize],
        counted: &[bool],
        max_new_tokens: usize,
    ) -> Result<Vec<f64>, RlError> {
        assert_eq!(targets.len(), counted.len(), "one flag per sequence");
        if self == LossAgg::DrGrpo && max_new_tokens == 0 {
            return Err(RlError::Invalid(
                "loss_agg = \"dr_grpo\" divides by max_new_tokens, which is 0".into(),
            ));
        }
        let live = |s: usize| counted[s] && targets[s] > 0;
        let seqs = (0..targets.len()).filter(|&s| live(s)).count() as f64;
        let tokens: usize = (0..targets.len()).filter(|&s| live(s)).map(|s| targets[s]).sum();
        Ok((0..targets.len())
            .map(|s| {
                if !live(s) {
                    return 0.0;
                }
                match self {
                    LossAgg::TokenMean => 1.0 / tokens as f64,
                    LossAgg::SeqMeanTokenMean => 1.0 / (seqs * targets[s] as f64),
                    LossAgg::SeqMeanTokenSum => 1.0 / seqs,
                    LossAgg::DrGrpo => 1.0 / (seqs * max_new_tokens as f64),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-15, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn each_aggregation_by_hand() {
        // Three sequences of 2, 3 and 5 tokens: N = 10, S = 3, L_max = 8.
        let t = [2, 3, 5];
        let all = [true; 3];
        let w = |agg: LossAgg| agg.sequence_weights(&t, &all, 8).unwrap();
        close(&w(LossAgg::TokenMean), &[0.1, 0.1, 0.1]);
        close(&w(LossAgg::SeqMeanTokenMean), &[1.0 / 6.0, 1.0 / 9.0, 1.0 / 15.0]);
        close(&w(LossAgg::SeqMeanTokenSum), &[1.0 / 3.0; 3]);
        close(&w(LossAgg::DrGrpo), &[1.0 / 24.0; 3]);
        // Total weight: token mean and seq-mean-token-mean sum to 1 over the tokens.
        for agg in [LossAgg::TokenMean, LossAgg::SeqMeanTokenMean] {
            let total: f64 = w(agg).iter().zip(&t).map(|(w, n)| w * *n as f64).sum();
            assert!((total - 1.0).abs() < 1e-12, "{agg:?}");
        }
    }

    #[test]
    fn uncounted_and_empty_sequences_leave_the_mini_batch() {
        // The 3-token sequence is masked and the last one is empty: N = 7, S = 2.
        let t = [2, 3, 5, 0];
        let counted = [true, false, true, true];
        let w = |agg: LossAgg| agg.sequence_weights(&t, &counted, 8).unwrap();
        close(&w(LossAgg::TokenMean), &[1.0 / 7.0, 0.0, 1.0 / 7.0, 0.0]);
        close(&w(LossAgg::SeqMeanTokenMean), &[0.25, 0.0, 0.1, 0.0]);
        close(&w(LossAgg::SeqMeanTokenSum), &[0.5, 0.0, 0.5, 0.0]);
        close(&w(LossAgg::DrGrpo), &[1.0 / 16.0, 0.0, 1.0 / 16.0, 0.0]);
        // Nothing counted: all zero, no division by zero.
        let none = LossAgg::TokenMean.sequence_weights(&[3], &[false], 8).unwrap();
        assert_eq!(none, vec![0.0]);
    }

    #[test]
    fn names_round_trip_and_dr_grpo_needs_a_limit() {
        for name in LOSS_AGGS {
            assert_eq!(LossAgg::parse(name).unwrap().name(), *name);
        }
        assert_eq!(LossAgg::parse("token-mean"), None);
        let e = LossAgg::DrGrpo.sequence_weights(&[1], &[true], 0).unwrap_err();
        assert!(e.to_string().contains("max_new_tokens"), "{e}");
    }
}
