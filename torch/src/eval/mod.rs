//! Model-based evaluation: per-example losses and sampled answers judged against gold
//! answers (the scores `score(by = loss | ifd | pass_rate(k))` and `evaluate` use). The
//! text metrics themselves (exact match, boxed answers, pass@k) are the engine's
//! (`sieve::eval`), shared with everything that judges text.

pub mod model_scores;
