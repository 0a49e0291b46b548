"""A disk spill for a reader that runs ahead of the writer whatever we do: connectorx decodes a MySQL/MariaDB result
into an unbounded queue as fast as the server sends it. Batches the writer is not ready for are appended to
Arrow IPC segments in the staging folder and read back in the order written, so memory holds a fixed number of
batches however far the reader runs ahead; the disk holds the backlog, and a segment is deleted as soon as it has
been read back."""
from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow as pa

SEGMENT_BYTES = 128 * 2**20  # a segment is closed past this size, so what has been read back can be deleted
# Uncompressed: the spill must drain connectorx faster than it decodes, or the backlog grows in connectorx's queue
# instead. LZ4 on the drain thread did not keep up (MariaDB, 10M wide rows: 626 MB peak RSS vs 402 MB
# uncompressed, 665 vs 519 MB with a row hash); the disk holds only the backlog, and each segment goes once read back.
_OPTIONS = pa.ipc.IpcWriteOptions()


class Spill:
    """Written by one thread (`put`) and read back by another (`get`), in order: `get(segment)` is called once per
    `put`, with what it returned, after it returned."""

    _names = itertools.count()

    def __init__(self, folder: Path):
        self.folder = folder
        self.prefix = f".spill-{next(self._names)}"
        self._writing: tuple[int, pa.NativeFile, pa.ipc.RecordBatchStreamWriter, pa.Schema] | None = None
        self._reading: tuple[int, pa.NativeFile, pa.ipc.RecordBatchStreamReader] | None = None
        self._segments = itertools.count()

    def put(self, batch: pa.RecordBatch) -> int:
        """Append `batch`; returns the segment to read it back from."""
        if self._writing is not None:
            segment, sink, writer, schema = self._writing
            if sink.tell() >= SEGMENT_BYTES or not schema.equals(batch.schema):
                writer.close()
                sink.close()
                self._writing = None
        if self._writing is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            segment = next(self._segments)
            sink = pa.OSFile(str(self._path(segment)), "wb")
            self._writing = (segment, sink, pa.ipc.new_stream(sink, batch.schema, options=_OPTIONS), batch.schema)
        segment, _, writer, _ = self._writing
        writer.write_batch(batch)  # written through: a reader of the file sees it once this returns
        return segment

    def get(self, segment: int) -> pa.RecordBatch:
        """The oldest batch not yet read back, which `put` wrote to `segment`."""
        if self._reading is None or self._reading[0] != segment:
            self._finish_reading()
            source = pa.OSFile(str(self._path(segment)), "rb")
            self._reading = (segment, source, pa.ipc.open_stream(source))
        return self._reading[2].read_next_batch()

    def close(self) -> None:
        """Delete every segment (after the writer has stopped)."""
        if self._writing is not None:
            self._writing[2].close()
            self._writing[1].close()
            self._writing = None
        self._finish_reading()
        for path in self.folder.glob(f"{self.prefix}-*.arrows"):
            path.unlink(missing_ok=True)

    def _finish_reading(self) -> None:
        if self._reading is not None:
            segment, source, _ = self._reading
            self._reading = None
            source.close()
            self._path(segment).unlink(missing_ok=True)

    def _path(self, segment: int) -> Path:
        return self.folder / f"{self.prefix}-{segment}.arrows"
