#!/usr/bin/env python3
"""The `transformers` / PyTorch-eager side of `sieve bench model` (same shapes, same work).

Builds the shape `sieve bench model --shape …` builds (Qwen2 family, tied embeddings,
q/k/v biases, random init) as `Qwen2ForCausalLM` with SDPA attention and measures:

  train     tokens/s of `--steps` optimiser steps (after `--warmup`) on `--batch` rows of
            `--seq` ids: forward with labels (mean next-token cross-entropy), backward,
            clip_grad_norm_(1.0), AdamW (lr 1e-4, fused on CUDA), zero_grad(set_to_none);
  generate  new tokens/s of one `generate(do_sample=True, temperature=1, top_k=0,
            top_p=1)` over `--batch` left-padded prompts × `--new-tokens` (EOS disabled),
            after a short warm-up generation.

Token ids and prompt lengths follow the same formulas as `src/bench/model.rs`. Prints one
JSON object per mode with the fields of the sieve side: tokens_per_s, s_per_step, mfu
(6·N·tokens/s over `--peak-tflops`), peak_mem_gib (CUDA: torch.cuda.max_memory_allocated;
CPU: ru_maxrss), plus peak_reserved_gib and peak_used_over_base_gib (device used, polled
with torch.cuda.mem_get_info, minus the idle process's baseline: the figure comparable to
sieve's peak_mem_gib).
"""
import argparse
import json
import resource
import sys
import threading
import time

import torch

CHAR_VOCAB = 4 + 97  # sieve's character tokenizer: 4 specials + printable ASCII, \n, \t
PRESETS = {  # hidden, intermediate, layers, heads, kv heads (src/model/config.rs)
    "nano": (64, 192, 2, 4, 2),
    "tiny": (128, 384, 6, 4, 2),
    "small": (384, 1024, 8, 6, 2),
    "base": (512, 1536, 12, 8, 4),
}


def shape_config(name, vocab=None):
    from transformers import Qwen2Config

    if name == "qwen2-0.5b":
        h, i, l, nh, nkv, v, theta, maxpos = 896, 4864, 24, 14, 2, 151936, 1_000_000.0, 32768
    elif name in PRESETS:
        (h, i, l, nh, nkv), v, theta, maxpos = PRESETS[name], CHAR_VOCAB, 10_000.0, 2048
    else:
        raise SystemExit(f"unknown shape {name}")
    return Qwen2Config(
        vocab_size=vocab or v,
        hidden_size=h,
        intermediate_size=i,
        num_hidden_layers=l,
        num_attention_heads=nh,
        num_key_value_heads=nkv,
        max_position_embeddings=maxpos,
        rope_theta=theta,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        use_sliding_window=False,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        attn_implementation="sdpa",
    )


def train_token(r, j, vocab):
    return 3 + ((r * 7919 + j * 104729 + (r * j) % 977) % (vocab - 3))


def prompt(i, length, uniform, vocab):
    n = length if uniform else length - (i * 37) % (length // 4 + 1)
    return [3 + ((i * 1009 + j * 131) % (vocab - 3)) for j in range(n)]


class Memory:
    """Peak memory of a phase: allocator statistics and polled device-used memory (CUDA),
    or the process's peak RSS (CPU)."""

    def __init__(self, dev):
        self.cuda = dev.type == "cuda"
        self.peak_used = 0
        self.stop = False
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            free, total = torch.cuda.mem_get_info()
            self.base = total - free
            self.peak_used = self.base
            self.thread = threading.Thread(target=self._poll, daemon=True)
            self.thread.start()

    def _poll(self):
        while not self.stop:
            free, total = torch.cuda.mem_get_info()
            self.peak_used = max(self.peak_used, total - free)
            time.sleep(0.005)

    def finish(self):
        gib = float(1 << 30)
        if not self.cuda:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            return {"peak_mem_gib": round(rss / gib, 3), "peak_mem_method": "ru_maxrss (peak resident set of the process)"}
        self.stop = True
        self.thread.join()
        free, total = torch.cuda.mem_get_info()
        self.peak_used = max(self.peak_used, total - free)
        return {
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / gib, 3),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / gib, 3),
            "peak_used_over_base_gib": round((self.peak_used - self.base) / gib, 3),
            "peak_total_gib": round(self.peak_used / gib, 3),
            "peak_mem_method": "torch.cuda.max_memory_allocated; peak_used_over_base_gib: mem_get_info polled every 5 ms minus the idle process's baseline",
        }


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def build(args, dev, dtype):
    from transformers import Qwen2ForCausalLM

    cfg = shape_config(args.shape, args.vocab)
    torch.manual_seed(args.seed)
    with torch.device(dev):
        model = Qwen2ForCausalLM(cfg)
    return model.to(dtype)


def bench_train(args, model, dev):
    b, s = args.batch or 8, args.seq
    vocab = model.config.vocab_size
    ids = torch.tensor([[train_token(r, j, vocab) for j in range(s)] for r in range(b)], device=dev)
    params = [p for p in model.parameters() if p.requires_grad]
    fused = {"fused": True} if dev.type == "cuda" and not args.no_fused else {}
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, **fused)
    model.train()
    losses = []

    def step():
        out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(out.loss.detach())

    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync(dev)
    warm = time.perf_counter() - t0
    losses.clear()
    t, c = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        step()
    sync(dev)
    secs = time.perf_counter() - t
    cpu = time.process_time() - c
    return {
        "batch": b,
        "seq": s,
        "steps": args.steps,
        "warmup": args.warmup,
        "warmup_s": round(warm, 3),
        "seconds": round(secs, 4),
        "s_per_step": round(secs / args.steps, 5),
        "cpu_s_per_step": round(cpu / args.steps, 5),
        "tokens_per_s": round(args.steps * b * s / secs, 1),
        "loss_first": round(losses[0].item(), 4),
        "loss_last": round(losses[-1].item(), 4),
        "optimizer": "AdamW(fused)" if fused else "AdamW(default)",
    }


def bench_generate(args, model, dev, both):
    b = (args.gen_batch or 64) if both else (args.batch or 64)
    p, n = args.prompt_len, args.new_tokens
    vocab = model.config.vocab_size
    prompts = [prompt(i, p, args.uniform_prompts, vocab) for i in range(b)]
    width = max(len(x) for x in prompts)
    inp = torch.tensor([[0] * (width - len(x)) + x for x in prompts], device=dev)
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in prompts], device=dev)
    model.eval()
    model.generation_config.eos_token_id = None
    kw = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, pad_token_id=0)
    torch.manual_seed(args.seed)
    with torch.no_grad():
        t0 = time.perf_counter()
        model.generate(input_ids=inp, attention_mask=mask, max_new_tokens=min(n, 8), **kw)
        sync(dev)
        warm = time.perf_counter() - t0
        t, c = time.perf_counter(), time.process_time()
        out = model.generate(input_ids=inp, attention_mask=mask, max_new_tokens=n, **kw)
        sync(dev)
        secs = time.perf_counter() - t
        cpu = time.process_time() - c
    new = (out.shape[1] - width) * b
    assert new == b * n, f"generated {new} tokens, expected {b * n}"
    return {
        "batch": b,
        "prompt_len": p,
        "uniform_prompts": args.uniform_prompts,
        "new_tokens": n,
        "warmup_s": round(warm, 3),
        "seconds": round(secs, 4),
        "s_per_token_step": round(secs / n, 6),
        "cpu_seconds": round(cpu, 4),
        "tokens_per_s": round(new / secs, 1),
    }


def parser(**defaults):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="tiny")
    ap.add_argument("--mode", default="both", choices=["train", "generate", "both"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="auto", choices=["auto", "f32", "bf16"])
    ap.add_argument("--batch", type=int)
    ap.add_argument("--gen-batch", type=int)
    ap.add_argument("--seq", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--uniform-prompts", action="store_true")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--peak-tflops", type=float)
    ap.add_argument("--vocab", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-fused", action="store_true", help="default (non-fused) AdamW on CUDA")
    ap.add_argument("--impl", default="hf", help="name written in the `impl` field")
    ap.set_defaults(**defaults)
    return ap


def main(argv=None, **defaults):
    import transformers

    args = parser(**defaults).parse_args(argv)
    dev = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16}.get(args.dtype)
    if dtype is None:
        dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    modes = ["train", "generate"] if args.mode == "both" else [args.mode]
    if dev.type == "cuda":
        torch.zeros(1, device=dev)
    for mode in modes:
        mem = Memory(dev)
        model = build(args, dev, dtype)
        res = bench_train(args, model, dev) if mode == "train" else bench_generate(args, model, dev, len(modes) > 1)
        res.update(mem.finish())
        nparams = sum(p.numel() for p in model.parameters())
        res.update(
            impl=args.impl,
            mode=mode,
            shape=args.shape,
            device=str(dev),
            dtype={torch.float32: "f32", torch.bfloat16: "bf16"}[dtype],
            params=nparams,
            threads=torch.get_num_threads(),
            torch=torch.__version__,
            transformers=transformers.__version__,
        )
        if dev.type == "cuda":
            res["device_name"] = torch.cuda.get_device_name(dev)
        if mode == "train":
            peak = args.peak_tflops or (989.0 if dev.type == "cuda" else None)
            res["peak_tflops"] = peak
            res["mfu"] = round(6 * nparams * res["tokens_per_s"] / (peak * 1e12), 4) if peak else None
        print(json.dumps(res), flush=True)
        del model
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
