//! Batched autoregressive generation with a KV cache: left-padded prompts, greedy or
//! sampled decoding (temperature, top-k, top-p), stop token ids and stop strings.
//!
//! Invariants: a row's output depends only on its prompt, the options and its own
//! seed — never on the other rows of the batch (left padding is masked
//! and positions start at 0 for every prompt); sampling draws one uniform per row per
//! step from a ChaCha stream on the host and inverts the CDF on the device, so runs are
//! reproducible without touching libtorch's global generator. Temperature 0 is greedy.

use super::tokenizer::Tok;
use super::transformer::{Transformer, padding_causal_mask};
use super::{ModelError, catch_torch};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// Decoding controls.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    /// 0 = greedy (argmax); otherwise logits are divided by it before sampling.
    pub temperature: f64,
    /// Nucleus sampling mass; 1.0 disables.
    pub top_p: f64,
    /// Keep only the k most likely tokens; 0 disables.
    pub top_k: usize,
    /// Generation stops after any of these ids (kept in `tokens`, not in `text`).
    pub stop_ids: Vec<i64>,
    /// Generation stops once the text contains any of these (the text is cut before it).
    pub stop_strings: Vec<String>,
    /// Row `i` samples from a stream seeded with `seed + i`.
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 64,
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            stop_ids: Vec::new(),
            stop_strings: Vec::new(),
            seed: 0,
        }
    }
}

/// Why a row stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// A stop id was produced.
    StopToken,
    /// A stop string appeared.
    StopString,
    /// `max_new_tokens` reached.
    Length,
}

/// One row's output.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Generated ids (including a final stop id, if any).
    pub tokens: Vec<i64>,
    /// Decoded text without special tokens, cut before a stop string.
    pub text: String,
    pub finish: Finish,
}

/// Masks logits outside the top-k / top-p sets with −∞ (`logits`: `[b, V]` f32).
fn filter_logits(logits: Tensor, top_k: usize, top_p: f64) -> Tensor {
    let v = logits.size()[1];
    let mut logits = logits;
    if top_k > 0 && (top_k as i64) < v {
        let (vals, _) = logits.topk(top_k as i64, -1, true, true);
        let kth = vals.narrow(1, top_k as i64 - 1, 1);
        logits = logits.masked_fill(&logits.lt_tensor(&kth), f64::NEG_INFINITY);
    }
    if top_p < 1.0 {
        let (sorted, idx) = logits.sort(-1, true);
        let probs = sorted.softmax(-1, Kind::Float);
        // Drop a token when the mass strictly before it already reaches top_p (the most
        // likely token is always kept).
        let before = probs.cumsum(-1, Kind::Float) - &probs;
        let drop_sorted = before.ge(top_p);
        let drop = drop_sorted.scatter(-1, &idx, &drop_sorted);
        logits = logits.masked_fill(&drop, f64::NEG_INFINITY);
    }
    logits
}

/// Picks the next token of every row: argmax when greedy, else inverse-CDF sampling
/// with the given per-row uniforms `u` (`[b]` f32 on the device).
fn pick(logits: &Tensor, opts: &GenerateOptions, u: Option<&Tensor>) -> Tensor {
    let logits = logits.to_kind(Kind::Float);
    let u = match u {
        Some(u) if opts.temperature > 0.0 => u,
        _ => return logits.argmax(-1, false),
    };
    let scaled = if opts.temperature == 1.0 {
        logits
    } else {
        logits / opts.temperature
    };
    let probs = filter_logits(scaled, opts.top_k, opts.top_p).softmax(-1, Kind::Float);
    let cdf = probs.cumsum(-1, Kind::Float);
    let v = cdf.size()[1];
    let u = u.unsqueeze(1) * cdf.narrow(1, v - 1, 1);
    cdf.lt_tensor(&u)
        .sum_dim_intlist(-1, false, Kind::Int64)
        .clamp_max(v - 1)
}

/// Generates continuations of `prompts` (token ids, each non-empty) in one batch; row
/// `i` samples with seed `opts.seed + i`.
pub fn generate(
    model: &Transformer,
    tok: &Tok,
    prompts: &[Vec<i64>],
    opts: &GenerateOptions,
) -> Result<Vec<Generation>, ModelError> {
    let seeds: Vec<u64> = (0..prompts.len() as u64)
        .map(|i| opts.seed.wrapping_add(i))
        .collect();
    generate_with_seeds(model, tok, prompts, &seeds, opts)
}

/// Like [`generate`], with an explicit sampling seed per row (`opts.seed` is ignored),
/// so a row's output does not depend on which batch it was put in.
pub fn generate_with_seeds(
    model: &Transformer,
    tok: &Tok,
    prompts: &[Vec<i64>],
    seeds: &[u64],
    opts: &GenerateOptions,
) -> Result<Vec<Generation>, ModelError> {
    if seeds.len() != prompts.len() {
        return Err(ModelError::Invalid(format!(
            "{} seeds for {} prompts",
            seeds.len(),
            prompts.len()
        )));
    }
    if prompts.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        return Err(ModelError::Invalid(format!("prompt {i} has no tokens")));
    }
    let b = prompts.len();
    let p = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let shape = format!("generating for a batch of {b} prompts of up to {p} tokens");
    catch_torch(&shape, || {
        tch::no_grad(|| generate_inner(model, tok, prompts, seeds, opts))
    })?
}

/// Steps between host checks of the stop conditions (tokens generated after every row
/// stopped are discarded, so the outputs do not depend on it).
const CHECK_EVERY: usize = 8;

fn generate_inner(
    model: &Transformer,
    tok: &Tok,
    prompts: &[Vec<i64>],
    seeds: &[u64],
    opts: &GenerateOptions,
) -> Result<Vec<Generation>, ModelError> {
    let dev = model.device();
    let b = prompts.len();
    let p = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let n = opts.max_new_tokens;
    let cap = p + n;
    let pad = tok.pad_id();
    // Host buffers, uploaded in one copy: the left-padded prompt ids and the validity
    // of every cache position (prompt padding invalid, generated tokens valid).
    let mut ids = vec![pad; b * p];
    let mut valid = vec![1i64; b * cap];
    for (r, pr) in prompts.iter().enumerate() {
        let off = r * p + (p - pr.len());
        ids[off..off + pr.len()].copy_from_slice(pr);
        valid[r * cap..r * cap + (p - pr.len())]
            .iter_mut()
            .for_each(|v| *v = 0);
    }
    let any_pad = prompts.iter().any(|pr| pr.len() < p);
    let (bi, pi) = (b as i64, p as i64);
    let host = Tensor::from_slice(&[ids, valid].concat()).to_device(dev);
    let ids = host.narrow(0, 0, bi * pi).view([bi, pi]);
    let valid_all = host
        .narrow(0, bi * pi, bi * cap as i64)
        .view([bi, cap as i64])
        .to_kind(Kind::Bool);
    let valid = valid_all.narrow(1, 0, pi);
    let pos = (valid.to_kind(Kind::Int64).cumsum(1, Kind::Int64) - 1).clamp_min(0);
    let mut next_pos = pos.narrow(1, pi - 1, 1) + 1;
    let mut cache = model.new_cache(bi, cap as i64);
    let mask = any_pad.then(|| padding_causal_mask(&valid, pi));
    let hidden = model.forward_hidden(&ids, Some(&pos), mask.as_ref(), Some(&mut cache));
    let mut logits = model.logits(&hidden.narrow(1, pi - 1, 1)).squeeze_dim(1);

    // Every step's uniforms up front: row r's stream yields the same values, in the same
    // order, as drawing one per step.
    let uniforms = (opts.temperature > 0.0 && n > 0).then(|| {
        let mut rngs: Vec<ChaCha8Rng> = seeds.iter().map(|&s| ChaCha8Rng::seed_from_u64(s)).collect();
        let mut u = vec![0f32; n * b];
        for step in 0..n {
            for (r, rng) in rngs.iter_mut().enumerate() {
                u[step * b + r] = rng.random::<f32>();
            }
        }
        Tensor::from_slice(&u).view([n as i64, bi]).to_device(dev)
    });
    // Generated ids stay on the device; the host reads them every CHECK_EVERY steps when
    // there are stop conditions, else once at the end.
    let tokens = Tensor::zeros([bi, n.max(1) as i64], (Kind::Int64, dev));
    let stopping = !opts.stop_ids.is_empty() || !opts.stop_strings.is_empty();
    let mut out: Vec<Vec<i64>> = vec![Vec::new(); b];
    let mut finish: Vec<Option<Finish>> = vec![None; b];
    let mut texts: Vec<Option<String>> = vec![None; b];
    let mut read = 0usize;
    for step in 0..n {
        let u = uniforms.as_ref().map(|u| u.get(step as i64));
        let next = pick(&logits, opts, u.as_ref());
        tokens.select(1, step as i64).copy_(&next);
        let last = step + 1 == n;
        if last || (stopping && (step + 1) % CHECK_EVERY == 0) {
            let cols = step + 1 - read;
            let chunk: Vec<i64> = Vec::try_from(
                tokens
                    .narrow(1, read as i64, cols as i64)
                    .to_device(tch::Device::Cpu)
                    .contiguous()
                    .view([-1]),
            )
            .map_err(ModelError::torch)?;
            for r in 0..b {
                for c in 0..cols {
                    if finish[r].is_some() {
                        break;
                    }
                    let id = chunk[r * cols + c];
                    out[r].push(id);
                    if opts.stop_ids.contains(&id) {
                        finish[r] = Some(Finish::StopToken);
                    } else if !opts.stop_strings.is_empty() {
                        let text = tok.decode(&out[r], true)?;
                        if let Some(cut) = opts
                            .stop_strings
                            .iter()
                            .filter_map(|s| text.find(s.as_str()))
                            .min()
                        {
                            texts[r] = Some(text[..cut].to_string());
                            finish[r] = Some(Finish::StopString);
                        }
                    }
                }
            }
            read = step + 1;
            if finish.iter().all(Option::is_some) {
                break;
            }
        }
        if last {
            break;
        }
        let input = next.view([bi, 1]);
        // One query at the newest position: it may attend to every valid cached key.
        let mask = any_pad.then(|| {
            valid_all
                .narrow(1, 0, pi + step as i64 + 1)
                .unsqueeze(1)
                .unsqueeze(1)
        });
        let hidden = model.forward_hidden(&input, Some(&next_pos), mask.as_ref(), Some(&mut cache));
        next_pos += 1;
        logits = model.logits(&hidden).squeeze_dim(1);
    }
    let mut gens = Vec::with_capacity(b);
    for r in 0..b {
        let text = match texts[r].take() {
            Some(t) => t,
            None => tok.decode(&out[r], true)?,
        };
        gens.push(Generation {
            tokens: std::mem::take(&mut out[r]),
            text,
            finish: finish[r].unwrap_or(Finish::Length),
        });
    }
    Ok(gens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::config::{Family, ModelConfig, Sizes};
    use crate::model::tokenizer::default_alphabet;
    use tch::Device;

    fn setup() -> (Transformer, Tok) {
        let tok = Tok::chars(&default_alphabet()).unwrap();
        let cfg = ModelConfig::for_tokenizer(Family::Qwen2, &Sizes::preset("nano").unwrap(), &tok);
        let m = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
        // A larger init makes the random model's distribution peaked enough to be interesting.
        let mut c = m.config().clone();
        c.initializer_range = 0.3;
        let m2 = Transformer::new(c, Device::Cpu, Kind::Float).unwrap();
        m2.init_weights(11);
        drop(m);
        (m2, tok)
    }

    #[test]
    fn batching_and_padding_do_not_change_outputs() {
        let (m, tok) = setup();
        let prompts: Vec<Vec<i64>> = ["12+7=", "3+4=", "a much longer prompt"]
            .iter()
            .map(|s| tok.encode(s, true).unwrap())
            .collect();
        for temperature in [0.0, 1.0] {
            let opts = GenerateOptions {
                max_new_tokens: 8,
                temperature,
                top_k: 20,
                top_p: 0.9,
                ..Default::default()
            };
            let batched = generate(&m, &tok, &prompts, &opts).unwrap();
            for (i, pr) in prompts.iter().enumerate() {
                let o = GenerateOptions {
                    seed: opts.seed + i as u64,
                    ..opts.clone()
                };
                let single = generate(&m, &tok, std::slice::from_ref(pr), &o).unwrap();
                assert_eq!(single[0].tokens, batched[i].tokens, "row {i} at T={temperature}");
            }
            assert!(batched.iter().all(|g| g.tokens.len() == 8));
        }
    }

    #[test]
    fn greedy_matches_argmax_of_full_forward() {
        let (m, tok) = setup();
        let prompt = tok.encode("hello", true).unwrap();
        let g = generate(
            &m,
            &tok,
            std::slice::from_ref(&prompt),
            &GenerateOptions {
                max_new_tokens: 5,
                ..Default::default()
            },
        )
        .unwrap();
        let mut seq = prompt.clone();
        tch::no_grad(|| {
            for _ in 0..5 {
                let ids = Tensor::from_slice(&seq).view([1, -1]);
                let l = m.forward(&ids, None, None, None);
                seq.push(
                    l.get(0)
                        .get(seq.len() as i64 - 1)
                        .argmax(-1, false)
                        .int64_value(&[]),
                );
            }
        });
        assert_eq!(g[0].tokens, seq[prompt.len()..].to_vec());
    }

    #[test]
    fn stops_on_ids_and_strings() {
        let (m, tok) = setup();
        let prompt = tok.encode("x", true).unwrap();
        let free = generate(
            &m,
            &tok,
            std::slice::from_ref(&prompt),
            &GenerateOptions {
                max_new_tokens: 6,
                ..Default::default()
            },
        )
        .unwrap()
        .remove(0);
        let first = free.tokens[1];
        let o = GenerateOptions {
            max_new_tokens: 6,
            stop_ids: vec![first],
            ..Default::default()
        };
        let g = generate(&m, &tok, std::slice::from_ref(&prompt), &o)
            .unwrap()
            .remove(0);
        assert_eq!(g.finish, Finish::StopToken);
        assert!(g.tokens.len() <= 2);
        let s = tok.decode(&free.tokens[2..3], true).unwrap();
        if !s.is_empty() {
            let o = GenerateOptions {
                max_new_tokens: 6,
                stop_strings: vec![s.clone()],
                ..Default::default()
            };
            let g = generate(&m, &tok, std::slice::from_ref(&prompt), &o)
                .unwrap()
                .remove(0);
            assert_eq!(g.finish, Finish::StopString);
            assert!(!g.text.contains(&s));
        }
    }

    #[test]
    fn top_p_and_top_k_filter() {
        let l = Tensor::from_slice(&[0.0f32, 1.0, 2.0, 3.0]).view([1, 4]);
        let k = filter_logits(l.shallow_clone(), 2, 1.0);
        let v: Vec<f32> = Vec::try_from(k.view([-1])).unwrap();
        assert!(v[0].is_infinite() && v[1].is_infinite() && v[2] == 2.0);
        let p = filter_logits(l, 0, 0.5);
        let v: Vec<f32> = Vec::try_from(p.view([-1])).unwrap();
        // p(3) ≈ 0.64 ≥ 0.5: only the argmax survives.
        assert_eq!(v.iter().filter(|x| x.is_finite()).count(), 1);
    }
}
