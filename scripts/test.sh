#!/usr/bin/env bash
# `make test`: prepares the independent readers (Python venv with pyarrow + fastavro) and runs
# every unit and integration test against local object stores (moto for S3, fake-gcs-server,
# Azurite), then the unit tests that
# exist only without default features, and prints one closing line
#
#   tests: N passed, N failed, N skipped
#
# A test that printed `SKIPPED: <test>: <reason>` (a live test without its server) or that
# libtest ignored is counted as skipped, not passed. A test binary that ends without a
# `test result:` line (a crash, an abort, a signal) counts as failed and its exit status is
# printed. A build that fails says so and ends the script with the build's status: it never
# reads as `0 passed, 0 failed`. The exit status is non-zero whenever anything failed.
# Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo=${CARGO:-cargo}
# The two cargo test runs: everything with the default features (+ the crash-test pause
# points), and the library's unit tests without default features (tests that compile only
# when polars / tiberius / oracle / S3 are left out).
full=(--no-fail-fast --features fault-injection --lib --bins --tests "$@")
minimal=(--no-fail-fast --no-default-features --lib)

# Tally a cargo test log per test binary: cargo announces each with `Running ...`; a binary
# that ends without a `test result:` line crashed — its tests that reported `ok` count as
# passed, the rest (at least one) as failed, and cargo's `process didn't exit successfully`
# line gives its exit status. SKIPPED lines are read from the file the tests append them to
# (ETL_TEST_SKIPPED_LOG, the second argument) when there is one: written to stderr they can
# land in the middle of libtest's own lines. Returns 1 when anything failed or crashed.
tally() {
    awk -v skipfile="${2:-}" '
    BEGIN {
        if (skipfile != "")
            while ((getline line < skipfile) > 0)
                if (line ~ /^SKIPPED: /) skipped[++k] = line
    }
    function finish() {
        if (bin == "") return
        if (!result) {
            crashed++
            left = ran - ok - bad
            p += ok; f += bad + (left > 0 ? left : 1)
            printf "test.sh: CRASHED: %s printed no test result; %s\n", bin, (why != "" ? why : "no exit status reported")
        }
        bin = ""
    }
    /^ +Running / { finish(); bin = $0; sub(/^ +Running /, "", bin); result = 0; ran = 0; ok = 0; bad = 0; why = ""; next }
    /^running [0-9]+ tests?$/ { ran = $2 }
    /^test .* \.\.\. ok$/ { ok++ }
    /^test .* \.\.\. FAILED$/ { bad++ }
    /process didn.t exit successfully/ { why = $0; sub(/^.*successfully: `[^`]*` \(/, "", why); sub(/\)$/, "", why) }
    /^test result:/ {
        result = 1
        for (i = 1; i <= NF; i++) {
            if ($(i+1) ~ /^passed/) p += $i
            if ($(i+1) ~ /^failed/) f += $i
            if ($(i+1) ~ /^ignored/) s += $i
        }
    }
    skipfile == "" && /^SKIPPED: / { skipped[++k] = $0 }
    END {
        finish()
        # A live test that printed SKIPPED returned early: libtest counted it as passed.
        p -= k; s += k
        if (k > 0) {
            print "\nskipped (no server to test against):"
            for (i = 1; i <= k; i++) print "  " skipped[i]
        }
        printf "\ntests: %d passed, %d failed, %d skipped\n", p, f, s
        exit (f > 0 || crashed > 0) ? 1 : 0
    }' "$1"
}
if [ "${1:-}" = "--tally" ]; then
    tally "$2" "${3:-}"
    exit
fi

log=$(mktemp)
skips=$(mktemp)
export ETL_TEST_SKIPPED_LOG="$skips"
port=
gcs_port=
azure_port=
cleanup() {
    rm -f "$log" "$skips"
    if [ -n "$port" ]; then scripts/s3-server.sh stop "$port"; fi
    if [ -n "$gcs_port" ]; then scripts/emulator.sh gcs stop "$gcs_port"; fi
    if [ -n "$azure_port" ]; then scripts/emulator.sh azure stop "$azure_port"; fi
}
trap cleanup EXIT

# Build both runs first: a compile error ends here, named as such.
for args in "full" "minimal"; do
    declare -n run_args=$args
    set +e
    $cargo test --no-run "${run_args[@]}" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -ne 0 ]; then
        echo
        echo "test.sh: the build failed (cargo test --no-run ${run_args[*]}, exit status $status):"
        grep -E '^error(\[E[0-9]+\])?: ' "$log" | head -n 20 | sed 's/^/  /' || true
        echo "tests: build failed, no test ran"
        exit "$status"
    fi
done

ETL_TEST_PYTHON=$(scripts/venv.sh | tail -n 1)
export ETL_TEST_PYTHON
echo "test.sh: independent reader: $ETL_TEST_PYTHON ($("$ETL_TEST_PYTHON" -c 'import pyarrow, fastavro; print("pyarrow", pyarrow.__version__, "fastavro", fastavro.__version__)'))"
# A local S3-compatible server (moto) for the S3 tests, stopped again at the end.
port=${ETL_TEST_S3_PORT:-$((19000 + RANDOM % 1000))}
ETL_TEST_S3_ENDPOINT=$(scripts/s3-server.sh start "$port")
export ETL_TEST_S3_ENDPOINT
echo "test.sh: S3-compatible server (moto): $ETL_TEST_S3_ENDPOINT"
# GCS and Azure Blob emulators (fake-gcs-server, Azurite) for tests/object_stores.rs.
gcs_port=${ETL_TEST_GCS_PORT:-$((20000 + RANDOM % 1000))}
azure_port=${ETL_TEST_AZURE_PORT:-$((21000 + RANDOM % 1000))}
ETL_TEST_GCS_ENDPOINT=$(scripts/emulator.sh gcs start "$gcs_port")
ETL_TEST_AZURE_ENDPOINT=$(scripts/emulator.sh azure start "$azure_port")
export ETL_TEST_GCS_ENDPOINT ETL_TEST_AZURE_ENDPOINT
echo "test.sh: GCS emulator: $ETL_TEST_GCS_ENDPOINT, Azure Blob emulator: $ETL_TEST_AZURE_ENDPOINT"

: >"$log"
set +e
$cargo test "${full[@]}" 2>&1 | tee -a "$log"
status_full=${PIPESTATUS[0]}
echo "test.sh: unit tests without default features (cargo test ${minimal[*]})" | tee -a "$log"
$cargo test "${minimal[@]}" 2>&1 | tee -a "$log"
status_minimal=${PIPESTATUS[0]}
set -e

tally "$log" "$skips" || tally_status=$?
status=$status_full
if [ "$status" -eq 0 ]; then status=$status_minimal; fi
if [ "$status" -eq 0 ]; then status=${tally_status:-0}; fi
exit "$status"
