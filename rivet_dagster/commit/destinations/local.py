"""Local disk: a staged part is renamed beside its target under a hidden name (`.<name>.pending`; copied there first
when staging is on another filesystem), and the set is published, each part renamed to its final name, only once
its manifest is written. A final path only ever holds a complete file, and a reader that lists the folder (Spark,
Hive, DuckDB, pyarrow all skip `.` and `_` names) sees a materialization's parts all at once or not at all."""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pyarrow.fs as pafs

from rivet_dagster.commit.destinations.base import Destination, plain_name
from rivet_dagster.config.sections import DestinationConfig
from rivet_dagster.durability import fsync, replace_atomically, temp_beside


class LocalDestination(Destination):
    kind = "local"

    def __init__(self, config: DestinationConfig):
        self.root = Path(config.local_dir).absolute()

    def describe(self) -> str:
        return f"Local({self.root})"

    def path(self, name: str) -> Path:
        """The file `name` stands for; only a plain file name, so nothing outside the folder is ever touched."""
        return self.root / plain_name(name)

    def uri(self, name: str) -> str:
        return self.path(name).as_uri()

    def pending(self, name: str) -> Path:
        """Where a committed part waits, hidden from readers that list the folder, until its set is published."""
        return self.root / f".{plain_name(name)}.pending"

    def commit(self, staged_file: Path, name: str) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        hidden = self.pending(name)
        try:
            os.replace(staged_file, hidden)
            fsync(self.root)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # staging on another filesystem: copy beside, then rename
            replace_atomically(hidden, lambda temp: shutil.copyfile(staged_file, temp))
        return self.uri(name)

    def publish(self, names: list[str]) -> None:
        """Rename every committed part to its final name: the set appears at once for readers that list the folder
        (a part already published, or gone, is left as it is: publishing again after a crash is harmless)."""
        for name in names:
            if self.pending(name).exists():
                os.replace(self.pending(name), self.path(name))
        fsync(self.root)

    def write_bytes(self, name: str, data: bytes) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        replace_atomically(self.path(name), lambda temp: temp.write_bytes(data))
        return self.uri(name)

    def read_bytes(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def remove(self, name: str) -> None:
        final, hidden = self.path(name), self.pending(name)
        for path in (final, hidden, temp_beside(final), temp_beside(hidden)):
            path.unlink(missing_ok=True)
        if self.root.is_dir():
            fsync(self.root)

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        return pafs.LocalFileSystem(), str(self.root)
