"""Google Cloud Storage through google-cloud-storage (dagster-gcp's `GCSResource` for the default chain).

Uploads are generation-matched: create-only (`if_generation_match=0`; every materialization writes new
names), or, should the name exist already, against the generation seen before the first attempt. A retry
after a lost response finds its own object (same CRC32C) and counts as done; an object written by someone
else is never clobbered. A resumable upload creates the object only when it completes.

Auth, in Rivet's order: `allow_anonymous` (emulators; with `endpoint` or `STORAGE_EMULATOR_HOST`) ->
`credentials_file` -> application default credentials.
"""
from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import google_crc32c
import pyarrow.fs as pafs
from google.api_core.exceptions import Forbidden, NotFound, PreconditionFailed

from rivet_dagster.commit.destinations.base import ObjectStore, prefix_parts
from rivet_dagster.commit.destinations.retry import DestinationError
from rivet_dagster.config.sections import DestinationConfig

CHUNK_SIZE = 16 * 1024 * 1024  # resumable upload above this size, in chunks of it
TIMEOUT_S = 120


class GCSDestination(ObjectStore):
    kind, scheme, label = "gcs", "gs", "GCS"

    def __init__(self, config: DestinationConfig):
        super().__init__(config)
        self._generations: dict[str, int] = {}

    @property
    def endpoint(self) -> str | None:
        return self.config.endpoint or os.environ.get("STORAGE_EMULATOR_HOST")

    def preflight(self) -> None:
        """Credentials there, and the bucket (a 403 is let through: credentials may only allow writing)."""
        if self.config.credentials_file and not Path(self.config.credentials_file).is_file():
            raise DestinationError(f"GCS credentials_file '{self.config.credentials_file}' does not exist")
        try:
            if not self.bucket.exists(timeout=TIMEOUT_S, retry=None):
                raise NotFound(f"bucket {self.bucket_name}")
        except Forbidden:
            pass

    @cached_property
    def bucket(self):
        from google.cloud import storage
        options = {"api_endpoint": self.config.endpoint} if self.config.endpoint else None
        if self.config.allow_anonymous:
            from google.auth.credentials import AnonymousCredentials
            client = storage.Client(project="anonymous", credentials=AnonymousCredentials(), client_options=options,
                                    use_auth_w_custom_endpoint=False)
        elif self.config.credentials_file:
            self.preflight()
            client = storage.Client.from_service_account_json(self.config.credentials_file, client_options=options)
        elif options is None:
            from dagster_gcp import GCSResource
            client = GCSResource().get_client()
        else:
            client = storage.Client(client_options=options)
        return client.bucket(self.bucket_name)

    def commit(self, staged_file: Path, name: str) -> str:
        return self._upload(name, lambda: _crc32c(open(staged_file, "rb")),
                            lambda blob, generation: blob.upload_from_filename(
                                str(staged_file), if_generation_match=generation, timeout=TIMEOUT_S, retry=None))

    def write_bytes(self, name: str, data: bytes) -> str:
        return self._upload(name, lambda: _crc32c(io.BytesIO(data)),
                            lambda blob, generation: blob.upload_from_string(
                                data, content_type="application/json", if_generation_match=generation,
                                timeout=TIMEOUT_S, retry=None))

    def _upload(self, name: str, crc32c: Callable[[], str], upload) -> str:
        key = self.key(name)
        if key not in self._generations:  # fixed at the first attempt: retries match the same generation
            current = self.bucket.get_blob(key, timeout=TIMEOUT_S, retry=None)
            self._generations[key] = current.generation if current is not None else 0
        try:
            upload(self.bucket.blob(key, chunk_size=CHUNK_SIZE), self._generations[key])
        except PreconditionFailed:
            landed = self.bucket.get_blob(key, timeout=TIMEOUT_S, retry=None)
            if landed is None or landed.crc32c != crc32c():
                raise DestinationError(f"{self.uri(name)} was changed by another writer during the upload; "
                                      "not overwriting it") from None
        return self.uri(name)

    def read_bytes(self, name: str) -> bytes:
        return self.bucket.blob(self.key(name)).download_as_bytes(timeout=TIMEOUT_S, retry=None)

    def exists(self, name: str) -> bool:
        return self.bucket.blob(self.key(name)).exists(timeout=TIMEOUT_S, retry=None)

    def remove(self, name: str) -> None:
        """An unfinished resumable upload is invisible and expires on its own; only the object is deleted."""
        try:
            self.bucket.blob(self.key(name)).delete(timeout=TIMEOUT_S, retry=None)
        except NotFound:
            pass

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        options: dict = {}
        if self.endpoint:
            endpoint = urlparse(self.endpoint if "//" in self.endpoint else f"http://{self.endpoint}")
            options.update(endpoint_override=endpoint.netloc, scheme=endpoint.scheme)
        if self.config.allow_anonymous or (self.endpoint and not self.config.credentials_file):
            options["anonymous"] = True
        elif self.config.credentials_file:
            from google.auth.transport.requests import Request
            from google.oauth2 import service_account
            credentials = service_account.Credentials.from_service_account_file(
                self.config.credentials_file, scopes=["https://www.googleapis.com/auth/devstorage.read_only"])
            credentials.refresh(Request())
            options.update(access_token=credentials.token, credential_token_expiration=credentials.expiry)
        folder = "/".join(prefix_parts(self.config.prefix))
        return pafs.GcsFileSystem(**options), f"{self.bucket_name}/{folder}" if folder else self.bucket_name


def _crc32c(stream: BinaryIO) -> str:
    """Base64 CRC32C, as GCS reports it."""
    checksum = google_crc32c.Checksum()
    with stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            checksum.update(block)
    return base64.b64encode(checksum.digest()).decode()
