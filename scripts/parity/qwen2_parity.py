#!/usr/bin/env python3
"""Reference side of sieve's model parity tests (run by `cargo test` via $SIEVE_PYTHON).

  make  OUT --family qwen2|llama   build a tiny random model with `transformers` (f32),
                                   save it to OUT as an HF folder and write OUT/expected.json
                                   with the logits of fixed input ids and greedy
                                   continuations of left-padded prompts.
  check DIR                        load a folder written by sieve with AutoModelForCausalLM /
                                   AutoTokenizer and write DIR/reference.json with the logits
                                   of DIR/probe.json's input ids and the tokenizer's ids of
                                   its text.

Only the installed `torch` + `transformers` are used; nothing is downloaded.
"""
import argparse
import json
import os
import sys

import torch


def make(out: str, family: str) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(1234)
    common = dict(
        vocab_size=101,
        hidden_size=64,
        intermediate_size=176,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    if family == "qwen2":
        cfg = Qwen2Config(tie_word_embeddings=False, rope_theta=1_000_000.0, **common)
        model = Qwen2ForCausalLM(cfg)
    else:
        cfg = LlamaConfig(tie_word_embeddings=True, attention_bias=True, rope_theta=500.0, **common)
        model = LlamaForCausalLM(cfg)
    model = model.float().eval()
    # Random everything (biases and norm gains too) so that no term can hide.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))
    model.save_pretrained(out, safe_serialization=True)

    gen = torch.Generator().manual_seed(7)
    ids = torch.randint(3, 101, (2, 12), generator=gen)
    with torch.no_grad():
        logits = model(ids).logits.float()
    # Left-padded batch of prompts with different lengths, greedy decoding.
    prompts = [[1, 20, 31, 42, 53, 64, 75], [1, 88, 9]]
    width = max(len(p) for p in prompts)
    padded = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    # No EOS: decoding runs the full length on both sides (min_new_tokens would mask
    # the EOS logit, which sieve does not do).
    model.generation_config.eos_token_id = None
    with torch.no_grad():
        out_ids = model.generate(
            input_ids=padded,
            attention_mask=mask,
            max_new_tokens=12,
            do_sample=False,
            pad_token_id=0,
        )
    greedy = out_ids[:, width:].tolist()
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(
            {
                "input_ids": ids.tolist(),
                "logits": logits.flatten().tolist(),
                "shape": list(logits.shape),
                "prompts": prompts,
                "greedy": greedy,
            },
            f,
        )


def check(d: str) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with open(os.path.join(d, "probe.json")) as f:
        probe = json.load(f)
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(d)
    ids = torch.tensor(probe["input_ids"])
    with torch.no_grad():
        logits = model(ids).logits.float()
    enc = tok(probe["text"])["input_ids"]
    dec = tok.decode(enc, skip_special_tokens=True)
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(
            {
                "logits": logits.flatten().tolist(),
                "shape": list(logits.shape),
                "text_ids": enc,
                "decoded": dec,
                "architecture": type(model).__name__,
            },
            f,
        )


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    m.add_argument("--family", choices=["qwen2", "llama"], default="qwen2")
    c = sub.add_parser("check")
    c.add_argument("dir")
    a = ap.parse_args()
    if a.cmd == "make":
        make(a.out, a.family)
    else:
        check(a.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
