"""The commit sequence after staging, in the crash matrix's order (stage 7 -> 9):

    window recorded -> commit started (_SUCCESS withdrawn) -> every part committed -> manifest written
    -> parts published -> files recorded -> superseded files removed, then forgotten -> cursor / chunk checkpoint
    -> _SUCCESS written -> metric

A failure before the metric records a failed metric and re-raises, so Dagster records no materialization
and the step can simply be rerun. A commit interrupted by a crash is cleaned up by the next run of the export
(`clean_up_interrupted`): parts that never got their manifest are removed; a commit whose manifest was
written is complete, and is published (rolled forward) and recorded from its manifest.

A materialization can supersede files (`staged.replaces`): a re-materialized partition, or an incremental
window repaired after a crash. Its parts have new names, so a committed file is never overwritten; the
superseded files and manifests are removed, then forgotten, once the new manifest is written and recorded.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable

from rivet_dagster.staging.drift import schema_drift
from rivet_dagster.retries import Retrier
from rivet_dagster.stages import Stage, reached
from rivet_dagster.state.cursors import Window
from rivet_dagster.state.store import FileRecord, MetricRecord, StateStore
from rivet_dagster.commit.destinations.base import SUCCESS_MARKER, Destination, UnsafeName, is_plain_name
from rivet_dagster.commit.manifest import manifest_document, manifest_name
from rivet_dagster.owners import current_owner
from rivet_dagster.commit.destinations.retry import store_retrier
from rivet_dagster.staging.staged import StagedExport


def publish(staged: StagedExport, destination: Destination, state: StateStore, log) -> bool:
    """Commit every staged part and record it; returns whether the schema changed since the last run."""
    started = time.monotonic()
    retrier = store_retrier(destination.describe(), staged.max_retries, staged.retry_backoff_ms, log)
    window, names = staged.window, staged.file_names
    manifest = manifest_name(staged.file_stem) if destination.keeps_files else None
    try:
        if window is not None:
            state.open_window(staged.export_name, staged.run_id, Window(
                window.after, window.up_to, staged.file_stem, tuple(dict.fromkeys(names + list(staged.replaces)))))
        if manifest is not None:
            state.commit_started(staged.export_name, staged.run_id, staged.file_stem, staged.partition_key,
                                 names, manifest, current_owner())
        if manifest is not None and staged.parts:
            _mark_complete(destination, False, retrier, log)
        for part, name in zip(staged.parts, names):
            staged.uris.append(retrier.call(f"upload of {name}",
                                            lambda part=part, name=name: destination.commit(part.path, name)))
            reached(Stage.COMMITTED)
        if manifest is not None and staged.parts:
            staged.manifest_uri = retrier.call(f"write of {manifest}", lambda: destination.write_bytes(
                manifest, manifest_document(staged, staged.uris)))
        reached(Stage.MANIFEST)
        retrier.call(f"publication of {staged.file_stem}", lambda: destination.publish(names))
        reached(Stage.PUBLISHED)
        state.record_files(staged.export_name, staged.run_id, staged.file_stem, [FileRecord(
            run_id=staged.run_id, export_name=staged.export_name, partition_key=staged.partition_key,
            file_name=name, uri=uri, row_count=part.rows, bytes=part.bytes, format=staged.format,
            compression=staged.compression, checksum=f"sha256:{part.sha256}")
            for name, uri, part in zip(names, staged.uris, staged.parts)], staged.manifest_uri)
        reached(Stage.RECORDED)
        _remove_superseded(staged.export_name, sorted(set(staged.replaces) - set(names)), destination, state,
                           retrier)
        if window is not None:
            state.close_window(staged.export_name, window.up_to)
            reached(Stage.CURSOR)
        if staged.checkpoint:
            state.chunk_completed(staged.export_name, staged.partition_key, staged.rows, names)
            reached(Stage.CURSOR)
        if manifest is not None and staged.parts:  # the folder is complete again: readers may trust it
            _mark_complete(destination, True, retrier, log, staged.manifest_uri)
        # as Rivet: a change is a column added, removed or retyped (order ignored), judged where drift is
        schema_changed = staged.rows > 0 and schema_drift(
            state.record_schema(staged.export_name, staged.run_id, staged.schema_columns()),
            staged.schema_columns()) is not None
    except BaseException as exc:
        record_failure(state, staged.export_name, staged.run_id, staged.mode, staged.format, staged.tuning_profile,
                       staged.extract_seconds + time.monotonic() - started, exc, staged.partition_key,
                       staged.source_retries + retrier.retries)
        raise
    finally:
        staged.retries = retrier.retries
    try:
        state.record_metric(MetricRecord(
            export_name=staged.export_name, run_id=staged.run_id, partition_key=staged.partition_key,
            status=staged.status, duration_ms=int((staged.extract_seconds + time.monotonic() - started) * 1000),
            total_rows=staged.rows, peak_rss_mb=staged.peak_rss_mb, tuning_profile=staged.tuning_profile,
            format=staged.format, mode=staged.mode, files_produced=len(staged.parts), bytes_written=staged.bytes,
            retries=staged.source_retries + retrier.retries, schema_changed=schema_changed))
        reached(Stage.METRIC)
    except Exception as exc:  # stage 9: the data is committed and recorded; a lost metric is only logged
        log.warning(f"could not record the run metric for '{staged.export_name}': {exc}")
    return schema_changed


def clean_up_interrupted(export_name: str, destination: Destination, state: StateStore,
                         still_working: Callable[[str, str | None], bool], retrier: Retrier, log) -> None:
    """Finish what crashed commits of this export left: before this run stages anything. Every name comes from
    the state store or a manifest, so only plain file names inside the destination are touched; any other stops
    the run with nothing touched (a tampered store or manifest)."""
    for commit in state.pending_commits(export_name):
        if still_working(commit["run_id"], commit["owner"]):
            continue
        manifest = commit["manifest_name"]
        _contained(export_name, [manifest] if manifest else [], f"the state store's unfinished commit of run "
                                                               f"{commit['run_id']}")
        document = json.loads(retrier.call(f"read of {manifest}", lambda: destination.read_bytes(manifest))) \
            if manifest and retrier.call(f"lookup of {manifest}", lambda: destination.exists(manifest)) else None
        if document is not None and document.get("run_id") == commit["run_id"]:  # not an older same-named one
            names = _contained(export_name, [f.get("name") for f in document["files"]], f"the manifest {manifest}")
            retrier.call(f"publication of {commit['file_stem']}", lambda: destination.publish(names))  # roll forward
            state.record_files(export_name, commit["run_id"], commit["file_stem"], [FileRecord(
                run_id=document["run_id"], export_name=export_name, partition_key=document["partition"],
                file_name=f["name"], uri=f["uri"], row_count=f["rows"], bytes=f["bytes"], format=document["format"],
                compression=document["compression"], checksum=f"sha256:{f['sha256']}")
                for f in document["files"]], destination.uri(manifest))
            log.warning(f"{export_name}: run {commit['run_id']} crashed after writing its manifest; its files are "
                        f"complete and are now recorded ({len(document['files'])} file(s))")
            if document["partition"] is not None:  # it supersedes what the partition held before
                current = set(names) | {manifest}
                _remove_superseded(export_name, [n for n in state.partition_objects(export_name, document["partition"])
                                                 if n not in current], destination, state, retrier)
            continue
        recorded = state.recorded_names(export_name, commit["files"])
        unrecorded = [name for name in commit["files"] if name not in recorded]
        for name in _contained(export_name, unrecorded, f"the state store's unfinished commit of run "
                                                        f"{commit['run_id']}"):
            retrier.call(f"removal of {name}", lambda name=name: destination.remove(name))
        state.forget_commit(export_name, commit["run_id"], commit["file_stem"])
        if unrecorded:
            log.warning(f"{export_name}: removed {len(unrecorded)} file(s) that run {commit['run_id']} uploaded "
                        f"without a manifest before it stopped")


def _mark_complete(destination: Destination, complete: bool, retrier: Retrier, log, manifest_uri: str | None = None
                   ) -> None:
    """Hadoop's `_SUCCESS` marker: withdrawn while a commit is under way, written when it completes. Advisory
    (manifests are the record), so a marker that cannot be changed is logged, never a failed commit."""
    try:
        if complete:
            retrier.call(f"write of {SUCCESS_MARKER}", lambda: destination.write_bytes(
                SUCCESS_MARKER, f"{manifest_uri or ''}\n".encode()))
        else:
            retrier.call(f"withdrawal of {SUCCESS_MARKER}", lambda: destination.remove(SUCCESS_MARKER))
    except Exception as exc:
        log.warning(f"could not {'write' if complete else 'withdraw'} {SUCCESS_MARKER} on {destination.describe()}: "
                    f"{exc}")


def _contained(export_name: str, names: list, origin: str) -> list[str]:
    """`names` when every one is a plain file name inside the destination. Anything else means the state store or
    a manifest was changed by hand: nothing is touched, and the run stops before it reads its source."""
    for name in names:
        if not is_plain_name(name):
            raise UnsafeName(f"{export_name}: refused to touch {name!r}, which {origin} names but which is not a "
                             "plain file name inside the destination (changed by hand?); nothing was removed. "
                             "Correct or delete that record, then run again")
    return names


def _remove_superseded(export_name: str, names: list[str], destination: Destination, state: StateStore,
                       retrier: Retrier) -> None:
    """Removed first, forgotten after: a crash between the two is repaired when the scope is exported again,
    and until then readers take only the latest manifest of a partition."""
    for name in _contained(export_name, names, "the state store's file manifest"):
        retrier.call(f"removal of {name}", lambda name=name: destination.remove(name))
    state.forget_files(export_name, names)


def record_failure(state: StateStore, export_name: str, run_id: str, mode: str, fmt: str, profile: str,
                   seconds: float, error: BaseException, partition_key: str | None = None, retries: int = 0) -> None:
    """A failed materialization still leaves its metric, with the error (best effort)."""
    try:
        state.record_metric(MetricRecord(
            export_name=export_name, run_id=run_id, partition_key=partition_key, status="failed",
            duration_ms=int(seconds * 1000), error_message=f"{type(error).__name__}: {error}"[:2000],
            tuning_profile=profile, format=fmt, mode=mode, retries=retries))
    except Exception:
        pass
