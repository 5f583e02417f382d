# twintrial: the two commands.  `make run` = set up + run the default trial; `make test` = set up + tests.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= config/config.yaml
CORES ?= 2
PYTEST_ARGS ?=

.PHONY: run test setup setup-test lint bench clean check

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || { p=$$(scripts/find-python) && "$$p" -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

run: setup
	$(VENV)/bin/twintrial run $(CONFIG) --cores $(CORES)

check: setup
	$(VENV)/bin/twintrial check $(CONFIG)

test: setup-test
	bash scripts/ensure-chromium
	$(PY) -m pytest --junitxml=reports/tests/junit.xml $(PYTEST_ARGS)

lint: setup-test
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/snakemake --lint --configfile $(CONFIG)

bench: setup-test
	for b in cohort arms sensitivity twins; do $(PY) benchmarks/$$b.py || exit 1; done

clean:
	rm -rf results logs .snakemake
