//! Tests of [`super`]: every term against hand-computed values, the reported
//! statistics, and the chunked gradients against an autograd formulation of the same
//! objective written the way verl writes it.

use super::*;
use crate::model::config::{Family, ModelConfig, Sizes};
use crate::model::logprobs::{Example, stats_from_logits, token_stats};
use crate::rl::aggregate::LossAgg;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn t(v: &[f64]) -> Tensor {
    let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::from_slice(&v)
}

fn host(x: &Tensor) -> Vec<f64> {
    Vec::<f32>::try_from(x.to_kind(Kind::Float))
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn close(what: &str, got: &Tensor, want: &[f64]) {
    let g = host(got);
    assert_eq!(g.len(), want.len(), "{what}");
    for (i, (a, b)) in g.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * b.abs().max(1.0),
            "{what}[{i}]: {a} vs {b} (all: {g:?})"
        );
    }
}

/// ε_low 0.2, ε_high 0.28, dual clip 3 (the DAPO recipe's clip-higher with verl's c).
fn dapo_like() -> ObjectiveConfig {
    ObjectiveConfig {
        clip_high: 0.28,
        ..ObjectiveConfig::default()
    }
}

/// Tokens with old log-prob −1 and the given ratios (log-ratio given directly for the
/// out-of-clamp ones).
fn tokens(log_ratios: &[f64]) -> (Tensor, Tensor) {
    let old: Vec<f64> = vec![-1.0; log_ratios.len()];
    let logp: Vec<f64> = log_ratios.iter().map(|r| r - 1.0).collect();
    (t(&logp), t(&old))
}

#[test]
fn clipped_surrogate_by_hand() {
    let ln = f64::ln;
    // (Â, log ρ) → (pg, c, low, high, dual); 1 − ε_low = 0.8, 1 + ε_high = 1.28, c = 3.
    #[rustfmt::skip]
    let table: [(f64, f64, f64, f64, [f64; 3]); 9] = [
        ( 1.0, ln(1.5), -1.28, 0.0, [0.0, 1.0, 0.0]), // Â > 0, above 1 + ε_high: clipped
        ( 1.0, ln(0.5), -0.5,  0.5, [0.0, 0.0, 0.0]), // Â > 0, below 1 − ε_low: not clipped
        (-1.0, ln(0.5),  0.8,  0.0, [1.0, 0.0, 0.0]), // Â < 0, below 1 − ε_low: clipped
        (-1.0, ln(2.0),  2.0, -2.0, [0.0, 0.0, 0.0]), // Â < 0, above 1 + ε_high, below c
        (-1.0, ln(4.0),  3.0,  0.0, [0.0, 0.0, 1.0]), // Â < 0, above c: dual clip
        ( 0.5, 0.0,     -0.5,  0.5, [0.0, 0.0, 0.0]), // on-policy
        (-2.0, ln(1.1),  2.2, -2.2, [0.0, 0.0, 0.0]), // inside the clip range
        ( 0.0, ln(3.0),  0.0,  0.0, [0.0, 0.0, 0.0]), // no advantage, no gradient
        ( 1.0, 25.0,    -1.28, 0.0, [0.0, 1.0, 0.0]), // log-ratio beyond the ±20 clamp
    ];
    let (logp, old) = tokens(&table.map(|r| r.1));
    let adv = t(&table.map(|r| r.0));
    let p = policy_tokens(&dapo_like(), &logp, &old, &adv);
    close("pg", &p.loss, &table.map(|r| r.2));
    close("c", &p.c, &table.map(|r| r.3));
    close("low", &p.clipped_low, &table.map(|r| r.4[0]));
    close("high", &p.clipped_high, &table.map(|r| r.4[1]));
    close("dual", &p.clipped_dual, &table.map(|r| r.4[2]));
    close("approx_kl", &p.approx_kl, &table.map(|r| -r.1.min(20.0)));
}

#[test]
fn without_dual_clip_negative_advantages_are_unbounded_but_the_ratio_clamp_holds() {
    let cfg = ObjectiveConfig {
        dual_clip: None,
        ..dapo_like()
    };
    let (logp, old) = tokens(&[4f64.ln(), 25.0]);
    let p = policy_tokens(&cfg, &logp, &old, &t(&[-1.0, -1.0]));
    // ρ = 4 keeps its gradient; ρ = e^25 is clamped to e^20 and has none.
    close("pg", &p.loss, &[4.0, 20f64.exp()]);
    close("c", &p.c, &[-4.0, 0.0]);
    close("dual", &p.clipped_dual, &[0.0, 0.0]);
}

#[test]
fn kl_estimators_by_hand() {
    // ℓ = −1 against r = −1.5: d = ℓ − r = 0.5, δ = r − ℓ = −0.5.
    let (logp, r) = (t(&[-1.0]), t(&[-1.5]));
    let e = (-0.5f64).exp();
    let k3 = e + 0.5 - 1.0; // 0.10653…
    for (kind, value, grad) in [
        (KlKind::K1, 0.5, 1.0),
        (KlKind::K2, 0.125, 0.5),
        (KlKind::K3, k3, 1.0 - e),
        (KlKind::K3Plus, k3, 0.5),
    ] {
        let k = kl_tokens(kind, &logp, &r);
        close(kind.name(), &k.value, &[value]);
        close(kind.name(), &k.grad, &[grad]);
    }
    // verl's clamps: δ = 30 is clamped to 20 and e^20 − 21 to 10 (no gradient); δ = 4
    // gives e^4 − 5 ≈ 49.6, clamped to 10 (no gradient); δ = −5 is inside both.
    let k = kl_tokens(KlKind::K3, &t(&[-30.0, -4.0, 0.0]), &t(&[0.0, 0.0, -5.0]));
    let e5 = (-5f64).exp();
    close("k3 clamped", &k.value, &[10.0, 10.0, e5 + 5.0 - 1.0]);
    close("k3 clamped grad", &k.grad, &[0.0, 0.0, 1.0 - e5]);
}

#[test]
fn the_objective_combines_its_terms_with_the_aggregation_weights() {
    // Three tokens of two sequences: Â = +1 (weights 0.5) and Â = −1 (weight 0.25 ×2).
    let cfg = ObjectiveConfig {
        kl_coef: 0.1,
        kl_kind: KlKind::K2,
        entropy_coef: 0.01,
        ..dapo_like()
    };
    let ln = f64::ln;
    let old = t(&[-1.0, -1.0, -1.0]);
    let logp = t(&[ln(1.5) - 1.0, ln(0.5) - 1.0, ln(4.0) - 1.0]);
    let inputs = RlTokens {
        adv: t(&[1.0, -1.0, -1.0]),
        weight: t(&[0.5, 0.25, 0.25]),
        old_logp: Some(old),
        ref_logp: Some(t(&[-1.0, -1.0, -1.0])),
    };
    let h = t(&[2.0, 1.0, 0.5]);
    let mut obj = RlObjective {
        cfg: &cfg,
        tokens: &inputs,
        entropy: true,
        sums: Tensor::zeros([SUMS as i64], (Kind::Float, Device::Cpu)),
    };
    let Coefficients::PerToken { c, entropy: Some(e) } = obj.coefficients(0, &logp, Some(&h)) else {
        panic!("the RL objective has per-token coefficients and an entropy term")
    };
    // pg = [−1.28 (high), 0.8 (low), 3 (dual)], all with c_pg = 0; k2 = ½ d² with
    // d = [ln 1.5, ln 0.5, ln 4], c_kl = −β d.
    let d = [ln(1.5), ln(0.5), ln(4.0)];
    let w = [0.5, 0.25, 0.25];
    let want_c: Vec<f64> = (0..3).map(|i| w[i] * (-0.1 * d[i])).collect();
    close("c", &c, &want_c);
    close("e", &e, &[0.005, 0.0025, 0.0025]);
    let pg = [-1.28, 0.8, 3.0];
    let hv = [2.0, 1.0, 0.5];
    let kl: Vec<f64> = d.iter().map(|x| 0.5 * x * x).collect();
    let sum = |f: &dyn Fn(usize) -> f64| (0..3).map(f).sum::<f64>();
    let terms = RlTerms {
        sums: obj.sums,
        entropy: true,
    };
    let v = terms.read().unwrap();
    let near = |a: f64, b: f64| assert!((a - b).abs() < 1e-5, "{a} vs {b} ({v:?})");
    near(v.loss, sum(&|i| w[i] * (pg[i] + 0.1 * kl[i] - 0.01 * hv[i])));
    near(v.pg_loss, sum(&|i| w[i] * pg[i]));
    near(v.kl_loss, sum(&|i| w[i] * kl[i]));
    near(v.entropy_loss.unwrap(), sum(&|i| w[i] * hv[i]));
    assert_eq!(v.tokens, 3);
    near(v.clip_low_frac, 1.0 / 3.0);
    near(v.clip_high_frac, 1.0 / 3.0);
    near(v.clip_dual_frac, 1.0 / 3.0);
    near(v.clip_frac(), 2.0 / 3.0);
    near(v.ppo_kl, -sum(&|i| d[i]) / 3.0);
    near(v.entropy.unwrap(), 3.5 / 3.0);
    near(v.logp, sum(&|i| d[i] - 1.0) / 3.0);
}

#[test]
fn settings_are_checked() {
    assert!(ObjectiveConfig::default().validate().is_ok());
    for (cfg, needle) in [
        (
            ObjectiveConfig {
                clip_low: 1.0,
                ..Default::default()
            },
            "clip_low",
        ),
        (
            ObjectiveConfig {
                clip_high: 0.0,
                ..Default::default()
            },
            "clip_high",
        ),
        (
            ObjectiveConfig {
                dual_clip: Some(1.0),
                ..Default::default()
            },
            "dual_clip",
        ),
        (
            ObjectiveConfig {
                kl_coef: -0.1,
                ..Default::default()
            },
            "kl_coef",
        ),
        (
            ObjectiveConfig {
                entropy_coef: f64::NAN,
                ..Default::default()
            },
            "entropy_coef",
        ),
        (
            ObjectiveConfig {
                temperature: 0.0,
                ..Default::default()
            },
            "temperature",
        ),
    ] {
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    }
    for name in KL_KINDS {
        assert_eq!(KlKind::parse(name).unwrap().name(), *name);
    }
}

// ---- the chunked head against autograd ----

fn model(tied: bool, seed: u64) -> Transformer {
    let mut sizes = Sizes::preset("nano").unwrap();
    sizes.tie_word_embeddings = tied;
    let cfg = ModelConfig::new(Family::Qwen2, &sizes, 23, Some(1), Some(2), Some(0));
    let m = Transformer::new(cfg, Device::Cpu, Kind::Float).unwrap();
    m.init_weights(seed);
    m
}

fn examples() -> Vec<Example> {
    let ex = |tokens: Vec<i64>, prompt_len| Example { tokens, prompt_len };
    vec![
        ex(vec![1, 5, 6, 7, 8, 9, 2], 3),
        ex(vec![1, 9, 10, 2], 1),
        ex(vec![1, 4, 11, 12, 13, 14, 15, 2], 2),
        ex(vec![1, 3, 16, 17, 2], 2),
    ]
}

fn batch_of(ex: &[Example], packed: bool) -> SeqBatch {
    let refs: Vec<&Example> = ex.iter().collect();
    if packed {
        // Two rows of two examples each.
        let rows: Vec<Vec<&Example>> = refs.chunks(2).map(<[&Example]>::to_vec).collect();
        SeqBatch::packed(&rows, 0, Device::Cpu)
    } else {
        SeqBatch::padded(&refs, 0, Device::Cpu)
    }
}

/// A per-target tensor laid out like the `[b, t − 1]` statistics (0 elsewhere).
fn grid(batch: &SeqBatch, x: &Tensor) -> Tensor {
    let (b, t) = batch.shape();
    Tensor::zeros([b * t], (Kind::Float, Device::Cpu))
        .index_copy(0, &batch.target_pos, x)
        .view([b, t])
        .narrow(1, 0, t - 1)
}

/// Per-target log-probs of the model at temperature `temp` (no gradient).
fn target_logp(m: &Transformer, batch: &SeqBatch, temp: f64) -> Tensor {
    tch::no_grad(|| {
        let st = if temp == 1.0 {
            token_stats(m, batch).logp
        } else {
            stats_at(m, batch, temp).0
        };
        let (b, _) = batch.shape();
        Tensor::cat(&[st, Tensor::zeros([b, 1], (Kind::Float, Device::Cpu))], 1)
            .view([-1])
            .index_select(0, &batch.target_pos)
    })
}

/// `(logp, entropy)` `[b, t − 1]` of the logits divided by `temp`.
fn stats_at(m: &Transformer, batch: &SeqBatch, temp: f64) -> (Tensor, Tensor) {
    let (_, t) = batch.shape();
    let logits = m
        .forward(
            &batch.input_ids,
            batch.positions.as_ref(),
            batch.attn_mask.as_ref(),
            None,
        )
        .narrow(1, 0, t - 1)
        / temp;
    stats_from_logits(&logits, &batch.input_ids.narrow(1, 1, t - 1))
}

/// The objective as verl's `compute_policy_loss_vanilla`, `kl_penalty` and entropy
/// bonus write it, on the full logits with autograd.
fn reference_loss(m: &Transformer, batch: &SeqBatch, tok: &RlTokens, cfg: &ObjectiveConfig) -> Tensor {
    let (logp, entropy) = if cfg.temperature == 1.0 {
        let st = token_stats(m, batch);
        (st.logp, st.entropy)
    } else {
        stats_at(m, batch, cfg.temperature)
    };
    let g = |x: &Tensor| grid(batch, x);
    let adv = g(&tok.adv);
    let w = g(&tok.weight) * &batch.mask;
    let old = tok.old_logp.as_ref().map_or_else(|| logp.detach(), g);
    let ratio = (&logp - &old).clamp(-20.0, 20.0).exp();
    let pg1 = -&adv * &ratio;
    let pg2 = -&adv * ratio.clamp(1.0 - cfg.clip_low, 1.0 + cfg.clip_high);
    let clip1 = pg1.maximum(&pg2);
    let pg = match cfg.dual_clip {
        Some(c) => {
            let pg3 = -&adv * c;
            let clip2 = pg3.minimum(&clip1);
            clip2.where_self(&adv.lt(0.0), &clip1)
        }
        None => clip1,
    };
    let kl = if cfg.kl_coef != 0.0 {
        let r = g(tok.ref_logp.as_ref().unwrap());
        let k3 = || {
            let kl = (&r - &logp).clamp(-20.0, 20.0);
            (kl.exp() - &kl - 1.0).clamp(-10.0, 10.0)
        };
        let k2 = || (&logp - &r).square() * 0.5;
        match cfg.kl_kind {
            KlKind::K1 => &logp - &r,
            KlKind::K2 => k2(),
            KlKind::K3 => k3(),
            KlKind::K3Plus => {
                let b = k2();
                &b - b.detach() + k3().detach()
            }
        }
    } else {
        logp.zeros_like()
    };
    let per = pg + kl * cfg.kl_coef - entropy * cfg.entropy_coef;
    (per * w).sum(Kind::Float)
}

/// Gradients of every parameter after `f` ran a backward pass from zero.
fn grads(m: &Transformer, f: impl FnOnce()) -> Vec<Tensor> {
    for (_, p) in m.named_parameters() {
        let mut g = p.grad();
        if g.defined() {
            let _ = g.zero_();
        }
    }
    f();
    m.named_parameters()
        .iter()
        .map(|(_, p)| p.grad().copy())
        .collect()
}

/// Host values: per-sequence advantages in [−2, 2], per-token old log-probs at
/// `ℓ − u` with `u` in [−0.6, 1.5] (ratios from 0.55 to 4.5: every clip region),
/// reference log-probs within ±1 of `ℓ`.
struct Draw {
    adv: Vec<f64>,
    old_shift: Vec<f64>,
    ref_shift: Vec<f64>,
}

fn draw(seqs: usize, tokens: usize, seed: u64) -> Draw {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Draw {
        adv: (0..seqs).map(|_| rng.random_range(-2.0..2.0)).collect(),
        old_shift: (0..tokens).map(|_| rng.random_range(-0.6..1.5)).collect(),
        ref_shift: (0..tokens).map(|_| rng.random_range(-1.0..1.0)).collect(),
    }
}

/// The RL inputs of `ex` (one micro-batch) given the whole mini-batch's weights.
fn inputs(
    ex: &[Example],
    adv: &[f64],
    weights: &[f64],
    logp: &Tensor,
    shifts: Option<(&[f64], &[f64])>,
) -> RlTokens {
    let seqs: Vec<SequenceInputs> = ex
        .iter()
        .zip(adv.iter().zip(weights))
        .map(|(e, (&advantage, &weight))| SequenceInputs {
            targets: e.n_targets(),
            advantage,
            weight,
        })
        .collect();
    let mut tok = RlTokens::new(&seqs, Device::Cpu);
    if let Some((old, rf)) = shifts {
        tok.old_logp = Some(logp - t(old));
        tok.ref_logp = Some(logp + t(rf));
    }
    tok
}

struct Case {
    tied: bool,
    packed: bool,
    temperature: f64,
    kl: Option<(KlKind, f64)>,
    entropy_coef: f64,
    dual_clip: Option<f64>,
    agg: LossAgg,
    on_policy: bool,
    rows: Option<i64>,
}

#[test]
fn chunked_rl_gradients_equal_the_autograd_formulation() {
    use LossAgg::*;
    #[rustfmt::skip]
    let cases = [
        Case { tied: true, packed: false, temperature: 1.0, kl: None, entropy_coef: 0.0, dual_clip: Some(3.0), agg: TokenMean, on_policy: false, rows: None },
        Case { tied: false, packed: true, temperature: 0.7, kl: Some((KlKind::K1, 0.1)), entropy_coef: 0.01, dual_clip: Some(3.0), agg: SeqMeanTokenMean, on_policy: false, rows: Some(2) },
        Case { tied: true, packed: true, temperature: 1.0, kl: Some((KlKind::K2, 0.05)), entropy_coef: 0.0, dual_clip: None, agg: SeqMeanTokenSum, on_policy: false, rows: Some(2) },
        Case { tied: false, packed: false, temperature: 1.3, kl: Some((KlKind::K3, 0.2)), entropy_coef: 0.02, dual_clip: Some(10.0), agg: DrGrpo, on_policy: false, rows: None },
        Case { tied: true, packed: false, temperature: 1.0, kl: Some((KlKind::K3Plus, 0.1)), entropy_coef: 0.0, dual_clip: Some(3.0), agg: TokenMean, on_policy: false, rows: Some(3) },
        Case { tied: false, packed: true, temperature: 0.9, kl: None, entropy_coef: 0.05, dual_clip: Some(3.0), agg: TokenMean, on_policy: true, rows: None },
    ];
    let ex = examples();
    let targets: Vec<usize> = ex.iter().map(Example::n_targets).collect();
    let n: usize = targets.iter().sum();
    let mut clipped = [0.0; 3];
    for (k, case) in cases.iter().enumerate() {
        let cfg = ObjectiveConfig {
            kl_coef: case.kl.map_or(0.0, |k| k.1),
            kl_kind: case.kl.map_or(KlKind::K3, |k| k.0),
            entropy_coef: case.entropy_coef,
            dual_clip: case.dual_clip,
            temperature: case.temperature,
            ..dapo_like()
        };
        let m = model(case.tied, 9);
        let batch = batch_of(&ex, case.packed);
        let d = draw(ex.len(), n, k as u64);
        let weights = case.agg.sequence_weights(&targets, &[true; 4], 8).unwrap();
        let logp = target_logp(&m, &batch, case.temperature);
        let shifts = (!case.on_policy).then_some((&d.old_shift[..], &d.ref_shift[..]));
        let mut tok = inputs(&ex, &d.adv, &weights, &logp, shifts);
        if case.on_policy && cfg.kl_coef != 0.0 {
            tok.ref_logp = Some(&logp + t(&d.ref_shift));
        }
        let mut reference = Tensor::zeros([], (Kind::Float, Device::Cpu));
        let g_ref = grads(&m, || {
            let l = reference_loss(&m, &batch, &tok, &cfg);
            l.backward();
            reference = l.detach();
        });
        // A fresh model (no gradients yet: the surrogate path), then again with gradients
        // defined (added after the pass) and the case's chunk length.
        let fresh = model(case.tied, 9);
        for (round, rows) in [(0, None), (1, case.rows)] {
            let mut terms = None;
            let g = grads(&fresh, || {
                terms = Some(backward_rl(&fresh, &batch, &tok, &cfg, k == 0, rows).unwrap())
            });
            let v = terms.unwrap().read().unwrap();
            let dl = (v.loss - reference.double_value(&[])).abs();
            assert!(
                dl < 1e-5,
                "case {k} round {round}: loss {} vs {reference}",
                v.loss
            );
            assert_eq!(v.tokens, n);
            assert_eq!(v.entropy.is_some(), k == 0 || cfg.entropy_coef != 0.0);
            for (i, (a, b)) in g.iter().zip(&g_ref).enumerate() {
                let diff = (a - b).abs().max().double_value(&[]);
                assert!(
                    diff < 1e-5,
                    "case {k} round {round}: parameter {i} differs by {diff}"
                );
            }
            if round == 0 {
                clipped[0] += v.clip_low_frac;
                clipped[1] += v.clip_high_frac;
                clipped[2] += v.clip_dual_frac;
            }
        }
    }
    // The draws reach every clipped region, so the zero-gradient branches were compared.
    assert!(clipped.iter().all(|&c| c > 0.0), "clip fractions {clipped:?}");
}

#[test]
fn micro_batches_with_mini_batch_weights_equal_one_batch() {
    // The token mean over the whole mini-batch: weights from all four sequences, two
    // micro-batches of two accumulate the gradients of the single batch of four.
    let ex = examples();
    let targets: Vec<usize> = ex.iter().map(Example::n_targets).collect();
    let n: usize = targets.iter().sum();
    let cfg = ObjectiveConfig {
        kl_coef: 0.1,
        ..dapo_like()
    };
    let d = draw(ex.len(), n, 42);
    for agg in [LossAgg::TokenMean, LossAgg::SeqMeanTokenMean] {
        let weights = agg.sequence_weights(&targets, &[true; 4], 8).unwrap();
        let m = model(true, 3);
        let whole = batch_of(&ex, false);
        let logp = target_logp(&m, &whole, 1.0);
        let tok = inputs(&ex, &d.adv, &weights, &logp, Some((&d.old_shift, &d.ref_shift)));
        let mut one = None;
        let g_one = grads(&m, || {
            one = Some(backward_rl(&m, &whole, &tok, &cfg, false, None).unwrap())
        });
        let mut split: Option<RlTerms> = None;
        let g_split = grads(&m, || {
            let cut = targets[0] + targets[1];
            for (part, range) in [(0..2, 0..cut), (2..4, cut..n)] {
                let b = batch_of(&ex[part.clone()], false);
                let lp = logp.narrow(0, range.start as i64, range.len() as i64);
                let tok = inputs(
                    &ex[part.clone()],
                    &d.adv[part.clone()],
                    &weights[part],
                    &lp,
                    Some((&d.old_shift[range.clone()], &d.ref_shift[range])),
                );
                let terms = backward_rl(&m, &b, &tok, &cfg, false, None).unwrap();
                match &mut split {
                    Some(s) => s.add(&terms),
                    None => split = Some(terms),
                }
            }
        });
        let (a, b) = (one.unwrap().read().unwrap(), split.unwrap().read().unwrap());
        assert!((a.loss - b.loss).abs() < 1e-6, "{agg:?}: {a:?} vs {b:?}");
        assert_eq!((a.tokens, b.tokens), (n, n));
        for (x, y) in g_one.iter().zip(&g_split) {
            let diff = (x - y).abs().max().double_value(&[]);
            assert!(diff < 1e-6, "{agg:?}: {diff}");
        }
    }
}

#[test]
fn inputs_that_do_not_fit_the_batch_are_refused() {
    let ex = examples();
    let m = model(true, 1);
    let batch = batch_of(&ex, false);
    let seqs = [SequenceInputs {
        targets: 3,
        advantage: 1.0,
        weight: 1.0,
    }];
    let e = backward_rl(
        &m,
        &batch,
        &RlTokens::new(&seqs, Device::Cpu),
        &ObjectiveConfig::default(),
        false,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&format!("it has {} response targets", batch.n_targets)),
        "{e}"
    );
    let seqs: Vec<SequenceInputs> = ex
        .iter()
        .map(|e| SequenceInputs {
            targets: e.n_targets(),
            advantage: 1.0,
            weight: 0.1,
        })
        .collect();
    let cfg = ObjectiveConfig {
        kl_coef: 0.1,
        ..Default::default()
    };
    let e = backward_rl(&m, &batch, &RlTokens::new(&seqs, Device::Cpu), &cfg, false, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("reference model"), "{e}");
}
