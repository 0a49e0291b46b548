"""The errors rivet-dagster raises on purpose, and error text for people.

Every domain failure is a `RivetError`: config (`config/errors.py`), source (`source/errors.py`), destination
(`commit/destinations/retry.py`), state (`state/store.py`), data integrity (here). Each class carries the exit
code `rivet-dagster run` ends with (Rivet's) and a hint; the CLI finds the class of a failed step by name in
Dagster's error record (`exit_code_of`).
"""
from __future__ import annotations

import re

OK, FAILED, TRANSIENT, INTEGRITY, DRIFT = 0, 1, 2, 3, 4   # Rivet's exit codes


class RivetError(Exception):
    """A failure the operator can act on: the message says what is wrong, `hint` what to do."""
    exit_code = FAILED
    hint = ""
    by_name: dict[str, type[RivetError]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        RivetError.by_name[cls.__name__] = cls


class IntegrityError(RivetError):
    """What was exported does not hold up (a quality gate, validate, reconcile); nothing more was committed."""
    exit_code = INTEGRITY


class SchemaDriftError(IntegrityError):
    """The columns changed since the last committed run, with `on_schema_drift: fail`."""
    exit_code = DRIFT
    hint = "check the source, then set on_schema_drift: warn (or fix the query) and run again"


DAGSTER_WRAPPERS = re.compile(r"^(Dagster\w*|RetryRequested\w*)$")  # Dagster's classes around the user's error


def first_line(error: BaseException | str | None) -> str | None:
    """The first line of an error (its class name when it has no message), or of a text (None when empty)."""
    is_text = error is None or isinstance(error, str)
    text = (error or "") if is_text else str(error)
    if text.strip():
        return text.strip().splitlines()[0]
    return None if is_text else type(error).__name__


def export_error(error):
    """The export's own error in a `SerializableErrorInfo`: the first cause that is not one of Dagster's
    wrappers (a failed step, a retry policy that ran out of attempts)."""
    while error.cause is not None and DAGSTER_WRAPPERS.match((error.cls_name or "").rsplit(".", 1)[-1]):
        error = error.cause
    return error


def rivet_error_of(error) -> type[RivetError] | None:
    """The `RivetError` class of a step's error record (Dagster's `SerializableErrorInfo`): its own, else that of
    the first of its causes that is one."""
    while error is not None:
        known = RivetError.by_name.get((error.cls_name or "").rsplit(".", 1)[-1])
        if known is not None:
            return known
        error = error.cause
    return None


def exit_code_of(error) -> int:
    known = rivet_error_of(error)
    return known.exit_code if known is not None else FAILED


def export_message(error) -> str:
    """The export's own message without its class path. Its causes (a driver's error) are quoted in it already,
    with the hint the export added."""
    error = export_error(error)
    return re.sub(rf"^[\w.]*{re.escape(error.cls_name or '')}: ", "", error.message.strip())
