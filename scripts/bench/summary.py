#!/usr/bin/env python3
"""Summary table of a `scripts/gpu-check.sh` run (also usable on `bench/model/cpu_sft.sh`
output): reads DIR/results.jsonl (one JSON object per benchmark run, from
`sieve bench model --json` and `scripts/bench/hf_bench.py`), DIR/parity.json and
DIR/status.txt, prints a Markdown table and writes it to DIR/summary.md.

For every (shape, mode) it pairs sieve's runs with the baseline's (`hf` / `torch-eager`),
takes the best run of each side (highest tokens/s; every run is listed in results.jsonl),
and reports the ratio sieve / baseline. Memory: sieve's figure is device memory used
minus the idle process's baseline (polled); the baseline's comparable figure is
`peak_used_over_base_gib`, and its `torch.cuda.max_memory_allocated` is shown too.
"""
import json
import os
import sys
from collections import defaultdict


def load(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    return out


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def main(d):
    rows = load(os.path.join(d, "results.jsonl"))
    groups = defaultdict(lambda: defaultdict(list))
    for r in rows:
        side = "sieve" if r.get("impl") == "sieve" else "base"
        groups[(r.get("shape"), r.get("mode"), r.get("device", "")[:4])][side].append(r)
    lines = []
    dev_name = next((r.get("device_name") for r in rows if r.get("device_name")), None)
    lines.append(f"# sieve vs transformers — {dev_name or 'device'}")
    lines.append("")
    lines.append("| shape | mode | batch | sieve tok/s | base tok/s | ratio | sieve s/step | base s/step "
                 "| sieve MFU | base MFU | sieve mem GiB | base mem GiB (alloc) | runs |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (shape, mode, _dev), sides in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        s = max(sides["sieve"], key=lambda r: r.get("tokens_per_s", 0), default=None)
        b = max(sides["base"], key=lambda r: r.get("tokens_per_s", 0), default=None)
        ratio = s["tokens_per_s"] / b["tokens_per_s"] if s and b and b.get("tokens_per_s") else None
        per = "s_per_step" if mode == "train" else "s_per_token_step"
        batch = (s or b or {}).get("batch")
        seq = (s or b or {}).get("seq") if mode == "train" else (s or b or {}).get("new_tokens")
        smem = s.get("peak_mem_gib") if s else None
        bmem = (b.get("peak_used_over_base_gib", b.get("peak_mem_gib")) if b else None)
        balloc = b.get("peak_mem_gib") if b else None
        lines.append(
            f"| {shape} | {mode} | {batch}×{seq} | {fmt(s and s.get('tokens_per_s'), '.0f')} | "
            f"{fmt(b and b.get('tokens_per_s'), '.0f')} | {fmt(ratio, '.2f')}× | {fmt(s and s.get(per), '.4f')} | "
            f"{fmt(b and b.get(per), '.4f')} | {fmt(s and s.get('mfu'), '.3f')} | {fmt(b and b.get('mfu'), '.3f')} | "
            f"{fmt(smem, '.2f')} | {fmt(bmem, '.2f')} ({fmt(balloc, '.2f')}) | "
            f"{len(sides['sieve'])}+{len(sides['base'])} |"
        )
    p = os.path.join(d, "parity.json")
    if os.path.exists(p):
        with open(p) as f:
            par = json.load(f)
        lines.append("")
        lines.append(f"parity on {par.get('device')}: {'ok' if par.get('ok') else 'FAILED'}")
        for c in par.get("checks", []):
            extra = ", ".join(f"{k}={v}" for k, v in c.items() if k not in ("name", "ok"))
            lines.append(f"- {'ok' if c['ok'] else 'FAIL'} {c['name']}: {extra}")
    st = os.path.join(d, "status.txt")
    if os.path.exists(st):
        lines.append("")
        lines.append("parts: " + "; ".join(l.strip() for l in open(st) if l.strip()))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
