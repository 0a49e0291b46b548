"""Object-store errors: transient ones (timeouts, 5xx, throttling, connection resets) are retried with the
export's backoff, `retry_backoff_ms * 2^(attempt-1)`; permanent ones (access denied, missing bucket, bad
credentials) fail at once with a message naming the destination and what is wrong.

Errors are classified by the HTTP status and the store's error code first, by exception type last. Messages
come from the store, never from our config, so they hold no credential.
"""
from __future__ import annotations

from rivet_dagster.errors import TRANSIENT, RivetError, first_line
from rivet_dagster.retries import Retrier, Verdict

TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
S3_TRANSIENT_CODES = {"RequestTimeout", "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
                      "InternalError", "ServiceUnavailable", "RequestTimeTooSkewed"}
PERMANENT_HINTS = {
    "NoSuchBucket": "the bucket does not exist", 404: "the bucket or object does not exist",
    "AccessDenied": "access denied: check the credentials and the bucket's permissions",
    403: "access denied: check the credentials and the bucket's permissions",
    "InvalidAccessKeyId": "the access key is not valid", "SignatureDoesNotMatch": "the secret key is not valid",
    401: "the credentials were rejected", "InvalidBucketName": "the bucket name is not valid",
}


class DestinationError(RivetError):
    """A commit that failed for good: names the destination and the cause."""


class DestinationUnavailable(DestinationError):
    """A transient store error that outlasted its retries: worth running again later."""
    exit_code = TRANSIENT
    hint = "the destination was unavailable; nothing was recorded as committed, so run again once it is back"


def status_and_code(exc: BaseException) -> tuple[int | None, str | None]:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        error = response.get("Error", {})
        return response.get("ResponseMetadata", {}).get("HTTPStatusCode"), error.get("Code")
    code = getattr(exc, "code", None)  # google.api_core.exceptions.GoogleAPICallError
    if isinstance(code, int):
        return code, type(exc).__name__
    status = getattr(response, "status_code", None)  # google.resumable_media.InvalidResponse
    return (status, None) if isinstance(status, int) else (None, None)


def is_transient(exc: BaseException) -> bool:
    for error in _chain(exc):
        status, code = status_and_code(error)
        if status is not None or code is not None:
            return status in TRANSIENT_STATUS or code in S3_TRANSIENT_CODES
        if _is_untrusted_certificate(error):
            return False  # a network error by type, but no retry will make the certificate trusted
        if _is_network_error(error):
            return True
    return False


def _is_untrusted_certificate(error: BaseException) -> bool:
    return "certificate verify failed" in str(error).lower()


def _is_network_error(error: BaseException) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & {"ConnectionError", "TimeoutError", "EndpointConnectionError", "ConnectionClosedError",
                         "ReadTimeoutError", "ConnectTimeoutError", "ProtocolError", "Timeout", "TransportError",
                         "IncompleteRead", "ResponseStreamingError"})


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def explain(exc: BaseException, destination: str, what: str) -> str:
    for error in _chain(exc):
        status, code = status_and_code(error)
        hint = PERMANENT_HINTS.get(code) or PERMANENT_HINTS.get(status)
        if hint:
            return f"{what} on {destination} failed: {hint} ({code or status})"
        if _is_untrusted_certificate(error):
            return (f"{what} on {destination} failed: the store's TLS certificate is not trusted (its CA must be "
                    "in the system's or AWS_CA_BUNDLE's certificates)")
    return f"{what} on {destination} failed: {type(exc).__name__}: {first_line(exc)[:300]}"


def store_retrier(destination: str, max_retries: int, backoff_ms: int, log) -> Retrier:
    """Retries transient store errors; a permanent one (or the last transient one) becomes a DestinationError
    naming the destination and what is wrong."""
    def classify(exc: BaseException, what: str) -> Verdict:
        return Verdict(is_transient(exc), reason=explain(exc, destination, what))

    def give_up(exc: BaseException, verdict: Verdict, attempts: int) -> BaseException:
        error = DestinationUnavailable if verdict.transient else DestinationError
        return error(verdict.reason + (f" (after {attempts} attempts)" if attempts > 1 else ""))

    return Retrier(max_retries, backoff_ms, log, classify, give_up)
