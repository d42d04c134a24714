# Shared by the bench scripts (source it): settings, the release binary and `time_run`.
# BENCH_ROWS (default 2,000,000) rows, BENCH_RUNS (default 3) runs per scenario.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROWS=${BENCH_ROWS:-2000000}
RUNS=${BENCH_RUNS:-3}
OUT=bench/out
mkdir -p "$OUT"
command -v /usr/bin/time >/dev/null || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
cargo build --release --quiet --bin etl --example sqlite_exec
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
ETL="$TARGET/release/etl"

# MB/s in every scenario is the data's size as CSV (the file bench.sh writes for the CSV
# scenario) over wall time; 0 while that file does not exist yet.
csv_bytes() { stat -c %s "bench/data/lineitem-$ROWS.csv" 2>/dev/null || echo 0; }
# Every timed result of a `make bench` run, for the ratio table: name<TAB>seconds<TAB>MB RSS.
RESULTS=${BENCH_RESULTS:-$OUT/results.tsv}
: > "$RESULTS"

# time_run NAME CMD...: runs CMD $RUNS times and prints the median wall time, rows/s, MB/s
# (CSV-equivalent bytes over wall time) and peak RSS (from /usr/bin/time -v). ROWS_OVERRIDE
# sets the row count of one scenario (the 5N memory check).
time_run() {
    local name=$1; shift
    local rows=${ROWS_OVERRIDE:-$ROWS}
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
        awk -v n="$name" -v w="$wall" -v r="$rss" -v rows="$rows" -v b="$(csv_bytes)" -v all="$ROWS" \
            'BEGIN { mbs = b > 0 ? b * rows / all / w / 1e6 : 0
                     printf "%-36s %10d rows %8.2f s %10.0f rows/s %7.1f MB/s %8.1f MB peak RSS\n", n, rows, w, rows / w, mbs, r / 1024 }'
        printf '%s\t%s\t%.1f\n' "$name" "$wall" "$(awk -v r="$rss" 'BEGIN { print r / 1024 }')" >> "$RESULTS"
    }
}

# ratio ETL_NAME PEER_NAME: how etl's median time compares with a peer's from this run.
ratio() {
    awk -F'\t' -v a="$1" -v b="$2" '$1 == a { ta = $2; ra = $3 } $1 == b { tb = $2; rb = $3 }
        END { if (ta > 0 && tb > 0) printf "%-36s vs %-36s time %.2fx (%s)  RSS %.0f vs %.0f MB\n", a, b, ta / tb,
              ta <= tb ? "etl " sprintf("%.2f", tb / ta) "x faster" : "etl " sprintf("%.2f", ta / tb) "x slower", ra, rb }' "$RESULTS"
}

# pg_lineitem [SCHEMA] [ROWS]: SCHEMA.lineitem (default etl_bench, $ROWS rows) in database `test`
# on $PGHOST, (re)generated unless it already holds that many rows.
pg_lineitem() {
    local schema=${1:-etl_bench} rows=${2:-$ROWS} have
    have=$(psql -X -At -h "$PGHOST" -U postgres -d test -c "SELECT count(*) FROM $schema.lineitem" 2>/dev/null || echo 0)
    if [ "$have" != "$rows" ]; then
        echo "bench: generating $rows rows into $schema.lineitem" >&2
        psql -X -q -v ON_ERROR_STOP=1 -v rows="$rows" -v schema="$schema" -h "$PGHOST" -U postgres -d test -f bench/lineitem_pg.sql
    fi
}

# peers_python: the python of bench/.venv, created with the pinned peers (PyPI only; nothing is
# downloaded at run time). Sling's own binary ships in the sling-linux-amd64 wheel.
peers_python() {
    local venv=bench/.venv
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q duckdb==2.0.0 polars==2.1.0 connectorx==0.4.6 pyarrow==26.0.1 \
        sling-linux-amd64==1.4.11 >&2
    echo "$venv/bin/python"
}

# sling_bin PYTHON: the Sling executable inside the wheel.
sling_bin() {
    "$1" -c 'import sling_linux_amd64 as s; print(s.SLING_BIN)'
}
