#!/usr/bin/env bash
# The fault campaign (docs/reliability.md): sieve is killed, raced, fed a tampered store
# and handed bad pipelines and bad data, and every outcome is checked against what a
# clean run gives. Prints one table row per fault class and exits 1 if any cell that
# must be 0 is not (2 when the campaign itself cannot run).
#
#   scripts/faults.sh [N [M]]
#
#   N  kill trials (default: $N, else 5); also sets the concurrency rounds (N/10, at least 1)
#   M  concurrent runs per round (default: $M, else 3)
#
# Environment:
#   FAULTS_CLASSES   classes to run (default "kill concurrent tamper pipelines data")
#   SIEVE_BIN_DIR    folder holding `sieve` and `sieve-torch` (default: target/release,
#                    built first with `cargo build --release --bins`)
#   FAULTS_SEED      seed of the random kill moments (default 1)
#   FAULTS_LIMIT_S   seconds one corpus command may take (default 1)
#   FAULTS_LIMIT_MB  peak resident memory one corpus command may use (default 200)
#   FAULTS_CASES     only the corpus cases whose file name matches this glob (default *)
#   FAULTS_WORK      work folder (default: a new temp folder, removed unless FAULTS_KEEP=1
#                    or a cell is not 0)
#
# Needs bash, coreutils, GNU time (/usr/bin/time) and mkfifo. Runs from any folder.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
trials=${1:-${N:-5}}
concurrent=${2:-${M:-3}}
classes=${FAULTS_CLASSES:-kill concurrent tamper pipelines data}
seed=${FAULTS_SEED:-1}
limit_s=${FAULTS_LIMIT_S:-1}
limit_mb=${FAULTS_LIMIT_MB:-200}
cases=${FAULTS_CASES:-*}

die() {
  echo "faults.sh: $*" >&2
  exit 2
}
[[ $trials =~ ^[0-9]+$ && $concurrent =~ ^[1-9][0-9]*$ ]] || die "usage: scripts/faults.sh [N [M]] (N >= 0 kill trials, M >= 1 concurrent runs)"
[ -x /usr/bin/time ] || die "needs GNU time at /usr/bin/time (to measure peak memory): apt-get install time"
command -v mkfifo >/dev/null || die "needs mkfifo (coreutils)"

if [ -n "${SIEVE_BIN_DIR:-}" ]; then
  bin=$(cd "$SIEVE_BIN_DIR" && pwd) || die "SIEVE_BIN_DIR=$SIEVE_BIN_DIR is not a folder"
else
  bin=$repo/target/release
  echo "building release binaries (cargo build --release --bins)…" >&2
  (cd "$repo" && cargo build --release --bins) >&2 || die "cannot build the release binaries"
fi
sieve=$bin/sieve
[ -x "$sieve" ] && [ -x "$bin/sieve-torch" ] || die "no sieve and sieve-torch in $bin"

work=${FAULTS_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/sieve-faults.XXXXXX")}
mkdir -p "$work"
work=$(cd "$work" && pwd)
# The store of every run is the one beside its pipeline, whatever the caller's environment.
unset SIEVE_CACHE
# One libtorch thread per process: on a loaded machine libtorch's default (a thread per
# core, spinning while it waits) makes a one-second training take half a minute, and
# the kill moments are drawn from the reference run's duration.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export NO_COLOR=1
failures=$work/failures.txt
: >"$failures"

# ---------------------------------------------------------------- bookkeeping
# One row per class; every column but `trials` must stay 0.
columns=(trials corrupt consumed panics oom exit noloc slow dup unreported)
declare -A cell
for class in kill concurrent tamper pipelines data; do
  for c in "${columns[@]}"; do cell[$class.$c]=0; done
done

# `fail CLASS COLUMN CASE WHAT [LOG]`: counts one problem and says where to look.
fail() {
  cell[$1.$2]=$((cell[$1.$2] + 1))
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$failures"
}

# `inspect CLASS CASE RC ERRFILE [OURS]`: counts a panic (exit 101 or a panic message,
# caught or not) and a death by a signal this script did not send (OURS: the one it sent),
# or an allocation failure, as an out-of-memory crash.
inspect() {
  local class=$1 case=$2 rc=$3 err=$4 ours=${5:-}
  if [ "$rc" = 101 ] || grep -q 'panicked at' "$err" 2>/dev/null; then
    fail "$class" panics "$case" "panic (exit $rc)" "$err"
  fi
  if { [ "$rc" -ge 128 ] && [ "$rc" != "$ours" ]; } ||
    grep -Eqi "memory allocation of [0-9]+ bytes failed|can't allocate memory|out of memory" "$err" 2>/dev/null; then
    fail "$class" oom "$case" "killed by a signal or out of memory (exit $rc)" "$err"
  fi
}

# `measured DIR OUT ERR CMD…`: runs CMD in DIR (stopped after 60 s: exit 124), output to
# OUT and ERR; sets RC, WALL (seconds) and RSS_MB (peak resident memory).
measured() {
  local dir=$1 out=$2 err=$3
  shift 3
  local t
  t=$(mktemp "$work/time.XXXXXX")
  (cd "$dir" && exec /usr/bin/time -f '%e %M' -o "$t" timeout -k 5 60 "$@") >"$out" 2>"$err"
  RC=$?
  read -r WALL rss_kb < <(tail -n 1 "$t")
  RSS_MB=$((${rss_kb:-0} / 1024))
  rm -f "$t"
}

# The largest peak memory and the longest time of one corpus command, per class.
declare -A peak_mb peak_s
note_peak() {
  local class=$1 case=$2
  printf '%s\t%s\t%s\t%s\t%s\n' "$class" "$case" "$RC" "$WALL" "$RSS_MB" >>"$work/measurements.tsv"
  if [ "$RSS_MB" -gt "${peak_mb[$class]:-0}" ]; then
    peak_mb[$class]=$RSS_MB
    peak_mb[$class.case]=$case
  fi
  if awk -v a="$WALL" -v b="${peak_s[$class]:-0}" 'BEGIN { exit !(a > b) }'; then
    peak_s[$class]=$WALL
    peak_s[$class.case]=$case
  fi
}

# `over_bounds WALL RSS_MB`: whether a corpus command took too long or too much memory.
over_bounds() {
  awk -v w="$1" -v r="$2" -v lw="$limit_s" -v lr="$limit_mb" 'BEGIN { exit !(w > lw || r > lr) }'
}

# `damaged_count STORE`: entries `cache verify` finds damaged (0 when it finds none).
damaged_count() {
  "$sieve" cache verify --cache-dir "$1" >"$work/verify.out" 2>&1
  grep -c '^damaged ' "$work/verify.out"
}

# ---------------------------------------------------------------- the pipeline under attack
# Several stages of every sort, a libtorch hand-off (model.init, sft, evaluate) and an sft
# that writes a checkpoint every 10 steps: a run takes a few seconds.
pipeline_text() {
  cat <<'EOF'
pipeline faults {
  let seed = 1
  stage train  = synth.arith(n = 2_000, digits = 1..2, op = "add", seed = seed)
  stage test   = synth.arith(n = 64, digits = 1..2, op = "add", seed = seed + 1)
  stage scored = score(train, by = length)
  stage subset = select(scored, budget = 512, strategy = "easiest", seed = seed)
  stage init   = model.init(arch = "nano", tokenizer = "chars", seed = seed)
  stage tuned  = sft(init, subset, steps = 100, batch_size = 16, max_seq_len = 32, save_every = 10, lr = 3e-3)
  stage acc    = evaluate(tuned, test, metric = exact_match, max_new_tokens = 8)
  stage table  = report(acc, kind = table)
}
EOF
}
# Who reads each stage (what `run --force` must recompute so a stage's entry is read).
declare -A reader=([train]=scored [test]=acc [scored]=subset [subset]=tuned [init]=tuned [tuned]=acc [acc]=table)

now_ms() { date +%s%3N; }

needs_reference() {
  [ -f "$work/ref/faults.lock" ] && return 0
  mkdir -p "$work/ref"
  pipeline_text >"$work/ref/faults.sieve"
  local start
  start=$(now_ms)
  (cd "$work/ref" && "$sieve" run faults.sieve --json) >"$work/ref/run.out" 2>"$work/ref/run.err" ||
    die "the clean reference run failed: $(tail -n 5 "$work/ref/run.err")"
  ref_ms=$(($(now_ms) - start))
  [ -f "$work/ref/faults.lock" ] || die "the clean reference run wrote no lock file"
  echo "reference run: ${ref_ms} ms, $(ls "$work/ref/.sieve/entries" | wc -l) entries" >&2
}

# `same_results CLASS CASE DIR`: the run in DIR reproduced the clean reference: its lock
# file (every stage's key and output digest) is the reference's, byte for byte.
same_results() {
  if ! cmp -s "$3/faults.lock" "$work/ref/faults.lock"; then
    diff "$work/ref/faults.lock" "$3/faults.lock" >"$3/lock.diff" 2>&1
    fail "$1" consumed "$2" "results differ from the clean reference run" "$3/lock.diff"
  fi
}

# ---------------------------------------------------------------- kill -9
RANDOM=$seed
random_ms() { echo $(((RANDOM * 32768 + RANDOM) % ($1 + 1))); }
kill_landings=0
kill_moments=""

kill_class() {
  needs_reference
  local i k
  for ((i = 1; i <= trials; i++)); do
    local dir=$work/kill/$i
    mkdir -p "$dir"
    pipeline_text >"$dir/faults.sieve"
    cell[kill.trials]=$((cell[kill.trials] + 1))
    # Odd trials kill twice in a row: the second run resumes what the first left.
    local kills=$((1 + i % 2))
    for ((k = 1; k <= kills; k++)); do
      local delay
      delay=$(random_ms $((ref_ms * 12 / 10)))
      (cd "$dir" && exec "$sieve" run faults.sieve --json) >"$dir/run$k.out" 2>"$dir/run$k.err" &
      local pid=$!
      sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
      kill -9 "$pid" 2>/dev/null
      wait "$pid"
      local rc=$?
      inspect kill "trial $i kill $k" "$rc" "$dir/run$k.err" 137
      if [ "$rc" = 137 ]; then
        kill_landings=$((kill_landings + 1))
        local at
        at=$(grep -o '"event":"[a-z]*","stage":"[a-z]*"' "$dir/run$k.out" | tail -n 1 | sed 's/"event":"\([a-z]*\)","stage":"\([a-z]*\)"/\1 \2/')
        kill_moments+="${at:-starting}|"
      elif [ "$rc" != 0 ]; then
        fail kill exit "trial $i kill $k" "the killed run had exited by itself with $rc" "$dir/run$k.err"
      fi
      local damaged
      damaged=$(damaged_count "$dir/.sieve")
      if [ "$damaged" != 0 ]; then
        cp "$work/verify.out" "$dir/verify$k.out"
        for ((j = 0; j < damaged; j++)); do fail kill corrupt "trial $i kill $k" "cache verify: damaged entry" "$dir/verify$k.out"; done
      fi
    done
    (cd "$dir" && "$sieve" run faults.sieve --json) >"$dir/rerun.out" 2>"$dir/rerun.err"
    local rc=$?
    inspect kill "trial $i rerun" "$rc" "$dir/rerun.err"
    [ "$rc" = 0 ] || fail kill exit "trial $i rerun" "the clean rerun exited with $rc" "$dir/rerun.err"
    same_results kill "trial $i" "$dir"
    local damaged
    damaged=$(damaged_count "$dir/.sieve")
    for ((j = 0; j < damaged; j++)); do fail kill corrupt "trial $i rerun" "cache verify after the rerun" "$dir"; done
  done
}

# ---------------------------------------------------------------- concurrent runs
concurrent_class() {
  needs_reference
  local rounds=$((trials / 10))
  [ "$rounds" -ge 1 ] || rounds=1
  local r j
  for ((r = 1; r <= rounds; r++)); do
    local dir=$work/concurrent/$r
    mkdir -p "$dir"
    pipeline_text >"$dir/faults.sieve"
    cell[concurrent.trials]=$((cell[concurrent.trials] + 1))
    local pids=()
    for ((j = 1; j <= concurrent; j++)); do
      (cd "$dir" && exec "$sieve" run faults.sieve --json -j 2) >"$dir/run$j.out" 2>"$dir/run$j.err" &
      pids+=($!)
    done
    for ((j = 1; j <= concurrent; j++)); do
      wait "${pids[j - 1]}"
      local rc=$?
      inspect concurrent "round $r run $j" "$rc" "$dir/run$j.err"
      [ "$rc" = 0 ] || fail concurrent exit "round $r run $j" "exited with $rc" "$dir/run$j.err"
    done
    # Every key is started by exactly one of the runs.
    local key count
    while read -r count key; do
      [ "$count" -le 1 ] || fail concurrent dup "round $r" "key $key computed $count times" "$dir"
    done < <(cat "$dir"/run*.out | grep '"event":"started"' | grep -o '"key":"[0-9a-f]*"' | sort | uniq -c)
    local started
    started=$(cat "$dir"/run*.out | grep -c '"event":"started"')
    [ "$started" = "$(ls "$work/ref/.sieve/entries" | wc -l)" ] ||
      fail concurrent dup "round $r" "$started stages computed in all, the pipeline has $(ls "$work/ref/.sieve/entries" | wc -l)" "$dir"
    same_results concurrent "round $r" "$dir"
    local damaged
    damaged=$(damaged_count "$dir/.sieve")
    for ((j = 0; j < damaged; j++)); do fail concurrent corrupt "round $r" "cache verify: damaged entry" "$dir"; done
  done
}

# ---------------------------------------------------------------- store tampering
# `tamper_KIND ENTRY PARTNER`: damages the committed entry folder ENTRY (PARTNER: another
# entry, for the kinds that mix two). Each leaves bytes that must never be consumed.
largest_file() { find "$1/out" -type f -printf '%s %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-; }
tamper_flip_byte() {
  local f at old
  f=$(largest_file "$1")
  at=$(($(stat -c %s "$f") / 2))
  old=$(od -An -tu1 -j "$at" -N 1 "$f" | tr -d ' ')
  printf "\\$(printf '%03o' $((old ^ 1)))" | dd of="$f" bs=1 seek="$at" conv=notrunc status=none
}
tamper_truncate() { local f; f=$(largest_file "$1"); truncate -s $(($(stat -c %s "$f") / 2)) "$f"; }
tamper_zero_length() { local f; f=$(largest_file "$1"); : >"$f"; }
tamper_append() { local f; f=$(largest_file "$1"); printf 'trailing bytes' >>"$f"; }
tamper_zero_fill() {
  local f size
  f=$(largest_file "$1")
  size=$(stat -c %s "$f")
  head -c "$size" /dev/zero >"$f"
}
tamper_delete_file() { rm -f "$(largest_file "$1")"; }
tamper_stray_file() { printf 'not part of the artifact\n' >"$1/out/stray.txt"; }
tamper_rename_file() { local f; f=$(largest_file "$1"); mv "$f" "$f.renamed"; }
tamper_file_symlink() {
  # The same bytes, but behind a link that could point anywhere later.
  local f
  f=$(largest_file "$1")
  cp "$f" "$1/../../../copy.$(basename "$f")"
  rm "$f"
  ln -s "$(cd "$1/../../.." && pwd)/copy.$(basename "$f")" "$f"
}
tamper_file_to_folder() { local f; f=$(largest_file "$1"); rm "$f"; mkdir -p "$f/inner"; }
tamper_delete_out() { rm -rf "$1/out"; }
tamper_empty_entry() { find "$1" -mindepth 1 -delete; }
tamper_delete_manifest() { rm -f "$1/manifest.json"; }
tamper_garble_manifest() { printf '\x00\xff{"key": [[[\n\x7f' >"$1/manifest.json"; }
tamper_truncate_manifest() { truncate -s $(($(stat -c %s "$1/manifest.json") / 2)) "$1/manifest.json"; }
tamper_edit_manifest() {
  # Valid JSON that records other bytes for every file: what a hand edit would do.
  sed -i -E 's/"blake3": "[0-9a-f]{8}/"blake3": "00000000/' "$1/manifest.json"
}
tamper_foreign_manifest() { cp "$2/manifest.json" "$1/manifest.json"; }
tamper_swap_out() {
  mv "$1/out" "$1/out.swap"
  mv "$2/out" "$1/out"
  mv "$1/out.swap" "$2/out"
}
tamper_out_symlink() { rm -rf "$1/out"; ln -s "$2/out" "$1/out"; }
tamper_swap_file() {
  # A valid file of the same name from another artifact: well-formed, wrong bytes.
  local f name
  f=$(largest_file "$1")
  name=${f#"$1/out/"}
  if [ -f "$2/out/$name" ]; then cp "$2/out/$name" "$f"; else cp "$(largest_file "$2")" "$f"; fi
}
tamper_kinds=(flip_byte truncate zero_length append zero_fill delete_file stray_file rename_file
  file_symlink file_to_folder delete_out empty_entry delete_manifest garble_manifest
  truncate_manifest edit_manifest foreign_manifest swap_out out_symlink swap_file)
# Upstream entries attacked (a dataset read by a data stage, a model and a dataset read by
# sft), each with a partner entry of the same artifact kind for the mixing kinds.
tamper_targets=(train init subset)
declare -A partner=([train]=test [init]=tuned [subset]=test)

tamper_class() {
  needs_reference
  local i=0 kind target
  for kind in "${tamper_kinds[@]}"; do
    local targets=("${tamper_targets[@]}")
    # A CI-sized campaign attacks one target per kind, in turn.
    [ "$trials" -ge 10 ] || targets=("${tamper_targets[i % ${#tamper_targets[@]}]}")
    i=$((i + 1))
    for target in "${targets[@]}"; do
      local case="$kind on $target"
      local dir=$work/tamper/$kind.$target
      mkdir -p "$dir"
      cp -a "$work/ref/.sieve" "$work/ref/faults.sieve" "$work/ref/faults.lock" "$dir/"
      cell[tamper.trials]=$((cell[tamper.trials] + 1))
      local entry other
      entry=$(dirname "$("$sieve" path "$dir/faults.sieve" "$target")")
      other=$(dirname "$("$sieve" path "$dir/faults.sieve" "${partner[$target]}")")
      [ -d "$entry/out" ] && [ -d "$other/out" ] || die "cannot find the entries of $target and ${partner[$target]}"
      "tamper_$kind" "$entry" "$other"
      # `plan --verify` must not call the stage cached and up to date.
      "$sieve" plan "$dir/faults.sieve" --verify --json >"$dir/plan.out" 2>"$dir/plan.err"
      local rc=$?
      inspect tamper "$case: plan --verify" "$rc" "$dir/plan.err"
      if grep "\"stage\":\"$target\"" "$dir/plan.out" | grep -q '"status":"cached"'; then
        fail tamper unreported "$case" "plan --verify calls the damaged entry cached" "$dir/plan.out"
      fi
      [ "$rc" = 1 ] || [ "$rc" = 0 ] || fail tamper exit "$case: plan --verify" "exited with $rc" "$dir/plan.err"
      # The run recomputes what reads the damaged entries: each must be found and repaired.
      (cd "$dir" && "$sieve" run faults.sieve --json --force "${reader[$target]}" --force "${reader[${partner[$target]}]}") \
        >"$dir/run.out" 2>"$dir/run.err"
      rc=$?
      inspect tamper "$case: run" "$rc" "$dir/run.err"
      [ "$rc" = 0 ] || fail tamper exit "$case: run" "exited with $rc" "$dir/run.err"
      grep '"event":"damaged"' "$dir/run.out" | grep -q "\"stage\":\"$target\"" ||
        fail tamper unreported "$case" "the run did not report the damaged entry" "$dir/run.out"
      same_results tamper "$case" "$dir"
      local damaged
      damaged=$(damaged_count "$dir/.sieve")
      for ((j = 0; j < damaged; j++)); do fail tamper corrupt "$case" "cache verify after the run" "$dir"; done
    done
  done
}

# ---------------------------------------------------------------- the corpora
corpus=$work/corpus
# `needs_corpus pipelines|data`: generates that corpus (once).
needs_corpus() {
  [ -d "$corpus/$1" ] && return 0
  bash "$repo/tests/faults/generate.sh" "$corpus" "$sieve" "$1" >&2 || die "cannot generate the $1 corpus"
}

pipelines_class() {
  needs_corpus pipelines
  local dir=$corpus/pipelines f
  for f in "$dir"/*; do
    [ -f "$f" ] || [ -p "$f" ] || continue
    local name
    name=$(basename "$f")
    case $name in *.sieve | *.yaml | *.yml) ;; *) continue ;; esac
    # shellcheck disable=SC2254 # a glob on purpose
    case $name in $cases) ;; *) continue ;; esac
    cell[pipelines.trials]=$((cell[pipelines.trials] + 1))
    local cmd
    for cmd in check run; do
      local log=$work/pipelines/$name.$cmd
      mkdir -p "$work/pipelines"
      measured "$dir" "$log.out" "$log.err" "$sieve" "$cmd" "$name"
      note_peak pipelines "$name ($cmd)"
      inspect pipelines "$name ($cmd)" "$RC" "$log.err"
      [ "$RC" = 2 ] || fail pipelines exit "$name ($cmd)" "exited with $RC, not 2" "$log.err"
      # A root file refused unread (a named pipe, over 16 MiB) has no line to point at:
      # the diagnostic names it instead.
      grep -Eq '[^[:space:]]+\.(sieve|yaml|yml):[0-9]+:[0-9]+' "$log.err" ||
        grep -Eq "\`$name\` is (a named pipe|[0-9]+ bytes long)" "$log.err" ||
        fail pipelines noloc "$name ($cmd)" "no file:line:col in the diagnostic" "$log.err"
      if over_bounds "$WALL" "$RSS_MB"; then
        fail pipelines slow "$name ($cmd)" "${WALL} s, ${RSS_MB} MB (bounds: ${limit_s} s, ${limit_mb} MB)" "$log.err"
      fi
    done
  done
  # Nothing may have been computed for any of them.
  if [ -d "$dir/.sieve/entries" ] && [ -n "$(ls "$dir/.sieve/entries")" ]; then
    fail pipelines exit "corpus" "an invalid pipeline computed something" "$dir/.sieve/entries"
  fi
}

data_class() {
  needs_corpus data
  local dir=$corpus/data f
  for f in "$dir"/*; do
    local name
    name=$(basename "$f")
    case $name in *.sieve | *.lock) continue ;; esac
    # shellcheck disable=SC2254 # a glob on purpose
    case $name in $cases) ;; *) continue ;; esac
    cell[data.trials]=$((cell[data.trials] + 1))
    # Named by number, so that only a message about the data can name the data file.
    local pipe=case${cell[data.trials]}.sieve
    if [ -d "$f" ]; then
      # A model folder: loaded, then used, so the weights are read.
      printf 'pipeline case {\n  stage m = model.load(path = "%s")\n  stage t = synth.arith(n = 4, digits = 1, op = "add", seed = 1)\n  stage e = evaluate(m, t, max_new_tokens = 2)\n}\n' \
        "$name" >"$dir/$pipe"
    else
      printf 'pipeline case {\n  stage d = load(path = "%s")\n  stage s = score(d, by = length)\n}\n' \
        "$name" >"$dir/$pipe"
    fi
    local log=$work/data/$name
    mkdir -p "$work/data"
    measured "$dir" "$log.check.out" "$log.check.err" "$sieve" check "$pipe"
    note_peak data "$name (check)"
    inspect data "$name (check)" "$RC" "$log.check.err"
    local err=$log.check.err
    if [ "$RC" = 0 ]; then
      measured "$dir" "$log.run.out" "$log.run.err" "$sieve" run "$pipe"
      note_peak data "$name (run)"
      inspect data "$name (run)" "$RC" "$log.run.err"
      err=$log.run.err
      [ "$RC" = 1 ] || fail data exit "$name (run)" "exited with $RC, not 1" "$err"
    elif [ "$RC" = 2 ]; then
      grep -Eq "$pipe:[0-9]+:[0-9]+" "$err" ||
        fail data noloc "$name (check)" "no file:line:col in the diagnostic" "$err"
    else
      fail data exit "$name (check)" "exited with $RC, not 0 or 2" "$err"
    fi
    grep -qF "$name" "$err" || fail data noloc "$name" "the error does not name the file" "$err"
  done
}

# ---------------------------------------------------------------- run and report
started=$(date +%s)
declare -A seconds
for class in $classes; do
  case $class in
    kill | concurrent | tamper | pipelines | data) ;;
    *) die "unknown class \`$class\` (kill concurrent tamper pipelines data)" ;;
  esac
  echo "class $class…" >&2
  class_start=$(date +%s)
  "${class}_class"
  seconds[$class]=$(($(date +%s) - class_start))
done

echo
echo "sieve fault campaign: N=$trials kill trials, M=$concurrent concurrent runs, seed $seed, $(($(date +%s) - started)) s"
echo "binaries: $bin ($("$sieve" --version)); OMP_NUM_THREADS=$OMP_NUM_THREADS"
for class in $classes; do echo -n "$class ${seconds[$class]} s; "; done
echo
[ -n "${ref_ms:-}" ] && echo "clean reference run: ${ref_ms} ms"
if [ "$kill_landings" -gt 0 ]; then
  echo "kills that landed mid-run: $kill_landings; last event seen before each:"
  tr '|' '\n' <<<"$kill_moments" | grep -v '^$' | sed 's/ .*//' | sort | uniq -c | sed 's/^/ /' | tr '\n' ' '
  echo
  echo -n "  of which while training (sft): "
  tr '|' '\n' <<<"$kill_moments" | grep -c ' tuned$'
  echo -n "  runs after a kill that resumed training from a checkpoint: "
  cat "$work"/kill/*/run2.out "$work"/kill/*/rerun.out 2>/dev/null | grep -c 'resuming from the checkpoint'
fi
for class in pipelines data; do
  [ -n "${peak_mb[$class]:-}" ] || continue
  echo "$class: largest peak memory ${peak_mb[$class]} MB (${peak_mb[$class.case]}), longest ${peak_s[$class]:-0} s (${peak_s[$class.case]:-})"
done
echo
header=(class trials corrupt consumed panics oom exit no-loc slow dup unreported)
printf '| %-10s | %6s | %7s | %8s | %6s | %3s | %4s | %6s | %4s | %3s | %10s |\n' "${header[@]}"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------ -------: --------: ---------: -------: ----: -----: -------: -----: ----: -----------:
bad=0
for class in $classes; do
  row=("$class")
  for c in "${columns[@]}"; do
    row+=("${cell[$class.$c]}")
    [ "$c" = trials ] || [ "${cell[$class.$c]}" = 0 ] || bad=1
  done
  printf '| %-10s | %6s | %7s | %8s | %6s | %3s | %4s | %6s | %4s | %3s | %10s |\n' "${row[@]}"
done
echo
if [ "$bad" = 1 ]; then
  echo "problems (class, column, case, what, log):"
  sed 's/^/  /' "$failures"
  echo "work folder kept: $work"
  exit 1
fi
if [ "${FAULTS_KEEP:-0}" = 1 ]; then
  echo "work folder kept: $work"
else
  rm -rf "$work"
fi
echo "every cell that must be 0 is 0"
