"""A chunked export's step: the chunks of its run (one, or a backfill's whole range) worked through by `parallel`
workers, each on its own source connection. Each chunk is staged, gated, committed and checkpointed on its own,
tried up to `chunk_max_attempts` times, and reported at once as its partition's materialization. So a failure or
a crash leaves every finished chunk done in Dagster and in the state store, and a rerun or a "failed and
missing" backfill redoes only the rest. No process, run or step per chunk: that fixed cost is what made a large
table's thousand chunks slow.

The commit is the IO manager's protocol (`commit/protocol.py`), called here per chunk and one chunk at a time
(the destination's `_SUCCESS` marker means "no commit under way"); reads and staging run in parallel."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

import dagster as dg

from rivet_dagster.commit import protocol
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.defs.checks import judge_in_step
from rivet_dagster.defs.gates import quality_check, schema_drift_gate
from rivet_dagster.defs.io_manager import notify_committed
from rivet_dagster.defs.metadata import commit_metadata, staged_metadata
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.defs.sensors.crashed_runs import still_working
from rivet_dagster.defs.source_sessions import hold_sessions
from rivet_dagster.errors import IntegrityError, first_line
from rivet_dagster.modes import mode_of
from rivet_dagster.source.errors import source_retrier
from rivet_dagster.source.readers import Connections, describe
from rivet_dagster.staging import folders
from rivet_dagster.staging.quality import QualityResult
from rivet_dagster.staging.scope import file_key
from rivet_dagster.staging.staged import StagedExport
from rivet_dagster.staging.step import SharedReads, stage_export
from rivet_dagster.state import claims
from rivet_dagster.state.errors import ClaimLost


def export_chunks(context: dg.AssetExecutionContext, config: RivetConfig, export: ExportConfig,
                  names: DefinitionNames, params: dict[str, str]) -> Iterator:
    """Materializes the run's chunks (when the export is selected), then judges the selected checks: on what
    this run committed, or alone (the Checks tab) on what is committed now."""
    materializing = config.asset_key(export) in context.selected_asset_keys
    failure = None
    if materializing:
        run = _ChunkRun(context, config, export, names, params)
        with run.state.reusing():  # a thousand chunks' commits on a few connections, all closed at the end
            failure = yield from run.materialize()
        if run.committed:
            notify_committed(getattr(context.resources, names.notifier), run.committed, run.schema_changed,
                             run.commit_seconds, 0, context.log)
    yield from judge_in_step(config, export, names, context, materializing)
    if failure is not None:
        raise failure


@dataclass
class _Done:
    staged: StagedExport
    metadata: dict


class _ChunkRun:
    def __init__(self, context: dg.AssetExecutionContext, config: RivetConfig, export: ExportConfig,
                 names: DefinitionNames, params: dict[str, str]):
        self.context, self.config, self.export, self.names, self.params = context, config, export, names, params
        self.mode, self.tuning = mode_of(export), config.tuning_for(export)
        self.state = getattr(context.resources, names.state)
        self.source = getattr(context.resources, names.source)
        self.run_id = context.run.run_id
        self.keys = context.partition_keys
        self.workers = max(1, min(export.parallel, len(self.keys)))
        self.log = _QueuedLog(context.log)
        self.commit_lock = threading.Lock()
        self.committed: list[StagedExport] = []
        self.qualities: dict[str, QualityResult] = {}
        self.claims: dict[str, claims.Claim] = {}  # the run's chunks that are its own to export
        self.schema_changed, self.commit_seconds = False, 0.0

    def materialize(self):
        """Yields each chunk's materialization as it is committed (and the quality check at the end); returns
        the failure to raise once the checks are judged, if a chunk failed."""
        self.state.check()  # a store this code cannot use stops the run before the source is read
        started = time.monotonic()
        self.sessions = hold_sessions(self.context, self.names, self.workers, self.export.name)
        self.workers = self.sessions.count
        try:
            self.query = self.config.query_for(self.export, self.params)  # a ${KEY} nothing fills fails first
            self.working = still_working(self.context.instance, self.context.log)
            self.run_dir = protocol.recover(self.config, self.export, self.state, self.run_id, self.working,
                                            self.context.log, claimed=True)
            # another run's chunks: left to it, their checkpoints and files untouched
            self.claims, refused = claims.take(self.state, self.export.name, self.keys, self.run_id, self.working)
            self.shared = SharedReads(source_retrier(self.tuning, self.context.log, self.source).call(
                f"{self.export.name}: the export query", lambda: describe(self.source, self.query, self.tuning)),
                Connections(self.source), workers=self.workers)
        except BaseException as exc:
            claims.release(self.claims.values())
            self.sessions.release()
            protocol.record_failure(self.state, self.export.name, self.run_id, self.export.mode, self.export.format,
                                    self.tuning.profile_label, time.monotonic() - started, exc)
            raise
        for error in refused.values():
            self.context.log.warning(str(error))
        failures: dict[str, BaseException] = dict(refused)
        progress = _Progress(self.export.name, len(self.keys), self.context.log)
        try:
            with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"{self.export.name}-chunk") as pool:
                pending = {pool.submit(self._chunk, key): key for key in self.keys if key in self.claims}
                try:
                    while pending:  # Dagster's log and events are written here, by the step's own thread
                        finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                        self.log.flush()
                        progress.update(self.committed, failures)
                        for future in finished:
                            key = pending.pop(future)
                            if future.exception() is not None:
                                failures[key] = future.exception()
                                continue
                            done = future.result()
                            self.committed.append(done.staged)
                            yield dg.AssetMaterialization(asset_key=self.config.asset_key(self.export), partition=key,
                                                          metadata=done.metadata)
                finally:  # an interrupted step (a cancelled run) starts no further chunk
                    for future in pending:
                        future.cancel()
        finally:
            claims.release(self.claims.values())
            self.log.flush()
            self.shared.connections.close()
            self.sessions.release()
            protocol.abandon(self.run_dir)
        progress.update(self.committed, failures, final=True)
        if self.export.quality is not None:
            ordered = sorted(self.qualities)
            yield quality_check([self.qualities[key] for key in ordered], ordered)
        return self._failure(failures) if failures else None

    def _chunk(self, key: str) -> _Done:
        """One chunk, tried up to `chunk_max_attempts` times; a failed gate is not retried."""
        attempts, attempt = self.mode.attempts(self.export, self.tuning), 1
        while True:
            try:
                return self._attempt(key)
            except (IntegrityError, dg.Failure, ClaimLost):
                raise
            except Exception as exc:
                if attempt >= attempts:
                    raise
                delay = self.tuning.retry_backoff_ms * 2 ** (attempt - 1) / 1000
                self.log.warning(f"{self.export.name}: chunk {key} failed (attempt {attempt}/{attempts}), trying "
                                 f"again in {delay:.1f}s: {first_line(exc)}")
                time.sleep(delay)
                attempt += 1

    def _attempt(self, key: str) -> _Done:
        export, state, started = self.export, self.state, time.monotonic()
        checkpoint = self.mode.checkpoints(export)
        chunk_dir = self.run_dir / file_key(key)
        chunk_dir.mkdir(parents=True, exist_ok=True)
        retrier, committing = source_retrier(self.tuning, self.log, self.source), False
        if checkpoint:
            state.chunk_started(export.name, key)
        try:
            staged = retrier.call(f"{export.name}: chunk {key}", lambda: stage_export(
                self.config, export, self.source, self.run_id, self.log, chunk_dir, self.query,
                lambda columns: self.mode.scope(export, self.source, state, self.query, columns, self.log, key),
                key, self.shared))
            staged.source_retries, staged.claim = retrier.retries, self.claims[key]
            if staged.quality is not None:
                self.qualities[key] = staged.quality
                if not staged.quality.passed:
                    raise IntegrityError("quality gate failed, nothing was committed: "
                                         + "; ".join(staged.quality.failures))
            drift = schema_drift_gate(export, state, [staged], self.log)
            committing = True
            with self.commit_lock:
                commit_started = time.monotonic()
                destination, schema_changed = protocol.commit([staged], state, self.log)
                seconds = time.monotonic() - commit_started
                self.schema_changed |= schema_changed
                self.commit_seconds += seconds
        except BaseException as exc:
            folders.remove(chunk_dir)
            if checkpoint and not isinstance(exc, ClaimLost):  # a lost chunk's checkpoint is its new holder's
                state.chunk_failed(export.name, key, f"{type(exc).__name__}: {exc}")
            if not committing:  # a failed commit records its own metric
                protocol.record_failure(state, export.name, self.run_id, export.mode, export.format,
                                        self.tuning.profile_label, time.monotonic() - started, exc, key,
                                        retrier.retries)
            raise
        return _Done(staged, {**staged_metadata(self.config, export, self.params, [staged], drift),
                              **commit_metadata(destination, [staged], schema_changed, seconds)})

    def _failure(self, failures: dict[str, BaseException]) -> dg.Failure:
        """One failure for the run: how many chunks failed, and the first one's own error (its exit code)."""
        first = min(failures)
        message = (f"{self.export.name}: {len(failures)} of {len(self.keys)} chunk(s) failed, "
                   f"{len(self.committed)} committed (a rerun exports only the failed and missing ones); "
                   f"chunk {first}: {_one_line(failures[first])}")
        failure = dg.Failure(message)
        failure.__cause__ = failures[first]
        return failure


def _one_line(error: BaseException) -> str:
    """A chunk's error as its one line: the message of a Failure (a gate), else the error's own."""
    return first_line(error.description if isinstance(error, dg.Failure) else error) or type(error).__name__


class _Progress:
    """One log line every few seconds and one at the end, not one per chunk (each is an event Dagster stores;
    each chunk's own figures are in its materialization)."""
    EVERY_S = 5.0

    def __init__(self, export_name: str, chunks: int, log):
        self.export_name, self.chunks, self.log = export_name, chunks, log
        self.started = self.last = time.monotonic()

    def update(self, committed: list[StagedExport], failures: dict, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < self.EVERY_S:
            return
        self.last = now
        rows, seconds = sum(s.rows for s in committed), now - self.started
        # `staged ... rows in N file(s) (Xs` as a single export's line, which scripts read
        self.log.info(f"{self.export_name}: staged {rows:,} rows in {sum(len(s.parts) for s in committed)} file(s) "
                      f"({seconds:.2f}s, {rows / max(seconds, 1e-9):,.0f} rows/s); {len(committed)} of "
                      f"{self.chunks} chunk(s) committed" + (f", {len(failures)} failed" if failures else ""))


class _QueuedLog:
    """The step's log for the chunk workers: their messages queue up, and the step's thread writes them to
    Dagster (whose event log is written by one thread at a time)."""

    def __init__(self, log):
        self._log, self._queue = log, queue.SimpleQueue()

    def __getattr__(self, level: str):
        return lambda message, *args, **kwargs: self._queue.put((level, message))

    def flush(self) -> None:
        while not self._queue.empty():
            level, message = self._queue.get()
            getattr(self._log, level)(message)
