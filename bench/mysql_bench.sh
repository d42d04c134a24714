#!/usr/bin/env bash
# MariaDB -> Parquet and Parquet -> MariaDB with etl, timed with /usr/bin/time -v (median of
# BENCH_RUNS), on a deterministic lineitem-like table (bench/lineitem_mysql.sql).
# Needs MariaDB on 127.0.0.1:3306 (root, no password) with the Sequence engine (seq_1_to_N).
# Also times the server side of the two bulk-load methods etl could use, with the mariadb
# client alone: multi-row INSERTs (mariadb-dump --extended-insert) vs LOAD DATA LOCAL INFILE.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROWS=${BENCH_ROWS:-2000000}
RUNS=${BENCH_RUNS:-3}
SRC=etl_bench_src
DST=etl_bench_dst
OUT=bench/out
mkdir -p "$OUT"
M=(mariadb -h 127.0.0.1 -uroot --default-character-set=utf8mb4)
command -v /usr/bin/time >/dev/null || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }

cargo build --release --quiet --bin etl
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
ETL="$TARGET/release/etl"

"${M[@]}" -e "CREATE DATABASE IF NOT EXISTS $SRC; CREATE DATABASE IF NOT EXISTS $DST"
have=$("${M[@]}" -N -e "SELECT COUNT(*) FROM $SRC.lineitem" 2>/dev/null || echo 0)
if [ "$have" != "$ROWS" ]; then
    echo "bench: generating $ROWS rows into $SRC.lineitem" >&2
    sed "s/{{ROWS}}/$ROWS/g" bench/lineitem_mysql.sql | "${M[@]}" "$SRC"
fi

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
            'BEGIN { printf "%-32s %10d rows %8.2f s %12.0f rows/s %8.1f MB peak RSS\n", n, rows, w, rows / w, r / 1024 }'
    }
}

cat > "$OUT/mysql_to_parquet.yaml" <<YAML
version: 1
name: bench_mysql_to_parquet
source:
  connector_type: mysql
  config: {host: 127.0.0.1, database: $SRC, user: root}
destination:
  connector_type: local_file
  config: {base_path: $OUT/mysql_to_parquet, format: parquet, overwrite: true}
streams:
  - name: lineitem
YAML
cat > "$OUT/mysql_to_parquet_part.yaml" <<YAML
version: 1
name: bench_mysql_to_parquet_part
source:
  connector_type: mysql
  config: {host: 127.0.0.1, database: $SRC, user: root}
destination:
  connector_type: local_file
  config: {base_path: $OUT/mysql_to_parquet_part, format: parquet, overwrite: true}
streams:
  - name: lineitem
    partition: {column: l_orderkey, count: 2}
YAML
cat > "$OUT/parquet_to_mysql.yaml" <<YAML
version: 1
name: bench_parquet_to_mysql
source:
  connector_type: local_file
  config: {file_path: $OUT/mysql_to_parquet/lineitem}
destination:
  connector_type: mysql
  config: {host: 127.0.0.1, database: $DST, user: root}
streams:
  - name: lineitem
YAML

time_run "mysql -> parquet" "$ETL" run "$OUT/mysql_to_parquet.yaml" --quiet
time_run "mysql -> parquet (2 partitions)" "$ETL" run "$OUT/mysql_to_parquet_part.yaml" --quiet
time_run "parquet -> mysql" "$ETL" run "$OUT/parquet_to_mysql.yaml" --quiet
test "$("${M[@]}" -N -e "SELECT COUNT(*) FROM $DST.lineitem")" = "$ROWS"

if [ "${BENCH_METHODS:-1}" = 1 ]; then
    # The bulk-load choice: the same rows through the mariadb client alone.
    DUMP=$OUT/lineitem_inserts.sql
    TSV=$OUT/lineitem.tsv
    mariadb-dump -h 127.0.0.1 -uroot --no-create-info --extended-insert \
        --tz-utc "$SRC" lineitem > "$DUMP"
    "${M[@]}" -N -B -e "SET time_zone='+00:00'; SELECT * FROM $SRC.lineitem" > "$TSV"
    "${M[@]}" -e "DROP TABLE IF EXISTS $DST.m; CREATE TABLE $DST.m LIKE $SRC.lineitem"
    t0=$(date +%s.%N)
    sed 's/`lineitem`/`m`/' "$DUMP" | "${M[@]}" "$DST"
    t1=$(date +%s.%N)
    "${M[@]}" -e "TRUNCATE $DST.m"
    t2=$(date +%s.%N)
    "${M[@]}" --local-infile=1 "$DST" -e "SET time_zone='+00:00'; LOAD DATA LOCAL INFILE '$TSV' INTO TABLE m"
    t3=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v rows="$ROWS" 'BEGIN {
        printf "%-32s %10d rows %8.2f s %12.0f rows/s\n", "client: multi-row INSERTs", rows, b - a, rows / (b - a);
        printf "%-32s %10d rows %8.2f s %12.0f rows/s\n", "client: LOAD DATA LOCAL", rows, d - c, rows / (d - c) }'
    "${M[@]}" -e "DROP TABLE $DST.m"
    rm -f "$DUMP" "$TSV"
fi
