#!/usr/bin/env python3
"""PyTorch / transformers baseline for sieve's CUDA throughput test (same card, same run).

Builds the `small` preset as a LlamaForCausalLM (hidden 384, MLP 1024, 8 layers, 6 heads,
2 KV heads, vocab 101, tied embeddings) in bf16 and measures, like
`cuda_throughput_small_preset`: training tokens/s for 40 AdamW steps on 64×512 batches
(after 5 warm-up steps) and greedy generation tokens/s for 64 left-padded prompts × 128
new tokens. Prints one `BENCH` line.
"""
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def main() -> None:
    dev = "cuda"
    cfg = LlamaConfig(vocab_size=101, hidden_size=384, intermediate_size=1024, num_hidden_layers=8,
                      num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=2048,
                      tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                      attn_implementation="sdpa")
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(dev, torch.bfloat16)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    row = torch.tensor([4 + (i * 7 % 90) for i in range(512)], device=dev)
    ids = row.repeat(64, 1)

    def step():
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    t = time.time()
    for _ in range(40):
        step()
    torch.cuda.synchronize()
    train_tps = 40 * 64 * 512 / (time.time() - t)

    model.eval()
    prompts = [row[: 64 + i].tolist() for i in range(64)]
    width = max(len(p) for p in prompts)
    inp = torch.tensor([[0] * (width - len(p)) + p for p in prompts], device=dev)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=dev)
    model.generation_config.eos_token_id = None
    with torch.no_grad():
        model.generate(input_ids=inp[:4], attention_mask=mask[:4], max_new_tokens=8, do_sample=False, pad_token_id=0)
        torch.cuda.synchronize()
        t = time.time()
        out = model.generate(input_ids=inp, attention_mask=mask, max_new_tokens=128, do_sample=False, pad_token_id=0)
        torch.cuda.synchronize()
    gen_tps = (out.shape[1] - width) * 64 / (time.time() - t)
    n = sum(p.numel() for p in model.parameters())
    print(f"BENCH hf small ({n} params) bf16: train {train_tps:.0f} tok/s (64x512), generate {gen_tps:.0f} tok/s (64 prompts, 128 new)")


if __name__ == "__main__":
    main()
