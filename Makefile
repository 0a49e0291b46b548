# The two README commands. Both create ./.venv on first use (Python >= 3.11) and install the project into it.
VENV ?= .venv
PYTHON ?= python3

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

.PHONY: install demo test
install: $(VENV)/.installed

## Seed the embedded SQLite demo and materialize its exports to ./output through Dagster (no server).
demo: $(VENV)/.installed
	$(VENV)/bin/rivet-dagster-demo

## The test suite (needs the PostgreSQL and MariaDB servers described in the README).
test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest
