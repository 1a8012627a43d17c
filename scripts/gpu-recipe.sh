#!/usr/bin/env bash
# Runs the headline recipe (pipelines/difficulty_budget.sieve, `full` profile) on a lent
# GPU machine with the carried release binaries (target/release/sieve and sieve-torch,
# carried together: `sieve` hands training runs to `sieve-torch` beside it), time-boxed, and packs the results into
# $OUT/recipe.tar.gz (lock file, the three reports, every evaluation's metrics, the run
# log). Extra `--set K=V` arguments are passed through, so a shorter device window can run
# a documented reduced version:
#
#   scripts/gpu-recipe.sh 420 --set 'budgets=[256, 1024, 4096]' --set test_n=440
#
# First argument: the time limit in seconds for the run.
set -uo pipefail
limit=${1:-420}
shift || true
OUT=${OUT:-/tmp/sieve-out}
mkdir -p "$OUT"
profile=${SIEVE_RECIPE_PROFILE:-full}
device=${SIEVE_RECIPE_DEVICE:-cuda}
# The carried binary finds the GPU machine's libtorch through LD_LIBRARY_PATH (GPU.md).
if TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))' 2>/dev/null); then
  export LD_LIBRARY_PATH=$TL/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
store=$(mktemp -d /tmp/sieve-recipe.XXXX)
work=$(mktemp -d /tmp/sieve-recipe-src.XXXX)
cp pipelines/difficulty_budget.sieve "$work/"
bin=$PWD/target/release/sieve
for b in "$bin" "$bin-torch"; do
  [ -x "$b" ] || { echo "gpu-recipe: $b is missing (carry target/release/sieve and sieve-torch)" >&2; exit 2; }
done
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
start=$(date +%s)
timeout "$limit" "$bin" run "$work/difficulty_budget.sieve" --cache-dir "$store" \
  --set profile="$profile" --set device="$device" --gpu-jobs 4 "$@" > "$work/run.log" 2>&1
rc=$?
echo "recipe exit code $rc after $(( $(date +%s) - start ))s (limit ${limit}s)"
tail -n 5 "$work/run.log"
# Collect: lock, reports, metrics of every evaluation, the log, the plan (what is missing).
"$bin" plan "$work/difficulty_budget.sieve" --cache-dir "$store" --set profile="$profile" --set device="$device" "$@" \
  > "$work/plan.txt" 2>&1 || true
mkdir -p "$work/results"
cp "$work"/run.log "$work"/plan.txt "$work/results/"
[ -f "$work/difficulty_budget.lock" ] && cp "$work/difficulty_budget.lock" "$work/results/"
for m in "$store"/entries/*/manifest.json; do
  [ -f "$m" ] || continue
  inst=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["instance"])' "$m")
  d=$(dirname "$m")
  safe=$(echo "$inst" | tr '[]=,' '_-__')
  case "$inst" in
    gain|curves|summary) mkdir -p "$work/results/$safe"; cp -r "$d/out/." "$work/results/$safe/" ;;
    acc*|base_acc) mkdir -p "$work/results/$safe"; cp "$d/out/metrics.json" "$work/results/$safe/" ;;
    base|tuned*) mkdir -p "$work/results/$safe"; cp "$d/out/training_metrics.jsonl" "$work/results/$safe/" 2>/dev/null || true ;;
  esac
  python3 - "$m" >> "$work/results/timings.tsv" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"{m['instance']}\t{m['wall_time_s']:.1f}\t{m['device']}")
PY
done
tar -czf "$OUT/recipe.tar.gz" -C "$work" results
[ -f "$work/results/summary/report.md" ] && sed -n '/^| budget/,/^$/p' "$work/results/summary/report.md"
exit 0
