# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
export MUTUALCREDIT_INSTANCE_DIR ?= $(CURDIR)/instance

.PHONY: run test install install-dev migrate demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

migrate: install
	$(BIN)/mutualcredit db upgrade

demo: migrate
	$(BIN)/mutualcredit demo --if-empty

## Virtualenv, install, migrate SQLite under instance/, demo data, serve on http://127.0.0.1:5000
run: demo
	$(BIN)/mutualcredit serve --host 127.0.0.1 --port 5000

## Install dev dependencies and run the whole suite
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis
