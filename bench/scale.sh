#!/usr/bin/env bash
# The scale-out measurement (README "Running at scale"; not part of `make test`): a
# PostgreSQL table of BENCH_ROWS rows (default 10,000,000) exported to Parquet by one process,
# then planned into 8 units run by 4 processes (`--shard I/4`) and committed; both outputs are
# read back by pyarrow (rows, distinct keys, sum) and compared with PostgreSQL's own numbers.
#   ETL=target/release/etl BENCH_ROWS=10000000 bench/scale.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rows=${BENCH_ROWS:-10000000}
etl=${ETL:-target/release/etl}
py=${ETL_TEST_PYTHON:-$(scripts/venv.sh | tail -n 1)}
host=${ETL_TEST_PG_HOST:-127.0.0.1}
schema=etl_bench_scale
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
psql() { command psql -X -q -h "$host" -U postgres -d test -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql -tAc "SELECT count(*) FROM $schema.big" 2>/dev/null || echo 0)" != "$rows" ]; then
    echo "scale.sh: creating $schema.big with $rows rows" >&2
    psql -c "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema;
             CREATE TABLE $schema.big (id bigint PRIMARY KEY, v bigint NOT NULL, amount numeric(12,2), label text, at timestamptz);
             INSERT INTO $schema.big SELECT g, (g * 7) % 1000, (g % 100000) / 100.0, 'row ' || g,
                    timestamptz '2024-01-01' + g * interval '1 second' FROM generate_series(1, $rows) g;
             ANALYZE $schema.big;"
fi
spec() {
    cat >"$work/$1.yaml" <<YAML
version: 1
name: scale
source:
  connector_type: postgresql
  config: {host: $host, database: test, user: postgres, schema: $schema}
destination:
  connector_type: local_file
  config: {base_path: $work/$1, format: parquet, overwrite: true}
streams:
  - name: big
    table: big
    partition: {column: id, count: 2}
YAML
    echo "$work/$1.yaml"
}
stats() {
    "$py" -c "import pyarrow.dataset as ds, pyarrow.compute as pc; t = ds.dataset('$1', format='parquet').to_table(columns=['id','v']); print(t.num_rows, len(pc.unique(t['id'])), pc.sum(t['v']).as_py())"
}
now() { date +%s.%N; }
one=$(spec single)
t0=$(now); "$etl" run "$one" -q; t1=$(now)
echo "single process: $(echo "$t1 - $t0" | bc) s"
many=$(spec units)
t0=$(now)
"$etl" plan "$many" --json --units-per-stream 8 >"$work/plan.json"
for i in 0 1 2 3; do "$etl" run "$many" --plan "$work/plan.json" --shard "$i/4" -q & done
wait
t1=$(now)
"$etl" run "$many" --plan "$work/plan.json" --commit -q
t2=$(now)
echo "8 units by 4 processes: $(echo "$t1 - $t0" | bc) s (plan + units), commit $(echo "$t2 - $t1" | bc) s"
pg=$(psql -tAc "SELECT count(*), count(DISTINCT id), sum(v) FROM $schema.big" | tr '|' ' ')
a=$(stats "$work/single/big"); b=$(stats "$work/units/big")
echo "PostgreSQL:     $pg"
echo "single process: $a"
echo "units:          $b"
[ "$a" = "$pg" ] && [ "$b" = "$pg" ] && echo "scale.sh: equal" || { echo "scale.sh: DIFFERENT"; exit 1; }
