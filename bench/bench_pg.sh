#!/usr/bin/env bash
# PostgreSQL -> Parquet benchmark: a deterministic lineitem-like table (BENCH_ROWS, default
# 2,000,000) in schema etl_bench of database `test`, exported with and without partitions.
# Prints wall time, rows/s and peak RSS (/usr/bin/time -v), median of BENCH_RUNS (default 3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROWS=${BENCH_ROWS:-2000000}
RUNS=${BENCH_RUNS:-3}
PGHOST=${PGHOST:-127.0.0.1}
OUT=bench/out
mkdir -p "$OUT"
cargo build --release --quiet --bin etl
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
ETL="$TARGET/release/etl"
have=$(psql -X -At -h "$PGHOST" -U postgres -d test -c "SELECT count(*) FROM etl_bench.lineitem" 2>/dev/null || echo 0)
if [ "$have" != "$ROWS" ]; then
    echo "bench: generating $ROWS rows into etl_bench.lineitem" >&2
    psql -X -q -v ON_ERROR_STOP=1 -v rows="$ROWS" -h "$PGHOST" -U postgres -d test -f bench/lineitem_pg.sql
fi
time_run() {
    local name=$1; shift
    local results=()
    for _ in $(seq "$RUNS"); do
        local log; log=$(mktemp)
        /usr/bin/time -v "$@" >/dev/null 2>"$log" || { cat "$log" >&2; exit 1; }
        local wall rss
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
        results+=("$wall $rss"); rm -f "$log"
    done
    printf '%s\n' "${results[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p" | {
        read -r wall rss
        awk -v n="$name" -v w="$wall" -v r="$rss" -v rows="$ROWS" \
            'BEGIN { printf "%-34s %10d rows %8.2f s %12.0f rows/s %8.1f MB peak RSS\n", n, rows, w, rows / w, r / 1024 }'
    }
}
spec() { # spec NAME PARTITION_YAML
    cat > "$OUT/$1.yaml" <<YAML
version: 1
name: $1
source:
  connector_type: postgresql
  config:
    host: $PGHOST
    database: test
    user: postgres
    schema: etl_bench
destination:
  connector_type: local_file
  config:
    base_path: $OUT/$1
    format: parquet
    overwrite: true
streams:
  - name: lineitem
$2
YAML
}
spec pg_to_parquet ""
spec pg_to_parquet_p2 "    partition: {column: l_orderkey, count: 2}"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
time_run "postgresql -> parquet" "$ETL" --quiet run "$OUT/pg_to_parquet.yaml"
time_run "postgresql -> parquet (2 parts)" "$ETL" --quiet run "$OUT/pg_to_parquet_p2.yaml"
