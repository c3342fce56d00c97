# Wardline: two commands on a fresh machine.
#   make run   set up, migrate, load London's wards and demo data, serve on http://127.0.0.1:5000
#   make test  set up the same way and run the whole suite (SQLite, and PostgreSQL when
#              TEST_DATABASE_URL is set)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi:app
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint setup db demo chromium node test-tools redis nginx spamassassin bench-tools clean serve

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed: installing python3-venv"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; \
	  $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

setup: $(STAMP)

# Create or upgrade the database schema (SQLite in instance/ unless DATABASE_URL is set).
db: $(STAMP)
	$(BIN)/flask db upgrade

# London's wards, then demo residents, officers and admins (both idempotent).
demo: db
	$(BIN)/flask wards load
	$(BIN)/flask seed-demo

run: demo
	$(BIN)/python -m webapp.devserver

# Debian's Chromium for the browser tests (Playwright drives it; no browser download).
chromium:
	@if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/lib/chromium/chromium ]; then \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# Node for the JavaScript tools the tests run (tests/js: ical.js, vnu-jar), from the lockfile.
# --ignore-scripts: vnu-jar's postinstall would download a Java runtime; Debian's is used.
JS_STAMP := tests/js/node_modules/.installed
node:
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "Installing Debian's nodejs and npm for the tests' JavaScript tools"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	fi

$(JS_STAMP): tests/js/package.json tests/js/package-lock.json | node
	cd tests/js && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# The validators the tests run: a Java runtime for the W3C Nu HTML checker, and tests/js.
test-tools: $(JS_STAMP)
	@if ! command -v java >/dev/null 2>&1; then \
	  echo "Installing a Java runtime for the Nu HTML checker"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; \
	fi

# Debian's SpamAssassin for bench/spamassassin.py (not needed by the tests).
spamassassin:
	@if ! command -v spamassassin >/dev/null 2>&1; then \
	  echo "Installing Debian's spamassassin for bench/spamassassin.py"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spamassassin >/dev/null; \
	fi

# Debian's wrk, the load generator of bench/pages.py (not needed by the tests).
bench-tools:
	@if ! command -v wrk >/dev/null 2>&1; then \
	  echo "Installing Debian's wrk for bench/pages.py"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	fi

# Debian's redis-server for the shared rate-limit test (started by the test itself when no
# Redis answers on 127.0.0.1:6379).
redis:
	@if ! command -v redis-server >/dev/null 2>&1; then \
	  echo "Installing Debian's redis-server for the rate-limit tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	fi

# Debian's nginx for the cluster test (tests/cluster/: deploy/nginx/wardline.conf in front of
# two web instances). The test runs it in the foreground as the current user; the package's
# own service is not started (or needed).
nginx:
	@if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then \
	  echo "Installing Debian's nginx for the cluster test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	fi

# The layers (.importlinter: imports point down only) and ruff (ruff.toml: pyflakes, bugbear,
# imports inside functions), before any test: a wrong import fails CI.
lint: $(STAMP)
	$(BIN)/ruff check .
	PYTHONPATH=. $(BIN)/lint-imports --no-cache

# The suite runs in PYTEST_WORKERS processes (pytest-xdist; each has its own database, app,
# servers and browser; tests/conftest.py says what keeps a test safe there). Three on two
# cores: much of a test's time is spent waiting (for Chromium, a subprocess, a lease), not
# computing. loadgroup (tests/conftest.py's scheduler): tests go one by one to whichever
# worker is free, except that a module with a module-scoped fixture (the cluster) runs in
# one worker, all its tests together. PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadgroup

# First on SQLite (TEST_DATABASE_URL emptied: .ci/run exports it), browser tests included;
# then, when TEST_DATABASE_URL is set, on PostgreSQL.
test: $(STAMP) lint chromium redis nginx test-tools
	@echo "== on SQLite"
	TEST_DATABASE_URL= $(BIN)/pytest -q $(PYTEST_PARALLEL) --durations=15
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== again on PostgreSQL (browser tests ran on SQLite above; the cluster test runs here)"; \
	  $(BIN)/pytest -q $(PYTEST_PARALLEL) -m "not browser" --durations=10; \
	fi

clean:
	rm -rf $(VENV) instance .pytest_cache tests/js/node_modules
