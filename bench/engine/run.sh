#!/usr/bin/env bash
# Engine-overhead benchmark: sieve vs Snakemake vs DVC on the same 1,000 trivial stages.
#
#   bash bench/engine/run.sh
#
# Measures, in one invocation (so every ratio comes from the same machine state):
#   - first run   : sieve run -j 2 | snakemake -j 2 | dvc repro    (empty caches, fresh folders)
#   - cached plan : sieve plan     | snakemake -n   | dvc status   (everything up to date)
#   - no-op run   : sieve run -j 2 | snakemake -j 2 | dvc repro    (everything up to date)
#   - bare start  : sieve --version | snakemake --version | dvc --version
# and sieve's first-run engine overhead = wall time minus the sum of the stages' own
# compute time (the `seconds` of the `finished` events of `sieve run --json`).
# Prints a Markdown table (absolute medians and ratios other tool / sieve) and leaves
# raw hyperfine JSON, event logs and the table under $BENCH_OUT.
#
# Snakemake 9.27.* and DVC 3.67.* (from PyPI) go into their own venv,
# ${SIEVE_HOME:-$HOME/.cache/sieve}/bench-venv, created once. The sieve binary is
# target/release/sieve (built with `cargo build --release` if missing; set SIEVE_BIN to
# use another). Takes ~20 minutes, most of it DVC's first run; on a busy machine copy the
# binary elsewhere first (SIEVE_BIN=...) so a concurrent `cargo build` cannot swap it mid-run.
#
# Knobs (environment): BENCH_OUT (default bench-out/engine), SIEVE_BIN, BENCH_VENV,
# PYTHON (for the venv, >= 3.11), JOBS (2), RUNS_SIEVE (first runs of sieve, 5),
# RUNS_SMK (first runs of Snakemake, 2), RUNS_DVC (first runs of DVC, 1), RUNS_CACHED
# (sieve cached runs, 20), RUNS_CACHED_SMK (5), RUNS_CACHED_DVC (3), SKIP_SMK=1,
# SKIP_DVC=1 (leave a tool out; its columns then read "-").
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${BENCH_OUT:-$ROOT/bench-out/engine}
VENV=${BENCH_VENV:-${SIEVE_HOME:-$HOME/.cache/sieve}/bench-venv}
PYTHON=${PYTHON:-python3}
SIEVE=${SIEVE_BIN:-$ROOT/target/release/sieve}
JOBS=${JOBS:-2}
RUNS_SIEVE=${RUNS_SIEVE:-5}
RUNS_SMK=${RUNS_SMK:-2}
RUNS_DVC=${RUNS_DVC:-1}
RUNS_CACHED=${RUNS_CACHED:-20}
RUNS_CACHED_SMK=${RUNS_CACHED_SMK:-5}
RUNS_CACHED_DVC=${RUNS_CACHED_DVC:-3}
SKIP_SMK=${SKIP_SMK:-0}
SKIP_DVC=${SKIP_DVC:-0}
SMK_SPEC='snakemake==9.27.*'
DVC_SPEC='dvc==3.67.*'

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- tools ---------------------------------------------------------------------------
if ! command -v hyperfine >/dev/null 2>&1; then
  log "hyperfine not found; trying apt-get install -y hyperfine"
  if command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq hyperfine >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq hyperfine >/dev/null 2>&1; } || true
  fi
fi
HAVE_HYPERFINE=0
command -v hyperfine >/dev/null 2>&1 && HAVE_HYPERFINE=1

if [[ ! -x $SIEVE ]]; then
  log "building $SIEVE (cargo build --release)"
  (cd "$ROOT" && cargo build --release)
fi
SIEVE=$(cd "$(dirname "$SIEVE")" && pwd)/$(basename "$SIEVE")

STAMP="$VENV/.bench-ok-snakemake-9.27-dvc-3.67"
if [[ ! -f $STAMP ]]; then
  log "creating $VENV with $SMK_SPEC and $DVC_SPEC (once)"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "$SMK_SPEC" "$DVC_SPEC"
  touch "$STAMP"
fi
PY="$VENV/bin/python"
SMK="$VENV/bin/snakemake"
DVC="$VENV/bin/dvc"
export DVC_NO_ANALYTICS=1 DVC_NO_UPDATE_CHECK=1

# --- scratch dirs ----------------------------------------------------------------------
# Every first run gets a brand-new project folder (prepared, untimed): nothing is deleted
# between runs. Deleting thousands of files just before a run makes the next run's file
# creations slow on ext4 without a journal (the kernel skips recently deleted inodes),
# which would measure the file system, not the engines; the first_sieve_rm row measures
# exactly that case separately. The previous results are removed only at the very end.
if [[ -e $OUT ]]; then
  OLD="$OUT.old.$$"
  mv "$OUT" "$OLD"
fi
mkdir -p "$OUT/results" "$OUT/sieve" "$OUT/snakemake" "$OUT/dvc"
RES="$OUT/results"
cp "$HERE/sweep1000.sieve" "$OUT/sieve/"
cp "$HERE/Snakefile" "$OUT/snakemake/"
cp "$HERE/dvc.yaml" "$OUT/dvc/"
"$PY" - "$OUT/dvc/cells.yaml" <<'EOF'
import sys
cells = [f"{a}_{b}_{c}" for a in range(10) for b in range(10) for c in range(10)]
with open(sys.argv[1], "w") as f:
    f.write("cells:\n" + "".join(f'  - "{c}"\n' for c in cells))
EOF
sync

# --- timing ----------------------------------------------------------------------------
# bench NAME RUNS WARMUP PREPARE CMD: runs CMD (through a shell); writes $RES/NAME.json
# in hyperfine's format ({"results":[{"times":[...]}]}), with or without hyperfine.
bench() {
  local name=$1 runs=$2 warmup=$3 prepare=$4 cmd=$5
  log "$name: $runs run(s): $cmd"
  if [[ $HAVE_HYPERFINE == 1 ]]; then
    local args=(--runs "$runs" --warmup "$warmup" --export-json "$RES/$name.json" --style basic --command-name "$name")
    [[ -n $prepare ]] && args+=(--prepare "$prepare")
    hyperfine "${args[@]}" "$cmd" >"$RES/$name.txt" 2>&1 || { cat "$RES/$name.txt" >&2; return 1; }
  else
    local i t0 t1 times=()
    for ((i = 0; i < warmup; i++)); do
      [[ -n $prepare ]] && bash -c "$prepare"
      bash -c "$cmd" >/dev/null 2>&1
    done
    for ((i = 0; i < runs; i++)); do
      [[ -n $prepare ]] && bash -c "$prepare"
      t0=$(date +%s.%N)
      bash -c "$cmd" >/dev/null 2>&1
      t1=$(date +%s.%N)
      times+=("$("$PY" -c "print($t1 - $t0)")")
    done
    printf '{"results":[{"command":"%s","times":[%s]}]}\n' "$name" "$(IFS=,; echo "${times[*]}")" >"$RES/$name.json"
  fi
}

# fresh TOOL FILES... -> a shell snippet that makes $OUT/TOOL/first.<ns>/ holding FILES,
# and records it in $OUT/TOOL/current (the timed command cd's there).
fresh() {
  local tool=$1
  shift
  local files=""
  for f in "$@"; do files+=" '$OUT/$tool/$f'"; done
  echo "d='$OUT/$tool/first.'\$(date +%s%N) && mkdir -p \"\$d\" && cp$files \"\$d/\" && echo \"\$d\" > '$OUT/$tool/current'"
}
count_outputs() { find "$1" -maxdepth 1 -type f -name 's_*' | wc -l; }

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  echo "kernel: $(uname -r); file system of $OUT: $(df -T "$OUT" | awk 'NR==2{print $2}')"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "sieve: $("$SIEVE" --version) (binary $SIEVE built $(date -u -r "$SIEVE" +%Y-%m-%dT%H:%MZ); checkout at git $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "snakemake: $("$SMK" --version)"
  echo "dvc: $("$DVC" --version)"
  echo "hyperfine: $(hyperfine --version 2>/dev/null || echo 'absent (date +%s.%N loop)')"
} | tee "$RES/machine.txt" >&2

# --- bare start-up ----------------------------------------------------------------------
bench start_sieve "$RUNS_CACHED" 2 "" "'$SIEVE' --version"
[[ $SKIP_SMK == 1 ]] || bench start_smk 3 1 "" "'$SMK' --version"
[[ $SKIP_DVC == 1 ]] || bench start_dvc 3 1 "" "'$DVC' --version"

# --- sieve --------------------------------------------------------------------------------
cd "$OUT/sieve"
bench first_sieve "$RUNS_SIEVE" 0 "$(fresh sieve sweep1000.sieve)" \
  "cd \"\$(cat '$OUT/sieve/current')\" && '$SIEVE' run -j $JOBS --json sweep1000.sieve > events.jsonl"
LAST=$(cat "$OUT/sieve/current")
cd "$LAST"
n=$(grep -c '"event":"finished"' events.jsonl || true)
[[ $n == 1000 ]] || { log "sieve: expected 1000 finished stages, got $n"; exit 1; }
bench plan_sieve "$RUNS_CACHED" 2 "" "'$SIEVE' plan sweep1000.sieve"
bench noop_sieve "$RUNS_CACHED" 2 "" "'$SIEVE' run -j $JOBS sweep1000.sieve"
bench check_sieve "$RUNS_CACHED" 2 "" "'$SIEVE' check sweep1000.sieve"
"$SIEVE" plan sweep1000.sieve | tail -1 >&2
"$SIEVE" run -j "$JOBS" --json sweep1000.sieve | grep '"event":"end"' >"$RES/noop_sieve_end.json"
grep -q '"executed":0' "$RES/noop_sieve_end.json" || { log "sieve: the no-op run executed stages"; exit 1; }
# The same first run, but in a store that was just emptied with `rm -rf` (untimed).
bench first_sieve_rm 3 0 "rm -rf .sieve sweep1000.sieve.lock" "'$SIEVE' run -j $JOBS sweep1000.sieve 2>/dev/null"

# --- Snakemake ------------------------------------------------------------------------------
if [[ $SKIP_SMK != 1 ]]; then
  cd "$OUT/snakemake"
  bench first_smk "$RUNS_SMK" 0 "$(fresh snakemake Snakefile)" \
    "cd \"\$(cat '$OUT/snakemake/current')\" && '$SMK' all -j $JOBS --quiet --force-use-threads"
  cd "$(cat "$OUT/snakemake/current")"
  [[ $(count_outputs out) == 1000 ]] || { log "snakemake: expected 1000 outputs"; exit 1; }
  bench plan_smk "$RUNS_CACHED_SMK" 1 "" "'$SMK' all -n -j $JOBS --quiet --force-use-threads"
  bench noop_smk "$RUNS_CACHED_SMK" 1 "" "'$SMK' all -j $JOBS --quiet --force-use-threads"
  "$SMK" all -n -j "$JOBS" 2>&1 | tail -1 >&2
fi

# --- DVC --------------------------------------------------------------------------------------
if [[ $SKIP_DVC != 1 ]]; then
  cd "$OUT/dvc"
  bench first_dvc "$RUNS_DVC" 0 \
    "$(fresh dvc dvc.yaml cells.yaml) && cd \"\$d\" && mkdir out && '$DVC' init --no-scm -q && '$DVC' config core.analytics false" \
    "cd \"\$(cat '$OUT/dvc/current')\" && '$DVC' repro -q"
  cd "$(cat "$OUT/dvc/current")"
  [[ $(count_outputs out) == 1000 ]] || { log "dvc: expected 1000 outputs"; exit 1; }
  bench plan_dvc "$RUNS_CACHED_DVC" 1 "" "'$DVC' status -q"
  bench noop_dvc "$RUNS_CACHED_DVC" 1 "" "'$DVC' repro -q"
  "$DVC" status 2>&1 | tail -1 >&2
fi
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RES/machine.txt" >&2

# --- report -------------------------------------------------------------------------------------
"$PY" "$HERE/report.py" "$RES" "$OUT/sieve" "$JOBS" | tee "$RES/table.md"
if [[ -n ${OLD:-} ]]; then
  rm -rf "$OLD"
fi
log "done; raw results under $RES"
