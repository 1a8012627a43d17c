#!/usr/bin/env python3
"""Model parity of the sieve binary against `transformers` on one device (run by
`scripts/gpu-check.sh`; works on the CPU too, for testing).

Builds a tiny random Qwen2 with `transformers` (random biases and norm gains, untied
head, RoPE θ 1e6; f32), saves it as an HF folder, and compares on `--device`:

  f32   sieve logits (`sieve bench parity --dtype f32`) against transformers' f32 logits on
        the same device: max |Δ| ≤ 1e-4 (both the fused-kernel path, the CUDA default,
        and the reference path);
  bf16  sieve bf16 logits against transformers' bf16 logits: max |Δ| ≤ 5 % of max |logit|
        or twice transformers' own bf16-vs-f32 error, whichever is larger;
  greedy  12 greedy tokens of two left-padded prompts (f32): identical to
        transformers' generate(do_sample=False).

Writes a JSON report (`--out`) and exits 1 when a check fails.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch


def make_model(path):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(1234)
    cfg = Qwen2Config(
        vocab_size=101,
        hidden_size=64,
        intermediate_size=176,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        rope_theta=1_000_000.0,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        attn_implementation="sdpa",
    )
    model = Qwen2ForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    model.save_pretrained(path, safe_serialization=True)
    return model


def rows(xs):
    return ";".join(",".join(str(t) for t in r) for r in xs)


def run_sieve(binary, path, ids, prompts, device, dtype, fused, out):
    cmd = [binary, "bench", "parity", "--model", path, "--ids", rows(ids), "--device", device,
           "--dtype", dtype, "--fused", fused, "--out", out]
    if prompts:
        cmd += ["--prompts", rows(prompts), "--greedy", "12"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    with open(out) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/sieve")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    dev = torch.device(a.device)
    report = {"device": str(dev), "checks": []}
    if dev.type == "cuda":
        report["device_name"] = torch.cuda.get_device_name(dev)
    ok_all = True

    def check(name, ok, **kw):
        nonlocal ok_all
        ok_all &= bool(ok)
        report["checks"].append(dict(name=name, ok=bool(ok), **kw))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: " + ", ".join(f"{k}={v}" for k, v in kw.items()), flush=True)

    with tempfile.TemporaryDirectory() as d:
        model = make_model(d)
        gen = torch.Generator().manual_seed(7)
        ids = torch.randint(3, 101, (2, 12), generator=gen)
        prompts = [[1, 20, 31, 42, 53, 64, 75], [1, 88, 9]]
        width = max(len(p) for p in prompts)
        padded = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        model.generation_config.eos_token_id = None
        ref = {}
        for dtype, tdt in (("f32", torch.float32), ("bf16", torch.bfloat16)):
            m = model.to(dev, tdt)
            with torch.no_grad():
                ref[dtype] = m(ids.to(dev)).logits.float().cpu()
                if dtype == "f32":
                    out = m.generate(input_ids=padded.to(dev), attention_mask=mask.to(dev), max_new_tokens=12,
                                     do_sample=False, pad_token_id=0)
                    ref["greedy"] = out[:, width:].tolist()
        scale = ref["f32"].abs().max().item()
        for fused in ("on", "off"):
            s = run_sieve(a.bin, d, ids.tolist(), prompts, a.device, "f32", fused, os.path.join(d, f"f32-{fused}.json"))
            got = torch.tensor(s["logits"]).view(s["shape"])
            diff = (got - ref["f32"]).abs().max().item()
            check(f"f32 logits (fused {fused})", diff <= 1e-4, max_abs_diff=f"{diff:.2e}", max_abs_logit=f"{scale:.2f}")
            same = sum(x == y for x, y in zip(s["greedy"], ref["greedy"]))
            check(f"f32 greedy left-padded (fused {fused})", same == len(prompts), rows_identical=f"{same}/{len(prompts)}")
        s = run_sieve(a.bin, d, ids.tolist(), None, a.device, "bf16", "auto", os.path.join(d, "bf16.json"))
        got = torch.tensor(s["logits"]).view(s["shape"])
        diff = (got - ref["bf16"]).abs().max().item()
        diff32 = (got - ref["f32"]).abs().max().item()
        hf_err = (ref["bf16"] - ref["f32"]).abs().max().item()
        check("bf16 logits vs transformers bf16", diff <= max(0.05 * max(scale, 1.0), 2 * hf_err),
              max_abs_diff=f"{diff:.3e}", sieve_bf16_vs_f32=f"{diff32:.3e}", hf_bf16_vs_f32=f"{hf_err:.3e}",
              max_abs_logit=f"{scale:.2f}")
    report["ok"] = ok_all
    if a.out:
        with open(a.out, "w") as f:
            json.dump(report, f, indent=1)
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
