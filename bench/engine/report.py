"""Markdown report of bench/engine/run.sh: python3 report.py RESULTS_DIR SIEVE_DIR JOBS.

Reads the hyperfine JSON files (NAME.json) and machine.txt in RESULTS_DIR, and the
`sieve run --json` events of the first runs (SIEVE_DIR/first.*/events.jsonl, which sort
in run order) to compute sieve's first-run engine overhead.
"""

import glob
import json
import os
import statistics
import sys

res, sieve_dir, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(os.path.join(res, "machine.txt")) as f:
    machine = dict(line.rstrip("\n").split(": ", 1) for line in f if ": " in line)


def result(name):
    p = os.path.join(res, name + ".json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)["results"][0]


def times(name):
    r = result(name)
    return r["times"] if r else None


def med(name):
    t = times(name)
    return statistics.median(t) if t else None


def cpu(name):
    """Mean user + system CPU seconds per run (hyperfine only)."""
    r = result(name)
    if not r or r.get("user") is None:
        return None
    return r["user"] + r["system"]


def fmt(s):
    if s is None:
        return "-"
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.1f}x"


# sieve first-run engine overhead: wall (per run) minus the sum of finished.seconds.
walls = times("first_sieve") or []
logs = sorted(glob.glob(os.path.join(sieve_dir, "first.*", "events.jsonl")))
over, compute, sched = [], [], []
for wall, name in zip(walls, logs):
    s = 0.0
    with open(name) as f:
        for line in f:
            e = json.loads(line)
            if e.get("event") == "finished":
                s += e["seconds"]
            elif e.get("event") == "end":
                sched.append(e["seconds"])
    compute.append(s)
    over.append(wall - s)

print(f"{machine.get('host', '?')}; {machine.get('date', '?')}; load average "
      f"{machine.get('load at start', '?')} at start, {machine.get('load at end', '?')} at end.  ")
print(f"{machine.get('sieve', '?')}; Snakemake {machine.get('snakemake', '?')}; DVC {machine.get('dvc', '?')}.")
print()
rows = [
    (f"first run, empty cache (`-j {jobs}`; DVC runs stages one at a time)", "first"),
    ("fully cached plan (`sieve plan` / `snakemake -n` / `dvc status`)", "plan"),
    ("no-op run, all cached (`sieve run` / `snakemake` / `dvc repro`)", "noop"),
    ("bare process start + exit (`--version`)", "start"),
]
print("Wall time (median):")
print()
print("| 1,000 trivial stages | sieve | Snakemake | DVC | Snakemake / sieve | DVC / sieve |")
print("|---|---:|---:|---:|---:|---:|")
for label, k in rows:
    s, m, d = med(k + "_sieve"), med(k + "_smk"), med(k + "_dvc")
    print(f"| {label} | {fmt(s)} | {fmt(m)} | {fmt(d)} | {ratio(m, s)} | {ratio(d, s)} |")
print()
print("CPU time, user + system (mean; less sensitive than wall time to other load on the machine):")
print()
print("| 1,000 trivial stages | sieve | Snakemake | DVC | Snakemake / sieve | DVC / sieve |")
print("|---|---:|---:|---:|---:|---:|")
for label, k in rows:
    s, m, d = cpu(k + "_sieve"), cpu(k + "_smk"), cpu(k + "_dvc")
    print(f"| {label} | {fmt(s)} | {fmt(m)} | {fmt(d)} | {ratio(m, s)} | {ratio(d, s)} |")
print()
print("Runs per cell: first run sieve %d, Snakemake %d, DVC %d; cached and start rows sieve %d, "
      "Snakemake %d, DVC %d." % tuple(len(times(n) or []) for n in
                                     ("first_sieve", "first_smk", "first_dvc", "plan_sieve", "plan_smk", "plan_dvc")))
print()
print("| sieve detail | median | min |")
print("|---|---:|---:|")


def row(label, xs):
    if xs:
        print(f"| {label} | {fmt(statistics.median(xs))} | {fmt(min(xs))} |")


row("first run: wall", walls)
row("first run: scheduler (the `end` event's `seconds`)", sched)
row(f"first run: Σ stage `finished.seconds` ({jobs} workers)", compute)
row("first run: **engine overhead** = wall − Σ stage seconds", over)
row("first run into a store just emptied by `rm -rf` (file-system effect, see notes)", times("first_sieve_rm"))
row("`sieve check` (parse + lower + plan, no store)", times("check_sieve"))
row("`sieve plan`, all cached", times("plan_sieve"))
row("no-op `sieve run`, all cached", times("noop_sieve"))
row("`sieve --version` (process start and exit only)", times("start_sieve"))
print()
targets = [
    ("first run: engine overhead < 5 s", statistics.median(over) if over else None, 5.0),
    ("fully cached `sieve plan` < 100 ms", med("plan_sieve"), 0.1),
    ("no-op `sieve run` < 200 ms", med("noop_sieve"), 0.2),
]
for label, v, lim in targets:
    verdict = "-" if v is None else ("**met**" if v < lim else "**missed**")
    print(f"- {label}: {fmt(v)} — {verdict}")
