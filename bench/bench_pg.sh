#!/usr/bin/env bash
# PostgreSQL benchmarks: a deterministic lineitem-like table (BENCH_ROWS, default 2,000,000) in
# schema etl_bench of database `test`: PG -> Parquet (with and without partitions), PG -> CSV,
# PG -> S3 Parquet (local moto), Parquet -> PG, and the memory check (the same export at 5N rows,
# BENCH_MEMCHECK=0 skips it). Prints wall time, rows/s, MB/s and peak RSS (/usr/bin/time -v),
# median of BENCH_RUNS (default 3).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PGHOST=${PGHOST:-127.0.0.1}
pg_lineitem etl_bench "$ROWS"
spec() { # spec NAME PARTITION_YAML [SCHEMA]
    cat > "$OUT/$1.yaml" <<YAML
version: 1
name: $1
source:
  connector_type: postgresql
  config:
    host: $PGHOST
    database: test
    user: postgres
    schema: ${3:-etl_bench}
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

# PG -> S3 Parquet, against the local S3-compatible server the tests use (moto, in .venv).
S3_PORT=${BENCH_S3_PORT:-19555}
S3=$(scripts/s3-server.sh start "$S3_PORT")
trap 'scripts/s3-server.sh stop "$S3_PORT"' EXIT
ETL_TEST_S3_ENDPOINT=$S3 "$(scripts/venv.sh | tail -n 1)" tests/py/s3.py mkbucket etl-bench 2>/dev/null || true
cat > "$OUT/pg_to_s3.yaml" <<YAML
version: 1
name: pg_to_s3
source:
  connector_type: postgresql
  config: {host: $PGHOST, database: test, user: postgres, schema: etl_bench}
destination:
  connector_type: s3
  config: {bucket: etl-bench, prefix: bench/, endpoint: "$S3", region: us-east-1,
           aws_access_key_id: testing, aws_secret_access_key: testing, format: parquet, overwrite: true}
streams:
  - name: lineitem
YAML
time_run "postgresql -> s3 parquet (moto)" "$ETL" --quiet run "$OUT/pg_to_s3.yaml"

# Memory check: the same export at 5N rows must peak at about the same RSS.
if [ "${BENCH_MEMCHECK:-1}" = 1 ]; then
    pg_lineitem etl_bench_5n $((ROWS * 5))
    spec pg_to_parquet_5n "" etl_bench_5n
    ROWS_OVERRIDE=$((ROWS * 5)) time_run "postgresql -> parquet (5N rows)" "$ETL" --quiet run "$OUT/pg_to_parquet_5n.yaml"
    awk -F'\t' '$1 == "postgresql -> parquet" { n = $3 } $1 == "postgresql -> parquet (5N rows)" { f = $3 }
        END { verdict = (f <= n * 1.25 + 5) ? "flat" : "NOT FLAT"
              printf "memory check: peak RSS %.1f MB at N rows, %.1f MB at 5N rows (%.2fx): %s\n", n, f, f / n, verdict
              exit verdict != "flat" }' "$RESULTS"
fi

# PG -> CSV (the format Sling can write here: its Parquet target downloads DuckDB at run time).
cat > "$OUT/pg_to_csv.yaml" <<YAML
version: 1
name: pg_to_csv
source:
  connector_type: postgresql
  config: {host: $PGHOST, database: test, user: postgres, schema: etl_bench}
destination:
  connector_type: local_file
  config: {base_path: $OUT/pg_to_csv, format: csv, overwrite: true}
streams:
  - name: lineitem
YAML
time_run "postgresql -> csv" "$ETL" --quiet run "$OUT/pg_to_csv.yaml"

# Parquet -> PostgreSQL, from the Parquet file written above.
psql -X -q -h "$PGHOST" -U postgres -d test -c "DROP SCHEMA IF EXISTS etl_bench_load CASCADE; CREATE SCHEMA etl_bench_load; CREATE TABLE etl_bench_load.csvcopy (LIKE etl_bench.lineitem)"
cat > "$OUT/parquet_to_pg.yaml" <<YAML
version: 1
name: parquet_to_pg
source:
  connector_type: local_file
  config: {file_path: $PWD/$OUT/pg_to_parquet/lineitem}
destination:
  connector_type: postgresql
  config: {host: $PGHOST, database: test, user: postgres, schema: etl_bench_load}
streams:
  - name: lineitem
YAML
time_run "parquet -> postgresql" "$ETL" --quiet run "$OUT/parquet_to_pg.yaml"

# Peers in the same run (BENCH_PEERS=1): ConnectorX (+ pyarrow write), Sling, psql \copy.
if [ "${BENCH_PEERS:-0}" = 1 ]; then
    PY=$(peers_python)
    SLING=$(sling_bin "$PY")
    time_run "connectorx postgresql -> parquet" "$PY" bench/peers/cx_to_parquet.py \
        "postgresql://postgres@$PGHOST:5432/test" "SELECT * FROM etl_bench.lineitem" "$OUT/cx_pg.parquet"
    time_run "sling postgresql -> csv" env SLING_DISABLE_TELEMETRY=true \
        PG="postgresql://postgres@$PGHOST:5432/test?sslmode=disable" \
        "$SLING" run --src-conn PG --src-stream etl_bench.lineitem --tgt-object "file://$PWD/$OUT/sling_pg.csv"
    CSV=$(ls "$PWD"/$OUT/pg_to_csv/lineitem/part-*.csv | head -n 1)
    time_run "psql copy from csv -> postgresql" psql -X -q -h "$PGHOST" -U postgres -d test \
        -c "TRUNCATE etl_bench_load.csvcopy" -c "\\copy etl_bench_load.csvcopy FROM '$CSV' (FORMAT csv, HEADER true)"
    time_run "psql copy (binary) -> /dev/null" psql -X -q -h "$PGHOST" -U postgres -d test \
        -c "\\copy (SELECT * FROM etl_bench.lineitem) TO '/dev/null' (FORMAT binary)"
    echo
    ratio "postgresql -> parquet" "connectorx postgresql -> parquet"
    ratio "postgresql -> csv" "sling postgresql -> csv"
    ratio "parquet -> postgresql" "psql copy from csv -> postgresql"
    ratio "postgresql -> parquet" "psql copy (binary) -> /dev/null"
fi
