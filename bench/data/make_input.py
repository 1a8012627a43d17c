"""Writes the 1M-row benchmark input: a QA-style Parquet file (`question`, `solution`,
`level`, `data_source`) that `load` maps into the canonical schema.

Usage: python make_input.py OUT.parquet [ROWS]
Deterministic (numpy seed 0). Text is drawn from a small vocabulary so string lengths
vary (prompt ≈ 60–240 chars, solution ≈ 100–900 chars) like real math data.
"""
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
rng = np.random.default_rng(0)
vocab = np.array(
    "the of and to a in is that for it as with was on be by this are or from at an "
    "number sum total each equals times plus minus find compute value answer step so "
    "therefore apples pears boxes trains miles hours price cost 1 2 3 4 5 6 7 8 9 10 "
    "x y z + - * = ( ) é 数 π".split()
)
chunk = 100_000
writer = None
for start in range(0, n, chunk):
    m = min(chunk, n - start)
    q_len = rng.integers(10, 40, m)
    s_len = rng.integers(20, 160, m)
    words = vocab[rng.integers(0, len(vocab), int(q_len.sum() + s_len.sum()))]
    qs, ss, pos = [], [], 0
    for a, b in zip(q_len, s_len):
        qs.append(" ".join(words[pos:pos + a]))
        pos += a
        ss.append(" ".join(words[pos:pos + b]))
        pos += b
    t = pa.table({
        "question": pa.array(qs, pa.string()),
        "solution": pa.array(ss, pa.string()),
        "level": pa.array(rng.integers(1, 6, m), pa.int64()),
        "data_source": pa.array(np.array(["gsm8k", "math", "olympiad"])[rng.integers(0, 3, m)]),
    })
    if writer is None:
        writer = pq.ParquetWriter(out, t.schema, compression="snappy")
    writer.write_table(t, row_group_size=65_536)
writer.close()
print(f"wrote {out}: {n} rows")
