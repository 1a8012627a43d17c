#!/usr/bin/env bash
# Data-layer benchmark: load + score(length) + select over a generated 1M-row Parquet
# file, sieve (release build) against pyarrow + numpy, in the same run on the same input.
# Usage: bench/data/run.sh [ROWS] [REPEATS]     (needs SIEVE_PYTHON = a Python with pyarrow)
# Results: one JSON line per run in bench-out/data/results.jsonl and a summary on stdout.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${1:-1000000}
REPEATS=${2:-3}
PY=${SIEVE_PYTHON:?set SIEVE_PYTHON to a Python with pyarrow}
OUT=bench-out/data
mkdir -p "$OUT"
INPUT="$OUT/input-$ROWS.parquet"
[ -f "$INPUT" ] || "$PY" bench/data/make_input.py "$INPUT" "$ROWS"
# Build the release test binary once; run it directly (cargo's own process is not measured).
BIN=$(cargo test --release --lib --no-run --message-format=json 2>/dev/null \
  | "$PY" -c 'import sys, json
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["lib"]:
        print(m["executable"])' | tail -1)
: > "$OUT/results.jsonl"
for i in $(seq "$REPEATS"); do
  rm -rf "$OUT/sieve" "$OUT/pyarrow"
  S=$(SIEVE_BENCH_INPUT="$INPUT" SIEVE_BENCH_WORK="$OUT/sieve" SIEVE_BENCH_BUDGET=100000 \
      "$BIN" data::bench::data_pipeline_bench --ignored --nocapture --exact -q 2>/dev/null | grep '^{')
  echo "{\"impl\": \"sieve\", \"run\": $i, \"result\": $S}" >> "$OUT/results.jsonl"
  P=$("$PY" bench/data/pyarrow_pipeline.py "$INPUT" "$OUT/pyarrow" 100000)
  echo "{\"impl\": \"pyarrow\", \"run\": $i, \"result\": $P}" >> "$OUT/results.jsonl"
done
"$PY" - "$OUT/results.jsonl" <<'PYEOF'
import json, sys, statistics as st
runs = [json.loads(l) for l in open(sys.argv[1])]
def summary(impl):
    rs = [r["result"] for r in runs if r["impl"] == impl]
    tot = [r["load_s"] + r["score_s"] + r["select_s"] for r in rs]
    med = st.median(tot)
    best = min(rs, key=lambda r: r["load_s"] + r["score_s"] + r["select_s"])
    return dict(rows=rs[0]["rows"], total_s=med, load_s=st.median(r["load_s"] for r in rs),
                score_s=st.median(r["score_s"] for r in rs), select_s=st.median(r["select_s"] for r in rs),
                rows_per_s=rs[0]["rows"] / med, peak_rss_mib=max(r["peak_rss_mib"] for r in rs),
                growth_mib=max(r["peak_rss_mib"] - r["baseline_rss_mib"] for r in rs),
                baseline_mib=max(r["baseline_rss_mib"] for r in rs))
s, p = summary("sieve"), summary("pyarrow")
print(f"{'':10}{'load s':>9}{'score s':>9}{'select s':>10}{'total s':>9}{'rows/s':>12}{'peak RSS':>10}{'baseline':>10}{'growth':>8}  (MiB)")
for name, r in (("sieve", s), ("pyarrow", p)):
    print(f"{name:10}{r['load_s']:9.2f}{r['score_s']:9.2f}{r['select_s']:10.2f}{r['total_s']:9.2f}{r['rows_per_s']:12,.0f}"
          f"{r['peak_rss_mib']:10.0f}{r['baseline_mib']:10.0f}{r['growth_mib']:8.0f}")
print(f"sieve / pyarrow throughput: {s['rows_per_s'] / p['rows_per_s']:.2f}x (medians of {len(runs)//2} runs)")
PYEOF
