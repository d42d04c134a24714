#!/usr/bin/env bash
# Create/refresh the Python venv used by the integration tests (tests/py/).
#
#   scripts/venv.sh            -> creates <repo>/.venv, installs tests/py/requirements.txt
#   ETL_VENV=/some/path scripts/venv.sh
#   PYTHON=python3.12 scripts/venv.sh   (interpreter used to create the venv)
#
# Idempotent: packages are (re)installed only when requirements.txt differs
# from the copy stored in the venv's stamp file. Progress goes to stderr;
# the last line on stdout is the venv's python path, so callers can do
#   PY=$(scripts/venv.sh | tail -n1)
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${ETL_VENV:-"$repo_root/.venv"}
req="$repo_root/tests/py/requirements.txt"
stamp="$venv/.requirements.stamp"
python=${PYTHON:-python3}

log() { echo "venv.sh: $*" >&2; }

if [ ! -f "$req" ]; then
    log "missing $req"
    exit 1
fi

venv_py="$venv/bin/python"

if [ ! -x "$venv_py" ] || ! "$venv_py" -c 'import sys' >/dev/null 2>&1; then
    if ! command -v "$python" >/dev/null 2>&1; then
        log "'$python' not found; install Python 3 (Debian: apt-get install -y python3 python3-venv)"
        exit 1
    fi
    # Debian splits venv/ensurepip into python3-venv.
    if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            log "python venv module missing; installing python3-venv with apt-get"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >&2
            apt-get install -y -qq python3-venv >&2
        else
            log "the Python 'venv'/'ensurepip' modules are missing for $python."
            log "Install them (Debian/Ubuntu: sudo apt-get install -y python3-venv) and re-run."
            exit 1
        fi
    fi
    log "creating venv at $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv" >&2
    # Keep the venv out of git without touching the repo's .gitignore.
    printf '*\n' > "$venv/.gitignore"
    rm -f "$stamp"
fi

if [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
    log "requirements up to date"
else
    log "installing $(basename "$req") into $venv"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    "$venv_py" -m pip install --quiet --progress-bar off -r "$req" >&2
    cp "$req" "$stamp"
fi

echo "$venv_py"
