#!/usr/bin/env bash
# Checks (and where it can, installs) what building etl needs: a Rust toolchain, a C compiler
# for the bundled SQLite, and make. Idempotent; prints nothing when all is present.
set -euo pipefail
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v pkg-config >/dev/null 2>&1 || true
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "toolchain.sh: installing ${missing[*]} with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2 && apt-get install -y -qq "${missing[@]}" >&2
    else
        echo "toolchain.sh: missing ${missing[*]}; install them (Debian: sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "toolchain.sh: no Rust toolchain (cargo) on PATH. Install Rust 1.88 or newer with rustup" >&2
    echo "  (https://rustup.rs), then rerun. Debian's own cargo package is too old for arrow." >&2
    exit 1
fi
