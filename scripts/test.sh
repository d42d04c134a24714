#!/usr/bin/env bash
# `make test`: prepares the independent readers (Python venv with pyarrow + fastavro) and runs
# every unit and integration test against a local S3 server (moto), then prints one total
# line and the live tests that were skipped (ETL_TEST_MSSQL_URL / ETL_TEST_ORACLE_DSN unset).
# Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
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
log=$(mktemp)
trap 'rm -f "$log"; scripts/s3-server.sh stop "$port"; scripts/emulator.sh gcs stop "$gcs_port"; scripts/emulator.sh azure stop "$azure_port"' EXIT
set +e
${CARGO:-cargo} test --no-fail-fast --features fault-injection --lib --bins --tests "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
# Live tests for servers this machine does not have (SQL Server, Oracle) return early and say
# so with a SKIPPED line; they are counted as passed above, so list them here.
skipped=$(grep -c '^SKIPPED: ' "$log" || true)
if [ "$skipped" -gt 0 ]; then
    echo "of which $skipped did not run (no server to test against):"
    grep '^SKIPPED: ' "$log" | sed 's/^/  /'
fi
exit "$status"
