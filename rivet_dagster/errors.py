"""Reading Dagster's error records: the export's own message, not the step-execution wrappers around it."""


def innermost_message(error) -> str:
    """The message of the innermost cause of a `SerializableErrorInfo`."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()
