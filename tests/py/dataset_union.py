#!/usr/bin/env python3
"""Reads a stream folder of Parquet part files the way a pyarrow.dataset user does when the
files' schemas differ: unify every fragment's schema (missing columns NULL, integer and float
widenings promoted), then read the folder as one table with that schema. Prints JSON:
{"schema": ["name: type", ...], "files": N, "rows": [{column: value as text or null}, ...]}
with rows sorted by the first column (numerically where it is a number), then by their text. Paths starting with `_` or `.` are skipped, as pyarrow.dataset does.

    dataset_union.py DIR
"""
import json
import sys

import pyarrow as pa
import pyarrow.dataset as ds


def main():
    folder = sys.argv[1]
    first = ds.dataset(folder, format="parquet")
    schemas = [f.physical_schema for f in first.get_fragments()]
    unified = pa.unify_schemas(schemas, promote_options="permissive")
    table = ds.dataset(folder, format="parquet", schema=unified).to_table()
    rows = [
        {k: None if v is None else str(v) for k, v in row.items()}
        for row in table.to_pylist()
    ]
    key = table.schema[0].name
    rows.sort(key=lambda r: (r[key] is None, len(r[key] or ""), r[key] or "",
                             json.dumps(r, sort_keys=True)))
    print(json.dumps({
        "schema": [f"{f.name}: {f.type}" for f in table.schema],
        "files": len(schemas),
        "rows": rows,
    }))


if __name__ == "__main__":
    main()
