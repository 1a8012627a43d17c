"""Writes the committed Parquet files of the bad-data corpus (tests/faults/data/).

Run once with the Python of the torch virtual environment (it has pyarrow):
    "$SIEVE_PYTHON" tests/faults/data/make_parquet.py
Each file is a few hundred bytes; the large and special cases (huge lines, truncated
copies of real datasets, model folders, FIFOs) are made by tests/faults/generate.sh at
campaign time instead of being committed.
"""

import os

import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, table):
    pq.write_table(table, os.path.join(HERE, name), compression="none")


prompts = ["1+1=", "2+2=", "3+3="]
write("no_text_columns.parquet", pa.table({"x": [1, 2, 3], "y": [0.5, 0.25, 0.125]}))
write("prompt_is_int.parquet", pa.table({"prompt": [1, 2, 3], "response": ["2", "4", "6"]}))
write("prompt_is_list_of_ints.parquet", pa.table({"prompt": [[1], [2, 3], []], "answer": ["a", "b", "c"]}))
write("prompt_null.parquet", pa.table({"prompt": ["1+1=", None, "3+3="], "response": ["2", "4", "6"]}))
write("ids_duplicate.parquet", pa.table({"id": [7, 7, 8], "prompt": prompts, "response": ["2", "4", "6"]}))
write("ids_null.parquet", pa.table({"id": pa.array([1, None, 3], pa.int64()), "prompt": prompts}))
write(
    "messages_without_roles.parquet",
    pa.table({"messages": [[{"speaker": "u", "text": "hi"}], [{"speaker": "u", "text": "yo"}], []]}),
)
write("messages_of_ints.parquet", pa.table({"messages": [[1, 2], [3], [4]]}))
write(
    "difficulty_is_struct.parquet",
    pa.table({"prompt": prompts, "difficulty": [{"a": 1}, {"a": 2}, {"a": 3}]}),
)
write("answer_is_map.parquet", pa.table({
    "prompt": prompts,
    "answer": pa.array([[("k", 1)], [("k", 2)], [("k", 3)]], pa.map_(pa.string(), pa.int64())),
}))
write("zero_columns.parquet", pa.table({}))
