#!/usr/bin/env bash
# bench/compare.sh BEFORE AFTER: two etl binaries (e.g. a release build of an older commit and
# of HEAD) timed on the same data, scenario by scenario, their runs alternating so that both
# see the same machine. For "no scenario slower than before" checks; `make bench` is the full
# benchmark with peers. BENCH_ROWS (default 1,000,000), BENCH_RUNS (default 3, median).
# Needs PostgreSQL and MariaDB as `make bench` does; SQLITE_EXEC (the release build's
# examples/sqlite_exec) generates the SQLite table when it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BEFORE=${1:?usage: bench/compare.sh BEFORE_BIN AFTER_BIN}
AFTER=${2:?usage: bench/compare.sh BEFORE_BIN AFTER_BIN}
ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-3}
PGHOST=${PGHOST:-127.0.0.1}
OUT=bench/out/compare
DATA=bench/data
mkdir -p "$OUT" "$DATA"
M=(mariadb -h 127.0.0.1 -uroot --default-character-set=utf8mb4)

# The data: SQLite file, CSV file (written by BEFORE once), PostgreSQL and MariaDB tables.
DB="$DATA/lineitem-$ROWS.db"
if [ ! -f "$DB" ]; then
    "${SQLITE_EXEC:?set SQLITE_EXEC to a built examples/sqlite_exec}" bench/lineitem_sqlite.sql "$DB" "ROWS=$ROWS"
fi
have=$(psql -X -At -h "$PGHOST" -U postgres -d test -c "SELECT count(*) FROM etl_bench.lineitem" 2>/dev/null || echo 0)
if [ "$have" != "$ROWS" ]; then
    psql -X -q -v ON_ERROR_STOP=1 -v rows="$ROWS" -v schema=etl_bench -h "$PGHOST" -U postgres -d test -f bench/lineitem_pg.sql
fi
"${M[@]}" -e "CREATE DATABASE IF NOT EXISTS etl_bench_src; CREATE DATABASE IF NOT EXISTS etl_bench_dst"
have=$("${M[@]}" -N -e "SELECT COUNT(*) FROM etl_bench_src.lineitem" 2>/dev/null || echo 0)
if [ "$have" != "$ROWS" ]; then
    sed "s/{{ROWS}}/$ROWS/g" bench/lineitem_mysql.sql | "${M[@]}" etl_bench_src
fi
psql -X -q -h "$PGHOST" -U postgres -d test -c "CREATE SCHEMA IF NOT EXISTS etl_bench_load"

# spec NAME SOURCE_BLOCK DESTINATION_BLOCK
spec() {
    printf 'version: 1\nname: %s\nsource:\n%sdestination:\n%sstreams:\n  - name: lineitem\n' "$1" "$2" "$3" > "$OUT/$1.yaml"
}
files() { printf '  connector_type: local_file\n  config: {base_path: %s, format: %s, overwrite: true}\n' "$OUT/$1" "$2"; }
sqlite_src="  connector_type: sqlite\n  config: {database_path: $DB}\n"
pg="  connector_type: postgresql\n  config: {host: $PGHOST, database: test, user: postgres, schema: %s}\n"
my="  connector_type: mysql\n  config: {host: 127.0.0.1, database: %s, user: root}\n"
spec sqlite_to_parquet "$(printf "$sqlite_src")
" "$(files sqlite_to_parquet parquet)
"
CSV="$DATA/lineitem-$ROWS.csv"
if [ ! -f "$CSV" ]; then
    spec make_csv "$(printf "$sqlite_src")
" "$(files make_csv csv)
"
    "$BEFORE" --quiet run "$OUT/make_csv.yaml"
    mv "$OUT"/make_csv/lineitem/part-*.csv "$CSV"
fi
spec csv_to_parquet "  connector_type: local_file
  config: {file_path: $CSV}
" "$(files csv_to_parquet parquet)
"
spec pg_to_parquet "$(printf "$pg" etl_bench)
" "$(files pg_to_parquet parquet)
"
spec parquet_to_pg "  connector_type: local_file
  config: {file_path: $PWD/$OUT/pg_to_parquet/lineitem}
" "$(printf "$pg" etl_bench_load)
"
spec mysql_to_parquet "$(printf "$my" etl_bench_src)
" "$(files mysql_to_parquet parquet)
"
spec parquet_to_mysql "  connector_type: local_file
  config: {file_path: $PWD/$OUT/pg_to_parquet/lineitem}
" "$(printf "$my" etl_bench_dst)
"

# once BIN SPEC: wall seconds and peak RSS (MB) of one run.
once() {
    local log
    log=$(mktemp)
    /usr/bin/time -v "$1" --quiet run "$2" >/dev/null 2>"$log" || { cat "$log" >&2; exit 1; }
    awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); w = (n == 3) ? t[1] * 3600 + t[2] * 60 + t[3] : t[1] * 60 + t[2] }
                /Maximum resident set size/ { r = $2 / 1024 }
                END { printf "%.2f %.1f\n", w, r }' "$log"
    rm -f "$log"
}
median() { sort -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }

printf '%-22s %10s %10s %8s %10s %10s\n' scenario before_s after_s ratio before_MB after_MB
for s in sqlite_to_parquet csv_to_parquet pg_to_parquet parquet_to_pg mysql_to_parquet parquet_to_mysql; do
    b=() a=()
    for _ in $(seq "$RUNS"); do
        b+=("$(once "$BEFORE" "$OUT/$s.yaml")")
        a+=("$(once "$AFTER" "$OUT/$s.yaml")")
    done
    bt=$(printf '%s\n' "${b[@]}" | awk '{print $1}' | median)
    at=$(printf '%s\n' "${a[@]}" | awk '{print $1}' | median)
    br=$(printf '%s\n' "${b[@]}" | awk '{print $2}' | median)
    ar=$(printf '%s\n' "${a[@]}" | awk '{print $2}' | median)
    printf '%-22s %10s %10s %8.3f %10s %10s\n' "$s" "$bt" "$at" "$(awk -v a="$at" -v b="$bt" 'BEGIN { print a / b }')" "$br" "$ar"
done
