"""Object stores on 127.0.0.1 for the destination tests: moto's S3 server and gcp-storage-emulator, reached over
HTTP through the same client code users run against the clouds (endpoint override / STORAGE_EMULATOR_HOST).
Each test gets a fresh bucket; a test may stop and restart a server on the same port to cut an upload short."""
from __future__ import annotations

import socket
import struct
import threading
import uuid

import boto3
import pytest

S3_ACCESS_KEY, S3_SECRET_KEY = "AKIARIVETTEST", "rivet-test-secret-key-do-not-log"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Store:
    """What the tests read back: files and manifests (`keys`), and whether a prefix holds the `_SUCCESS` marker
    that a finished commit writes."""

    def keys(self) -> list[str]:
        return [key for key in self.all_keys() if key.rsplit("/", 1)[-1] != "_SUCCESS"]

    def marked_complete(self, prefix: str = "exports/") -> bool:
        return f"{prefix}_SUCCESS" in self.all_keys()


class S3Store(_Store):
    kind, scheme = "s3", "s3"

    def __init__(self):
        from moto.server import ThreadedMotoServer
        self._server_class = ThreadedMotoServer
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = None
        self.start()
        self.client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                                   aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY)
        self.bucket = None

    def start(self):
        self.server = self._server_class(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self):
        self.server.stop()

    def new_bucket(self) -> str:
        self.bucket = f"rivet-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=self.bucket)
        return self.bucket

    def destination(self, prefix: str = "exports/", bucket: str | None = None) -> dict:
        return {"type": "s3", "bucket": bucket or self.bucket, "prefix": prefix, "endpoint": self.endpoint,
                "region": "us-east-1", "access_key_env": "RIVET_TEST_S3_KEY", "secret_key_env": "RIVET_TEST_S3_SECRET"}

    def all_keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def unfinished_uploads(self) -> list[str]:
        return [u["Key"] for u in self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])]


class GCSStore(_Store):
    kind, scheme = "gcs", "gs"

    def __init__(self):
        from gcp_storage_emulator.server import create_server
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = create_server("127.0.0.1", self.port, in_memory=True)
        self.server.start()
        self.client = storage.Client(project="rivet-test", credentials=AnonymousCredentials(),
                                     client_options={"api_endpoint": self.endpoint}, use_auth_w_custom_endpoint=False)
        self.bucket = None

    def stop(self):
        self.server.stop()

    def new_bucket(self) -> str:
        self.bucket = f"rivet-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(self.bucket)
        return self.bucket

    def destination(self, prefix: str = "exports/", bucket: str | None = None) -> dict:
        return {"type": "gcs", "bucket": bucket or self.bucket, "prefix": prefix, "endpoint": self.endpoint,
                "allow_anonymous": True}

    def all_keys(self) -> list[str]:
        return sorted(blob.name for blob in self.client.list_blobs(self.bucket))

    def read(self, key: str) -> bytes:
        return self.client.bucket(self.bucket).blob(key).download_as_bytes()


@pytest.fixture(scope="session")
def s3_server():
    store = S3Store()
    yield store
    store.stop()


@pytest.fixture(scope="session")
def gcs_server():
    store = GCSStore()
    yield store
    store.stop()


@pytest.fixture
def s3(s3_server, monkeypatch) -> S3Store:
    monkeypatch.setenv("RIVET_TEST_S3_KEY", S3_ACCESS_KEY)
    monkeypatch.setenv("RIVET_TEST_S3_SECRET", S3_SECRET_KEY)
    s3_server.new_bucket()
    return s3_server


@pytest.fixture
def gcs(gcs_server) -> GCSStore:
    gcs_server.new_bucket()
    return gcs_server


@pytest.fixture(params=["s3", "gcs"])
def store(request):
    return request.getfixturevalue(request.param)


class CuttableProxy:
    """A TCP relay in front of an object store that drops dead after a given number of request bytes: the
    listening socket closes and every open connection is reset, as when the store goes down mid-upload.
    `restore()` brings it back on the same port."""

    def __init__(self, target_port: int):
        self.target_port, self.port = target_port, _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.cut_after: int | None = None
        self.restore_after: float | None = None  # seconds: a brief outage instead of a lasting one
        self.sent = 0
        self.recorded = bytearray()  # the request bytes, when `record` is set
        self.record = False
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        self.cut_after, self.restore_after, self.sent, self._down = None, None, 0, False
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            if self._down:
                return
            self._down = True
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(), so the port is free again
            self._listener.close()
            for conn in self._connections:  # shutdown wakes the relay threads blocked on them, then reset
                try:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
                except OSError:
                    pass
            self._connections.clear()
        if self.restore_after is not None:
            threading.Timer(self.restore_after, self.restore).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, request: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                if request:
                    self.sent += len(data)
                    if self.record:
                        self.recorded += data
                    if self.cut_after is not None and self.sent > self.cut_after:
                        self.cut()
                        return
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def proxied_store(store):
    """The store behind a `CuttableProxy`: `(store, proxy, destination)`, the destination pointing at the proxy."""
    proxy = CuttableProxy(store.port)
    destination = {**store.destination(), "endpoint": proxy.endpoint}
    yield store, proxy, destination
    proxy.cut()
