#!/usr/bin/env bash
# delete_missing at scale: an incremental SQLite -> SQLite stream of N keys (default 1,000,000),
# then 1 % of the keys deleted at the source and the stream run again with `delete_missing`
# (`hard` by default; DELETES_HOW=soft). Checks the result exactly (row count, no deleted key
# left or every deleted key marked, sum of the ids) and prints the wall time and peak RSS of
# the second run (from /usr/bin/time -v). ETL=path picks the binary (default: the release
# build, built if missing). `make test` runs the 50,000-key version (tests/deletes.rs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${DELETES_ROWS:-1000000}
HOW=${DELETES_HOW:-hard}
if [ -z "${ETL:-}" ]; then
    cargo build --release --quiet --bin etl
    ETL="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/etl"
fi
command -v /usr/bin/time >/dev/null || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
# sqlite3 DB SQL: runs SQL (several statements) with Python's sqlite3 module, an independent
# reader, and prints the last statement's first row as `a|b|c`.
sqlite3() {
    python3 - "$1" "$2" <<'PY'
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
*head, last = [s for s in sys.argv[2].split(";") if s.strip()]
for s in head:
    conn.execute(s)
row = conn.execute(last).fetchone()
if row is not None:
    print("|".join("" if v is None else str(v) for v in row))
PY
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sqlite3 "$work/src.db" "PRAGMA journal_mode = wal;
CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, updated_at INTEGER NOT NULL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO t SELECT i, 'value ' || i, i FROM n;" >/dev/null
cat > "$work/spec.yaml" <<YAML
version: 1
name: deletes
source: {connector_type: sqlite, config: {database_path: $work/src.db}}
destination: {connector_type: sqlite, config: {database_path: $work/dst.db}}
state: {path: $work/state.json}
streams:
  - name: t
    mode: incremental
    cursor_field: updated_at
    primary_key: [id]
    delete_missing: $HOW
YAML
measure() { # label: runs etl once under /usr/bin/time -v, prints wall and peak RSS
    local log; log=$(mktemp)
    /usr/bin/time -v "$ETL" run "$work/spec.yaml" >/dev/null 2>"$log" || { cat "$log" >&2; exit 1; }
    awk -F': ' -v l="$1" '/Elapsed \(wall clock\)/ {w=$2} /Maximum resident set size/ {r=$2}
        END {printf "%-44s %s wall, %.1f MB peak RSS\n", l, w, r/1024}' "$log"
    rm -f "$log"
}
measure "first run ($N rows)"
sqlite3 "$work/src.db" "DELETE FROM t WHERE id % 100 = 0"
measure "second run, delete_missing: $HOW ($((N / 100)) gone)"
deleted=$((N / 100))
sum=$(sqlite3 "$work/src.db" "SELECT sum(id) FROM t")
if [ "$HOW" = hard ]; then
    got=$(sqlite3 "$work/dst.db" "SELECT count(*), sum(id), count(*) FILTER (WHERE id % 100 = 0) FROM t")
    want="$((N - deleted))|$sum|0"
else
    got=$(sqlite3 "$work/dst.db" "SELECT count(*), sum(id) FILTER (WHERE _etl_deleted_at IS NULL), count(*) FILTER (WHERE _etl_deleted_at IS NOT NULL AND id % 100 = 0), count(*) FILTER (WHERE _etl_deleted_at IS NOT NULL) FROM t")
    want="$N|$sum|$deleted|$deleted"
fi
[ "$got" = "$want" ] || { echo "deletes: WRONG result: got $got, want $want" >&2; exit 1; }
echo "deletes: exact ($got)"
