#!/usr/bin/env bash
# MariaDB -> Parquet and Parquet -> MariaDB with etl, timed with /usr/bin/time -v (median of
# BENCH_RUNS), on a deterministic lineitem-like table (bench/lineitem_mysql.sql).
# Needs MariaDB on 127.0.0.1:3306 (root, no password) with the Sequence engine (seq_1_to_N).
# Also times the server side of the two bulk-load methods etl could use, with the mariadb
# client alone: multi-row INSERTs (mariadb-dump --extended-insert) vs LOAD DATA LOCAL INFILE.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SRC=etl_bench_src
DST=etl_bench_dst
M=(mariadb -h 127.0.0.1 -uroot --default-character-set=utf8mb4)

"${M[@]}" -e "CREATE DATABASE IF NOT EXISTS $SRC; CREATE DATABASE IF NOT EXISTS $DST"
have=$("${M[@]}" -N -e "SELECT COUNT(*) FROM $SRC.lineitem" 2>/dev/null || echo 0)
if [ "$have" != "$ROWS" ]; then
    echo "bench: generating $ROWS rows into $SRC.lineitem" >&2
    sed "s/{{ROWS}}/$ROWS/g" bench/lineitem_mysql.sql | "${M[@]}" "$SRC"
fi


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

cat > "$OUT/mysql_to_csv.yaml" <<YAML
version: 1
name: bench_mysql_to_csv
source:
  connector_type: mysql
  config: {host: 127.0.0.1, database: $SRC, user: root}
destination:
  connector_type: local_file
  config: {base_path: $OUT/mysql_to_csv, format: csv, overwrite: true}
streams:
  - name: lineitem
YAML
time_run "mysql -> csv" "$ETL" --quiet run "$OUT/mysql_to_csv.yaml"

# Peers in the same run (BENCH_PEERS=1): ConnectorX (+ pyarrow write) to Parquet, Sling to CSV.
if [ "${BENCH_PEERS:-0}" = 1 ]; then
    PY=$(peers_python)
    SLING=$(sling_bin "$PY")
    time_run "connectorx mysql -> parquet" "$PY" bench/peers/cx_to_parquet.py \
        "mysql://root@127.0.0.1:3306/$SRC" "SELECT * FROM lineitem" "$OUT/cx_mysql.parquet"
    time_run "sling mysql -> csv" env SLING_DISABLE_TELEMETRY=true \
        MY="mysql://root@127.0.0.1:3306/$SRC" \
        "$SLING" run --src-conn MY --src-stream "$SRC.lineitem" --tgt-object "file://$PWD/$OUT/sling_mysql.csv"
    echo
    ratio "mysql -> parquet" "connectorx mysql -> parquet"
    ratio "mysql -> csv" "sling mysql -> csv"
fi
