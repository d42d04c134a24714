#!/usr/bin/env bash
# Creates (once) a venv with Apache Airflow for the Airflow example's test (tests/airflow.rs,
# `make test-airflow`) and prints its python path as the last line of stdout.
#
#   scripts/airflow-venv.sh               -> <repo>/.airflow-venv
#   ETL_AIRFLOW_VENV=/some/path scripts/airflow-venv.sh
#
# Idempotent: nothing is installed when the venv already holds the pinned version.
# Airflow 2.10.5 supports Python 3.8-3.12; its own pins (SQLAlchemy < 2, Flask-AppBuilder,
# connexion) keep the resolver on versions it was released with.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${ETL_AIRFLOW_VENV:-"$repo_root/.airflow-venv"}
version=2.10.5
python=${PYTHON:-python3}
log() { echo "airflow-venv.sh: $*" >&2; }
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import airflow, sys; sys.exit(airflow.__version__ != '$version')" 2>/dev/null; then
    echo "$venv/bin/python"
    exit 0
fi
log "installing apache-airflow==$version into $venv (a few minutes, once)"
"$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >&2
"$venv/bin/pip" install -q "apache-airflow==$version" pyarrow PyYAML >&2
"$venv/bin/python" -c "import airflow; print(airflow.__version__)" >&2
echo "$venv/bin/python"
