#!/usr/bin/env bash
# `make bench`: deterministic data, etl timed with /usr/bin/time -v (median of 3 runs).
# BENCH_ROWS (default 2,000,000) sets the table size. Not part of `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROWS=${BENCH_ROWS:-2000000}
RUNS=${BENCH_RUNS:-3}
DATA=bench/data
OUT=bench/out
mkdir -p "$DATA" "$OUT"
command -v /usr/bin/time >/dev/null || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }

cargo build --release --quiet --bin etl --example sqlite_exec
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
ETL="$TARGET/release/etl"

DB="$DATA/lineitem-$ROWS.db"
if [ ! -f "$DB" ]; then
    echo "bench: generating $ROWS rows into $DB" >&2
    "$TARGET/release/examples/sqlite_exec" bench/lineitem_sqlite.sql "$DB" "ROWS=$ROWS"
fi

# time_run NAME CMD...: runs CMD $RUNS times, prints the median wall time, rows/s and peak RSS.
time_run() {
    local name=$1; shift
    local results=()
    for _ in $(seq "$RUNS"); do
        local log
        log=$(mktemp)
        /usr/bin/time -v "$@" >/dev/null 2>"$log" || { cat "$log" >&2; exit 1; }
        local wall rss
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
        results+=("$wall $rss")
        rm -f "$log"
    done
    printf '%s\n' "${results[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p" | {
        read -r wall rss
        awk -v n="$name" -v w="$wall" -v r="$rss" -v rows="$ROWS" \
            'BEGIN { printf "%-28s %10d rows %8.2f s %12.0f rows/s %8.1f MB peak RSS\n", n, rows, w, rows / w, r / 1024 }'
    }
}

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
    BVENV=bench/.venv
    [ -x "$BVENV/bin/python" ] || python3 -m venv "$BVENV"
    "$BVENV/bin/pip" install -q duckdb==2.0.0 polars==2.1.0 >&2
    cat > "$OUT/duckdb_csv.py" <<PY
import duckdb
duckdb.sql("COPY (FROM read_csv('$CSV')) TO '$OUT/duckdb.parquet' (FORMAT parquet, COMPRESSION snappy)")
PY
    cat > "$OUT/polars_csv.py" <<PY
import polars as pl
pl.scan_csv("$CSV", try_parse_dates=True).sink_parquet("$OUT/polars.parquet", compression="snappy")
PY
    time_run "duckdb csv -> parquet" "$BVENV/bin/python" "$OUT/duckdb_csv.py"
    time_run "polars csv -> parquet" "$BVENV/bin/python" "$OUT/polars_csv.py"
fi
