# recsys-spark — every target creates .venv itself on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=

.PHONY: install jars jars-if-possible demo test package lint bench clean-venv

$(STAMP): pyproject.toml
	@command -v java >/dev/null 2>&1 || { echo "Java 17 is required (see README: Prerequisites)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

## The pinned JVM jars of jars.lock (Delta for the native backend) in .jars/, checked by SHA-256.
JARS_STAMP := .jars/.verified
$(JARS_STAMP): jars.lock tools/fetch_jars.py
	$(PYTHON) tools/fetch_jars.py
	@touch $(JARS_STAMP)

jars: $(JARS_STAMP)

# The demo runs without Maven too: warehouse.backend auto then falls back to delta-rs.
jars-if-possible:
	@$(MAKE) --no-print-directory jars || echo "make: no Delta jars; the demo uses the delta-rs backend"

## The main job on the embedded default: simulate the demo shop, run every stage, print a summary.
demo: $(STAMP) jars-if-possible
	$(BIN)/recsys run --config conf/local.yaml $(ARGS)

## The whole test suite (lint and layer contracts first, then unit, stage, end-to-end, cluster);
## both Delta backends run, so it needs the jars.
test: $(STAMP) jars lint
	$(BIN)/pytest $(ARGS)

## What executors need: a wheel, and a zip of the package for spark-submit --py-files.
package: $(STAMP)
	rm -rf dist && mkdir -p dist
	$(BIN)/pip wheel --quiet --no-deps --wheel-dir dist .
	$(BIN)/python -c "import shutil; shutil.make_archive('dist/recsys_spark', 'zip', '.', 'recsys_spark')"
	@ls -1 dist

## ruff, and the import layers declared in pyproject.toml ([tool.importlinter]).
lint: $(STAMP)
	$(BIN)/ruff check recsys_spark jobs tests benchmarks tools
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_delta_write.py $(ARGS)

clean-venv:
	rm -rf $(VENV)
