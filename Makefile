# The two README commands. Both create ./.venv on first use (Python >= 3.11) and install the project into it.
VENV ?= .venv
PYTHON ?= python3

# uv (what create-dagster uses) installs in seconds where pip takes minutes; pip brings uv into the venv first.
# Bytecode is compiled at install, as pip does: where PYTHONDONTWRITEBYTECODE is set, every process would
# otherwise compile each module it imports, again (a second on each Dagster command).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(VENV)/bin/python -e '.[test]'
	touch $@

.PHONY: install demo test
install: $(VENV)/.installed

## Seed the embedded SQLite demo and materialize its exports to ./output through Dagster (no server).
demo: $(VENV)/.installed
	$(VENV)/bin/rivet-dagster-demo

## The test suite (needs the PostgreSQL and MariaDB servers described in the README), on the embedded SQLite state
## store; then the tests of what a run leaves in the state store (chunk runs, supersession, crashes, the CLI's
## reads) again on a PostgreSQL one. The whole suite passes there too: RIVET_TEST_STATE=postgres pytest.
STATE_TESTS = rivet_dagster_tests/modes/test_chunked.py rivet_dagster_tests/modes/test_time_window.py \
	rivet_dagster_tests/cli/test_run.py rivet_dagster_tests/cli/test_state.py \
	rivet_dagster_tests/commit/test_local_crash_safety.py
test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest
	RIVET_TEST_STATE=postgres $(VENV)/bin/python -m pytest -m "not sqlite_state" $(STATE_TESTS)
