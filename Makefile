# Doorstep — `make run` to try it, `make test` to check it. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_SQLITE_URL ?= sqlite:///$(CURDIR)/.test-doorstep.db
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_test
# CI sets DOORSTEP_REQUIRE_POSTGRES=1: then an unreachable PostgreSQL fails the run.
DOORSTEP_REQUIRE_POSTGRES ?= 0

.PHONY: install run test lint typecheck test-sqlite test-postgres bench bench-valuation backtest clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/doorstep demo
	$(BIN)/doorstep serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: install
	$(BIN)/mypy src

test-sqlite: install
	DOORSTEP_TEST_DATABASE_URL=$(TEST_SQLITE_URL) $(BIN)/pytest

test-postgres: install
	@if $(BIN)/python scripts/pg_ready.py $(TEST_POSTGRES_URL); then \
		DOORSTEP_TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest; \
	elif [ "$(DOORSTEP_REQUIRE_POSTGRES)" = "1" ]; then \
		echo "PostgreSQL is required (DOORSTEP_REQUIRE_POSTGRES=1) but not reachable"; exit 1; \
	else \
		echo "PostgreSQL not reachable: skipping the PostgreSQL run"; \
	fi

test: lint typecheck test-sqlite test-postgres

bench: install
	$(BIN)/python -m bench

# Instant valuation accuracy on the shared samples (train on earlier months, test on the last 3).
backtest: install
	$(BIN)/python scripts/backtest_samples.py

# 5 million sales in PostgreSQL, then 1,000 valuation requests (see bench/valuation.py).
bench-valuation: install
	$(BIN)/python -m bench.valuation

clean:
	rm -rf $(VENV) .test-doorstep.db*
