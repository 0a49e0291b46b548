"""Part rotation: batches go to staged part files, a new part starting between batches at `max_file_size`.

Every part is handed on (Rivet 0.2 dropped rotated parts in chunked mode; here there is one code path).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from rivet_dagster.durability import fsync
from rivet_dagster.staging.writers import EXTENSIONS, open_writer


@dataclass(frozen=True)
class StagedPart:
    path: Path
    rows: int
    bytes: int
    sha256: str


class PartWriter:
    def __init__(self, staging_dir: Path, stem: str, fmt: str, schema: pa.Schema, *, compression: str = "zstd",
                 compression_level: int | None = None, max_file_size: int | None = None, side_by_side: int = 1):
        self.staging_dir, self.side_by_side = staging_dir, side_by_side
        self.stem, self.fmt, self.schema = stem, fmt, schema
        self.compression, self.level, self.max_file_size = compression, compression_level, max_file_size
        self.parts: list[StagedPart] = []
        self._writer = None
        self._rows = 0

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.parts) + self._rows

    def write(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        if self._writer is None:
            path = self.staging_dir / f"{self.stem}_part{len(self.parts)}.{EXTENSIONS[self.fmt]}"
            self._writer = open_writer(self.fmt, path, self.schema, self.compression, self.level, self.max_file_size,
                                       self.side_by_side)
        self._writer.write(batch)
        self._rows += batch.num_rows
        if self.max_file_size and self._writer.bytes_written >= self.max_file_size:
            self._finish_part()

    def close(self) -> list[StagedPart]:
        """Finish the last part; every part is complete and fsynced on disk when this returns."""
        if self._writer is not None:
            self._finish_part()
        return self.parts

    def abandon(self) -> None:
        """Stage 6 failure: close what is open and delete every staged part."""
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:
                pass
            self._writer.path.unlink(missing_ok=True)
            self._writer = None
        for part in self.parts:
            part.path.unlink(missing_ok=True)

    def _finish_part(self) -> None:
        self._writer.close()
        path = self._writer.path
        fsync(path)
        self.parts.append(StagedPart(path, self._rows, path.stat().st_size, _sha256(path)))
        self._writer, self._rows = None, 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
