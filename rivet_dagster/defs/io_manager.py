"""The IO manager: the asset returns staged files, the IO manager commits them to the export's destination.
A failed commit fails the step before Dagster stores the materialization, so a materialization always means
committed data, with its manifest.

One class serves every destination type (registered once per type, so the UI shows where an export goes);
the destination itself comes from the export's config, carried by the staged files and, for `load_input`, by
the upstream asset's `rivet/destination` metadata (bucket, prefix, endpoint and the *names* of credential
variables, never a secret)."""

import time

import dagster as dg

from rivet_dagster.commit import protocol
from rivet_dagster.commit.destinations import open_destination
from rivet_dagster.commit.exported import ExportedFiles
from rivet_dagster.config.sections import DestinationConfig
from rivet_dagster.defs.metadata import commit_metadata
from rivet_dagster.notifications.slack import SlackNotifier
from rivet_dagster.staging.staged import StagedExport
from rivet_dagster.state import claims
from rivet_dagster.state.store import StateStore

DESTINATION_METADATA = "rivet/destination"


class ExportIOManager(dg.ConfigurableIOManager):
    """Commits staged files (atomic rename, multipart upload or generation-matched upload), writes each
    materialization's manifest last, then records the files in the state store."""

    state: dg.ResourceDependency[StateStore]
    notifier: dg.ResourceDependency[SlackNotifier]

    def handle_output(self, context: dg.OutputContext, obj: list[StagedExport]) -> None:
        context.add_output_metadata(commit_staged(obj, self.state, self.notifier,
                                                  context.step_context.previous_attempt_count, context.log))

    def load_input(self, context: dg.InputContext) -> ExportedFiles:
        """The upstream export's committed files: its latest run's manifests, or those of the partitions this
        step reads."""
        upstream = context.upstream_output
        export_name = upstream.asset_key.path[-1]
        destination = open_destination(destination_config(upstream.definition_metadata))
        if not destination.keeps_files:
            raise dg.Failure(f"export '{export_name}' writes to {destination.describe()}: there are no files to load")
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else None
        return ExportedFiles.read(export_name, destination, self.state.manifest_uris(export_name, keys))


def commit_staged(staged: list[StagedExport], state: StateStore, notifier: SlackNotifier, step_retries: int,
                  log) -> dict:
    """Commits each staged file set (one per partition in a range run) in the crash matrix's order; the commit's
    metadata. (The IO manager's work, and the step's own for a run that skipped: it materializes nothing.)"""
    started = time.monotonic()
    try:
        destination, schema_changed = protocol.commit(staged, state, log)
    finally:  # committed or failed, the scopes the step claimed are free for the next run at once
        claims.release(staged_set.claim for staged_set in staged)
    seconds = time.monotonic() - started
    notify_committed(notifier, staged, schema_changed, seconds, step_retries, log)
    return commit_metadata(destination, staged, schema_changed, seconds)


def notify_committed(notifier: SlackNotifier, committed: list[StagedExport], schema_changed: bool,
                     commit_seconds: float, step_retries: int, log) -> None:
    """Stage 9, best effort: schema changes and runs that needed retries (inside the step, or of the step
    itself), after everything is recorded."""
    first, rows = committed[0], sum(s.rows for s in committed)
    retries = sum(s.retries + s.source_retries for s in committed) + step_retries
    seconds = commit_seconds + sum(s.extract_seconds for s in committed)
    if schema_changed:
        notifier.notify("schema_change", first.export_name, first.run_id, "success", rows=rows,
                        seconds=seconds, detail="the exported columns changed since the last run", log=log)
    if retries:
        notifier.notify("degraded", first.export_name, first.run_id, "success", rows=rows, seconds=seconds,
                        detail=f"succeeded after {retries} retr{'y' if retries == 1 else 'ies'}", log=log)


def destination_metadata(config: DestinationConfig) -> dg.MetadataValue:
    return dg.MetadataValue.json(config.model_dump(exclude_defaults=True))


def destination_config(metadata) -> DestinationConfig:
    value = metadata[DESTINATION_METADATA]
    return DestinationConfig.model_validate(getattr(value, "data", value))
