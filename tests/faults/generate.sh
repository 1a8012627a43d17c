#!/usr/bin/env bash
# Builds the fault corpora of scripts/faults.sh in DEST: a copy of the committed cases
# (tests/faults/pipelines, tests/faults/data) plus the cases that cannot be committed —
# files of many megabytes, named pipes, links that lead out of the project, bytes that
# are not text, and model folders cut from a real (tiny) model made by sieve itself.
#
#   tests/faults/generate.sh DEST SIEVE [pipelines|data]
#
# (With a third argument, only that corpus.)
#
# DEST/pipelines/*.sieve|*.yaml|*.yml  one bad pipeline per file (DEST/pipelines/lib:
#                                      helpers they import, not cases)
# DEST/data/*                          one bad data file or model folder per entry
#
# Every generated file is a pure function of this script (no randomness, no clock), so
# two campaigns see the same corpus. Needs bash, coreutils and mkfifo.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ] || [[ ${3:-} != @(|pipelines|data) ]]; then
  echo "usage: $0 DEST SIEVE [pipelines|data]" >&2
  exit 2
fi
dest=$1
sieve=$2
only=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

mkdir -p "$dest"
p=$dest/pipelines
d=$dest/data

# `lines N TEXT`: N lines of TEXT (yes + head: fast for megabytes; `yes` ends by SIGPIPE,
# which is no failure here). `repeat N TEXT`: the same without the line breaks. `bytes N
# C`: N times the character C.
lines() {
  { yes -- "$2" || true; } | head -n "$1"
}
repeat() {
  lines "$1" "$2" | tr -d '\n'
}
bytes() {
  head -c "$1" /dev/zero | tr '\0' "$2"
}

pipelines() {
cp -R "$here/pipelines" "$dest/"
# ---------------------------------------------------------------- pipelines: sizes
{
  echo '# fault: a 2 MiB string literal (the bound is 1 MiB)'
  printf 'pipeline p {\n  let s = "'
  bytes $((2 * 1024 * 1024)) x
  printf '"\n  stage a = synth.arith(n = 10)\n}\n'
} >"$p/gen_huge_string.sieve"

{
  echo '# fault: a list literal of 400,000 numbers (more tokens than a file may hold)'
  printf 'pipeline p {\n  let xs = [0'
  repeat 400000 ', 1'
  printf ']\n  stage a = synth.arith(n = 10)\n}\n'
} >"$p/gen_huge_list.sieve"

{
  echo '# fault: a sum of 300,000 terms on one line'
  printf 'pipeline p {\n  stage a = synth.arith(n = 1'
  repeat 300000 ' + 1'
  printf ')\n}\n'
} >"$p/gen_token_flood.sieve"

{
  echo '# fault: a 10 MB line inside a comment-free file'
  printf 'pipeline p { let s = "'
  bytes 10000000 'y'
  printf '" stage a = synth.arith(n = 10) }\n'
} >"$p/gen_long_line.sieve"

{
  echo '# fault: a 17 MiB file (the bound is 16 MiB), all but one line comments'
  printf 'pipeline p {\n  stage a = synth.arith(n = 10)\n'
  lines $((17 * 1024 * 1024 / 80 + 1)) '# padding padding padding padding padding padding padding padding padding padding' 
  printf '\n}\n'
} >"$p/gen_oversized_file.sieve"

{
  echo '# fault: lists nested 100,000 deep'
  printf 'pipeline p {\n  let x = '
  repeat 100000 '['
  printf '1'
  repeat 100000 ']'
  printf '\n}\n'
} >"$p/gen_deep_lists.sieve"

{
  echo '# fault: parentheses nested 100,000 deep, never closed'
  printf 'pipeline p {\n  stage a = synth.arith(n = '
  repeat 100000 '('
  printf '\n}\n'
} >"$p/gen_deep_unclosed.sieve"

{
  echo '# fault: one flow list of 400,000 YAML values'
  echo 'pipeline: p'
  echo 'let:'
  printf '  xs: [0'
  repeat 400000 ', 1'
  printf ']\nstages:\n  a: {kind: synth.arith, n: 10}\n'
} >"$p/gen_huge_yaml_list.yaml"

{
  echo '# fault: a block list of 300,000 YAML values'
  printf 'pipeline: p\nlet:\n  xs:\n'
  lines 300000 '    - 1'
  printf 'stages:\n  a: {kind: synth.arith, n: 10}\n'
} >"$p/gen_huge_yaml_block_list.yaml"

{
  echo '# fault: a 2 MiB YAML scalar'
  printf 'pipeline: p\nlet:\n  s: "'
  bytes $((2 * 1024 * 1024)) z
  printf '"\nstages:\n  a: {kind: synth.arith, n: 10}\n'
} >"$p/gen_huge_yaml_string.yaml"

{
  echo '# fault: YAML flow lists nested 100,000 deep'
  printf 'pipeline: p\nlet:\n  x: '
  repeat 100000 '['
  repeat 100000 ']'
  printf '\n'
} >"$p/gen_deep_yaml.yaml"

{
  echo '# fault: 2,000 sweep cells each holding a 100 KB string (200 MB of values)'
  printf 'pipeline p {\n  let s = "'
  bytes 100000 'w'
  printf '"\n  sweep i in 1..2_000 {\n    stage a = synth.arith(n = 10, seed = i, op = s)\n  }\n}\n'
} >"$p/gen_values_flood.sieve"

# ---------------------------------------------------------------- pipelines: bytes
printf '# fault: bytes that are not UTF-8\npipeline p {\n  stage a = synth.arith(n = 10, op = "\xff\xfe")\n}\n' \
  >"$p/gen_invalid_utf8.sieve"
printf '# fault: bytes that are not UTF-8\npipeline: p\nstages:\n  a: {kind: synth.arith, n: 10, op: "\xc3\x28"}\n' \
  >"$p/gen_invalid_utf8.yaml"
printf '# fault: NUL bytes in the middle\npipeline p {\n  stage a\0 = synth.arith(n = 10)\n}\n' \
  >"$p/gen_nul_bytes.sieve"
printf '# fault: NUL bytes in YAML\npipeline: p\nstages:\n  a: {kind: synth.arith,\0 n: 10}\n' \
  >"$p/gen_nul_bytes.yaml"
# Every byte value, 64 times over: what a binary file handed to sieve looks like.
for _ in $(seq 64); do
  for i in $(seq 0 255); do printf "\\$(printf '%03o' "$i")"; done
done >"$p/gen_binary.sieve"
cp "$p/gen_binary.sieve" "$p/gen_binary.yaml"

# ---------------------------------------------------------------- pipelines: special files
mkfifo "$p/lib/pipe.sieve" "$p/lib/pipe.yaml"
printf '# fault: an import of a named pipe\nimport "lib/pipe.sieve"\npipeline p {\n  stage a = synth.arith(n = 10)\n}\n' \
  >"$p/gen_fifo_import.sieve"
printf '# fault: an import of a named pipe\npipeline: p\nimports: [lib/pipe.yaml]\nstages:\n  a: {kind: synth.arith, n: 10}\n' \
  >"$p/gen_fifo_import.yaml"
mkfifo "$p/gen_fifo_root.sieve"
printf '# fault: loading a named pipe\npipeline p {\n  stage a = load(path = "lib/pipe.sieve")\n}\n' \
  >"$p/gen_fifo_load.sieve"

ln -s /etc/passwd "$p/lib/passwd.sieve"
printf '# fault: an import through a link that leads out of the project\nimport "lib/passwd.sieve"\npipeline p {\n  stage a = synth.arith(n = 10)\n}\n' \
  >"$p/gen_link_import_out.sieve"
ln -s /etc "$p/lib/etc"
printf '# fault: loading through a folder link that leads out of the project\npipeline p {\n  stage a = load(path = "lib/etc/hostname")\n}\n' \
  >"$p/gen_link_load_out.sieve"
ln -s missing-target "$p/lib/dangling.sieve"
printf '# fault: an import of a dangling link\nimport "lib/dangling.sieve"\npipeline p {\n  stage a = synth.arith(n = 10)\n}\n' \
  >"$p/gen_dangling_import.sieve"
ln -s gen_link_loop_b.sieve "$p/lib/gen_link_loop_a.sieve"
ln -s gen_link_loop_a.sieve "$p/lib/gen_link_loop_b.sieve"
printf '# fault: an import of a link that points at itself through another\nimport "lib/gen_link_loop_a.sieve"\npipeline p {\n  stage a = synth.arith(n = 10)\n}\n' \
  >"$p/gen_link_loop_import.sieve"

}

data() {
cp -R "$here/data" "$dest/"
rm -f "$d/make_parquet.py"
# ---------------------------------------------------------------- data: sizes and bytes
{
  printf '{"prompt": "'
  bytes $((64 * 1024 * 1024)) q
  printf '\n'
} >"$d/huge_line_unterminated.jsonl"
{
  printf '{"prompt": "1+1=", "response": "2"}\n{"prompt": '
  repeat 100000 '['
  repeat 100000 ']'
  printf '}\n'
} >"$d/deep_nesting.jsonl"
{
  printf '{"prompt": "1+1="'
  for i in $(seq 50000); do printf ', "c%d": %d' "$i" "$i"; done
  printf '}\n{"prompt": 7}\n'
} >"$d/wide_then_wrong.jsonl"
{
  lines 200000 '{"prompt": "1+1=", "response": "2"}'
  printf '{"prompt": "1+1=", "response": "2", "oops"}\n'
} >"$d/bad_line_200001.jsonl"
head -c 65536 /dev/zero >"$d/zeros.jsonl"
mkfifo "$d/fifo.jsonl"
# Every byte value, 64 times over.
for _ in $(seq 64); do
  for i in $(seq 0 255); do printf "\\$(printf '%03o' "$i")"; done
done >"$d/binary.jsonl"

# ---------------------------------------------------------------- data: damaged copies of real files
src=$repo/datasets/arith_small.parquet
size=$(wc -c <"$src")
head -c $((size / 2)) "$src" >"$d/truncated_half.parquet"
head -c $((size - 9)) "$src" >"$d/truncated_footer.parquet"
# The footer length (4 bytes before the closing magic) claims almost 4 GiB.
{
  head -c $((size - 8)) "$src"
  printf '\xf0\xff\xff\xffPAR1'
} >"$d/footer_length_huge.parquet"
# Bytes in the middle (column data) overwritten: the pages no longer decode.
{
  head -c $((size / 3)) "$src"
  bytes 4096 '\377'
  tail -c +$((size / 3 + 4097)) "$src"
} >"$d/pages_overwritten.parquet"

# ---------------------------------------------------------------- data: model folders
# A real nano model made by sieve, then damaged in each way a download can go wrong.
work=$dest/.model
mkdir -p "$work"
printf 'pipeline m {\n  stage init = model.init(arch = "nano", tokenizer = "chars", seed = 1)\n}\n' >"$work/m.sieve"
"$sieve" run "$work/m.sieve" >"$work/log.txt" 2>&1 || {
  cat "$work/log.txt" >&2
  echo "generate.sh: cannot make the nano model the model cases start from" >&2
  exit 1
}
model=$("$sieve" path "$work/m.sieve" init)

model_case() {
  local name=$1
  mkdir -p "$d/$name"
  cp "$model"/* "$d/$name/"
}
weights=$model/model.safetensors
wsize=$(wc -c <"$weights")

model_case model_truncated_safetensors
head -c $((wsize / 2)) "$weights" >"$d/model_truncated_safetensors/model.safetensors"

model_case model_safetensors_header_huge
{
  printf '\xff\xff\xff\xff\xff\xff\xff\x7f'
  tail -c +9 "$weights"
} >"$d/model_safetensors_header_huge/model.safetensors"

model_case model_safetensors_empty
: >"$d/model_safetensors_empty/model.safetensors"

model_case model_missing_weights
rm "$d/model_missing_weights/model.safetensors"

model_case model_missing_config
rm "$d/model_missing_config/config.json"

model_case model_config_not_json
printf '{"hidden_size": 64, "num_hidden_layers": ' >"$d/model_config_not_json/config.json"

# `sed` on the real config keeps every other field as the model wrote it.
model_case model_config_absurd_shapes
sed -E 's/"hidden_size": *[0-9]+/"hidden_size": 1000000000/; s/"num_hidden_layers": *[0-9]+/"num_hidden_layers": 1000000/; s/"vocab_size": *[0-9]+/"vocab_size": 4000000000/' \
  "$model/config.json" >"$d/model_config_absurd_shapes/config.json"

model_case model_config_negative
sed -E 's/"hidden_size": *[0-9]+/"hidden_size": -64/' "$model/config.json" >"$d/model_config_negative/config.json"

model_case model_config_shapes_mismatch
sed -E 's/"intermediate_size": *[0-9]+/"intermediate_size": 1024/' "$model/config.json" \
  >"$d/model_config_shapes_mismatch/config.json"

model_case model_tokenizer_garbage
printf '{"model": {"type": "BPE", "vocab": 17}}' >"$d/model_tokenizer_garbage/tokenizer.json"

mkdir -p "$d/model_empty_folder"

rm -rf "$work"
}

case $only in
  pipelines) pipelines ;;
  data) data ;;
  *)
    pipelines
    data
    ;;
esac
