"""What every destination offers the commit sequence. A commit is all-or-nothing per file: a reader sees the
complete file under its final name, or nothing."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import pyarrow.fs as pafs

from rivet_dagster.errors import RivetError

SUCCESS_MARKER = "_SUCCESS"  # Hadoop's: written when a commit completes, withdrawn while one is under way


class Destination(ABC):
    kind: str
    keeps_files = True  # False for stdout: nothing to list, re-read, remove or load downstream

    @abstractmethod
    def describe(self) -> str:
        """`Local(/data/out)`, `S3(bucket)`, `GCS(bucket)`: for logs and errors (never a credential)."""

    @abstractmethod
    def uri(self, name: str) -> str: ...

    def preflight(self) -> None:
        """Before the export reads anything: fail at once on what needs no network (missing credentials)."""

    @abstractmethod
    def commit(self, staged_file: Path, name: str) -> str:
        """Put a complete staged file at the destination under `name` (published by `publish`); returns its URI."""

    def publish(self, names: list[str]) -> None:
        """After the manifest: make the committed parts visible to readers that list the destination. Local disk
        holds them under hidden names until now; an object store shows each part once its upload completes."""

    @abstractmethod
    def write_bytes(self, name: str, data: bytes) -> str:
        """Write a small object (the manifest) atomically; returns its URI."""

    @abstractmethod
    def read_bytes(self, name: str) -> bytes: ...

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    @abstractmethod
    def remove(self, name: str) -> None:
        """Delete a file if it is there, and anything half-written under its name (an unfinished upload)."""

    @abstractmethod
    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem and the path prefix under which `name` is found: for datasets and re-reads."""

    def arrow_path(self, name: str) -> tuple[pafs.FileSystem, str]:
        filesystem, root = self.arrow_filesystem()
        return filesystem, f"{root}/{plain_name(name)}" if root else plain_name(name)


class ObjectStore(Destination):
    """A bucket and a prefix: every name becomes the key `<prefix>/<name>` and the URI `<scheme>://<bucket>/<key>`."""
    scheme: str
    label: str

    def __init__(self, config):
        self.config = config
        self.bucket_name = config.bucket

    def describe(self) -> str:
        return f"{self.label}({self.bucket_name})"

    def key(self, name: str) -> str:
        return object_key(self.config.prefix, name)

    def uri(self, name: str) -> str:
        return f"{self.scheme}://{self.bucket_name}/{self.key(name)}"


class UnsafeName(RivetError):
    """A name that would reach outside the destination's folder or prefix (a tampered state or manifest)."""


def is_plain_name(name: object) -> bool:
    """A file name and nothing else: no folder separator, not `.` or `..`, not empty, no NUL."""
    return isinstance(name, str) and name not in ("", ".", "..") and not any(c in name for c in "/\\\0")


def plain_name(name: str) -> str:
    """Every name a destination writes, reads or removes passes here first, before any I/O."""
    if not is_plain_name(name):
        raise UnsafeName(f"'{name}' is not a plain file name inside the destination; refused")
    return name


def prefix_parts(prefix: str | None) -> list[str]:
    """A prefix's folders (`exports/`, `/exports//` -> [exports]); `.` and `..` are refused."""
    parts = [part for part in (prefix or "").split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise UnsafeName(f"prefix '{prefix}' holds '.' or '..'; a prefix is a plain folder path")
    return parts


def object_key(prefix: str | None, name: str) -> str:
    """`prefix` is a folder whether or not it ends in `/`; keys never hold `//`, `..` or start with `/`."""
    folder = "/".join(prefix_parts(prefix))
    return f"{folder}/{plain_name(name)}" if folder else plain_name(name)
