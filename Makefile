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

.PHONY: run test lint setup db demo chromium node test-tools redis spamassassin clean serve

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

# Debian's redis-server for the shared rate-limit test (started by the test itself when no
# Redis answers on 127.0.0.1:6379).
redis:
	@if ! command -v redis-server >/dev/null 2>&1; then \
	  echo "Installing Debian's redis-server for the rate-limit tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	fi

# The layers (.importlinter: imports point down only) and ruff (ruff.toml: pyflakes, bugbear,
# imports inside functions), before any test: a wrong import fails CI.
lint: $(STAMP)
	$(BIN)/ruff check .
	PYTHONPATH=. $(BIN)/lint-imports --no-cache

test: $(STAMP) lint chromium redis test-tools
	$(BIN)/pytest -q --durations=10
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== again on PostgreSQL (browser tests ran on SQLite above)"; \
	  $(BIN)/pytest -q -m "not browser" --durations=5; \
	fi

clean:
	rm -rf $(VENV) instance .pytest_cache tests/js/node_modules
