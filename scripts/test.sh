#!/usr/bin/env bash
# `make test`: prepares the independent readers (Python venv with pyarrow + fastavro) and runs
# every unit and integration test. Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ETL_TEST_PYTHON=$(scripts/venv.sh | tail -n 1)
export ETL_TEST_PYTHON
echo "test.sh: independent reader: $ETL_TEST_PYTHON ($("$ETL_TEST_PYTHON" -c 'import pyarrow, fastavro; print("pyarrow", pyarrow.__version__, "fastavro", fastavro.__version__)'))"
exec ${CARGO:-cargo} test --all-targets "$@"
