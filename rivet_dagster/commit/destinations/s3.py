"""S3 and S3-compatible stores (MinIO, R2, ...) through dagster-aws's `S3Resource` (boto3).

Files go up with boto3's managed transfer: multipart above 16 MB, and an object exists only once its upload
completes, so a reader never sees a partial file. A failed multipart upload is aborted by the transfer; one
cut short by a crash is aborted when the name is removed (see `remove`) — a bucket lifecycle rule
`AbortIncompleteMultipartUpload` is the backstop for uploads nobody comes back to.
"""
from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs
from boto3.s3.transfer import TransferConfig
from dagster_aws.s3 import S3Resource

from rivet_dagster.commit.destinations.base import ObjectStore, prefix_parts
from rivet_dagster.commit.destinations.retry import DestinationError
from rivet_dagster.config.sections import DestinationConfig

MULTIPART = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024,
                           max_concurrency=4)


class S3Destination(ObjectStore):
    kind, scheme, label = "s3", "s3", "S3"

    def __init__(self, config: DestinationConfig):
        super().__init__(config)
        self.bucket = config.bucket
        self._cut_short: set[str] = set()

    def preflight(self) -> None:
        """Credentials set, and the bucket there (a 403 is let through: credentials may only allow writing)."""
        self._credentials()
        from botocore.exceptions import ClientError
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 403:
                raise

    def _credentials(self) -> tuple[str | None, str | None]:
        """From the environment variables the config names; absent means the default AWS credential chain."""
        if self.config.access_key_env is None:
            return None, None
        missing = [name for name in (self.config.access_key_env, self.config.secret_key_env) if not os.environ.get(name)]
        if missing:
            raise DestinationError(f"S3 credentials: environment variable(s) {', '.join(missing)} not set "
                                  f"(named by access_key_env / secret_key_env)")
        return os.environ[self.config.access_key_env], os.environ[self.config.secret_key_env]

    @cached_property
    def client(self):
        key_id, secret = self._credentials()
        # One attempt per call: retries are ours (the export's retry_backoff_ms), counted in the metrics.
        return S3Resource(region_name=self.config.region, endpoint_url=self.config.endpoint, max_attempts=1,
                          profile_name=self.config.aws_profile, aws_access_key_id=key_id,
                          aws_secret_access_key=secret).get_client()

    def commit(self, staged_file: Path, name: str) -> str:
        key = self.key(name)
        try:
            self.client.upload_file(str(staged_file), self.bucket, key, Config=MULTIPART)
        except BaseException:
            self._cut_short.add(key)  # the transfer aborts a failed upload, unless the store was unreachable
            raise
        if key in self._cut_short:    # this retry went through: abort what the failed attempts left
            self._abort_unfinished(key)
            self._cut_short.discard(key)
        return self.uri(name)

    def write_bytes(self, name: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data, ContentType="application/json")
        return self.uri(name)

    def read_bytes(self, name: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.key(name))["Body"].read()

    def exists(self, name: str) -> bool:
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.key(name), MaxKeys=1)
        return any(item["Key"] == self.key(name) for item in listing.get("Contents", []))

    def remove(self, name: str) -> None:
        self._abort_unfinished(self.key(name))
        self.client.delete_object(Bucket=self.bucket, Key=self.key(name))

    def _abort_unfinished(self, key: str) -> None:
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key).get("Uploads", [])
        for upload in uploads:
            if upload["Key"] == key:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        key_id, secret = self._credentials()
        options = {"region": self.config.region or os.environ.get("AWS_REGION") or "us-east-1"}
        if key_id is not None:
            options.update(access_key=key_id, secret_key=secret)
        elif self.config.aws_profile is not None:
            import boto3
            found = boto3.Session(profile_name=self.config.aws_profile).get_credentials().get_frozen_credentials()
            options.update(access_key=found.access_key, secret_key=found.secret_key, session_token=found.token)
        if self.config.endpoint:
            endpoint = urlparse(self.config.endpoint)
            options.update(endpoint_override=endpoint.netloc or endpoint.path, scheme=endpoint.scheme or "https")
        folder = "/".join(prefix_parts(self.config.prefix))
        return pafs.S3FileSystem(**options), f"{self.bucket}/{folder}" if folder else self.bucket
