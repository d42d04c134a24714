#!/usr/bin/env python3
"""Independent checker: compare a SQLite table with exported (or imported) files.

    python compare.py --sqlite DB --table T --file PATH [--file PATH ...]
                      --format parquet|csv|json|jsonl|avro
                      [--order-by col1,col2] [--csv-null STR] [--csv-empty-is-null]

The same check serves both directions (SQLite -> file exports and file ->
SQLite loads): the SQLite table and the file(s) must hold the same rows.

Readers (deliberately NOT the code under test):
  * SQLite : Python's sqlite3 module (opened read-only).
  * parquet: pyarrow.parquet.
  * csv    : pyarrow.csv, every column read as string (no type guessing),
             header row required, newlines inside quoted values allowed.
  * json   : json module; the file is one JSON array of objects.
  * jsonl  : json module; one JSON object per line (blank lines ignored).
  * avro   : fastavro (logical types decoded by fastavro).
  JSON numbers with a fraction/exponent are parsed as decimal.Decimal, so
  nothing is lost before canonicalisation. Several --file arguments are
  concatenated (their order does not matter, rows are sorted anyway).
  Any input file may be gzip- or zstd-compressed; compression is detected by
  magic bytes (the .gz / .zst / .zstd extension is only cross-checked).

Comparison: row count, column names (same order), then every value after
canonicalising both sides by the SQLite column's *declared* type:

  INTEGER / INT*            -> int (bools are not ints; no floats)
  REAL / FLOAT / DOUBLE     -> float, compared exactly via repr()
  TEXT / CHAR / CLOB        -> str, exact
  BLOB                      -> bytes. Text files carry lowercase hex; base64 is
                               accepted only when hex decoding fails, and a note
                               saying so is printed to stderr.
  BOOLEAN / BOOL            -> bool. SQLite: integer 0/1. Files: native bool,
                               true/false (any case) or 1/0.
  DATE                      -> datetime.date ('YYYY-MM-DD' in text).
  TIMESTAMP / DATETIME      -> naive datetime (microseconds). Text: ISO-8601
                               with 'T' or ' ', fraction optional (max 9
                               digits; digits beyond microseconds must be 0).
                               A value carrying a zone/offset, or a tz-aware
                               parquet/avro timestamp, is a MISMATCH (for Avro
                               use local-timestamp-*, for parquet
                               isAdjustedToUTC=false).
  TIMESTAMPTZ / TIMESTAMP WITH TIME ZONE
                            -> aware datetime converted to UTC. Text needs 'Z'
                               or an offset; parquet/avro must be tz-aware.
  TIME                      -> datetime.time.
  DECIMAL(p,s) / NUMERIC(p,s) (NUMERIC(p) means s=0)
                            -> Decimal quantized to scale s. SQLite may hold
                               int, real or text: converted via str(). A value
                               that needs rounding to fit scale s, or that has
                               more than p digits, is reported as a mismatch
                               (never silently rounded).
  bare DECIMAL / NUMERIC    -> Decimal compared by value.
  no declared type          -> compared as-is (str() when one side is text).

  parquet/avro values must be of the native type for the column (e.g. a
  string in a parquet DATE column is a mismatch); csv/json/jsonl values may be
  strings (csv values always are).

NULL must stay NULL, and '' must stay ''. For CSV this is decidable because
pyarrow.csv is configured so that an UNQUOTED empty field (or the --csv-null
marker, default "") is NULL while a QUOTED empty field ("") is the empty
string. (Python's csv module could not tell the two apart, so it is not used
for data.) A writer that cannot make the distinction can be checked with
--csv-empty-is-null: then '' on either side (SQLite or file), and an empty
BLOB in SQLite (its hex text is ''), are treated as NULL. Without that flag a '' <-> NULL difference is reported as a mismatch.

Row order: rows on both sides are sorted by --order-by (default: the table's
primary-key columns, else all columns), with the remaining columns as
tie-breakers, then compared positionally.

Exit status: 0 and "OK <rows> rows, <cols> columns" on stdout when equal;
1 with at most 20 "row N column C: sqlite=... file=..." lines on stderr
(N is the 1-based position after sorting; the row's order-by key follows)
when different; 2 on usage or read errors.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import decimal
import gzip
import io
import json
import math
import os
import re
import sqlite3
import urllib.parse
import sys

MAX_DIFFS = 20
decimal.getcontext().prec = 200
UTC = dt.timezone.utc


class Fatal(Exception):
    """Usage / read error (exit 2)."""


class Bad:
    """A value that could not be canonicalised; never equal to anything."""

    __slots__ = ("raw", "reason")

    def __init__(self, raw, reason):
        self.raw = raw
        self.reason = reason

    def __eq__(self, other):
        return False

    def __hash__(self):
        return id(self)

    def __repr__(self):
        return f"<unconvertible {short(self.raw)}: {self.reason}>"


NOTES: set[str] = set()


def note(msg):
    if msg not in NOTES:
        NOTES.add(msg)
        print(f"note: {msg}", file=sys.stderr)


def short(v, limit=80):
    if isinstance(v, (bytes, bytearray)):
        h = bytes(v).hex()
        s = f"x'{h}'" if len(h) <= limit else f"x'{h[:limit]}...'({len(v)} bytes)"
        return s
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return f"Decimal({str(v)})"
    s = repr(v)
    return s if len(s) <= limit + 20 else s[: limit + 20] + "..."


# --------------------------------------------------------------------------
# declared types


class Kind:
    def __init__(self, name, precision=None, scale=None):
        self.name = name  # int float text blob bool date ts tstz time dec any
        self.precision = precision
        self.scale = scale

    def __repr__(self):
        if self.name == "dec":
            return f"dec({self.precision},{self.scale})"
        return self.name


TYPE_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\))?\s*$")


def kind_of(decl: str) -> Kind:
    decl = (decl or "").strip()
    if not decl:
        return Kind("any")
    m = TYPE_RE.match(decl)
    base = (m.group(1) if m else decl).upper()
    base = re.sub(r"\s+", " ", base)
    p = int(m.group(2)) if m and m.group(2) else None
    s = int(m.group(3)) if m and m.group(3) else None
    if base in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE", "DATETIMETZ", "TIMESTAMP_TZ"):
        return Kind("tstz")
    if base in ("TIMESTAMP", "DATETIME", "TIMESTAMP WITHOUT TIME ZONE"):
        return Kind("ts")
    if base == "DATE":
        return Kind("date")
    if base in ("TIME", "TIME WITHOUT TIME ZONE"):
        return Kind("time")
    if base in ("BOOLEAN", "BOOL"):
        return Kind("bool")
    if base in ("DECIMAL", "NUMERIC"):
        if p is None:
            return Kind("dec")
        return Kind("dec", p, s if s is not None else 0)
    # SQLite affinity rules (https://sqlite.org/datatype3.html#affname)
    if "INT" in base:
        return Kind("int")
    if any(x in base for x in ("CHAR", "CLOB", "TEXT")):
        return Kind("text")
    if "BLOB" in base:
        return Kind("blob")
    if any(x in base for x in ("REAL", "FLOA", "DOUB")):
        return Kind("float")
    return Kind("any")


# --------------------------------------------------------------------------
# text parsers (strict)

DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
TS_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)
TIME_RE = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?$")
INT_RE = re.compile(r"^[+-]?\d+$")
HEX_RE = re.compile(r"^(?:[0-9a-fA-F]{2})*$")


def _micros(frac):
    if not frac:
        return 0
    if len(frac) > 6 and int(frac[6:]) != 0:
        raise ValueError("sub-microsecond precision")
    return int((frac + "000000")[:6])


def parse_date(s):
    m = DATE_RE.match(s)
    if not m:
        raise ValueError("not YYYY-MM-DD")
    return dt.date(int(m[1]), int(m[2]), int(m[3]))


def parse_ts(s):
    """Returns (naive datetime, tzinfo or None)."""
    m = TS_RE.match(s)
    if not m:
        raise ValueError("not an ISO-8601 timestamp")
    d = dt.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]), _micros(m[7]))
    z = m[8]
    if z is None:
        return d, None
    if z in ("Z", "z"):
        return d, UTC
    sign = -1 if z[0] == "-" else 1
    digits = z[1:].replace(":", "")
    hh = int(digits[:2])
    mm = int(digits[2:4]) if len(digits) > 2 else 0
    return d, dt.timezone(sign * dt.timedelta(hours=hh, minutes=mm))


def parse_time(s):
    m = TIME_RE.match(s)
    if not m:
        raise ValueError("not HH:MM:SS[.ffffff]")
    return dt.time(int(m[1]), int(m[2]), int(m[3]), _micros(m[4]))


# --------------------------------------------------------------------------
# canonicalisation


def to_decimal(v):
    if isinstance(v, bool):
        raise ValueError("boolean")
    if isinstance(v, decimal.Decimal):
        d = v
    elif isinstance(v, (int, float, str)):
        # str(float) is the shortest repr that round-trips, which is the exact
        # decimal for anything stored with <= 15 significant digits.
        try:
            d = decimal.Decimal(str(v).strip())
        except decimal.InvalidOperation:
            raise ValueError("not a decimal number") from None
    else:
        raise ValueError(f"unexpected {type(v).__name__}")
    if not d.is_finite():
        raise ValueError("not finite")
    return d


def canon_decimal(kind, v):
    d = to_decimal(v)
    if kind.precision is None:
        return d
    q = d.quantize(decimal.Decimal(1).scaleb(-kind.scale))
    if q != d:
        raise ValueError(f"more than {kind.scale} fractional digits")
    digits = len(q.as_tuple().digits)
    if kind.scale >= 0 and q != 0 and max(digits, kind.scale) > kind.precision:
        raise ValueError(f"exceeds precision {kind.precision}")
    return q


def canon_sqlite(kind, v, empty_is_null):
    """Canonicalise a value read from SQLite. Returns value, None or Bad."""
    if v is None:
        return None
    if empty_is_null and (v == "" or v == b""):
        return None
    k = kind.name
    try:
        if k == "any":
            return v
        if k == "int":
            if isinstance(v, int):
                return v
            if isinstance(v, float) and v.is_integer():
                return int(v)
            raise ValueError(f"{type(v).__name__} in INTEGER column")
        if k == "float":
            if isinstance(v, (int, float)):
                return float(v)
            raise ValueError(f"{type(v).__name__} in REAL column")
        if k == "text":
            if isinstance(v, str):
                return v
            raise ValueError(f"{type(v).__name__} in TEXT column")
        if k == "blob":
            if isinstance(v, bytes):
                return v
            raise ValueError(f"{type(v).__name__} in BLOB column")
        if k == "bool":
            if isinstance(v, (int, float)) and v in (0, 1):
                return bool(v)
            raise ValueError("not 0/1")
        if k == "date":
            if isinstance(v, str):
                return parse_date(v)
            raise ValueError(f"{type(v).__name__} in DATE column")
        if k in ("ts", "tstz"):
            if not isinstance(v, str):
                raise ValueError(f"{type(v).__name__} in timestamp column")
            d, tz = parse_ts(v)
            if k == "ts":
                if tz is not None:
                    raise ValueError("zone/offset on a naive TIMESTAMP")
                return d
            if tz is None:
                raise ValueError("TIMESTAMPTZ without zone/offset")
            return d.replace(tzinfo=tz).astimezone(UTC)
        if k == "time":
            if isinstance(v, str):
                return parse_time(v)
            raise ValueError(f"{type(v).__name__} in TIME column")
        if k == "dec":
            return canon_decimal(kind, v)
    except (ValueError, ArithmeticError, OverflowError) as e:
        return Bad(v, str(e))
    return Bad(v, f"unknown kind {k}")


def canon_file(kind, v, fmt, empty_is_null, blob_notes):
    """Canonicalise a value read from a file."""
    if v is None:
        return None
    if empty_is_null and isinstance(v, str) and v == "":
        return None
    native_only = fmt in ("parquet", "avro")
    k = kind.name
    try:
        if k == "any":
            return v
        if isinstance(v, str) and native_only and k != "text":
            raise ValueError(f"string in a {fmt} file for a {kind} column (expected native type)")
        if k == "int":
            if isinstance(v, bool):
                raise ValueError("boolean for INTEGER column")
            if isinstance(v, int):
                return v
            if isinstance(v, str) and INT_RE.match(v.strip()):
                return int(v)
            raise ValueError(f"{type(v).__name__} for INTEGER column")
        if k == "float":
            if isinstance(v, float):
                return v
            if native_only:
                raise ValueError(f"{type(v).__name__} for REAL column")
            if isinstance(v, bool):
                raise ValueError("boolean for REAL column")
            if isinstance(v, (int, decimal.Decimal)):
                return float(v)
            if isinstance(v, str):
                return float(v)
            raise ValueError(f"{type(v).__name__} for REAL column")
        if k == "text":
            if isinstance(v, str):
                return v
            raise ValueError(f"{type(v).__name__} for TEXT column")
        if k == "blob":
            if isinstance(v, (bytes, bytearray)):
                return bytes(v)
            if isinstance(v, str) and not native_only:
                if HEX_RE.match(v):
                    if v != v.lower():
                        blob_notes.add("uppercase hex")
                    return bytes.fromhex(v)
                try:
                    b = base64.b64decode(v, validate=True)
                except (binascii.Error, ValueError):
                    raise ValueError("neither hex nor base64")
                blob_notes.add("base64")
                return b
            raise ValueError(f"{type(v).__name__} for BLOB column")
        if k == "bool":
            if isinstance(v, bool):
                return v
            if not native_only:
                if isinstance(v, int) and v in (0, 1):
                    return bool(v)
                if isinstance(v, str):
                    t = v.strip().lower()
                    if t in ("true", "1"):
                        return True
                    if t in ("false", "0"):
                        return False
            raise ValueError("not a boolean")
        if k == "date":
            if isinstance(v, dt.datetime):
                raise ValueError("datetime for DATE column")
            if isinstance(v, dt.date):
                return v
            if isinstance(v, str):
                return parse_date(v)
            raise ValueError(f"{type(v).__name__} for DATE column")
        if k in ("ts", "tstz"):
            if isinstance(v, dt.datetime):
                d, tz = v.replace(tzinfo=None), v.tzinfo
            elif isinstance(v, str):
                d, tz = parse_ts(v)
            else:
                raise ValueError(f"{type(v).__name__} for timestamp column")
            if k == "ts":
                if tz is not None:
                    raise ValueError("tz-aware value for naive TIMESTAMP column")
                return d
            if tz is None:
                raise ValueError("naive value for TIMESTAMPTZ column")
            return v.astimezone(UTC) if isinstance(v, dt.datetime) else d.replace(tzinfo=tz).astimezone(UTC)
        if k == "time":
            if isinstance(v, dt.time):
                return v
            if isinstance(v, str):
                return parse_time(v)
            raise ValueError(f"{type(v).__name__} for TIME column")
        if k == "dec":
            if native_only and not isinstance(v, decimal.Decimal):
                raise ValueError(f"{type(v).__name__} for DECIMAL column (expected decimal type)")
            return canon_decimal(kind, v)
    except (ValueError, ArithmeticError, OverflowError) as e:
        return Bad(v, str(e))
    return Bad(v, f"unknown kind {k}")


def values_equal(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, Bad) or isinstance(b, Bad):
        return False
    if isinstance(a, float) and isinstance(b, float):
        return repr(a) == repr(b)
    if type(a) is not type(b):
        # 'any' columns: SQLite value vs text from a text file.
        if isinstance(b, str) and not isinstance(a, str):
            return str(a) == b
        if isinstance(a, bool) or isinstance(b, bool):
            return False
        if isinstance(a, (int, float, decimal.Decimal)) and isinstance(b, (int, float, decimal.Decimal)):
            return a == b
        return False
    return a == b


def sort_key(v):
    if v is None:
        return (0, "", 0)
    if isinstance(v, Bad):
        return (2, "", repr(v.raw))
    if isinstance(v, float) and math.isnan(v):
        return (1, "float~nan", 0)
    if isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool):
        return (1, "num", v)
    return (1, type(v).__name__, v)


# --------------------------------------------------------------------------
# readers

GZ_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def read_bytes(path):
    with open(path, "rb") as f:
        data = f.read()
    lower = path.lower()
    if data.startswith(GZ_MAGIC):
        if not lower.endswith(".gz"):
            note(f"{path}: gzip data without .gz extension")
        return gzip.decompress(data)
    if data.startswith(ZSTD_MAGIC):
        if not (lower.endswith(".zst") or lower.endswith(".zstd")):
            note(f"{path}: zstd data without .zst extension")
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
        return reader.readall()
    if lower.endswith((".gz", ".zst", ".zstd")):
        raise Fatal(f"{path}: extension says compressed but content is not gzip/zstd")
    return data


def read_parquet(path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(pa.BufferReader(read_bytes(path)))
    names = list(table.schema.names)
    cols = []
    for i, field in enumerate(table.schema):
        col = table.column(i)
        t = field.type
        if pa.types.is_timestamp(t) and t.unit == "ns":
            # pyarrow would need pandas for ns; safe cast fails on lost precision.
            col = col.cast(pa.timestamp("us", tz=t.tz), safe=True)
        if pa.types.is_time(t) and t.unit == "ns":
            col = col.cast(pa.time64("us"), safe=True)
        cols.append(col.to_pylist())
    rows = [list(r) for r in zip(*cols)] if cols else []
    return names, rows


def read_csv(path, csv_null):
    import csv as pycsv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    data = read_bytes(path)
    # Header only, to learn the column names so that all can be typed as string.
    header_text = data.decode("utf-8-sig", errors="replace")
    header = next(pycsv.reader(io.StringIO(header_text, newline="")), None)
    if header is None:
        raise Fatal(f"{path}: empty CSV (no header)")
    if len(set(header)) != len(header):
        raise Fatal(f"{path}: duplicate column names in header {header}")
    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in header},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[csv_null],
        ),
    )
    names = list(table.schema.names)
    cols = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = [list(r) for r in zip(*cols)] if cols else []
    return names, rows


def _objects_to_rows(path, objs):
    names = None
    rows = []
    for n, pairs in enumerate(objs, 1):
        if not isinstance(pairs, JsonObject):
            raise Fatal(f"{path}: record {n} is not a JSON object")
        keys = [k for k, _ in pairs]
        if names is None:
            names = keys
            if len(set(names)) != len(names):
                raise Fatal(f"{path}: duplicate keys in record 1: {names}")
        elif keys != names:
            raise Fatal(f"{path}: record {n} has keys {keys}, record 1 has {names}")
        rows.append([v for _, v in pairs])
    return names, rows


class JsonObject(list):
    """Key/value pairs of one JSON object, in file order."""


def _loads(text):
    return json.loads(text, parse_float=decimal.Decimal, object_pairs_hook=JsonObject)


def read_json(path):
    doc = _loads(read_bytes(path).decode("utf-8"))
    if not isinstance(doc, list) or isinstance(doc, JsonObject):
        raise Fatal(f"{path}: expected a JSON array of objects")
    return _objects_to_rows(path, doc)


def read_jsonl(path):
    objs = []
    for line in read_bytes(path).decode("utf-8").splitlines():
        if line.strip():
            objs.append(_loads(line))
    return _objects_to_rows(path, objs)


def read_avro(path):
    import fastavro

    reader = fastavro.reader(io.BytesIO(read_bytes(path)))
    schema = reader.writer_schema
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise Fatal(f"{path}: Avro schema is not a record")
    names = [f["name"] for f in schema["fields"]]
    rows = [[rec.get(n) for n in names] for rec in reader]
    return names, rows


def read_files(paths, fmt, csv_null):
    names = None
    rows = []
    for p in paths:
        if fmt == "parquet":
            n, r = read_parquet(p)
        elif fmt == "csv":
            n, r = read_csv(p, csv_null)
        elif fmt == "json":
            n, r = read_json(p)
        elif fmt == "jsonl":
            n, r = read_jsonl(p)
        elif fmt == "avro":
            n, r = read_avro(p)
        else:
            raise Fatal(f"unknown format {fmt}")
        if n is None:  # empty json/jsonl file: columns unknown
            if r:
                raise Fatal(f"{p}: cannot determine columns")
        elif names is None:
            names = n
        elif n != names:
            raise Fatal(f"{p}: columns {n} differ from {paths[0]}'s {names}")
        rows.extend(r)
    return names, rows


def read_sqlite(db, table):
    if not os.path.exists(db):
        raise Fatal(f"{db}: no such file")
    # Quote the path: '#', '?' and '%' are special in SQLite URIs.
    con = sqlite3.connect(
        "file:" + urllib.parse.quote(os.path.abspath(db)) + "?mode=ro", uri=True
    )
    con.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    try:
        info = con.execute("SELECT name, type, pk FROM pragma_table_info(?)", (table,)).fetchall()
        if not info:
            raise Fatal(f"{db}: no table {table!r}")
        names = [r[0] for r in info]
        decls = [r[1] for r in info]
        pk = [r[0] for r in sorted((r for r in info if r[2] > 0), key=lambda r: r[2])]
        q = lambda s: '"' + s.replace('"', '""') + '"'  # noqa: E731
        sql = f"SELECT {', '.join(q(n) for n in names)} FROM {q(table)}"
        rows = [list(r) for r in con.execute(sql)]
    finally:
        con.close()
    return names, decls, pk, rows


# --------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sqlite", required=True, help="SQLite database file")
    ap.add_argument("--table", required=True)
    ap.add_argument("--file", action="append", required=True, help="file to compare (repeatable)")
    ap.add_argument("--format", required=True, choices=["parquet", "csv", "json", "jsonl", "avro"])
    ap.add_argument("--order-by", default=None, help="comma-separated columns (default: primary key, else all)")
    ap.add_argument("--csv-null", default="", help='CSV NULL marker for unquoted fields (default: "")')
    ap.add_argument(
        "--csv-empty-is-null",
        action="store_true",
        help="treat '' as NULL on both sides (for writers that cannot quote empty strings)",
    )
    args = ap.parse_args(argv)

    try:
        s_names, decls, pk, s_rows = read_sqlite(args.sqlite, args.table)
        f_names, f_rows = read_files(args.file, args.format, args.csv_null)
    except Fatal as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # unreadable file etc.
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2

    if f_names is None:
        note("file(s) contain no records; column names not checked")
        f_names = s_names
    if f_names != s_names:
        print(f"columns differ:\n  sqlite={s_names}\n  file  ={f_names}", file=sys.stderr)
        return 1

    kinds = [kind_of(d) for d in decls]
    ncol = len(s_names)
    if args.order_by:
        order = [c.strip() for c in args.order_by.split(",") if c.strip()]
        missing = [c for c in order if c not in s_names]
        if missing:
            print(f"error: --order-by columns not in table: {missing}", file=sys.stderr)
            return 2
    else:
        order = pk or list(s_names)
    order_idx = [s_names.index(c) for c in order]
    key_idx = order_idx + [i for i in range(ncol) if i not in order_idx]

    empty_is_null = args.csv_empty_is_null
    blob_notes: list[set] = [set() for _ in range(ncol)]
    s_canon = [[canon_sqlite(kinds[i], r[i], empty_is_null) for i in range(ncol)] for r in s_rows]
    f_canon = [
        [canon_file(kinds[i], r[i], args.format, empty_is_null, blob_notes[i]) for i in range(ncol)]
        for r in f_rows
    ]
    for i, ns in enumerate(blob_notes):
        for n in sorted(ns):
            note(f"column {s_names[i]}: BLOB values decoded from {n}")

    def rk(row):
        return tuple(sort_key(row[i]) for i in key_idx)

    def key_text(row):
        text = ", ".join(f"{s_names[i]}={short(row[i], 40)}" for i in order_idx)
        return text if len(text) <= 200 else text[:200] + "..."

    try:
        s_canon.sort(key=rk)
        f_canon.sort(key=rk)
    except TypeError as e:
        print(f"error: cannot sort rows: {e}", file=sys.stderr)
        return 2

    diffs = []
    if len(s_canon) != len(f_canon):
        diffs.append(f"row count differs: sqlite={len(s_canon)} file={len(f_canon)}")
        # Show which keys are missing / extra (by order-by key).
        from collections import Counter

        def okey(row):
            return tuple(sort_key(row[i]) for i in order_idx)

        sc = Counter(okey(r) for r in s_canon)
        fc = Counter(okey(r) for r in f_canon)
        shown = 0
        for r in s_canon:
            k = okey(r)
            if sc[k] > fc.get(k, 0) and shown < MAX_DIFFS:
                diffs.append(f"only in sqlite: {key_text(r)}")
                sc[k] -= 1
                shown += 1
        for r in f_canon:
            k = okey(r)
            if fc[k] > sc.get(k, 0) and shown < MAX_DIFFS:
                diffs.append(f"only in file: {key_text(r)}")
                fc[k] -= 1
                shown += 1
    else:
        total = 0
        for n, (a, b) in enumerate(zip(s_canon, f_canon), 1):
            for i in range(ncol):
                if not values_equal(a[i], b[i]):
                    total += 1
                    if total <= MAX_DIFFS:
                        diffs.append(
                            f"row {n} column {s_names[i]}: sqlite={short(a[i])} file={short(b[i])}"
                            f"  [key {key_text(a)}]"
                        )
        if total > MAX_DIFFS:
            diffs.append(f"... {total - MAX_DIFFS} more differences ({total} in total)")

    if diffs:
        for d in diffs:
            print(d, file=sys.stderr)
        return 1
    print(f"OK {len(s_canon)} rows, {ncol} columns")
    return 0


if __name__ == "__main__":
    import hardexit

    hardexit.run(main)
