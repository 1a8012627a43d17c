#!/usr/bin/env bash
# CPU SFT step: sieve against the same model in PyTorch eager, same thread count, same
# run, alternating (docs/performance.md, "CPU SFT step").
#
# The `tiny` shape (Qwen2 family: hidden 128, MLP 384, 6 layers, 4 heads, 2 KV heads,
# vocabulary 101, tied embeddings), f32, batch 16 × 128 tokens, loss on every next token,
# AdamW (lr 1e-4) with clipping at 1.0:
#   sieve          `sieve bench model --mode train` (the SFT step of train_sft);
#   torch          scripts/bench/torch_cpu_sft.py: transformers' Qwen2ForCausalLM (SDPA),
#                  torch.optim.AdamW, clip_grad_norm_ — stock PyTorch eager;
#   torch+env      the same with the process-level settings sieve applies to itself
#                  (MKL's vendor check answered "Intel" through an LD_PRELOAD shim, glibc
#                  malloc thresholds; see src/bin/sieve-torch.rs), to separate what those
#                  settings give from what sieve's own code gives (needs a C compiler);
#   sieve-noenv    sieve without those settings (SIEVE_MKL_VENDOR_CHECK=1 SIEVE_MALLOC_TUNING=0);
#   sieve-base     optional: an older sieve binary (SIEVE_BASELINE_BIN) for before/after.
#
# Usage: bench/model/cpu_sft.sh   (env: THREADS=1 ROUNDS=5 STEPS=15 WARMUP=2 OUT=DIR
#        SIEVE_BIN SIEVE_PYTHON SIEVE_BASELINE_BIN)
# Prints one line per variant (min / median seconds per step, wall and process CPU time)
# and the ratios; the JSON lines of every run go to $OUT/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."

THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-5}
STEPS=${STEPS:-15}
WARMUP=${WARMUP:-2}
BIN=${SIEVE_BIN:-target/release/sieve}
PY=${SIEVE_PYTHON:-$HOME/.cache/sieve/torch-2.11.0/bin/python}
OUT=${OUT:-$(mktemp -d /tmp/cpu-sft.XXXXXX)}
mkdir -p "$OUT"
RES=$OUT/results.jsonl
: >"$RES"

SHIM=""
if command -v cc >/dev/null 2>&1; then
    printf 'int mkl_serv_intel_cpu_true(void) { return 1; }\n' >"$OUT/mkl_shim.c"
    cc -shared -fPIC -O2 -o "$OUT/libmkl_shim.so" "$OUT/mkl_shim.c" && SHIM=$OUT/libmkl_shim.so
fi

COMMON=(--shape tiny --mode train --device cpu --batch 16 --seq 128 --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS")
run() {
    local name=$1
    shift
    "$@" 2>/dev/null | grep '^{' | tail -1 | "$PY" -c "import json,sys; d=json.load(sys.stdin); d['variant']='$name'; print(json.dumps(d))" >>"$RES"
}

for _ in $(seq "$ROUNDS"); do
    run sieve "$BIN" bench model "${COMMON[@]}" --json
    run sieve-noenv env SIEVE_MKL_VENDOR_CHECK=1 SIEVE_MALLOC_TUNING=0 "$BIN" bench model "${COMMON[@]}" --json
    run torch "$PY" scripts/bench/torch_cpu_sft.py --threads "$THREADS" --steps "$STEPS" --warmup "$WARMUP"
    if [ -n "$SHIM" ]; then
        run torch+env env LD_PRELOAD="$SHIM" MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456 \
            "$PY" scripts/bench/torch_cpu_sft.py --threads "$THREADS" --steps "$STEPS" --warmup "$WARMUP"
    fi
    if [ -n "${SIEVE_BASELINE_BIN:-}" ]; then
        run sieve-base "$SIEVE_BASELINE_BIN" bench model "${COMMON[@]}" --json
    fi
done

"$PY" - "$RES" <<'EOF'
import json, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    runs[d["variant"]].append(d)
def stat(v, key):
    xs = sorted(r[key] for r in v if r.get(key) is not None)
    return (xs[0], xs[len(xs) // 2]) if xs else (float("nan"), float("nan"))
print(f"tiny SFT step, batch 16 x 128, f32, {runs['sieve'][0]['threads'] if runs['sieve'] else '?'} thread(s); "
      f"seconds per step, min / median over {max(len(v) for v in runs.values())} alternating runs")
best = {}
for name in ["sieve", "sieve-noenv", "sieve-base", "torch", "torch+env"]:
    if name not in runs:
        continue
    w, c = stat(runs[name], "s_per_step"), stat(runs[name], "cpu_s_per_step")
    best[name] = c
    print(f"  {name:11s} wall {w[0]:.4f} / {w[1]:.4f}   cpu {c[0]:.4f} / {c[1]:.4f}")
if "sieve" in best:
    for name in ["torch", "torch+env", "sieve-noenv", "sieve-base"]:
        if name in best:
            print(f"  sieve vs {name:10s}: {best[name][0] / best['sieve'][0]:.2f}x (min)  "
                  f"{best[name][1] / best['sieve'][1]:.2f}x (median), CPU time")
EOF
echo "(runs in $RES)"
