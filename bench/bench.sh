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

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
time_run "sqlite -> parquet" "$ETL" --quiet run "$OUT/sqlite_to_parquet.yaml"
