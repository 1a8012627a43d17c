#!/usr/bin/env bash
# CPU AdamW update: libtorch's fused kernel (through src/train/fused_adamw.cpp) against the
# same formula as separate tensor operations (tch's public API), alternating in one run
# (docs/performance.md, "The fused AdamW update").
#
# `sieve bench model --mode optim`: the `tiny` shape (1.20M parameters, f32), gradients of
# one 4 × 64 batch computed once, then STEPS timed updates (global norm, clipping at 1.0,
# AdamW with weight decay 0.1 on the matrices) after WARMUP untimed ones.
#   fused       --adamw fused (what training runs);
#   plain       --adamw plain;
#   fused-base  optional: an older binary's fused update (SIEVE_BASELINE_BIN).
#
# Usage: bench/model/cpu_adamw.sh   (env: THREADS=1 ROUNDS=5 STEPS=200 WARMUP=20 OUT=DIR
#        SIEVE_BIN SIEVE_BASELINE_BIN)
# Prints min / median seconds per update (process CPU time and wall time) per variant;
# the JSON lines of every run go to $OUT/results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."

THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-5}
STEPS=${STEPS:-200}
WARMUP=${WARMUP:-20}
BIN=${SIEVE_BIN:-target/release/sieve}
OUT=${OUT:-$(mktemp -d /tmp/cpu-adamw.XXXXXX)}
mkdir -p "$OUT"
RES=$OUT/results.jsonl
: >"$RES"

COMMON=(--shape tiny --mode optim --device cpu --batch 4 --seq 64 --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS" --json)
run() {
    local name=$1
    shift
    "$@" 2>/dev/null | grep '^{' | tail -1 | sed "s/^{/{\"variant\":\"$name\",/" >>"$RES"
}

for _ in $(seq "$ROUNDS"); do
    run fused "$BIN" bench model "${COMMON[@]}" --adamw fused
    run plain "$BIN" bench model "${COMMON[@]}" --adamw plain
    if [ -n "${SIEVE_BASELINE_BIN:-}" ]; then
        run fused-base "$SIEVE_BASELINE_BIN" bench model "${COMMON[@]}" --adamw fused
    fi
done

python3 - "$RES" <<'PY'
import json, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    d = json.loads(line)
    runs[d["variant"]].append(d)
def stat(v, key):
    xs = sorted(r[key] for r in v)
    return xs[0], xs[len(xs) // 2]
first = next(iter(runs.values()))[0]
print(f"AdamW update, {first['shape']} ({first['params']} parameters, {first['dtype']}), "
      f"{first['threads']} thread(s); ms per update, min / median over {max(map(len, runs.values()))} runs")
for name, v in runs.items():
    c, w = stat(v, "cpu_s_per_step"), stat(v, "s_per_step")
    print(f"  {name:10s} cpu {1e3 * c[0]:.3f} / {1e3 * c[1]:.3f}   wall {1e3 * w[0]:.3f} / {1e3 * w[1]:.3f}"
          f"   (fused_adamw={v[0]['fused_adamw']})")
PY
echo "(runs in $RES)"
