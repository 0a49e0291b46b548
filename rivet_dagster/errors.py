"""Error text for people: the first line of an exception, and the export's own message out of Dagster's error
records (not the step-execution wrappers around it)."""


def first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc and str(exc).strip() else type(exc).__name__


def innermost_message(error) -> str:
    """The message of the innermost cause of a `SerializableErrorInfo`."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()
