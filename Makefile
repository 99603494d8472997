# Laser-toning outcome warehouse. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.spark-installed
TONING_LANDING ?= data/landing
TONING_DATA_DIR ?= data
PORT ?= 8501
export TONING_LANDING TONING_DATA_DIR
export DO_NOT_TRACK := 1

.DEFAULT_GOAL := help
.PHONY: help setup setup-spark demo test lint refresh serve clean

help: ## every target, one line each
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing pinned dependencies into $(VENV) (about a minute the first time)..."
	@# The grep drops pip's warnings about this machine's optional local package mirrors.
	@$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]' \
		2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	@touch $(STAMP)

setup: $(STAMP) ## .venv with the pinned dependencies (idempotent, quiet when done)

$(SPARK_STAMP): $(STAMP)
	@command -v java >/dev/null || { echo "The Spark engine needs Java 17:" \
		"apt-get install openjdk-17-jre-headless"; exit 1; }
	@echo "Installing the Spark engine (pyspark, dbt-spark; ~490 MB) into $(VENV)..."
	@$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,spark]' \
		2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	@touch $(SPARK_STAMP)

setup-spark: $(SPARK_STAMP) ## setup, plus the Spark engine's extra (--engine spark); needs Java 17

demo: setup ## setup, generate demo data, one refresh, serve the dashboards on :8501
	$(BIN)/toning generate --tier demo --out "$(TONING_LANDING)"
	$(BIN)/toning refresh --landing "$(TONING_LANDING)" --data-dir "$(TONING_DATA_DIR)"
	$(BIN)/toning users demo --data-dir "$(TONING_DATA_DIR)"
	$(BIN)/toning serve --data-dir "$(TONING_DATA_DIR)" --port $(PORT)

test: setup-spark lint ## setup (with the Spark extra), then the whole test suite (two workers)
	@# A file's tests stay on one worker, so its module fixtures are built once.
	@# The slowest tests are listed at the end: the suite has a time budget (README, Tests).
	$(BIN)/pytest -n 2 --dist loadfile --durations=20

lint: setup ## ruff, the import contracts (who may import whom), sqlfluff over the dbt models
	$(BIN)/ruff check contract toning ingest dashboards expectations synthetic tests
	$(BIN)/ruff format --check contract toning ingest dashboards expectations synthetic tests
	$(BIN)/lint-imports --no-cache
	@# The dbt profile attaches the lake, so sqlfluff needs one: an empty file will do.
	@scratch=$$(mktemp -d) && $(BIN)/python -c "import duckdb, sys; duckdb.connect(sys.argv[1]).close()" $$scratch/lake.duckdb && \
	TONING_LAKE_PATH=$$scratch/lake.duckdb TONING_BUILD_PATH=:memory: DBT_TARGET_PATH=$$scratch/target \
	DBT_LOG_PATH=$$scratch/logs $(BIN)/sqlfluff lint dbt_project/models dbt_project/tests \
		> $$scratch/lint.txt 2>&1; status=$$?; \
	if [ $$status -eq 0 ]; then echo "sqlfluff: the dbt models are clean"; else cat $$scratch/lint.txt; fi; \
	rm -rf $$scratch; exit $$status

refresh: setup ## one nightly refresh with the configured paths
	$(BIN)/toning refresh --landing "$(TONING_LANDING)" --data-dir "$(TONING_DATA_DIR)"

serve: setup ## serve the dashboards over the published warehouse
	$(BIN)/toning serve --data-dir "$(TONING_DATA_DIR)" --port $(PORT)

clean: ## remove the venv and local data (never the landing zone of a real clinic)
	rm -rf $(VENV) dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
