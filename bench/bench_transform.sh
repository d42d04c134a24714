#!/usr/bin/env bash
# Transform cost: PostgreSQL -> Parquet of etl_bench.lineitem (BENCH_ROWS, default 2,000,000;
# generated as in bench/bench_pg.sh) without a transform, then with a 3-column `derive` plus a
# `filter`. Prints the median of BENCH_RUNS runs of each and the transform's share of the time.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PGHOST=${PGHOST:-127.0.0.1}
pg_lineitem
spec() { # spec NAME TRANSFORM_YAML
    cat > "$OUT/$1.yaml" <<YAML
version: 1
name: $1
source:
  connector_type: postgresql
  config: {host: $PGHOST, database: test, user: postgres, schema: etl_bench}
destination:
  connector_type: local_file
  config: {base_path: $OUT/$1, format: parquet, overwrite: true}
streams:
  - name: lineitem
$2
YAML
}
spec pg_plain ""
spec pg_transform '    transform:
      filter: "l_discount < 0.09 AND l_shipmode <> '"'"'FOB'"'"'"
      derive:
        net_price: "l_extendedprice * (1 - l_discount)"
        ship_year: "EXTRACT(YEAR FROM l_shipdate)"
        mode_lower: "LOWER(l_shipmode)"'
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
plain=$(time_run "postgresql -> parquet" "$ETL" --quiet run "$OUT/pg_plain.yaml")
echo "$plain"
with=$(time_run "same + derive(3) + filter" "$ETL" --quiet run "$OUT/pg_transform.yaml")
echo "$with"
a=$(awk '{print $(NF-7)}' <<<"$plain")
b=$(awk '{print $(NF-7)}' <<<"$with")
awk -v a="$a" -v b="$b" 'BEGIN { printf "transform cost: %.2f s of %.2f s = %.1f%% of the run (target < 20%%)\n", b - a, b, (b - a) * 100 / b }'
