#!/usr/bin/env bash
# PostgreSQL -> Parquet benchmark: a deterministic lineitem-like table (BENCH_ROWS, default
# 2,000,000) in schema etl_bench of database `test`, exported with and without partitions.
# Prints wall time, rows/s and peak RSS (/usr/bin/time -v), median of BENCH_RUNS (default 3).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PGHOST=${PGHOST:-127.0.0.1}
pg_lineitem
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
fi
