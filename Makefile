# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
export MUTUALCREDIT_INSTANCE_DIR ?= $(CURDIR)/instance

.PHONY: run test install install-dev migrate demo translations clean

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
## (plain http on the loopback address, so the session cookie may not insist on https here)
run: demo
	MUTUALCREDIT_INSECURE_COOKIES=1 $(BIN)/mutualcredit serve --host 127.0.0.1 --port 5000

## Install dev dependencies and run the whole suite
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Extract the web app's strings, merge them into the es and fr catalogues, compile the .mo files (committed)
TRANSLATIONS := webapp/translations
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l --no-location --sort-output --width 100 \
		--project mutualcredit --version 0.1.0 --copyright-holder "the mutualcredit authors" \
		--msgid-bugs-address "the project's issue tracker" -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --ignore-obsolete --width 100
	$(BIN)/pybabel compile -d $(TRANSLATIONS) --statistics

clean:
	rm -rf $(VENV) instance .pytest_cache .hypothesis
