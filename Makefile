# Doorstep — `make run` to try it, `make test` to check it. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_SQLITE_URL ?= sqlite:///$(CURDIR)/.test-doorstep.db
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_test
BENCH_DASHBOARD_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_bench_dashboard
BENCH_WEBHOOKS_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/doorstep_bench_webhooks
# The browser tests drive Debian's chromium (Playwright's own browser downloads are not used).
CHROMIUM := /usr/bin/chromium
# CI sets DOORSTEP_REQUIRE_POSTGRES=1: then an unreachable PostgreSQL fails the run.
DOORSTEP_REQUIRE_POSTGRES ?= 0

.PHONY: install run test lint typecheck test-sqlite test-postgres bench bench-responder bench-valuation bench-addresses backtest bench-dashboard bench-webhooks bench-windows bench-scaleout bench-signin haproxy browser clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Installs Debian's chromium when it is missing (as root, or through sudo).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "Installing chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi
	@test -x $(CHROMIUM) || { echo "chromium is still missing at $(CHROMIUM)"; exit 1; }

# The demo's calls go to the Twilio simulator (port 8010), started beside the server and
# stopped with it: create a lead and watch the autocaller's call appear on its activity.
run: install
	$(BIN)/doorstep demo
	$(BIN)/doorstep simulator --port 8010 & sim=$$!; \
	trap 'kill $$sim 2>/dev/null' EXIT INT TERM; \
	DOORSTEP_TWILIO_API_URL=http://127.0.0.1:8010 DOORSTEP_PUBLIC_URL=http://127.0.0.1:8000 \
	  $(BIN)/doorstep serve --host 127.0.0.1 --port 8000

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: install
	$(BIN)/mypy src

# DOORSTEP_REQUIRE_BROWSER=1: a missing chromium fails the browser tests instead of skipping them.
test-sqlite: install browser
	DOORSTEP_REQUIRE_BROWSER=1 DOORSTEP_TEST_DATABASE_URL=$(TEST_SQLITE_URL) $(BIN)/pytest

test-postgres: install browser
	@if $(BIN)/python scripts/pg_ready.py $(TEST_POSTGRES_URL); then \
		DOORSTEP_REQUIRE_BROWSER=1 DOORSTEP_TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/pytest; \
	elif [ "$(DOORSTEP_REQUIRE_POSTGRES)" = "1" ]; then \
		echo "PostgreSQL is required (DOORSTEP_REQUIRE_POSTGRES=1) but not reachable"; exit 1; \
	else \
		echo "PostgreSQL not reachable: skipping the PostgreSQL run"; \
	fi

test: lint typecheck test-sqlite test-postgres

bench: install
	$(BIN)/python -m bench

# The Lead Responder: create throughput with a matching workflow against without one, and
# the time from a lead's 200 to its e-mail at a local SMTP server (see bench/responder.py).
bench-responder: install
	$(BIN)/python -m bench.responder

# Instant valuation accuracy on the shared samples (train on earlier months, test on the last 3).
backtest: install
	$(BIN)/python scripts/backtest_samples.py

# 5 million sales in PostgreSQL, then 1,000 valuation requests (see bench/valuation.py).
bench-valuation: install
	$(BIN)/python -m bench.valuation

# GET /api/v103/addresses on the same 5 million sales: p50/p95/p99 (see bench/addresses.py).
# BENCH_ADDRESSES_ARGS=--reuse keeps a database an earlier run loaded.
bench-addresses: install
	$(BIN)/python -m bench.addresses $(BENCH_ADDRESSES_ARGS)

# The inbox with 100,000 leads in an account: every page under 300 ms, SQLite and PostgreSQL.
bench-dashboard: install
	$(BIN)/python -m bench.dashboard
	@if $(BIN)/python scripts/pg_ready.py $(BENCH_DASHBOARD_URL); then \
		$(BIN)/python -m bench.dashboard --url $(BENCH_DASHBOARD_URL); \
	else \
		echo "PostgreSQL not reachable: the dashboard bench ran on SQLite only"; \
	fi

# Webhook deliveries a second from one `doorstep worker` to a local receiver (target 200/s).
bench-webhooks: install
	@if $(BIN)/python scripts/pg_ready.py $(BENCH_WEBHOOKS_URL); then \
		$(BIN)/python -m bench.webhooks --postgres $(BENCH_WEBHOOKS_URL); \
	else \
		echo "PostgreSQL not reachable: the webhooks bench runs on SQLite only"; \
		$(BIN)/python -m bench.webhooks --only sqlite; \
	fi

# Creates from an empty, never-analysed database: five 30 s windows, the last within 10% of the
# first (plans that do not depend on statistics; see bench/windows.py).
bench-windows: install
	$(BIN)/python -m bench.windows

# API creates alone and while 60 clients fail sign-ins as fast as they can (bench/signin.py).
bench-signin: install
	@if $(BIN)/python scripts/pg_ready.py $(BENCH_WEBHOOKS_URL); then \
		$(BIN)/python -m bench.signin --postgres $(BENCH_WEBHOOKS_URL); \
	else \
		$(BIN)/python -m bench.signin; \
	fi

# Installs Debian's HAProxy when it is missing (as root, or through sudo): the scale-out bench
# puts it in front of two groups of servers.
haproxy:
	@if [ ! -x /usr/sbin/haproxy ]; then \
		echo "Installing haproxy for the scale-out bench"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq haproxy >/dev/null; \
	fi

# Two groups of `doorstep serve` behind HAProxy on a PostgreSQL of its own: the guarantees
# across them, a group killed under load, CPU and statements per create (bench/scaleout.py).
bench-scaleout: install haproxy
	$(BIN)/python -m bench.scaleout $(BENCH_SCALEOUT_ARGS)

clean:
	rm -rf $(VENV) .test-doorstep.db*
