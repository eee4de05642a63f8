# Telemed: `make run` serves the portal with demo data; `make test` runs everything CI checks.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What the portal needs to run (libmagic: uploads are typed by content), and what the tests
# add (chromium for browser tests, coturn for TURN, clamd for virus-scan tests).
RUN_APT_PACKAGES := libmagic1
APT_PACKAGES := chromium coturn clamav-daemon $(RUN_APT_PACKAGES)
BENCH ?=
PYTEST_ARGS ?=

help:
	@echo "make run     serve the portal at http://127.0.0.1:8000 with demo data (Ctrl-C stops it)"
	@echo "make test    lint, compose validation, the test suite and the browser tests (what CI runs)"
	@echo "make bench   run the benchmarks (BENCH=<name> for one)"
	@echo "make lint    ruff, ruff format --check, import-linter"
	@echo "make format  apply ruff's formatting and fixes"

# --- setup (idempotent: reruns only when the requirement files change) ---------------------
$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	@touch $@

venv: $(STAMP)

system-deps:
	@scripts/ensure-system-deps.sh $(APT_PACKAGES)

run-deps:
	@scripts/ensure-system-deps.sh $(RUN_APT_PACKAGES)

# --- run ----------------------------------------------------------------------------------
run: $(STAMP) run-deps
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py seed_demo
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	DEBUG=$${DEBUG:-1} $(BIN)/honcho -f Procfile start

# --- checks ---------------------------------------------------------------------------------
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The services leg (DATABASE_URL set) also stores files on S3: a local moto server, unless
# S3_BUCKET already names a bucket to use.
test: $(STAMP) node_modules/.installed system-deps lint
	@if [ -n "$$DATABASE_URL" ] && [ -z "$$S3_BUCKET" ]; then \
	  echo "scripts/with-moto.sh $(BIN)/pytest $(PYTEST_ARGS)"; \
	  scripts/with-moto.sh $(BIN)/pytest $(PYTEST_ARGS); \
	else \
	  echo "$(BIN)/pytest $(PYTEST_ARGS)"; \
	  $(BIN)/pytest $(PYTEST_ARGS); \
	fi

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH)

lock:
	rm -rf /tmp/telemed-lock && $(PY) -m venv /tmp/telemed-lock
	/tmp/telemed-lock/bin/pip install --quiet -r requirements.in
	{ echo "# Runtime dependencies, every one pinned (transitive ones too). Regenerate with: make lock"; \
	  /tmp/telemed-lock/bin/pip freeze; } > requirements.txt

clean:
	rm -rf var/static var/test-db.sqlite3* .pytest_cache

.PHONY: help venv system-deps run-deps run lint format test bench lock clean
