#!/usr/bin/env bash
# Where sieve's engine time goes on the 1,000-stage sweep (companion of run.sh).
#
#   bash bench/engine/profile.sh
#
# 1. the floor: a 10-line C program that only dlopen()s the libtorch libraries the sieve
#    binary links (what every `sieve` process pays before main), with and without the C++
#    static destructors at exit (`exit` vs `_exit`);
# 2. the phases of `sieve plan` / no-op `sieve run` from an strace timeline: process start
#    until main reads the store, sieve's own work, exit-time destructors, kernel teardown;
# 3. system calls per stage of a first run and of a no-op run (`strace -c -f`), and the
#    files/folders a first run creates per stage;
# 4. where a first run spends CPU (`perf record`), when perf works here; 5. the same for a
#    first run into a store that was just emptied with `rm -rf`.
# Needs hyperfine, strace, cc; perf optional. Writes under $PROFILE_OUT
# (default bench-out/engine-profile).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${PROFILE_OUT:-$ROOT/bench-out/engine-profile}
SIEVE=${SIEVE_BIN:-$ROOT/target/release/sieve}
[[ -x $SIEVE ]] || (cd "$ROOT" && cargo build --release)
SIEVE=$(cd "$(dirname "$SIEVE")" && pwd)/$(basename "$SIEVE")
for t in hyperfine strace cc python3; do
  command -v "$t" >/dev/null || { echo "profile.sh: needs $t" >&2; exit 2; }
done

[[ -e $OUT ]] && mv "$OUT" "$OUT.old.$$"
mkdir -p "$OUT"
cd "$OUT"
hr() { printf '\n## %s\n\n' "$*"; }

# A cached project to profile against, and a fresh one per first run.
fresh() { local d="$OUT/$1"; mkdir -p "$d" && cp "$HERE/sweep1000.sieve" "$d/" && echo "$d"; }
P=$(fresh cached)
(cd "$P" && "$SIEVE" run -j 2 --json sweep1000.sieve >/dev/null)

hr "1. The floor: loading libtorch (no sieve code)"
cat >dl.c <<'EOF'
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  for (int i = 2; i < argc; i++)
    if (!dlopen(argv[i], RTLD_NOW | RTLD_GLOBAL)) { fprintf(stderr, "%s\n", dlerror()); return 1; }
  if (strcmp(argv[1], "_exit") == 0) _exit(0);
  return 0;
}
EOF
cc -O2 dl.c -o dl -ldl
TORCH_CPU=$(ldd "$SIEVE" | awk '/libtorch_cpu.so/{print $3}')
TORCH_CUDA=$(ldd "$SIEVE" | awk '/libtorch_cuda.so/{print $3}')
echo "sieve links: $(ldd "$SIEVE" | awk '/=>/{print $1}' | grep -cE 'torch|c10|cu|nccl|nvshmem|nvJit') libtorch/CUDA libraries"
cmds=("$SIEVE --version" "./dl exit $TORCH_CPU" "./dl _exit $TORCH_CPU")
[[ -n $TORCH_CUDA ]] && cmds+=("./dl exit $TORCH_CPU $TORCH_CUDA" "./dl _exit $TORCH_CPU $TORCH_CUDA")
hyperfine -N --warmup 2 --runs 10 --style basic --export-markdown floor.md "${cmds[@]}" >/dev/null 2>&1
sed "s|$(dirname "$TORCH_CPU")/||g; s|$SIEVE|sieve|g" floor.md

hr "2. Phases of one process (strace timeline, seconds since exec)"
phases() {
  # $1: label, rest: the command; prints start / work / destructors / kernel exit.
  local label=$1
  shift
  strace -f --seccomp-bpf -ttt -e trace=execve,openat,write,exit_group -o trace.txt "$@" >/dev/null 2>&1
  python3 - "$label" <<'EOF'
import sys
lines = open("trace.txt").read().splitlines()
t = lambda l: float(l.split()[1])
t0 = t(lines[0])
store = [t(l) - t0 for l in lines if "openat(" in l and "/.sieve/" in l]
writes = [t(l) - t0 for l in lines if " write(" in l]
exit_at = [t(l) - t0 for l in lines if "exit_group(" in l][-1]
end = t(lines[-1]) - t0
print(f"| {sys.argv[1]} | {store[0]:.3f} | {max(writes[-1], store[-1]) - store[0]:.3f} | "
      f"{exit_at - max(writes[-1], store[-1]):.3f} | {end - exit_at:.3f} | {end:.3f} |")
EOF
}
echo "| command | start → first store access | sieve's work | exit-time destructors | kernel teardown | total |"
echo "|---|---:|---:|---:|---:|---:|"
cd "$P"
for i in 1 2 3; do phases "sieve plan" "$SIEVE" plan sweep1000.sieve; done
for i in 1 2 3; do phases "no-op sieve run" "$SIEVE" run -j 2 sweep1000.sieve; done
cd "$OUT"

hr "3. System calls (strace -c -f)"
D=$(fresh strace-first)
(cd "$D" && strace -f -c -o "$OUT/syscalls-first.txt" "$SIEVE" run -j 2 --json sweep1000.sieve >/dev/null)
(cd "$D" && strace -f -c -o "$OUT/syscalls-noop.txt" "$SIEVE" run -j 2 sweep1000.sieve 2>/dev/null)
D=$(fresh strace-files)
mkdir -p "$OUT/files"
(cd "$D" && strace -ff -e trace=mkdir,mkdirat,openat,rename,renameat2,clone3 -o "$OUT/files/t" \
  "$SIEVE" run -j 2 --json sweep1000.sieve >/dev/null)
cat "$OUT"/files/t.* >"$OUT/files-first.txt"
echo "first run, per stage (1,000 stages):"
python3 - <<'EOF'
import re
def calls(path):
    out = {}
    for l in open(path):
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$", l)
        if m:
            out[m.group(2)] = int(m.group(1))
    return out
for name in ("first", "noop"):
    c = calls(f"syscalls-{name}.txt")
    top = sorted(c.items(), key=lambda kv: -kv[1])[:12]
    print(f"  {name:5s}: " + ", ".join(f"{k} {v / 1000:.1f}" for k, v in top if k != "total"))
text = open("files-first.txt").read().splitlines()
# A path counts once: the first successful mkdir or O_CREAT open of it made a new inode.
created, dirs = {}, set()
for l in text:
    m = re.search(r'"([^"]+)"', l)
    if not m or "= -1" in l:
        continue
    if "mkdir(" in l or "O_CREAT" in l:
        created.setdefault(m.group(1), "mkdir(" in l)
n_dirs = sum(created.values())
print(f"  new inodes per stage: {len(created) / 1000:.1f} (folders {n_dirs / 1000:.1f}, files "
      f"{(len(created) - n_dirs) / 1000:.1f}); renames {sum('rename(' in l for l in text) / 1000:.1f}; "
      f"threads spawned {sum('clone3(' in l for l in text) / 1000:.1f}")
seen = {}
for path in created:
    p = re.sub(r"[0-9a-f]{64}(\.\d+\.\d+)?|[0-9a-f]{20}(\.(tmp\.\d+\.\d+|json))?", "<key>", path)
    seen[p] = seen.get(p, 0) + 1
for p, n in sorted(seen.items(), key=lambda kv: -kv[1])[:8]:
    print(f"    {n:5d}  {p}")
EOF

hr "4. CPU profile of a first run (perf)"
cat >buckets.py <<'EOF'
import sys
buckets = [
    ("ext4 inode allocation (__ext4_new_inode: mkdir / create)", lambda s: "__ext4_new_inode" in s),
    ("libtorch / CUDA libraries (static init, exit destructors)", lambda s: "libtorch" in s or "libc10" in s or "libcu" in s or "libnv" in s),
    ("dynamic loader (ld.so)", lambda s: "ld-linux" in s),
    ("thread create / exit (clone3, exit, munmap of stacks)", lambda s: "sys_clone3" in s or "do_exit" in s or "sys_munmap" in s),
    ("other system calls (open, write, rename, flock ...)", lambda s: "do_syscall_64" in s),
    ("page faults", lambda s: "exc_page_fault" in s),
    ("sieve itself and libc (user space)", lambda s: True),
]
counts = [0] * len(buckets)
total = 0
for sample in sys.stdin.read().split("\n\n"):
    if not sample.strip():
        continue
    total += 1
    for i, (_, match) in enumerate(buckets):
        if match(sample):
            counts[i] += 1
            break
for (label, _), n in zip(buckets, counts):
    print(f"  {100 * n / total:5.1f}%  {label}")
print(f"  ({total} samples at 1 kHz)")
EOF
# perf_first LABEL DIR: profiles `sieve run` in DIR, prints top symbols and buckets.
perf_first() {
  local t0 t1
  t0=$(date +%s.%N)
  if ! (cd "$2" && perf record -F 1000 -g -o "$OUT/perf-$1.data" "$SIEVE" run -j 2 --json sweep1000.sieve >/dev/null 2>"$OUT/perf.err"); then
    echo "perf does not work here: $(tail -1 "$OUT/perf.err")"
    return 0
  fi
  t1=$(date +%s.%N)
  echo "wall under perf: $(python3 -c "print(round($t1 - $t0, 2))") s"
  echo
  echo "top symbols (self time, whole process):"
  echo
  perf report -i "$OUT/perf-$1.data" --no-children --sort dso,sym -g none --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -8 || true
  echo
  echo "samples by what their call chain is in:"
  echo
  perf script -i "$OUT/perf-$1.data" -F ip,sym,dso 2>/dev/null | python3 buckets.py
}
perf_first first "$(fresh perf-first)"

hr "5. The same first run into a store just emptied by rm -rf"
echo "(ext4 without a journal skips recently freed inodes when allocating new ones)"
D=$(fresh perf-rm)
(cd "$D" && "$SIEVE" run -j 2 --json sweep1000.sieve >/dev/null && rm -rf .sieve sweep1000.sieve.lock)
perf_first rm "$D"
rm -rf "$OUT".old.* 2>/dev/null || true
