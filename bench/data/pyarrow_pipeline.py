"""The benchmark's work done with pyarrow + numpy: the same three steps as sieve's
`load` → `score(by = length("chars"))` → `select(budget, band = "hard", bands = 3)`.

Usage: python pyarrow_pipeline.py INPUT.parquet WORKDIR BUDGET
Prints one JSON line: seconds per step and peak RSS (VmHWM) of this process.
"""
import json
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

def status_mib(key):
    with open("/proc/self/status") as f:
        return round(next(int(l.split()[1]) for l in f if l.startswith(key)) / 1024, 1)


# Interpreter + pyarrow/numpy imports; the pipeline's own memory is the growth over it.
baseline = status_mib("VmRSS")
src, work, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(work, exist_ok=True)
props = dict(compression="snappy", row_group_size=65_536)
times = {}

# load: read, map into the canonical schema, write data.parquet.
t0 = time.perf_counter()
t = pq.read_table(src)
n = t.num_rows
data = pa.table({
    "id": pa.array(np.arange(n, dtype=np.int64)),
    "prompt": t.column("question"),
    "response": t.column("solution"),
    "answer": pa.nulls(n, pa.string()),
    "difficulty": t.column("level"),
    "data_source": t.column("data_source"),
})
pq.write_table(data, f"{work}/data.parquet", **props)
del t, data
times["load_s"] = time.perf_counter() - t0

# score(length): characters of prompt + response.
t0 = time.perf_counter()
d = pq.read_table(f"{work}/data.parquet", columns=["id", "prompt", "response"])
length = pc.add(pc.utf8_length(d.column("prompt")), pc.fill_null(pc.utf8_length(d.column("response")), 0))
scores = pa.table({
    "id": d.column("id"),
    "score": pc.cast(length, pa.float64()),
    "method": pa.array(["length(chars)"] * d.num_rows, pa.string()),
    "bucket": pa.nulls(d.num_rows, pa.int64()),
})
pq.write_table(scores, f"{work}/scores.parquet", **props)
del d, scores, length
times["score_s"] = time.perf_counter() - t0

# select: tercile bands, the hard band, a seeded random budget, rows in dataset order.
t0 = time.perf_counter()
s = pq.read_table(f"{work}/scores.parquet", columns=["score"]).column("score").to_numpy()
srt = np.sort(s)
edges = srt[[len(s) // 3, 2 * len(s) // 3]]
band = np.searchsorted(edges, s, side="right")
cand = np.flatnonzero(band == 2)
chosen = np.random.default_rng(1).permutation(cand)[:budget]
mask = np.zeros(len(s), dtype=bool)
mask[chosen] = True
full = pq.read_table(f"{work}/data.parquet")
pq.write_table(full.filter(pa.array(mask)), f"{work}/out.parquet", **props)
times["select_s"] = time.perf_counter() - t0

times["rows"] = n
times["peak_rss_mib"] = status_mib("VmHWM")
times["baseline_rss_mib"] = baseline
times["threads"] = pa.cpu_count()
print(json.dumps(times))
