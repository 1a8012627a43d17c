//! Difficulty scores that need a reference model, for the `score` stage: per-example
//! response loss, instruction-following difficulty (IFD) and pass rate over k samples.
//!
//! The `score` stage drives the loops (length ordering, batching, progress,
//! cancellation) over the building blocks here: [`loss_pair`] tokenises one row,
//! [`batch_losses`] scores one batch, [`judge_samples`] draws and judges one batch of
//! samples seeded by [`sample_seed`]. [`response_losses`], [`ifd_scores`] and
//! [`pass_rates`] compute the same measures over whole slices for library callers.
//!
//! Invariants: every score is per input row, in input order; losses are the mean
//! cross-entropy (nats/token) of the response tokens (response + EOS) only, so they do
//! not depend on how rows are batched beyond float rounding; IFD (Li et al. 2023, "From
//! Quantity to Quality", Eq. 4) is `loss(response | prompt) / loss(response | BOS)` over
//! the same response tokens — above 1 means the prompt does not help the model produce
//! the response; a sample's seed depends only on (seed, row, sample index), never on the
//! batch it is drawn in, so pass rates are reproducible.

use crate::model::logprobs::{Example, SeqBatch, token_stats};
use crate::model::{GenerateOptions, ModelError, Tok, Transformer, catch_torch, generate_with_seeds};
use sieve::eval::Metric;
use tch::Kind;

/// Mean response-token cross-entropy of each example of one batch (NaN when an example
/// has no response token).
pub fn batch_losses(model: &Transformer, examples: &[&Example], pad: i64) -> Result<Vec<f64>, ModelError> {
    if examples.is_empty() {
        return Ok(Vec::new());
    }
    let batch = SeqBatch::padded(examples, pad, model.device());
    let what = format!("scoring a batch of shape {:?}", batch.shape());
    let (sums, counts) = catch_torch(&what, || {
        tch::no_grad(|| {
            let st = token_stats(model, &batch);
            let sums = (-(&st.logp * &st.mask)).sum_dim_intlist(-1, false, Kind::Float);
            let counts = st.mask.sum_dim_intlist(-1, false, Kind::Float);
            (
                Vec::<f64>::try_from(sums.to_kind(Kind::Double).to_device(tch::Device::Cpu)),
                Vec::<f64>::try_from(counts.to_kind(Kind::Double).to_device(tch::Device::Cpu)),
            )
        })
    })?;
    let (sums, counts) = (
        sums.map_err(ModelError::torch)?,
        counts.map_err(ModelError::torch)?,
    );
    Ok(sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| if *c > 0.0 { s / c } else { f64::NAN })
        .collect())
}

/// Mean response-token cross-entropy of each example (NaN when it has no response token),
/// `batch_size` examples at a time in the given order.
pub fn example_losses(
    model: &Transformer,
    examples: &[Example],
    batch_size: usize,
    pad: i64,
) -> Result<Vec<f64>, ModelError> {
    let mut out = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(batch_size.max(1)) {
        let refs: Vec<&Example> = chunk.iter().collect();
        out.extend(batch_losses(model, &refs, pad)?);
    }
    Ok(out)
}

/// A row tokenised for loss scoring: both examples end in the same response tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct LossPair {
    /// `prompt ++ response ++ [eos]`, scored on the response and EOS.
    pub conditional: Example,
    /// `ctx ++ response ++ [eos]` with `ctx` the special tokens of an empty text (BOS).
    pub unconditional: Example,
}

/// A context that is never empty: `ids`, or the BOS (else EOS, else 0) token alone, so
/// the first response token always has a position that predicts it.
fn context(tok: &Tok, ids: Vec<i64>) -> Vec<i64> {
    if ids.is_empty() {
        vec![tok.bos_id().or(tok.eos_id()).unwrap_or(0)]
    } else {
        ids
    }
}

/// Tokenises a `(prompt ids, response)` row for [`batch_losses`]: response tokens are
/// `encode(response) ++ [eos]`, cut so the conditional example holds at most `max_len`
/// tokens (`0` = no limit). `None` when no response token fits.
pub fn loss_pair(
    tok: &Tok,
    prompt: &[i64],
    response: &str,
    max_len: usize,
) -> Result<Option<LossPair>, ModelError> {
    let prompt = context(tok, prompt.to_vec());
    let mut resp = tok.encode(response, false)?;
    resp.extend(tok.eos_id());
    if max_len > 0 {
        resp.truncate(max_len.saturating_sub(prompt.len()));
    }
    if resp.is_empty() {
        return Ok(None);
    }
    let ctx = context(tok, tok.encode("", true)?);
    let example = |c: &[i64]| Example {
        tokens: c.iter().chain(&resp).copied().collect(),
        prompt_len: c.len(),
    };
    Ok(Some(LossPair {
        conditional: example(&prompt),
        unconditional: example(&ctx),
    }))
}

/// The pairs of `(prompt, response)` text rows (prompts with the special tokens).
fn pairs(tok: &Tok, rows: &[(&str, &str)]) -> Result<Vec<LossPair>, ModelError> {
    rows.iter()
        .map(|(p, r)| {
            loss_pair(tok, &tok.encode(p, true)?, r, 0)?
                .ok_or_else(|| ModelError::Invalid(format!("row `{p}`: no response token to score")))
        })
        .collect()
}

/// Response losses of `(prompt, response)` rows: `encode(prompt, special) ++
/// encode(response) ++ [eos]`, scored on the response and EOS.
pub fn response_losses(
    model: &Transformer,
    tok: &Tok,
    rows: &[(&str, &str)],
    batch_size: usize,
) -> Result<Vec<f64>, ModelError> {
    let examples: Vec<Example> = pairs(tok, rows)?.into_iter().map(|p| p.conditional).collect();
    example_losses(model, &examples, batch_size, tok.pad_id())
}

/// IFD of each `(prompt, response)` row: conditioned / unconditioned response loss.
pub fn ifd_scores(
    model: &Transformer,
    tok: &Tok,
    rows: &[(&str, &str)],
    batch_size: usize,
) -> Result<Vec<f64>, ModelError> {
    let (with, without): (Vec<Example>, Vec<Example>) = pairs(tok, rows)?
        .into_iter()
        .map(|p| (p.conditional, p.unconditional))
        .unzip();
    let a = example_losses(model, &with, batch_size, tok.pad_id())?;
    let b = example_losses(model, &without, batch_size, tok.pad_id())?;
    Ok(a.iter().zip(&b).map(|(x, y)| x / y).collect())
}

/// Seed of sample `j` of the row with id `id` (SplitMix64 finaliser over the three; the
/// same derivation as the `evaluate` stage's samples).
pub fn sample_seed(seed: u64, id: i64, j: usize) -> u64 {
    let mut z = seed
        ^ (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (j as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One sample to draw: a prompt's token ids (non-empty), its gold answer and the seed.
#[derive(Debug, Clone, Copy)]
pub struct SampleJob<'a> {
    pub prompt: &'a [i64],
    pub gold: &'a str,
    pub seed: u64,
}

/// Draws one sample per job, all in one generation batch, and judges each against its
/// gold answer with `metric` (`opts.seed` is unused: each job carries its seed).
pub fn judge_samples(
    model: &Transformer,
    tok: &Tok,
    jobs: &[SampleJob],
    metric: Metric,
    opts: &GenerateOptions,
) -> Result<Vec<bool>, ModelError> {
    let prompts: Vec<Vec<i64>> = jobs.iter().map(|j| context(tok, j.prompt.to_vec())).collect();
    let seeds: Vec<u64> = jobs.iter().map(|j| j.seed).collect();
    let gens = generate_with_seeds(model, tok, &prompts, &seeds, opts)?;
    Ok(jobs
        .iter()
        .zip(gens)
        .map(|(j, g)| metric.is_correct(&g.text, j.gold))
        .collect())
}

/// Fraction of `k` samples judged correct by `metric`, for each `(prompt, answer)` row.
/// Sample `j` of row `i` uses seed `opts.seed + i·k + j`.
pub fn pass_rates(
    model: &Transformer,
    tok: &Tok,
    rows: &[(&str, &str)],
    metric: Metric,
    k: usize,
    opts: &GenerateOptions,
    batch_size: usize,
) -> Result<Vec<f64>, ModelError> {
    let k = k.max(1);
    let prompts = rows
        .iter()
        .map(|(p, _)| tok.encode(p, true))
        .collect::<Result<Vec<_>, _>>()?;
    let jobs: Vec<(usize, SampleJob)> = (0..rows.len())
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .map(|(i, j)| {
            let job = SampleJob {
                prompt: &prompts[i],
                gold: rows[i].1,
                seed: opts.seed.wrapping_add((i * k + j) as u64),
            };
            (i, job)
        })
        .collect();
    let mut correct = vec![0usize; rows.len()];
    for chunk in jobs.chunks(batch_size.max(1)) {
        let batch: Vec<SampleJob> = chunk.iter().map(|(_, j)| *j).collect();
        for ((i, _), ok) in chunk.iter().zip(judge_samples(model, tok, &batch, metric, opts)?) {
            correct[*i] += ok as usize;
        }
    }
    Ok(correct.iter().map(|&c| c as f64 / k as f64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::{Family, ModelConfig, Sizes};
    use tch::Device;

    #[test]
    fn scores_are_per_row_and_batch_independent() {
        let tok = Tok::chars("0123456789+=").unwrap();
        let cfg = ModelConfig::new(
            Family::Llama,
            &Sizes::preset("nano").unwrap(),
            tok.vocab_size(),
            Some(1),
            Some(2),
            Some(0),
        );
        let m = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
        m.init_weights(1);
        let rows = [("1+2=", "3"), ("10+20=", "30"), ("5+5=", "10")];
        let a = response_losses(&m, &tok, &rows, 1).unwrap();
        let b = response_losses(&m, &tok, &rows, 3).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5);
            assert!(
                (x - (tok.vocab_size() as f64).ln()).abs() < 0.2,
                "near-uniform model: {x}"
            );
        }
        let ifd = ifd_scores(&m, &tok, &rows, 2).unwrap();
        assert!(ifd.iter().all(|v| (v - 1.0).abs() < 0.2), "{ifd:?}");
        let opts = GenerateOptions {
            max_new_tokens: 3,
            temperature: 1.0,
            stop_ids: vec![2],
            ..Default::default()
        };
        let r = pass_rates(&m, &tok, &rows, Metric::ExactMatch, 4, &opts, 5).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(
            r,
            pass_rates(&m, &tok, &rows, Metric::ExactMatch, 4, &opts, 64).unwrap()
        );
    }

    #[test]
    fn loss_pairs_cut_the_response_and_share_it() {
        let tok = Tok::chars("0123456789+=").unwrap();
        let p = tok.encode("1+2=", true).unwrap();
        let eos = tok.eos_id().is_some() as usize;
        let full = loss_pair(&tok, &p, "345", 0).unwrap().unwrap();
        let c = &full.conditional;
        assert_eq!((c.prompt_len, c.tokens.len()), (p.len(), p.len() + 3 + eos));
        let cut = loss_pair(&tok, &p, "345", p.len() + 2).unwrap().unwrap();
        assert_eq!(cut.conditional.tokens.len(), p.len() + 2);
        let u = &cut.unconditional;
        assert_eq!(u.tokens[u.prompt_len..], cut.conditional.tokens[p.len()..]);
        assert!(u.prompt_len >= 1);
        assert_eq!(loss_pair(&tok, &p, "345", p.len()).unwrap(), None);
        assert_eq!(sample_seed(7, 3, 1), sample_seed(7, 3, 1));
        assert_ne!(sample_seed(7, 3, 1), sample_seed(7, 3, 2));
    }
}
