"""Error text for people: the first line of an exception, and the export's own error out of Dagster's error
records (not the step-execution and retry-policy wrappers around it)."""
import re

DAGSTER_WRAPPERS = re.compile(r"^(Dagster\w*|RetryRequested\w*)$")  # Dagster's classes around the user's error


def first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc and str(exc).strip() else type(exc).__name__


def export_error(error):
    """The export's own error in a `SerializableErrorInfo`: the first cause that is not one of Dagster's
    wrappers (a failed step, a retry policy that ran out of attempts)."""
    while error.cause is not None and DAGSTER_WRAPPERS.match((error.cls_name or "").rsplit(".", 1)[-1]):
        error = error.cause
    return error


def export_message(error) -> str:
    """The export's own message without its class path. Its causes (a driver's error) are quoted in it already,
    with the hint the export added."""
    error = export_error(error)
    return re.sub(rf"^[\w.]*{re.escape(error.cls_name or '')}: ", "", error.message.strip())
