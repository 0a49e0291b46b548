"""How batches flow from a reader to the writer: the throttle between batches, one thread reading ahead (with a
disk spill for a reader that cannot be made to wait), and the stall watchdog that cancels a streamed statement
whose next batch takes too long."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from rivet_dagster.source.errors import SourceError
from rivet_dagster.source.spill import Spill


def throttled(batches: Iterator[pa.RecordBatch], throttle_ms: int) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        yield batch
        if throttle_ms:
            time.sleep(throttle_ms / 1000)


def read_ahead(batches: Iterator[pa.RecordBatch], depth: int, spill_to: Path | None = None
               ) -> Iterator[pa.RecordBatch]:
    """Read up to `depth` batches ahead on a thread while the caller writes (ADBC decoding and Parquet encoding
    release the GIL, so the two overlap). A reader error is raised in the caller; stopping early closes it.

    With `spill_to` (a reader that decodes ahead however long we wait: connectorx), the thread never waits:
    batches past `depth` go to a disk spill there (`spill.py`), so memory stays bounded however large the read."""
    pending: queue.Queue = queue.Queue(maxsize=depth if spill_to is None else 0)
    in_memory = threading.BoundedSemaphore(depth)  # with a spill: batches held in `pending` itself
    spill = Spill(spill_to) if spill_to is not None else None
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for batch in batches:
                if spill is not None:
                    pending.put(batch if in_memory.acquire(blocking=False) else _Spilled(spill.put(batch)))
                else:
                    while not stop.is_set():
                        try:
                            pending.put(batch, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                if stop.is_set():
                    break
            pending.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            pending.put(exc)
        finally:
            if hasattr(batches, "close"):  # runs the generators' own cleanup (connections) on this thread
                batches.close()

    thread = threading.Thread(target=produce, name="rivet-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = pending.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, _Spilled):
                item = spill.get(item.segment)
            elif spill is not None:
                in_memory.release()
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                pending.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()
        if spill is not None:
            spill.close()


@dataclass(frozen=True)
class _Spilled:
    segment: int


class StallWatchdog:
    """Cancel a streamed statement when one batch takes longer than `timeout_s` (0 disables it)."""

    def __init__(self, timeout_s: int, cancel: Callable[[], object]):
        self.timeout_s = timeout_s
        self.cancel = cancel
        self.fired = False
        self._since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="rivet-statement-timeout", daemon=True)

    def __enter__(self):
        if self.timeout_s:
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @contextmanager
    def waiting(self):
        """Around one blocking call; once the watchdog fired, the read fails even if the server ended the
        statement quietly (MySQL's SLEEP() returns 1 when killed)."""
        self._since = time.monotonic()
        try:
            yield
        except Exception:
            if self.fired:
                raise SourceError(self.message) from None
            raise
        finally:
            self._since = None
        if self.fired:
            raise SourceError(self.message)

    def iterate(self, reader) -> Iterator[pa.RecordBatch]:
        iterator = iter(reader)
        while True:
            with self.waiting():
                batch = next(iterator, None)
            if batch is None:
                return
            yield batch

    @property
    def message(self) -> str:
        return (f"the source sent no batch for {self.timeout_s}s (tuning.statement_timeout_s); the read was "
                "cancelled")

    def _watch(self):
        while not self._stop.wait(0.2):
            since = self._since
            if since is not None and time.monotonic() - since > self.timeout_s:
                self.fired = True
                try:
                    self.cancel()
                finally:
                    return
