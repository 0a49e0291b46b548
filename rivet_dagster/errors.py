"""Error text for people: the first line of an exception, and the export's own message out of Dagster's error
records (not the step-execution wrappers around it)."""
import re


def first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc and str(exc).strip() else type(exc).__name__


def export_message(error) -> str:
    """The export's own error out of a `SerializableErrorInfo`: the first cause that is not one of Dagster's
    step wrappers, without its class path. Its own causes (a driver's error) are already quoted in it, with the
    hint the export added."""
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    return re.sub(rf"^[\w.]*{re.escape(error.cls_name or '')}: ", "", error.message.strip())
