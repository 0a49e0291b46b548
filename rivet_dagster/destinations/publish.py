"""The commit sequence after staging, in the crash matrix's order: commit each part -> record it in the
manifest -> cursor -> metric. A failure before the metric records a failed metric and re-raises, so Dagster
records no materialization and the step can simply be rerun.

A materialization can supersede files (`staged.replaces`): a re-materialized partition, or an incremental
window repaired after a crash. New parts replace same-named files (and their manifest rows); parts no
longer produced are removed, then forgotten, so the destination never keeps two copies of a window.
Incremental exports record the window (after, up_to] and its file names before the first commit; a rerun
that finds the record re-exports exactly that window under the same names."""
from __future__ import annotations

import time
from typing import Protocol

from ..stages import Stage, reached
from ..state.cursors import Window
from ..state.store import FileRecord, MetricRecord, StateStore
from .staged import StagedExport


class Destination(Protocol):
    def commit(self, staged_file, file_name: str) -> str: ...
    def remove(self, file_name: str) -> None: ...


def publish(staged: StagedExport, destination: Destination, state: StateStore, log) -> bool:
    """Commit every staged part and record it; returns whether the schema changed since the last run."""
    started = time.monotonic()
    window = staged.window
    try:
        if window is not None:
            state.open_window(staged.export_name, staged.run_id, Window(
                window.after, window.up_to, staged.file_stem, tuple(dict.fromkeys(staged.file_names +
                                                                                  list(staged.replaces)))))
        for index, part in enumerate(staged.parts):
            name = staged.file_name(index)
            uri = destination.commit(part.path, name)
            reached(Stage.COMMITTED)
            state.record_file(FileRecord(
                run_id=staged.run_id, export_name=staged.export_name, partition_key=staged.partition_key,
                file_name=name, uri=uri, row_count=part.rows, bytes=part.bytes, format=staged.format,
                compression=staged.compression, checksum=f"sha256:{part.sha256}"))
            reached(Stage.MANIFEST)
            staged.uris.append(uri)
        stale = sorted(set(staged.replaces) - set(staged.file_names))
        for name in stale:  # removed first, forgotten after: a crash between the two is repaired by a rerun
            destination.remove(name)
        state.forget_files(staged.export_name, stale)
        if window is not None:
            state.close_window(staged.export_name, window.up_to)
            reached(Stage.CURSOR)
        if staged.checkpoint:
            state.chunk_completed(staged.export_name, staged.partition_key, staged.rows, staged.file_names)
            reached(Stage.CURSOR)
        schema_changed = state.record_schema(staged.export_name, staged.run_id, staged.schema_columns()) \
            if staged.rows else False
    except BaseException as exc:
        record_failure(state, staged.export_name, staged.run_id, staged.mode, staged.format, staged.tuning_profile,
                       staged.extract_seconds + time.monotonic() - started, exc, staged.partition_key)
        raise
    try:
        state.record_metric(MetricRecord(
            export_name=staged.export_name, run_id=staged.run_id, partition_key=staged.partition_key,
            status=staged.status, duration_ms=int((staged.extract_seconds + time.monotonic() - started) * 1000),
            total_rows=staged.rows, peak_rss_mb=staged.peak_rss_mb, tuning_profile=staged.tuning_profile,
            format=staged.format, mode=staged.mode, files_produced=len(staged.parts), bytes_written=staged.bytes,
            schema_changed=schema_changed))
        reached(Stage.METRIC)
    except Exception as exc:  # stage 9: the data is committed and recorded; a lost metric is only logged
        log.warning(f"could not record the run metric for '{staged.export_name}': {exc}")
    return schema_changed


def record_failure(state: StateStore, export_name: str, run_id: str, mode: str, fmt: str, profile: str,
                   seconds: float, error: BaseException, partition_key: str | None = None) -> None:
    """A failed materialization still leaves its metric, with the error (best effort)."""
    try:
        state.record_metric(MetricRecord(
            export_name=export_name, run_id=run_id, partition_key=partition_key, status="failed",
            duration_ms=int(seconds * 1000), error_message=f"{type(error).__name__}: {error}"[:2000],
            tuning_profile=profile, format=fmt, mode=mode))
    except Exception:
        pass
