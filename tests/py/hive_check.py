#!/usr/bin/env python3
"""Independent check of a Hive-partitioned export (`partition_by`).

    python hive_check.py --sqlite DB --query "SELECT id, status, ... FROM t" --root DIR
                         --key id --partition status [--partition other ...]

The query's first column is the row key, then one column per partition column, in
`partition_by` order. For every file under DIR (hidden `.`/`_` paths skipped), the folder names
between DIR and the file must be `col=value` for exactly the partition columns, in order;
values are URI-decoded (pyarrow's default `segment_encoding`). NULL and '' must appear as
`__HIVE_DEFAULT_PARTITION__`. Every key must be in exactly one file, in the folder its row's
values name, and the files must not repeat the partition columns. Finally pyarrow.dataset
reads DIR with hive partitioning and must see every row once.
Prints `OK <rows>` or the differences, exit 1.
"""
import argparse
import os
import sqlite3
import sys
import urllib.parse

import pyarrow.dataset as ds
import pyarrow.parquet as pq

DEFAULT = "__HIVE_DEFAULT_PARTITION__"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sqlite", required=True)
    ap.add_argument("--query", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--partition", action="append", required=True)
    a = ap.parse_args()

    con = sqlite3.connect(f"file:{a.sqlite}?mode=ro", uri=True)
    want = {}
    for row in con.execute(a.query):
        values = tuple(DEFAULT if v is None or v == "" else str(v) for v in row[1:])
        want[row[0]] = values

    problems = []
    got = {}
    for dirpath, dirnames, filenames in os.walk(a.root):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for name in filenames:
            if name.startswith((".", "_")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(dirpath, a.root)
            segments = [] if rel == "." else rel.split(os.sep)
            cols = [s.split("=", 1)[0] for s in segments]
            if cols != a.partition:
                problems.append(f"{path}: folders {segments}, expected columns {a.partition}")
                continue
            values = tuple(urllib.parse.unquote(s.split("=", 1)[1]) for s in segments)
            table = pq.read_table(path)
            for c in a.partition:
                if c in table.column_names:
                    problems.append(f"{path}: repeats partition column {c}")
            for k in table.column(a.key).to_pylist():
                if k in got:
                    problems.append(f"key {k} in two files")
                got[k] = values
    for k, v in want.items():
        if k not in got:
            problems.append(f"key {k} missing")
        elif got[k] != v:
            problems.append(f"key {k} in folder {got[k]}, expected {v}")
    for k in got.keys() - want.keys():
        problems.append(f"key {k} not in the source")

    dataset = ds.dataset(a.root, format="parquet", partitioning="hive")
    n = dataset.count_rows()
    if n != len(want):
        problems.append(f"pyarrow.dataset sees {n} rows, the source has {len(want)}")
    if problems:
        print("\n".join(problems[:50]))
        sys.exit(1)
    print(f"OK {len(want)}")


if __name__ == "__main__":
    import hardexit

    hardexit.run(main)
