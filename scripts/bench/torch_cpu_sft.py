#!/usr/bin/env python3
"""PyTorch-eager side of sieve's CPU SFT benchmark (`bench/model/cpu_sft.sh`).

The `tiny` shape (hidden 128, MLP 384, 6 layers, 4 heads, 2 KV heads, vocabulary 101,
tied embeddings) as `transformers`' Qwen2ForCausalLM in f32 on the CPU, trained with
the default `torch.optim.AdamW` and clip_grad_norm_(1.0) on batches of 16 × 128 ids:
`scripts/bench/hf_bench.py` with CPU defaults (every option of it still applies, e.g.
`--threads 1 --steps 30`). Prints one JSON line like `sieve bench model --mode train`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hf_bench  # noqa: E402

if __name__ == "__main__":
    sys.exit(
        hf_bench.main(
            shape="tiny", mode="train", device="cpu", batch=16, seq=128, steps=20, warmup=3, impl="torch-eager"
        )
    )
