"""The asset factory: the translator's spec, and a body that recovers what crashed runs left, claims and stages
each partition of the run, and runs the gates that must stop a commit. The IO manager commits what it returns; a
mode whose runs work through many chunks commits each one in the step (`chunk_step.py`)."""

import time  # no `from __future__ import annotations`: Dagster reads the run config's annotation at definition

import dagster as dg

from rivet_dagster.commit import protocol
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.defs.chunk_step import export_chunks
from rivet_dagster.defs.gates import quality_gate, schema_drift_gate
from rivet_dagster.defs.io_manager import commit_staged
from rivet_dagster.defs.metadata import staged_metadata
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.defs.run_config import ExportRunConfig
from rivet_dagster.defs.sensors.crashed_runs import still_working
from rivet_dagster.defs.source_sessions import hold_sessions
from rivet_dagster.defs.translator import check_specs_for, policies_for, spec_for
from rivet_dagster.modes import mode_of
from rivet_dagster.source.errors import source_retrier
from rivet_dagster.staging.step import stage_export
from rivet_dagster.state import claims


def build_export_asset(config: RivetConfig, export: ExportConfig, names: DefinitionNames) -> dg.AssetsDefinition:
    mode, policies, spec = mode_of(export), policies_for(config, export, names), spec_for(config, export, names)
    rivet = config  # `config` is the run config inside the asset (Dagster's name for it)
    resources = {names.source, names.state, names.notifier}

    # A step that commits itself may run its checks alone (the Checks tab), hence subsettable.
    @dg.multi_asset(name=rivet.definition_name(export), specs=[spec], check_specs=check_specs_for(config, export),
                    required_resource_keys=resources, pool=policies.pool, can_subset=mode.commits_in_step,
                    backfill_policy=policies.backfill_policy)
    def export_asset(context: dg.AssetExecutionContext, config: ExportRunConfig):
        """Stages one file set per partition of the run (a range run covers several windows)."""
        if mode.commits_in_step:
            yield from export_chunks(context, rivet, export, names, config.params)
            return
        keys = context.partition_keys if spec.partitions_def is not None else [None]
        state, source = getattr(context.resources, names.state), getattr(context.resources, names.source)
        state.check()  # a store this code cannot use stops the run before the source is read
        sessions = hold_sessions(context, names, 1, export.name)
        staged, held, key, started, retrier, run_dir = [], {}, keys[0], time.monotonic(), None, None
        try:
            query = rivet.query_for(export, config.params)  # a ${KEY} nothing fills fails before anything else
            working = still_working(context.instance, context.log)
            run_dir = protocol.recover(rivet, export, state, context.run.run_id, working, context.log, mode.claims)
            if mode.claims:  # the IO manager commits the run's partitions together: all of them, or none
                held, refused = claims.take(state, export.name, keys, context.run.run_id, working)
                if refused:
                    raise next(iter(refused.values()))
            for key in keys:
                started = time.monotonic()
                retrier = source_retrier(rivet.tuning_for(export), context.log, source)
                staged.append(retrier.call(f"{export.name}: the export", lambda key=key: stage_export(
                    rivet, export, source, context.run.run_id, context.log, run_dir, query,
                    lambda columns: mode.scope(export, source, state, query, columns, context.log, key), key)))
                staged[-1].source_retries = retrier.retries
                staged[-1].claim = held.get(claims.CURSOR_SCOPE if key is None else key)
                context.log.info(staged[-1].summary())
            # Gates that must stop the commit run here, before the IO manager sees the staged files.
            drift = schema_drift_gate(export, state, staged, context.log)
            if export.quality is not None:
                yield from quality_gate(export, [s.quality for s in staged], keys)
        except BaseException as exc:
            claims.release(held.values())  # nothing will be committed (else the IO manager releases them)
            if run_dir is not None:
                protocol.abandon(run_dir)
            protocol.record_failure(state, export.name, context.run.run_id, export.mode, export.format,
                                    rivet.tuning_for(export).profile_label, time.monotonic() - started, exc, key,
                                    retrier.retries if retrier is not None else 0)
            raise
        finally:
            sessions.release()
        metadata = staged_metadata(rivet, export, config.params, staged, drift)
        if all(s.status == "skipped" for s in staged):
            # nothing new (skip_empty, or an incremental run with no new rows): its bookkeeping is committed
            # here, and the asset records a skip, not an empty materialization
            notifier = getattr(context.resources, names.notifier)
            metadata |= commit_staged(staged, state, notifier, context.retry_number, context.log)
            context.log.info(f"{export.name}: skipped, nothing to export")
            skip = {name: value for name, value in metadata.items() if name.startswith("rivet/")}
            for staged_set in staged:
                yield dg.AssetObservation(asset_key=spec.key, partition=staged_set.partition_key, metadata=skip)
            return
        yield dg.Output(staged, output_name=rivet.definition_name(export), metadata=metadata)

    return export_asset
