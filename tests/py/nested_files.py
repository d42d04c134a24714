"""Nested and legacy types for tests/nested.rs: writes Parquet files with pyarrow and with
DuckDB, and reads any copy of them back (files in the five formats, SQLite, PostgreSQL's
row_to_json, MariaDB's tab-separated output) into one canonical form, one JSON line per row
ordered by `id`, so that every destination can be compared with the file it came from.

    nested_files.py write DIR  -> DIR/pyarrow.parquet, duckdb.parquet, nan.parquet, times.parquet,
                                  far.parquet
    nested_files.py layouts DIR -> one Parquet file per page layout and codec (names printed)
    nested_files.py canon REF KIND PATH [TABLE]
        REF: the source Parquet file (its schema says how to read text back)
        KIND: parquet | csv | json | jsonl | avro (PATH a file or a folder of files),
              sqlite (PATH a database, TABLE), pgjson | mariadb (PATH `-`: rows on stdin)

Canonical values: NULL -> null; lists -> lists; structs -> objects; maps -> objects keyed by
the key's text; floats -> numbers, NaN and infinities -> "NaN", "Infinity", "-Infinity";
timestamps -> "YYYY-MM-DD HH:MM:SS.ffffff"; binary -> lowercase hex.
"""

import datetime as dt
import json
import math
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def write(folder):
    os.makedirs(folder, exist_ok=True)
    us = lambda *a: dt.datetime(*a)
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "l": pa.array([[1, None, 3], [], None], pa.list_(pa.int64())),
            "ll": pa.array([[[1, 2], [], None], None, [[-5]]], pa.list_(pa.list_(pa.int64()))),
            "ls": pa.array([["a", "b \"q\""], None, ["é, ü"]], pa.large_list(pa.string())),
            "s": pa.array(
                [{"a": 1, "b": "x", "c": [1.5]}, None, {"a": None, "b": "tab\tnew\nline", "c": None}],
                pa.struct([("a", pa.int32()), ("b", pa.string()), ("c", pa.list_(pa.float64()))]),
            ),
            "ms": pa.array(
                [[("k", 1), ("k2", None)], None, []], pa.map_(pa.string(), pa.int64())
            ),
            "mi": pa.array(
                [[(1, "one"), (-20, "minus twenty")], [], None], pa.map_(pa.int64(), pa.string())
            ),
            "ml": pa.array(
                [[(7, [1, 2])], None, [(0, None)]], pa.map_(pa.int32(), pa.list_(pa.int64()))
            ),
            "d": pa.array(["red", None, "red"]).dictionary_encode(),
            "h": pa.array([1.5, None, -2.25], pa.float16()),
            "n": pa.array([None, None, None], pa.null()),
            "sv": pa.array(["view", None, ""], pa.string_view()),
            "ts": pa.array(
                [us(1, 1, 1), us(9999, 12, 31, 23, 59, 59, 999999), us(2024, 2, 29, 12, 0, 0, 123456)],
                pa.timestamp("us"),
            ),
        }
    )
    pq.write_table(
        table, os.path.join(folder, "pyarrow.parquet"), use_deprecated_int96_timestamps=True
    )
    nan = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "f": pa.array([1.5, float("nan"), float("inf")], pa.float64()),
        }
    )
    pq.write_table(nan, os.path.join(folder, "nan.parquet"))
    times = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "t32s": pa.array([dt.time(1, 2, 3), None], pa.time32("s")),
            "t32ms": pa.array([dt.time(1, 2, 3, 4000), None], pa.time32("ms")),
            "t64us": pa.array([dt.time(23, 59, 59, 999999), None], pa.time64("us")),
            "t64ns": pa.array([3723004567000, None], pa.time64("ns")),
            "dur": pa.array([5000, None], pa.duration("ms")),
        }
    )
    pq.write_table(times, os.path.join(folder, "times.parquet"))
    far = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "at": pa.array([0, 400_000_000_000], pa.timestamp("s")),  # year 14645
            "ns": pa.array([0, 1_709_208_000_123_456_789], pa.timestamp("ns")),
        }
    )
    pq.write_table(far, os.path.join(folder, "far.parquet"))
    import duckdb

    con = duckdb.connect()
    path = os.path.join(folder, "duckdb.parquet").replace("'", "''")
    con.execute(
        f"""COPY (
          SELECT * FROM (VALUES
            (1, [1, 2, NULL]::INTEGER[], [[1], [], NULL]::INTEGER[][],
             {{'a': 1, 'b': 'x'}}::STRUCT(a INTEGER, b VARCHAR),
             MAP {{1: 'one', 2: NULL}}::MAP(INTEGER, VARCHAR),
             MAP {{'k': 2.5}}::MAP(VARCHAR, DOUBLE),
             [{{'n': 'p', 'v': [1.5]}}]::STRUCT(n VARCHAR, v DOUBLE[])[]),
            (2, NULL, NULL, NULL, NULL, NULL, NULL),
            (3, []::INTEGER[], [[-7, 8]]::INTEGER[][],
             {{'a': NULL, 'b': 'ü'}}::STRUCT(a INTEGER, b VARCHAR),
             MAP {{}}::MAP(INTEGER, VARCHAR),
             MAP {{'a': -1.0, 'b': NULL}}::MAP(VARCHAR, DOUBLE),
             []::STRUCT(n VARCHAR, v DOUBLE[])[])
          ) AS t(id, l, ll, s, mi, ms, ls)
        ) TO '{path}' (FORMAT parquet)"""
    )


def layouts(folder):
    """One Parquet file per page layout and codec pyarrow writes, all holding the same rows;
    prints their names."""
    os.makedirs(folder, exist_ok=True)
    n = 5000
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "i32": pa.array([(i * 7919) % 1000 - 500 if i % 11 else None for i in range(n)], pa.int32()),
            "f": pa.array([i / 8 if i % 13 else None for i in range(n)], pa.float64()),
            "s": pa.array([f"v{i % 97}-\u00e9" if i % 17 else None for i in range(n)], pa.string()),
            "b": pa.array([bytes([i % 256, 0]) for i in range(n)], pa.binary()),
            "l": pa.array([[i, None] if i % 5 else None for i in range(n)], pa.list_(pa.int64())),
        }
    )
    cases = {
        "v1-plain": dict(use_dictionary=False, compression="none"),
        "v1-dictionary": dict(use_dictionary=True, compression="none"),
        "v2-dictionary-snappy": dict(data_page_version="2.0", compression="snappy"),
        "v2-plain-zstd": dict(data_page_version="2.0", use_dictionary=False, compression="zstd"),
        "gzip": dict(compression="gzip"),
        "brotli": dict(compression="brotli"),
        "lz4-raw": dict(compression="lz4"),
        "delta": dict(
            use_dictionary=False,
            column_encoding={
                "id": "DELTA_BINARY_PACKED",
                "i32": "DELTA_BINARY_PACKED",
                "s": "DELTA_LENGTH_BYTE_ARRAY",
                "b": "DELTA_BYTE_ARRAY",
            },
        ),
        "v2-delta": dict(
            data_page_version="2.0",
            use_dictionary=False,
            column_encoding={"id": "DELTA_BINARY_PACKED", "s": "DELTA_BYTE_ARRAY"},
        ),
        "byte-stream-split": dict(
            use_dictionary=False, column_encoding={"f": "BYTE_STREAM_SPLIT", "i32": "BYTE_STREAM_SPLIT"}
        ),
        "small-pages": dict(data_page_size=256, write_batch_size=64, row_group_size=1000),
    }
    for name, options in cases.items():
        pq.write_table(table, os.path.join(folder, name + ".parquet"), **options)
        print(name)


def special_float(v):
    if isinstance(v, str) and v in ("NaN", "Infinity", "-Infinity", "inf", "-inf", "nan"):
        return float(v)
    return v


def canon(value, typ):
    """`value` (as some reader returned it) in canonical form for Arrow type `typ`."""
    if value is None:
        return None
    if pa.types.is_dictionary(typ):
        return canon(value, typ.value_type)
    if pa.types.is_map(typ):
        if isinstance(value, str):
            value = json.loads(value)
        items = value.items() if isinstance(value, dict) else value
        return {key_text(k, typ.key_type): canon(v, typ.item_type) for k, v in items}
    if pa.types.is_struct(typ):
        if isinstance(value, str):
            value = json.loads(value)
        return {f.name: canon(value.get(f.name), f.type) for f in typ}
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        if isinstance(value, str):
            value = json.loads(value)
        return [canon(v, typ.value_type) for v in value]
    if pa.types.is_floating(typ):
        v = float(special_float(value))
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if pa.types.is_integer(typ):
        return int(value)
    if pa.types.is_timestamp(typ):
        if isinstance(value, str):
            text = value.replace("T", " ").rstrip("Z")
            for suffix in ("+00:00", "+00"):
                if text.endswith(suffix):
                    text = text[: -len(suffix)]
            value = dt.datetime.fromisoformat(text)
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ) or pa.types.is_binary_view(typ):
        return value.hex() if isinstance(value, bytes) else str(value).lower()
    return str(value) if not isinstance(value, bool) else value


def key_text(k, typ):
    """A map key as the text etl writes for it (JSON object keys)."""
    if isinstance(k, str):
        return k
    return str(canon(k, typ))


def rows_from_records(records, schema):
    out = []
    for r in records:
        out.append({f.name: canon(r.get(f.name), f.type) for f in schema})
    return out


def files_of(path, ext):
    if os.path.isdir(path):
        found = []
        for root, _, names in os.walk(path):
            found += [os.path.join(root, n) for n in names if n.endswith("." + ext)]
        return sorted(found)
    return [path]


def read(ref, kind, path, table=None):
    schema = pq.read_schema(ref)
    records = []
    if kind == "parquet":
        for f in files_of(path, "parquet"):
            records += pq.read_table(f, coerce_int96_timestamp_unit="us").to_pylist()
    elif kind == "csv":
        import pyarrow.csv as pcsv

        for f in files_of(path, "csv"):
            names = pcsv.read_csv(f, read_options=pcsv.ReadOptions(skip_rows_after_names=10**9)).column_names
            # Every column as text: an unquoted empty field is NULL, a quoted one ("") the
            # empty string (etl's rule, PostgreSQL's COPY ... CSV).
            convert = pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            )
            records += pcsv.read_csv(f, convert_options=convert).to_pylist()
    elif kind in ("json", "jsonl"):
        for f in files_of(path, kind):
            with open(f, encoding="utf-8") as fh:
                if kind == "json":
                    records += json.load(fh)
                else:
                    records += [json.loads(line) for line in fh if line.strip()]
    elif kind == "avro":
        import fastavro

        for f in files_of(path, "avro"):
            with open(f, "rb") as fh:
                records += list(fastavro.reader(fh))
    elif kind == "sqlite":
        import sqlite3

        con = sqlite3.connect(path)
        cur = con.execute(f'SELECT * FROM "{table}"')
        names = [c[0] for c in cur.description]
        records = [dict(zip(names, r)) for r in cur]
    elif kind == "pgjson":
        records = [json.loads(line) for line in sys.stdin if line.strip()]
    elif kind == "mariadb":
        names = [f.name for f in schema]
        for line in sys.stdin:
            if not line.strip():
                continue
            cells = line.rstrip("\n").split("\t")
            records.append(
                {n: (None if c == "NULL" else c.replace("\\\\", "\\")) for n, c in zip(names, cells)}
            )
    else:
        raise SystemExit(f"unknown kind {kind}")
    rows = rows_from_records(records, schema)
    rows.sort(key=lambda r: r["id"])
    for r in rows:
        print(json.dumps(r, sort_keys=True, ensure_ascii=False))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    elif sys.argv[1] == "layouts":
        layouts(sys.argv[2])
    elif sys.argv[1] == "canon":
        read(*sys.argv[2:])
    else:
        raise SystemExit(__doc__)
