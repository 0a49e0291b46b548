"""The asset factory: the translator's spec, and a body that recovers what crashed runs left, stages each
partition of the run, and runs the gates that must stop a commit. The IO manager commits what it returns."""

import time  # no `from __future__ import annotations`: Dagster reads the run config's annotation at definition

import dagster as dg

from rivet_dagster.commit import protocol
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.defs.sensors.crashed_runs import still_working
from rivet_dagster.defs.translator import QUALITY_CHECK, check_specs_for, policies_for, spec_for
from rivet_dagster.errors import IntegrityError, SchemaDriftError
from rivet_dagster.modes import mode_of
from rivet_dagster.source.errors import source_retrier
from rivet_dagster.staging.drift import describe as describe_drift, schema_drift
from rivet_dagster.staging.quality import combined
from rivet_dagster.staging.staged import StagedExport
from rivet_dagster.staging.step import stage_export


class ExportRunConfig(dg.Config):
    """Run config of an export: values for the `${KEY}`s of its query (before build params and the env)."""
    params: dict[str, str] = {}

    @staticmethod
    def params_of(run: dg.DagsterRun, export_name: str) -> dict[str, str]:
        """The params a run gave the export (for steps of the same run, such as its asset checks)."""
        return ((run.run_config.get("ops") or {}).get(export_name, {}).get("config") or {}).get("params") or {}


def build_export_asset(config: RivetConfig, export: ExportConfig, names: DefinitionNames) -> dg.AssetsDefinition:
    mode, policies, spec = mode_of(export), policies_for(config, export, names), spec_for(config, export, names)
    rivet = config  # `config` is the run config inside the asset (Dagster's name for it)

    @dg.multi_asset(name=export.name, specs=[spec], check_specs=check_specs_for(export),
                    required_resource_keys={names.source, names.state}, pool=policies.pool,
                    retry_policy=policies.retry_policy, backfill_policy=policies.backfill_policy)
    def export_asset(context: dg.AssetExecutionContext, config: ExportRunConfig):
        """Stages one file set per partition of the run (a range run covers several windows)."""
        keys = context.partition_keys if spec.partitions_def is not None else [None]
        state, source = getattr(context.resources, names.state), getattr(context.resources, names.source)
        state.check()  # a store this code cannot use stops the run before the source is read
        checkpoint = mode.checkpoints(export)
        staged, key, started, retrier, run_dir = [], keys[0], time.monotonic(), None, None
        try:
            query = rivet.query_for(export, config.params)  # a ${KEY} nothing fills fails before anything else
            working = still_working(context.instance, context.log)
            run_dir = protocol.recover(rivet, export, state, context.run.run_id, working, context.log)
            for key in keys:
                started = time.monotonic()
                if checkpoint:
                    state.chunk_started(export.name, key)
                retrier = source_retrier(rivet.tuning_for(export), context.log, source)
                staged.append(retrier.call(f"{export.name}: the export", lambda key=key: stage_export(
                    rivet, export, source, context.run.run_id, context.log, run_dir, query,
                    lambda columns: mode.scope(export, source, state, query, columns, context.log, key), key)))
                staged[-1].source_retries = retrier.retries
            # Gates that must stop the commit run here, before the IO manager sees the staged files.
            drift = _schema_drift(export, state, staged, context.log)
            if export.quality is not None:
                quality = combined([s.quality for s in staged], keys)
                yield dg.AssetCheckResult(check_name=QUALITY_CHECK, passed=quality.passed, metadata=quality.metadata,
                                          description="; ".join(quality.failures) or None)
                if not quality.passed:
                    message = f"{export.name}: quality gate failed, nothing was committed: " + "; ".join(
                        quality.failures)
                    raise dg.Failure(message, metadata=quality.metadata) from IntegrityError(message)
        except BaseException as exc:
            if run_dir is not None:
                protocol.abandon(run_dir)
            if checkpoint:
                state.chunk_failed(export.name, key, f"{type(exc).__name__}: {exc}")
            protocol.record_failure(state, export.name, context.run.run_id, export.mode, export.format,
                                    rivet.tuning_for(export).profile_label, time.monotonic() - started, exc, key,
                                    retrier.retries if retrier is not None else 0)
            raise
        yield dg.Output(staged, output_name=export.name, metadata=_output_metadata(rivet, export, config, staged,
                                                                                   drift))

    return export_asset


def _output_metadata(config: RivetConfig, export: ExportConfig, run_config: ExportRunConfig,
                     staged: list[StagedExport], drift: dict | None) -> dict:
    rows, seconds = sum(s.rows for s in staged), sum(s.extract_seconds for s in staged)
    params = config.params_used(export, run_config.params)
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(f.name, str(f.type))
                                                         for f in staged[0].schema]),
        "status": "success" if any(s.status == "success" for s in staged) else staged[0].status,
        "bytes": sum(s.bytes for s in staged),
        "extract_seconds": round(seconds, 3),
        "rows_per_second": round(rows / max(seconds, 1e-9)),
        "peak_rss_mb": max(s.peak_rss_mb for s in staged),
        "tuning_profile": staged[0].tuning_profile,
        "source_retries": sum(s.source_retries for s in staged),
        **({"rivet/params": dg.MetadataValue.json(params)} if params else {}),
        **({"schema_drift": dg.MetadataValue.json(drift)} if drift else {}),
    }


def _schema_drift(export: ExportConfig, state, staged: list[StagedExport], log) -> dict | None:
    """This run's columns against the last committed ones: logged and returned; with `on_schema_drift: fail`,
    the run stops here, before anything is committed."""
    with_rows = [s for s in staged if s.rows]
    if not with_rows:
        return None
    # as Rivet: a change is a column added, removed or retyped (order ignored)
    drift = schema_drift(state.last_schema(export.name), with_rows[0].schema_columns())
    if drift is None:
        return None
    for staged_set in with_rows:  # what the commit records, and notifies as schema_change
        staged_set.schema_drift = drift
    message = f"{export.name}: the schema changed since the last committed run ({describe_drift(drift)})"
    if export.on_schema_drift == "fail":
        message += "; on_schema_drift: fail, nothing was committed"
        raise dg.Failure(message, metadata={"schema_drift": dg.MetadataValue.json(drift)}) \
            from SchemaDriftError(message)
    log.warning(message)
    return drift
