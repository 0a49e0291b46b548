"""`type: stdout`: the file's bytes go to standard output (logs go to standard error), for piping an export
into another program. There is nothing to list, re-read or remove afterwards, so no manifest is written."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pyarrow.fs as pafs

from rivet_dagster.commit.destinations.base import Destination
from rivet_dagster.commit.destinations.retry import DestinationError


class StdoutDestination(Destination):
    kind = "stdout"
    keeps_files = False

    def describe(self) -> str:
        return "Stdout"

    def uri(self, name: str) -> str:
        return f"stdout:{name}"

    def commit(self, staged_file: Path, name: str) -> str:
        sys.stdout.flush()
        with open(staged_file, "rb") as handle:
            shutil.copyfileobj(handle, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return self.uri(name)

    def write_bytes(self, name: str, data: bytes) -> str:
        raise NotImplementedError("stdout keeps no manifest")

    def read_bytes(self, name: str) -> bytes:
        raise DestinationError(f"{name} went to standard output; it cannot be read back")

    def exists(self, name: str) -> bool:
        return False

    def remove(self, name: str) -> None:
        pass

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        raise DestinationError("an export to stdout keeps no files to read")
