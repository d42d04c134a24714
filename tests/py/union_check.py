#!/usr/bin/env python3
"""Crash-test check for file destinations: every visible Parquet file under DIR is readable
(nothing half-written is visible), every row of the SQLite table is in them, and every row in
them is either a row of the table or, with --before, a row of the table before the source was
changed (an earlier version written by an earlier incremental run). Rows are counted: a row
may appear more than once only if its cursor is >= --reread-from (at-least-once incremental
output re-reads them; with exactly-once output pass no --reread-from).

    union_check.py --sqlite DB --table T --dir DIR [--before DB]
                   [--cursor COL --reread-from VALUE]
"""
import argparse
import collections
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


def read_table(db, table):
    """(column names, normalizers, rows as canonical tuples) of a SQLite table."""
    con = sqlite3.connect(db)
    info = con.execute(f'PRAGMA table_info("{table}")').fetchall()
    norms = [normalizer(r[2]) for r in info]
    cur = con.execute(f'SELECT * FROM "{table}"')
    cols = [d[0] for d in cur.description]
    return cols, norms, [tuple(n(v) for n, v in zip(norms, row)) for row in cur]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sqlite", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--before", help="SQLite copy of the source taken before it was changed: "
                    "its rows may also appear (earlier versions written by an earlier run)")
    ap.add_argument("--cursor", help="the cursor column (with --reread-from)")
    ap.add_argument("--reread-from", help="rows whose cursor is >= this (text) may appear more "
                    "than once: an incremental rerun reads them again; every other row exactly once")
    a = ap.parse_args()
    cols, norms, rows = read_table(a.sqlite, a.table)
    expected = collections.Counter(rows)
    assert all(n == 1 for n in expected.values()), "the source table holds duplicate rows"
    earlier = set()
    if a.before:
        bcols, _, brows = read_table(a.before, a.table)
        assert bcols == cols, (bcols, cols)
        earlier = set(brows) - set(expected)
    reread = None
    if a.reread_from is not None:
        ci = cols.index(a.cursor)
        reread = lambda r: r[ci] is not None and r[ci] >= a.reread_from
    seen = collections.Counter()
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
                seen[tuple(n(r[c]) for n, c in zip(norms, cols))] += 1
    # The same files as a dataset (pyarrow.dataset skips `_` and `.` paths, as readers do).
    import pyarrow.dataset as ds
    in_dataset = ds.dataset(a.dir, format="parquet").count_rows()
    problems = []
    if in_dataset != sum(seen.values()):
        problems.append(f"pyarrow.dataset reads {in_dataset} rows, the files hold {sum(seen.values())}")
    missing = [r for r in expected if r not in seen]
    if missing:
        problems.append(f"missing {len(missing)} e.g. {sorted(missing)[:3]}")
    # A row that is neither a current row nor an earlier version of one is invented (or wrong).
    invented = [r for r in seen if r not in expected and r not in earlier]
    if invented:
        problems.append(f"invented or altered {len(invented)} e.g. {sorted(invented)[:3]}")
    # Rows written twice: allowed only where an incremental rerun reads them again.
    doubled = [(r, c) for r, c in seen.items() if c > 1 and not (reread and reread(r))]
    if doubled:
        problems.append(f"duplicated {len(doubled)} e.g. {sorted(doubled)[:3]}")
    if problems:
        print("; ".join(problems), file=sys.stderr)
        sys.exit(1)
    dups = sum(c - 1 for c in seen.values())
    print(f"OK {len(expected)} rows in {files} files ({dups} re-read copies)")


if __name__ == "__main__":
    import hardexit

    hardexit.run(main)
