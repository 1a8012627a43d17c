#!/usr/bin/env bash
# One-shot device check on a lent GPU machine (see /work/shared/GPU.md and
# docs/performance.md). Builds nothing: it uses the carried release binary
# (target/release/sieve and sieve-torch beside it) and the machine's PyTorch / transformers, writes everything
# under $OUT and prints a summary table last.
#
# Parts (each time-boxed with `timeout`; a failing part never stops the others):
#   env       GPU, driver, torch / transformers versions, libtorch linkage of the binary;
#   sanity    `sieve run pipelines/quickstart.sieve --set device=cuda` in a fresh cache;
#   devices   `sieve` (GPU count from /dev/nvidiaN) and `sieve-torch` (from libtorch) plan
#             the same keys, and the cached rerun needs no `sieve-torch`;
#   parity    tiny random Qwen2 built by transformers, loaded by the binary: f32 logits
#             (fused and reference kernels), greedy left-padded decoding, bf16 logits,
#             all against transformers on the same card (scripts/bench/cuda_parity.py);
#   bench     Qwen2.5-0.5B-shaped model, bf16, random init: training (8 × 2048 tokens,
#             10 steps after 3 warm-up) and generation (64 left-padded 128-token prompts,
#             256 sampled tokens) in sieve and in transformers, alternating
#             (sieve, hf, hf, sieve); then, while the time budget lasts, a second
#             training pair and the `small` preset (the earlier 0.68× / 0.73× figures).
#             A sieve run that fails is repeated once with --adamw plain and
#             --fused off (reported as NAME-safe).
#
# Usage: scripts/gpu-check.sh [--quick]
#   --quick                     tiny shapes and step counts (for testing the script)
#   SIEVE_GPU_CHECK_DEVICE=cpu  run every part on the CPU (with --quick: a local test)
#   OUT=DIR                     result folder (default: a new temporary folder)
#   SIEVE_BIN, SIEVE_PYTHON     binary and Python to use
#   GPU_CHECK_BUDGET=SECONDS    skip the optional parts after this much time (default 200)
#   GPU_CHECK_HARD_LIMIT=SECONDS  shorten time limits so the script ends by then (540)
# Files in $OUT: logs.txt (everything the parts printed), results.jsonl (one JSON object
# per benchmark run), parity.json, status.txt (exit code and duration of each part),
# summary.md (the table printed last).
set -u
cd "$(dirname "$0")/.."

QUICK=0
for a in "$@"; do
    case "$a" in
        --quick) QUICK=1 ;;
        *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
    esac
done
DEV=${SIEVE_GPU_CHECK_DEVICE:-cuda}
OUT=${OUT:-$(mktemp -d /tmp/gpu-check.XXXXXX)}
mkdir -p "$OUT"
BIN=${SIEVE_BIN:-target/release/sieve}
if [ -n "${SIEVE_PYTHON:-}" ]; then
    PY=$SIEVE_PYTHON
elif [ -x /opt/torch/.venv/bin/python ]; then
    PY=/opt/torch/.venv/bin/python
else
    PY=python3
fi
BUDGET=${GPU_CHECK_BUDGET:-200}
HARD=${GPU_CHECK_HARD_LIMIT:-540}
LAST_RC=0
LOG=$OUT/logs.txt
RES=$OUT/results.jsonl
STATUS=$OUT/status.txt
: > "$LOG"
: > "$RES"
: > "$STATUS"
START=$(date +%s)

TL=$("$PY" -c 'import torch,os;print(os.path.dirname(torch.__file__))' 2>>"$LOG")/lib
export LD_LIBRARY_PATH=$TL${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PYTHONUNBUFFERED=1

elapsed() { echo $(($(date +%s) - START)); }

# cap LIMIT: the limit, shortened so that the whole script ends by HARD seconds.
cap() {
    local left=$((HARD - $(elapsed)))
    [ "$left" -lt 5 ] && left=5
    [ "$1" -lt "$left" ] && echo "$1" || echo "$left"
}

# part NAME LIMIT CMD...: runs CMD with a time limit, all output to the log.
part() {
    local name=$1 limit
    limit=$(cap "$2")
    shift 2
    local t0
    t0=$(date +%s)
    echo "=== $name (t=$(elapsed)s, limit ${limit}s): $*" >>"$LOG"
    timeout -k 5 "$limit" "$@" >>"$LOG" 2>&1
    local rc=$?
    echo "$name rc=$rc $(($(date +%s) - t0))s" >>"$STATUS"
    echo "--- $name: rc=$rc" >>"$LOG"
}

# bench NAME LIMIT CMD...: like part, JSON lines of stdout to results.jsonl.
bench() {
    local name=$1 limit
    limit=$(cap "$2")
    shift 2
    local t0
    t0=$(date +%s)
    echo "=== $name (t=$(elapsed)s, limit ${limit}s): $*" >>"$LOG"
    timeout -k 5 "$limit" "$@" 2>>"$LOG" | tee -a "$LOG" | grep '^{' >>"$RES"
    local rc=${PIPESTATUS[0]}
    LAST_RC=$rc
    echo "$name rc=$rc $(($(date +%s) - t0))s" >>"$STATUS"
    echo "--- $name: rc=$rc" >>"$LOG"
}

# sieve_bench NAME LIMIT ARGS...: `sieve bench model ARGS --json`; if it fails, once more
# with the conservative paths (no fused kernels, no fused AdamW) as NAME-safe.
sieve_bench() {
    local name=$1 limit=$2
    shift 2
    bench "$name" "$limit" "$BIN" bench model "$@" --json
    if [ "$LAST_RC" != 0 ] && optional; then
        bench "$name-safe" "$limit" "$BIN" bench model "$@" --fused off --adamw plain --json
    fi
}

optional() { [ "$(elapsed)" -lt "$BUDGET" ]; }

if [ "$QUICK" = 1 ]; then
    BIG=(--shape tiny)
    TRAIN=(--batch 4 --seq 64 --steps 3 --warmup 1)
    GEN=(--batch 8 --prompt-len 16 --new-tokens 16)
    SMALL_TRAIN=(--shape nano --batch 4 --seq 32 --steps 2 --warmup 1)
    SMALL_GEN=(--shape nano --batch 4 --prompt-len 8 --new-tokens 8)
    LIM=120
else
    BIG=(--shape qwen2-0.5b)
    TRAIN=(--batch 8 --seq 2048 --steps 10 --warmup 3)
    GEN=(--batch 64 --prompt-len 128 --new-tokens 256)
    SMALL_TRAIN=(--shape small --batch 64 --seq 512 --steps 20 --warmup 3)
    SMALL_GEN=(--shape small --batch 64 --prompt-len 128 --new-tokens 128)
    LIM=100
fi
[ "$DEV" = cpu ] && CPUARGS=(--threads 2) || CPUARGS=()

# env
{
    echo "=== env (device $DEV, quick $QUICK)"
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
    "$PY" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())' 2>&1
    ls -la "$BIN" "$BIN-torch" 2>&1
    (readelf -d "$BIN-torch" 2>/dev/null | grep -E "NEEDED.*torch") || echo "readelf unavailable"
} >>"$LOG" 2>&1

# sanity: the CLI end to end on the device
CACHE=$(mktemp -d /tmp/gpu-check-cache.XXXXXX)
part sanity 90 "$BIN" run pipelines/quickstart.sieve --set "device=$DEV" --cache-dir "$CACHE"

# devices: `sieve` counts GPUs without libtorch (/dev/nvidiaN), `sieve-torch` asks
# libtorch; with `device = auto` both must compute the same keys (the device class is in
# the keys of libtorch stages), and the cached rerun must stay in `sieve`.
export BIN CACHE OUT DEV
part devices 30 bash -c '
    "$BIN" plan pipelines/quickstart.sieve --json --cache-dir "$CACHE" > "$OUT/plan-sieve.jsonl" &&
    "$BIN-torch" plan pipelines/quickstart.sieve --json --cache-dir "$CACHE" > "$OUT/plan-sieve-torch.jsonl" &&
    diff "$OUT/plan-sieve.jsonl" "$OUT/plan-sieve-torch.jsonl" && echo "device classes agree" &&
    SIEVE_TORCH_BIN=/nonexistent "$BIN" run pipelines/quickstart.sieve --set "device=$DEV" --cache-dir "$CACHE"'

# parity against transformers on the same device
part parity 90 "$PY" scripts/bench/cuda_parity.py --bin "$BIN" --device "$DEV" --out "$OUT/parity.json"

# benchmarks, alternating sieve / transformers
sieve_bench sieve-train "$LIM" "${BIG[@]}" --mode train --device "$DEV" "${TRAIN[@]}" "${CPUARGS[@]}"
bench hf-train "$LIM" "$PY" scripts/bench/hf_bench.py "${BIG[@]}" --mode train --device "$DEV" "${TRAIN[@]}" "${CPUARGS[@]}"
bench hf-generate "$LIM" "$PY" scripts/bench/hf_bench.py "${BIG[@]}" --mode generate --device "$DEV" "${GEN[@]}" "${CPUARGS[@]}"
sieve_bench sieve-generate "$LIM" "${BIG[@]}" --mode generate --device "$DEV" "${GEN[@]}" "${CPUARGS[@]}"

# optional, while the budget lasts (checked before each run)
skip() { echo "skipped $1 (t=$(elapsed)s > budget ${BUDGET}s)" >>"$STATUS"; }
if optional; then bench hf-train-2 "$LIM" "$PY" scripts/bench/hf_bench.py "${BIG[@]}" --mode train --device "$DEV" "${TRAIN[@]}" "${CPUARGS[@]}"; else skip hf-train-2; fi
if optional; then sieve_bench sieve-train-2 "$LIM" "${BIG[@]}" --mode train --device "$DEV" "${TRAIN[@]}" "${CPUARGS[@]}"; else skip sieve-train-2; fi
if optional; then sieve_bench sieve-small "$LIM" "${SMALL_TRAIN[@]}" --mode train --device "$DEV" "${CPUARGS[@]}"; else skip sieve-small; fi
if optional; then bench hf-small "$LIM" "$PY" scripts/bench/hf_bench.py "${SMALL_TRAIN[@]}" --mode train --device "$DEV" "${CPUARGS[@]}"; else skip hf-small; fi
if optional; then bench hf-small-gen "$LIM" "$PY" scripts/bench/hf_bench.py "${SMALL_GEN[@]}" --mode generate --device "$DEV" "${CPUARGS[@]}"; else skip hf-small-gen; fi
if optional; then sieve_bench sieve-small-gen "$LIM" "${SMALL_GEN[@]}" --mode generate --device "$DEV" "${CPUARGS[@]}"; else skip sieve-small-gen; fi
rm -rf "$CACHE"

echo "total $(elapsed)s" >>"$STATUS"
"$PY" scripts/bench/summary.py "$OUT" 2>>"$LOG" || cat "$STATUS"
echo "(results in $OUT)"
