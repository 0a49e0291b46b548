"""The commit protocol, in the crash matrix's order. Each stage is one named step below that ends with
`reached(Stage.X)`, where the crash tests place a real SIGKILL (`stages.py`).

    recover            before the read (the asset): preflight, sweep crashed runs' staging, finish or undo the
                       commits they left; open this run's staging folder (`abandon` drops it if the step fails)
    [4-6 query, fetch, staged: `staging/step.py`]
    open_window        the incremental window is recorded as pending with the names it will write
    start_commit       the commit is recorded as under way (its names and owner); `_SUCCESS` withdrawn
    upload_parts       7. every part is at the destination (local: under a hidden name)
    write_manifest     the materialization's manifest is written last: from here the commit is complete
    publish_parts      the parts are visible under their final names (local: renamed)
    record_files       the state store's file manifest lists them
    remove_superseded  the files this materialization replaces are removed, then forgotten
    remove_expired     keep_last: N: the export's file sets older than its latest N go the same way
    advance            8. the cursor advances / the chunk checkpoint completes; `_SUCCESS` written
    record_metric      9. the run's metric; notifications follow, best effort (the IO manager)

`prune` runs remove_expired on demand (`rivet-dagster state prune`). A failure before the metric records a failed
metric and re-raises, so Dagster records no materialization and the step can simply be rerun. A crash is repaired
by the export's next run (`recover`): a commit without its manifest is removed; one whose manifest was written is
rolled forward (published and recorded). A scope that runs claim (`state/claims.py`) is repaired by whoever takes
its claim over, on any host; each write of its commit is fenced by the claim.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from rivet_dagster.commit.destinations import open_destination
from rivet_dagster.commit.destinations.base import SUCCESS_MARKER, Destination, UnsafeName, is_plain_name
from rivet_dagster.commit.destinations.retry import store_retrier
from rivet_dagster.commit.manifest import is_manifest_name, manifest_document, manifest_name
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.errors import first_line
from rivet_dagster.owners import current_owner
from rivet_dagster.retries import Retrier
from rivet_dagster.stages import Stage, reached
from rivet_dagster.staging import folders
from rivet_dagster.staging.staged import StagedExport
from rivet_dagster.state import claims
from rivet_dagster.state.cursors import Window
from rivet_dagster.state.errors import ClaimHeld, ClaimLost
from rivet_dagster.state.records import FileRecord, MetricRecord
from rivet_dagster.state.store import StateStore

StillWorking = Callable[[str, str | None], bool]  # (run id, owner token) -> may that run still be committing?


# --- before the read ------------------------------------------------------------------------------------------------

def recover(config: RivetConfig, export: ExportConfig, state: StateStore, run_id: str, still_working: StillWorking,
            log, claimed: bool = False) -> Path:
    """Check the destination's credentials, clean up after crashed runs of this export (this host's staging
    folders, the commits they left), and open this run's staging folder. With `claimed` (the export's runs claim
    their scopes), a commit is repaired by taking over its scope's claim: only once the lease of the run that left
    it expired, or that run is known to be gone, whatever host it ran on."""
    destination, tuning = open_destination(export.destination), config.tuning_for(export)
    retrier = _retrier(destination, tuning.max_retries, tuning.retry_backoff_ms, log)
    retrier.call("preflight", destination.preflight)
    root = folders.staging_root(config, export)
    folders.sweep(root, export.name, still_working)
    for commit in state.pending_commits(export.name):
        if not claimed:
            if not still_working(commit["run_id"], commit["owner"]):
                _finish_interrupted(export.name, commit, destination, state, retrier, log)
            continue
        try:
            claim = claims.take_one(state, export.name, commit["partition_key"], run_id, still_working)
        except ClaimHeld:
            continue  # its run (or the scope's next one) is still at work
        try:
            _finish_interrupted(export.name, commit, destination, state, retrier, log)
        finally:
            claims.release([claim])
    return folders.run_dir(root, export.name, run_id)


def _finish_interrupted(export_name: str, commit: dict, destination: Destination, state: StateStore,
                        retrier: Retrier, log) -> None:
    """A commit with its manifest is complete: roll it forward. One without: remove what it uploaded. Every name
    comes from the state store or a manifest, so only plain names inside the destination are touched."""
    manifest = commit["manifest_name"]
    origin = f"the state store's unfinished commit of run {commit['run_id']}"
    _contained(export_name, [manifest] if manifest else [], origin)
    document = json.loads(retrier.call(f"read of {manifest}", lambda: destination.read_bytes(manifest))) \
        if manifest and retrier.call(f"lookup of {manifest}", lambda: destination.exists(manifest)) else None
    if document is not None and document.get("run_id") == commit["run_id"]:  # not an older same-named one
        names = _contained(export_name, [f.get("name") for f in document["files"]], f"the manifest {manifest}")
        retrier.call(f"publication of {commit['file_stem']}", lambda: destination.publish(names))
        state.record_files(export_name, commit["run_id"], commit["file_stem"], [FileRecord(
            run_id=document["run_id"], export_name=export_name, partition_key=document["partition"],
            file_name=f["name"], uri=f["uri"], row_count=f["rows"], bytes=f["bytes"], format=document["format"],
            compression=document["compression"], checksum=f"sha256:{f['sha256']}")
            for f in document["files"]], destination.uri(manifest))
        log.warning(f"{export_name}: run {commit['run_id']} crashed after writing its manifest; its files are "
                    f"complete and are now recorded ({len(document['files'])} file(s))")
        if document["partition"] is not None:  # it supersedes what the partition held before
            current = set(names) | {manifest}
            _remove(export_name, [n for n in state.partition_objects(export_name, document["partition"])
                                  if n not in current], destination, state, retrier)
        return
    recorded = state.recorded_names(export_name, commit["files"])
    unrecorded = [name for name in commit["files"] if name not in recorded]
    for name in _contained(export_name, unrecorded, origin):
        retrier.call(f"removal of {name}", lambda name=name: destination.remove(name))
    state.forget_commit(export_name, commit["run_id"], commit["file_stem"])
    if unrecorded:
        log.warning(f"{export_name}: removed {len(unrecorded)} file(s) that run {commit['run_id']} uploaded "
                    "without a manifest before it stopped")


def abandon(run_dir: Path) -> None:
    """A step that fails before its commit: nothing staged is worth keeping when nothing will be committed."""
    folders.remove(run_dir)


# --- after staging ----------------------------------------------------------------------------------------------------

def commit(staged_sets: list[StagedExport], state: StateStore, log) -> tuple[Destination, bool]:
    """Commit each staged file set (one per partition of a range run), then drop the run's staging folder (kept
    when a commit failed, for diagnosis). Returns the destination and whether the schema changed."""
    destination = open_destination(staged_sets[0].destination)
    schema_changed = False
    for staged in staged_sets:
        schema_changed |= _commit_one(staged, destination, state, log)
    folders.remove(staged_sets[0].staging_dir)
    return destination, schema_changed


def _commit_one(staged: StagedExport, destination: Destination, state: StateStore, log) -> bool:
    started = time.monotonic()
    retrier = _retrier(destination, staged.max_retries, staged.retry_backoff_ms, log)
    try:
        open_window(staged, state)
        start_commit(staged, destination, state, retrier, log)
        upload_parts(staged, destination, retrier)
        write_manifest(staged, destination, retrier)
        publish_parts(staged, destination, retrier)
        record_files(staged, state)
        remove_superseded(staged, destination, state, retrier)
        remove_expired(staged, destination, state, retrier, log)
        advance(staged, destination, state, retrier, log)
        if staged.rows:  # the drift against it was judged before the commit (the asset's gate)
            state.record_schema(staged.export_name, staged.run_id, staged.schema_columns())
        schema_changed = staged.schema_drift is not None
    except BaseException as exc:
        claim = staged.claim  # a write that failed because another run took the scope over is a lost claim
        lost = claim is not None and (isinstance(exc, ClaimLost) or not claim.still_held())
        if lost:
            try:  # best effort: what stays is repaired by the scope's new holder, as after a crash
                withdraw(staged, destination, state, retrier, log)
            except Exception as removal:
                log.warning(f"{staged.export_name}: could not remove what this run uploaded: {first_line(removal)}")
        record_failure(state, staged.export_name, staged.run_id, staged.mode, staged.format, staged.tuning_profile,
                       staged.extract_seconds + time.monotonic() - started, exc, staged.partition_key,
                       staged.source_retries + retrier.retries)
        if lost:
            claim.ensure("rest of its commit")
        raise
    finally:
        staged.retries = retrier.retries
    record_metric(staged, state, schema_changed, time.monotonic() - started, log)
    return schema_changed


def open_window(staged: StagedExport, state: StateStore) -> None:
    """Incremental: the window (after, up_to] is pending, with every name it writes or replaces."""
    if staged.window is not None:
        window = staged.window
        state.open_window(staged.export_name, staged.run_id, Window(
            window.after, window.up_to, staged.file_stem,
            tuple(dict.fromkeys(staged.file_names + list(staged.replaces)))))
    reached(Stage.WINDOW)


def start_commit(staged: StagedExport, destination: Destination, state: StateStore, retrier: Retrier, log) -> None:
    """The names about to be written, and who writes them, so a crash can be undone; `_SUCCESS` withdrawn."""
    if _has_manifest(staged, destination):
        state.commit_started(staged.export_name, staged.run_id, staged.file_stem, staged.partition_key,
                             staged.file_names, manifest_name(staged.file_stem), current_owner(), staged.claim)
        _mark_complete(destination, False, retrier, log)
    reached(Stage.STARTED)


def upload_parts(staged: StagedExport, destination: Destination, retrier: Retrier) -> None:
    for part, name in zip(staged.parts, staged.file_names):
        _ensure_claim(staged, f"upload of {name}")
        staged.uris.append(retrier.call(f"upload of {name}",
                                        lambda part=part, name=name: destination.commit(part.path, name)))
        reached(Stage.COMMITTED)


def write_manifest(staged: StagedExport, destination: Destination, retrier: Retrier) -> None:
    """Last of the files: readers trust a file set only when its manifest is there."""
    if _has_manifest(staged, destination):
        name = manifest_name(staged.file_stem)
        _ensure_claim(staged, f"write of {name}")
        staged.manifest_uri = retrier.call(f"write of {name}", lambda: destination.write_bytes(
            name, manifest_document(staged, staged.uris)))
        reached(Stage.MANIFEST)


def publish_parts(staged: StagedExport, destination: Destination, retrier: Retrier) -> None:
    _ensure_claim(staged, f"publication of {staged.file_stem}")
    retrier.call(f"publication of {staged.file_stem}", lambda: destination.publish(staged.file_names))
    reached(Stage.PUBLISHED)


def record_files(staged: StagedExport, state: StateStore) -> None:
    state.record_files(staged.export_name, staged.run_id, staged.file_stem, [FileRecord(
        run_id=staged.run_id, export_name=staged.export_name, partition_key=staged.partition_key,
        file_name=name, uri=uri, row_count=part.rows, bytes=part.bytes, format=staged.format,
        compression=staged.compression, checksum=f"sha256:{part.sha256}")
        for name, uri, part in zip(staged.file_names, staged.uris, staged.parts)], staged.manifest_uri,
        staged.claim)
    reached(Stage.RECORDED)


def remove_superseded(staged: StagedExport, destination: Destination, state: StateStore, retrier: Retrier) -> None:
    """A re-materialized partition's previous files, a repaired window's leftovers: new names never overwrite."""
    _ensure_claim(staged, "removal of the files it supersedes")
    _remove(staged.export_name, sorted(set(staged.replaces) - set(staged.file_names)), destination, state, retrier)
    reached(Stage.SUPERSEDED)


def remove_expired(staged: StagedExport, destination: Destination, state: StateStore, retrier: Retrier,
                   log) -> None:
    """Retention, once this file set is recorded among the export's latest N: never one of those N, and never a
    file their manifests name."""
    _ensure_claim(staged, "removal of expired file sets")
    _expire(staged.export_name, staged.keep_last, destination, state, retrier, log)


def advance(staged: StagedExport, destination: Destination, state: StateStore, retrier: Retrier, log) -> None:
    """The cursor or the chunk checkpoint moves only now; the folder is complete again (`_SUCCESS`)."""
    if staged.window is not None:
        state.close_window(staged.export_name, staged.window.up_to, staged.claim)
    if staged.checkpoint:
        state.chunk_completed(staged.export_name, staged.partition_key, staged.rows, staged.file_names,
                              staged.claim)
    if _has_manifest(staged, destination):
        _mark_complete(destination, True, retrier, log, staged.manifest_uri)
    reached(Stage.CURSOR)


def record_metric(staged: StagedExport, state: StateStore, schema_changed: bool, commit_seconds: float,
                  log) -> None:
    """Stage 9: the data is committed and recorded; a metric that cannot be written is only logged."""
    try:
        state.record_metric(MetricRecord(
            export_name=staged.export_name, run_id=staged.run_id, partition_key=staged.partition_key,
            status=staged.status, duration_ms=int((staged.extract_seconds + commit_seconds) * 1000),
            total_rows=staged.rows, peak_rss_mb=staged.peak_rss_mb, tuning_profile=staged.tuning_profile,
            format=staged.format, mode=staged.mode, files_produced=len(staged.parts), bytes_written=staged.bytes,
            retries=staged.source_retries + staged.retries, schema_changed=schema_changed))
        reached(Stage.METRIC)
    except Exception as exc:
        log.warning(f"could not record the run metric for '{staged.export_name}': {exc}")


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


def withdraw(staged: StagedExport, destination: Destination, state: StateStore, retrier: Retrier, log) -> None:
    """This run lost its claim mid-commit: what it uploaded goes, unless its manifest is written and its commit
    still pending (the scope's next holder then rolls it forward, as after a crash) or another run already rolled
    it forward (its files are recorded)."""
    names = staged.file_names[:len(staged.uris)] + ([manifest_name(staged.file_stem)] if staged.manifest_uri else [])
    pending = any(c["run_id"] == staged.run_id and c["file_stem"] == staged.file_stem
                  for c in state.pending_commits(staged.export_name))
    if (staged.manifest_uri and pending) or state.recorded_names(staged.export_name, staged.file_names):
        log.warning(f"{staged.export_name}: lost its claim on {staged.claim.label} after its manifest was written; "
                    "the run that holds it now rolls the files forward")
        return
    for name in names:
        retrier.call(f"removal of {name}", lambda name=name: destination.remove(name))
    state.forget_commit(staged.export_name, staged.run_id, staged.file_stem)
    log.warning(f"{staged.export_name}: lost its claim on {staged.claim.label}; removed the {len(names)} file(s) "
                "this run had uploaded for it")


# --- on demand ------------------------------------------------------------------------------------------------------

def prune(config: RivetConfig, export: ExportConfig, state: StateStore, keep_last: int, log,
          dry_run: bool = False) -> list[list[str]]:
    """`rivet-dagster state prune`: remove_expired outside a run (or, `dry_run`, what it would remove)."""
    if dry_run:
        return expired_sets(state, export.name, keep_last)
    destination, tuning = open_destination(export.destination), config.tuning_for(export)
    return _expire(export.name, keep_last, destination, state,
                   _retrier(destination, tuning.max_retries, tuning.retry_backoff_ms, log), log)


def expired_sets(state: StateStore, export_name: str, keep_last: int | None) -> list[list[str]]:
    """The recorded file sets past the latest `keep_last`, oldest first, less any name a kept one lists."""
    if not keep_last:
        return []
    sets = state.file_sets(export_name)
    kept = {name for names in sets[-keep_last:] for name in names}
    return [[name for name in names if name not in kept] for names in sets[:-keep_last]]


def _expire(export_name: str, keep_last: int | None, destination: Destination, state: StateStore, retrier: Retrier,
            log) -> list[list[str]]:
    """Set by set, oldest first. A crash midway leaves the rest recorded, and the next run or prune removes them."""
    expired = expired_sets(state, export_name, keep_last)
    for names in expired:
        _remove(export_name, names, destination, state, retrier, midway=Stage.EXPIRED)
    reached(Stage.EXPIRED)
    if expired:
        log.info(f"{export_name}: keep_last {keep_last}: removed {len(expired)} older file set(s), "
                 f"{sum(map(len, expired))} file(s), manifests included")
    return expired


# --- helpers ------------------------------------------------------------------------------------------------------

def _ensure_claim(staged: StagedExport, doing: str) -> None:
    """Before each write to the destination: the run still holds the scope (ClaimLost if not)."""
    if staged.claim is not None:
        staged.claim.ensure(doing)


def _retrier(destination: Destination, max_retries: int, backoff_ms: int, log) -> Retrier:
    return store_retrier(destination.describe(), max_retries, backoff_ms, log)


def _has_manifest(staged: StagedExport, destination: Destination) -> bool:
    """Files were staged and the destination keeps them (stdout keeps nothing to list)."""
    return destination.keeps_files and bool(staged.parts)


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


def _remove(export_name: str, names: list[str], destination: Destination, state: StateStore,
            retrier: Retrier, midway: Stage | None = None) -> None:
    """Removed first, forgotten after, manifests before the files they list (a reader never finds a manifest
    whose files are gone): a crash midway is repaired when the scope is exported again, and until then readers take
    only the latest manifest of a partition. `midway` is reached after each removal (where crash tests cut in)."""
    for name in sorted(_contained(export_name, names, "the state store's file manifest"), key=is_manifest_name,
                       reverse=True):
        retrier.call(f"removal of {name}", lambda name=name: destination.remove(name))
        if midway is not None:
            reached(midway)
    state.forget_files(export_name, names)
