"""One error hierarchy: every domain failure is a RivetError whose class carries Rivet's exit code, found by name in
Dagster's error record (a failed step wraps the export's error)."""
import re
from pathlib import Path

import dagster as dg
import pytest

import rivet_dagster
from rivet_dagster import ConfigError, RivetError, StateStore
from rivet_dagster.commit.destinations.base import UnsafeName
from rivet_dagster.commit.destinations.retry import DestinationError, DestinationUnavailable
from rivet_dagster.errors import (DRIFT, FAILED, INTEGRITY, TRANSIENT, IntegrityError, SchemaDriftError, exit_code_of,
                                  first_line)
from rivet_dagster.modes import ModeRefused
from rivet_dagster.modes.chunk_plan import ChunkPlanMismatch
from rivet_dagster.source.errors import SourceError, SourceUnavailable
from rivet_dagster.source.types import UnsupportedTypeError
from rivet_dagster.state.store import StateStoreError


@pytest.mark.parametrize("error, code", [
    (ConfigError, FAILED), (SourceError, FAILED), (UnsupportedTypeError, FAILED), (SourceUnavailable, TRANSIENT),
    (DestinationError, FAILED), (DestinationUnavailable, TRANSIENT), (StateStoreError, FAILED),
    (ChunkPlanMismatch, FAILED), (UnsafeName, FAILED), (SchemaDriftError, DRIFT), (ModeRefused, FAILED)])
def test_every_domain_failure_is_a_rivet_error_with_its_exit_code(error, code):
    assert issubclass(error, RivetError) and error.exit_code == code


def step_error(raised: BaseException, retries: int = 0):
    """The error record Dagster keeps for a step that raised `raised` (after a retry policy ran out)."""
    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=retries) if retries else None)
    def failing():
        raise raised

    result = dg.materialize([failing], raise_on_error=False)
    return result.get_step_failure_events()[0].event_specific_data.error


def test_the_exit_code_is_found_through_dagsters_wrappers():
    assert exit_code_of(step_error(SourceUnavailable("the server is starting up"), retries=1)) == TRANSIENT
    assert exit_code_of(step_error(SchemaDriftError("a column was added"))) == DRIFT
    assert exit_code_of(step_error(IntegrityError("2 rows, at least 3 expected"))) == INTEGRITY
    assert exit_code_of(step_error(UnsafeName("refused"))) == FAILED
    assert exit_code_of(step_error(ZeroDivisionError())) == FAILED


def test_first_line_of_an_error_or_a_text():
    assert first_line(ValueError("one\ntwo")) == "one" and first_line(KeyError()) == "KeyError"
    assert first_line("  a\nb") == "a" and first_line("") is None and first_line(None) is None


def test_a_store_error_names_the_file(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(StateStoreError, match=str(path)):
        StateStore(path=str(path)).check()


def test_no_builtin_is_raised_for_a_domain_failure():
    """Only pydantic's field validators raise ValueError (pydantic requires it; the loader turns it into a
    ConfigError at the key's line)."""
    package = Path(rivet_dagster.__file__).parent
    raised = [f"{path.relative_to(package)}:{n}" for path in package.rglob("*.py")
              if path.name not in ("models.py", "sections.py", "asset_settings.py") or path.parent.name != "config"
              for n, line in enumerate(path.read_text().splitlines(), 1)
              if re.search(r"\braise (ValueError|TypeError|KeyError|OSError|PermissionError|RuntimeError|"
                           r"FileNotFoundError|Exception)\(", line)]
    assert raised == []
