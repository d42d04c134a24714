#!/usr/bin/env bash
# `make bench`: deterministic data, etl timed with /usr/bin/time -v (median of 3 runs).
# BENCH_ROWS (default 2,000,000) sets the table size. Not part of `make test`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
DATA=bench/data
mkdir -p "$DATA"

DB="$DATA/lineitem-$ROWS.db"
if [ ! -f "$DB" ]; then
    echo "bench: generating $ROWS rows into $DB" >&2
    "$TARGET/release/examples/sqlite_exec" bench/lineitem_sqlite.sql "$DB" "ROWS=$ROWS"
fi


cat > "$OUT/sqlite_to_parquet.yaml" <<YAML
version: 1
name: bench_sqlite_to_parquet
source:
  connector_type: sqlite
  config:
    database_path: $DB
destination:
  connector_type: local_file
  config:
    base_path: $OUT/sqlite_to_parquet
    format: parquet
    overwrite: true
streams:
  - name: lineitem
YAML

# The same rows as one CSV file (written by etl, once) for the CSV -> Parquet scenario.
CSV="$DATA/lineitem-$ROWS.csv"
if [ ! -f "$CSV" ]; then
    cat > "$OUT/make_csv.yaml" <<YAML
version: 1
name: bench_make_csv
source:
  connector_type: sqlite
  config:
    database_path: $DB
destination:
  connector_type: local_file
  config:
    base_path: $OUT/make_csv
    format: csv
    overwrite: true
streams:
  - name: lineitem
YAML
    "$ETL" --quiet run "$OUT/make_csv.yaml"
    mv "$OUT"/make_csv/lineitem/part-*.csv "$CSV"
fi
cat > "$OUT/csv_to_parquet.yaml" <<YAML
version: 1
name: bench_csv_to_parquet
source:
  connector_type: local_file
  config:
    file_path: $CSV
destination:
  connector_type: local_file
  config:
    base_path: $OUT/csv_to_parquet
    format: parquet
    overwrite: true
YAML

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
time_run "etl sqlite -> parquet" "$ETL" --quiet run "$OUT/sqlite_to_parquet.yaml"
time_run "etl csv -> parquet" "$ETL" --quiet run "$OUT/csv_to_parquet.yaml"

# Peers in the same run (BENCH_PEERS=1): installed from PyPI into bench/.venv.
if [ "${BENCH_PEERS:-0}" = 1 ]; then
    PY=$(peers_python)
    cat > "$OUT/duckdb_csv.py" <<PY
import duckdb
duckdb.sql("COPY (FROM read_csv('$CSV')) TO '$OUT/duckdb.parquet' (FORMAT parquet, COMPRESSION snappy)")
PY
    cat > "$OUT/polars_csv.py" <<PY
import polars as pl
pl.scan_csv("$CSV", try_parse_dates=True).sink_parquet("$OUT/polars.parquet", compression="snappy")
PY
    time_run "duckdb csv -> parquet" "$PY" "$OUT/duckdb_csv.py"
    time_run "polars csv -> parquet" "$PY" "$OUT/polars_csv.py"
    echo
    ratio "etl csv -> parquet" "duckdb csv -> parquet"
    ratio "etl csv -> parquet" "polars csv -> parquet"
fi
