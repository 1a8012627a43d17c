//! Difficulty scores that need a reference model, for the `score` stage: per-example
//! response loss, instruction-following difficulty (IFD) and pass rate over k samples.
//!
//! Invariants: every score is per input row, in input order; losses are the mean
//! cross-entropy (nats/token) of the response tokens only, so they do not depend on
//! how rows are batched; IFD (Li et al. 2023, "From Quantity to Quality", Eq. 4) is
//! `loss(response | prompt) / loss(response | BOS)` — above 1 means the prompt does not
//! help the model produce the response; pass rates use the same per-(row, sample) seeds
//! as generation elsewhere, so they are reproducible.

use super::Metric;
use crate::model::logprobs::{Example, SeqBatch, token_stats};
use crate::model::{GenerateOptions, ModelError, Tok, Transformer, catch_torch, generate_with_seeds};
use tch::Kind;

/// Mean response-token cross-entropy of each example (NaN when it has no response token).
pub fn example_losses(
    model: &Transformer,
    examples: &[Example],
    batch_size: usize,
    pad: i64,
) -> Result<Vec<f64>, ModelError> {
    let mut out = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(batch_size.max(1)) {
        let refs: Vec<&Example> = chunk.iter().collect();
        let batch = SeqBatch::padded(&refs, pad, model.device());
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
        let (sums, counts) = (sums?, counts?);
        out.extend(
            sums.iter()
                .zip(&counts)
                .map(|(s, c)| if *c > 0.0 { s / c } else { f64::NAN }),
        );
    }
    Ok(out)
}

/// Response losses of `(prompt, response)` rows: `encode(prompt, special) ++
/// encode(response) ++ [eos]`, scored on the response and EOS.
pub fn response_losses(
    model: &Transformer,
    tok: &Tok,
    rows: &[(&str, &str)],
    batch_size: usize,
) -> Result<Vec<f64>, ModelError> {
    let examples = rows
        .iter()
        .map(|(p, r)| build(tok, p, r, true))
        .collect::<Result<Vec<_>, _>>()?;
    example_losses(model, &examples, batch_size, tok.pad_id())
}

fn build(tok: &Tok, prompt: &str, response: &str, with_prompt: bool) -> Result<Example, ModelError> {
    let p = if with_prompt {
        tok.encode(prompt, true)?
    } else {
        tok.encode("", true)?
    };
    // Without any special token (e.g. Qwen), the response alone still needs one context token.
    let p = if p.is_empty() {
        vec![tok.bos_id().or(tok.eos_id()).unwrap_or(0)]
    } else {
        p
    };
    let mut t = p.clone();
    t.extend(tok.encode(response, false)?);
    t.extend(tok.eos_id());
    Ok(Example {
        tokens: t,
        prompt_len: p.len(),
    })
}

/// IFD of each `(prompt, response)` row: conditioned / unconditioned response loss.
pub fn ifd_scores(
    model: &Transformer,
    tok: &Tok,
    rows: &[(&str, &str)],
    batch_size: usize,
) -> Result<Vec<f64>, ModelError> {
    let with = rows
        .iter()
        .map(|(p, r)| build(tok, p, r, true))
        .collect::<Result<Vec<_>, _>>()?;
    let without = rows
        .iter()
        .map(|(p, r)| build(tok, p, r, false))
        .collect::<Result<Vec<_>, _>>()?;
    let a = example_losses(model, &with, batch_size, tok.pad_id())?;
    let b = example_losses(model, &without, batch_size, tok.pad_id())?;
    Ok(a.iter().zip(&b).map(|(x, y)| x / y).collect())
}

/// Fraction of `k` samples judged correct by `metric`, for each `(prompt, answer)` row.
/// Sample `j` of row `i` uses seed `seed + i·k + j`.
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
    let jobs: Vec<(usize, usize)> = (0..rows.len())
        .flat_map(|i| (0..k).map(move |j| (i, j)))
        .collect();
    let mut correct = vec![0usize; rows.len()];
    for chunk in jobs.chunks(batch_size.max(1)) {
        let prompts = chunk
            .iter()
            .map(|&(i, _)| tok.encode(rows[i].0, true))
            .collect::<Result<Vec<_>, _>>()?;
        let seeds: Vec<u64> = chunk
            .iter()
            .map(|&(i, j)| opts.seed.wrapping_add((i * k + j) as u64))
            .collect();
        for (&(i, _), g) in chunk
            .iter()
            .zip(generate_with_seeds(model, tok, &prompts, &seeds, opts)?)
        {
            correct[i] += metric.is_correct(&g.text, rows[i].1) as usize;
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
}
