"""What every destination offers the commit sequence. A commit is all-or-nothing per file: a reader sees the
complete file under its final name, or nothing."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import pyarrow.fs as pafs


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
        """Make a complete staged file visible under `name`; returns its URI."""

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
        return filesystem, f"{root}/{name}" if root else name


def object_key(prefix: str | None, name: str) -> str:
    """`prefix` is a folder whether or not it ends in `/`; keys never hold `//` or start with `/`."""
    folder = "/".join(part for part in (prefix or "").split("/") if part)
    return f"{folder}/{name}" if folder else name
