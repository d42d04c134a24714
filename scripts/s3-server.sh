#!/usr/bin/env bash
# Starts a local S3-compatible server (moto, from the test venv) on 127.0.0.1 and prints its
# endpoint URL. Idempotent: reuses a server already answering on the port.
#   scripts/s3-server.sh start [PORT]   -> prints http://127.0.0.1:PORT
#   scripts/s3-server.sh stop [PORT]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cmd=${1:-start}
port=${2:-${ETL_TEST_S3_PORT:-19000}}
pidfile="${TMPDIR:-/tmp}/etl-moto-$port.pid"
url="http://127.0.0.1:$port"
up() { "$py" -c "import urllib.request,sys; urllib.request.urlopen('$url/moto-api/', timeout=1)" >/dev/null 2>&1; }
py=$(scripts/venv.sh | tail -n 1)
case "$cmd" in
start)
    if ! up; then
        "$(dirname "$py")/moto_server" -H 127.0.0.1 -p "$port" >"${TMPDIR:-/tmp}/etl-moto-$port.log" 2>&1 &
        echo $! >"$pidfile"
        for _ in $(seq 100); do up && break; sleep 0.1; done
        up || { echo "s3-server.sh: moto did not start; see ${TMPDIR:-/tmp}/etl-moto-$port.log" >&2; exit 1; }
    fi
    echo "$url"
    ;;
stop)
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
    ;;
*) echo "usage: s3-server.sh start|stop [PORT]" >&2; exit 2 ;;
esac
