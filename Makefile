# etl — the two set-up commands on a fresh Debian machine are `make demo` and `make test`.
# Both install what they need (a Python venv for the independent test readers) idempotently.

CARGO ?= cargo
SHELL := /bin/bash
ETL := $(CARGO) run --release --quiet --bin etl --
SHOP_DB := fixtures/shop.db

.PHONY: test-airflow build demo test fmt lint fixtures clean toolchain bench bench-avro fuzz

toolchain:
	@scripts/toolchain.sh

build: toolchain
	$(CARGO) build --release

# The shop fixture database, built from the checked-in SQL script.
$(SHOP_DB): fixtures/shop.sql examples/sqlite_exec.rs
	$(CARGO) run --release --quiet --example sqlite_exec -- fixtures/shop.sql $(SHOP_DB)

fixtures: toolchain $(SHOP_DB)

# The embedded default: SQLite in, Parquet files out (no server needed).
demo: fixtures
	$(ETL) run pipelines/sqlite_to_parquet.yaml --summary out/demo-summary.json
	@echo
	@echo "Wrote:"; find out/parquet -type f -name 'part-*' | sort | sed 's/^/  /'
	@echo "Summary: out/demo-summary.json"

# Every unit and integration test, then the unit tests of a build without default features.
test: toolchain
	@scripts/test.sh

# examples/airflow/ run by Apache Airflow (`airflow dags test`), installed once into
# .airflow-venv by scripts/airflow-venv.sh (not part of `make test`: the install takes minutes).
test-airflow: toolchain
	@scripts/airflow-venv.sh >/dev/null
	$(CARGO) test --features fault-injection --test airflow

# Fuzz targets (not part of `make test`): each runs FUZZ_SECONDS (default 120); see README.
fuzz: toolchain
	@scripts/fuzz.sh

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	rm -rf out $(SHOP_DB)

# Benchmarks (not part of `make test`): BENCH_ROWS=2000000 by default; BENCH_PEERS=1 adds the
# peers (DuckDB, polars, ConnectorX, Sling, psql) and etl/peer ratios. Results: bench/RESULTS.md.
bench:
	bench/bench.sh
	bench/bench_pg.sh
	bench/bench_transform.sh
	bench/mysql_bench.sh

# The Avro library choice (arrow-avro vs apache-avro), measured: a separate crate, not built by
# `make build` or `make test`.
bench-avro:
	cd bench/avro_compare && $(CARGO) run --release --quiet -- $${BENCH_ROWS:-1000000}
