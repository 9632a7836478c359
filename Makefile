# BranchCare: `make run` starts the whole system locally, `make test` runs every test.
# Both install what is needed first (a virtualenv in .venv, re-installed when pyproject.toml changes).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BOOTSTRAP_PYTHON := $(shell command -v python3.11 2>/dev/null || command -v python3)
PYTEST_ARGS ?=
# Two workers, one test file each at a time: most of a test waits on the broker or PostgreSQL, so two
# files side by side take ~6 minutes instead of ~10 on the 2-core machine. PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2

.PHONY: install tools run test bench chaos lint

install: $(STAMP)

$(PY):
	@test -n "$(BOOTSTRAP_PYTHON)" || { echo "make: need python3.11 (or python3 >= 3.11) on PATH" >&2; exit 1; }
	$(BOOTSTRAP_PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --upgrade --quiet pip || echo "make: could not upgrade pip; going on with the one in the venv" >&2
	$(PY) -m pip install -e '.[dev]'
	@touch $@

# System tools the tests use for real: promtool/prometheus (alert rules) and Chromium (browser tests).
tools:
	@bash deploy/install-tools.sh
	@if [ -f tests/e2e/install-browser.sh ]; then bash tests/e2e/install-browser.sh; fi

run: install
	$(PY) -m services

test: install tools
	@$(PY) -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no tests were collected — failing" >&2; exit 1; fi; \
	exit $$rc

# Each service's hottest command next to a bare FastAPI + asyncpg reference, HTTP → HQ at 100/300/500/s
# (bench/__main__.py). BENCH_ARGS="--only commands --services complaint", "--skip e2e", "--quick", "--html bench.html".
BENCH_ARGS ?=
bench: install
	$(PY) -m bench $(BENCH_ARGS)

# Fault injection under load (bench/chaos): one fault at a time, every acknowledged request checked.
# CHAOS_ARGS=--quick for a shorter run, CHAOS_ARGS="--faults broker_restart,hq_restart" for some.
CHAOS_ARGS ?=
chaos: install
	$(PY) -m bench.chaos $(CHAOS_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy shared services
