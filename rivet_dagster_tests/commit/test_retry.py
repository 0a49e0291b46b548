"""Object-store errors, as the real client libraries raise them: transient ones (5xx, throttling, timeouts,
connection resets) are retried; permanent ones (access denied, missing bucket, bad keys, an untrusted
certificate) fail at once with a message that names the destination and what is wrong, and no credential."""
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError, SSLError
from google.api_core import exceptions as google

from rivet_dagster.commit.destinations.retry import DestinationError, explain, is_transient, store_retrier


def s3_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "..."}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "PutObject")


@pytest.mark.parametrize("error", [
    s3_error("SlowDown", 503), s3_error("InternalError", 500), s3_error("RequestTimeout", 400),
    s3_error("ThrottlingException", 400), EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), ConnectionResetError(104, "Connection reset by peer"),
    google.TooManyRequests("rate limit"), google.ServiceUnavailable("backend"), google.InternalServerError("oops"),
    google.GatewayTimeout("slow")])
def test_transient_errors_are_retried(error):
    assert is_transient(error)


@pytest.mark.parametrize("error, hint", [
    (s3_error("AccessDenied", 403), "access denied: check the credentials and the bucket's permissions"),
    (s3_error("NoSuchBucket", 404), "the bucket does not exist"),
    (s3_error("InvalidAccessKeyId", 403), "the access key is not valid"),
    (s3_error("SignatureDoesNotMatch", 403), "the secret key is not valid"),
    (google.Forbidden("caller does not have storage.objects.create access"), "access denied"),
    (google.NotFound("bucket not found"), "does not exist"),
    (google.Unauthorized("invalid credentials"), "the credentials were rejected"),
    (SSLError(endpoint_url="https://minio.internal", error="[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
                                                            "failed"), "TLS certificate is not trusted")])
def test_permanent_errors_fail_at_once_naming_the_bucket_and_the_cause(error, hint):
    assert not is_transient(error)
    assert hint in explain(error, "S3(exports)", "upload of orders.parquet")

    calls = []

    def attempt():
        calls.append(1)
        raise error

    with pytest.raises(DestinationError, match=r"upload of orders.parquet on S3\(exports\) failed: ") as failure:
        store_retrier("S3(exports)", max_retries=3, backoff_ms=1, log=None).call("upload of orders.parquet", attempt)
    assert len(calls) == 1 and hint in str(failure.value)
