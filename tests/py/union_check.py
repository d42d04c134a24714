#!/usr/bin/env python3
"""Crash-test check for file destinations: every visible Parquet file under DIR is readable
(nothing half-written is visible), and the distinct rows of all of them equal the SQLite table's
rows (no row lost; append-only files may also hold earlier versions of rows that still exist).

    union_check.py --sqlite DB --table T --dir DIR
"""
import argparse
import os
import sqlite3
import sys

import pyarrow.parquet as pq


import decimal
import re


def normalizer(decl):
    """Canonical text for a value of a column with SQLite declared type `decl`."""
    m = re.match(r"\s*(DECIMAL|NUMERIC)\s*\(\s*\d+\s*,\s*(\d+)\s*\)", decl or "", re.I)
    if m:
        q = decimal.Decimal(1).scaleb(-int(m.group(2)))
        return lambda v: None if v is None else str(decimal.Decimal(str(v)).quantize(q))

    def plain(v):
        if v is None:
            return None
        if hasattr(v, "isoformat"):
            return v.isoformat(sep=" ", timespec="microseconds") if hasattr(v, "hour") else v.isoformat()
        return str(v)

    return plain


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sqlite", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    con = sqlite3.connect(a.sqlite)
    info = con.execute(f'PRAGMA table_info("{a.table}")').fetchall()
    norms = [normalizer(r[2]) for r in info]
    cur = con.execute(f'SELECT * FROM "{a.table}"')
    cols = [d[0] for d in cur.description]
    expected = set()
    for row in cur:
        expected.add(tuple(n(v) for n, v in zip(norms, row)))
    seen = set()
    files = 0
    for root, dirs, names in os.walk(a.dir):
        dirs[:] = [d for d in dirs if not d.startswith((".", "_"))]
        for n in names:
            if n.startswith((".", "_")):
                continue
            files += 1
            t = pq.read_table(os.path.join(root, n))  # raises on a half-written file
            assert t.column_names == cols, (n, t.column_names, cols)
            for r in t.to_pylist():
                seen.add(tuple(n(r[c]) for n, c in zip(norms, cols)))
    missing = expected - seen
    # Append-only files keep earlier versions of updated rows: allowed, as long as the row's
    # key (first column) still exists. Anything else is an invented row.
    keys = {r[0] for r in expected}
    extra = {r for r in seen - expected if r[0] not in keys}
    if missing or extra:
        print(f"missing {len(missing)} e.g. {sorted(missing)[:3]}; extra {len(extra)} e.g. {sorted(extra)[:3]}", file=sys.stderr)
        sys.exit(1)
    print(f"OK {len(expected)} rows in {files} files")


if __name__ == "__main__":
    import hardexit

    hardexit.run(main)
