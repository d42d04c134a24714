"""Reads every Parquet file under a folder with pyarrow and prints its rows as JSON, each value
as canonical text, sorted by the first column (an integer id). The conformance suite compares
this with the same rows rendered by the database's own client.

Canonical text: integers in decimal; decimals with their scale, never in exponent form (`1.50`); floats with six
decimals; booleans `1`/`0`; binary and uuids as lowercase hex; dates `YYYY-MM-DD`; times
`HH:MM:SS.ffffff`; timestamps `YYYY-MM-DD HH:MM:SS.ffffff` (a zoned one converted to UTC);
NULL as null.

    parquet_rows.py DIR
"""
import datetime
import decimal
import json
import pathlib
import sys
import uuid

import pyarrow as pa
import pyarrow.parquet as pq


def canon(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "%.6f" % v
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, uuid.UUID):
        return v.hex
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, datetime.time):
        return v.strftime("%H:%M:%S.%f")
    return str(v)


def main():
    files = sorted(p for p in pathlib.Path(sys.argv[1]).rglob("*") if p.is_file())
    if not files:
        sys.exit(f"no files under {sys.argv[1]}")
    tables = [pq.read_table(f) for f in files]
    names = tables[0].column_names
    rows = []
    for t in tables:
        if t.column_names != names:
            sys.exit(f"files disagree on columns: {names} vs {t.column_names}")
        for r in t.to_pylist():
            rows.append([canon(r[n]) for n in names])
    rows.sort(key=lambda r: (r[0] is None, int(r[0]) if r[0] is not None else 0))
    json.dump({"columns": names, "rows": rows}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
