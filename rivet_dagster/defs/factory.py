"""One Dagster asset per export: key = export name, group = the source, kinds = engine + format,
description = the query, code version = a hash of the export's config."""

import hashlib
import re
import time
from pathlib import Path

import dagster as dg
from sqlalchemy.engine import make_url

from rivet_dagster.staging.drift import describe as describe_drift, schema_drift
from rivet_dagster.staging.quality import combined
from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.commit.destinations import open_destination
from rivet_dagster.staging import folders as staging
from rivet_dagster.defs.io_manager import DESTINATION_METADATA, destination_metadata
from rivet_dagster.commit.protocol import clean_up_interrupted, record_failure
from rivet_dagster.commit.destinations.retry import store_retrier
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.defs.sensors import crashed_runs
from rivet_dagster.source.errors import source_retrier
from rivet_dagster.staging.step import stage_export
from rivet_dagster.modes.chunk_plan import pool_name
from rivet_dagster.modes.partitions import backfill_policy_for, partitions_for

QUALITY_CHECK = "quality"
SOURCE_TAG = "rivet/source"  # on every export asset, and on the runs the project launches (jobs, schedules, sensors)


def source_group(config: RivetConfig) -> str:
    """`<type>_<database>` from what the config states (an env var or file URL is not read for a label)."""
    source = config.source
    database = source.database
    if source.url:
        try:
            database = make_url(source.url).database
        except Exception:
            database = None
    name = Path(database).stem if database else ""
    return re.sub(r"\W", "_", f"{source.type}_{name}" if name else source.type)


def code_version(config: RivetConfig, export: ExportConfig) -> str:
    spec = f"{config.source.type}\x1f{config.query_template(export)}\x1f{export.model_dump_json()}"
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def pool_for(config: RivetConfig, export: ExportConfig) -> str:
    """The source's pool (a chunked export: its own, sized to `parallel` by its planner)."""
    return pool_name(export) if export.mode == "chunked" else f"rivet_{source_group(config)}"


class ExportRunConfig(dg.Config):
    """Run config of an export: values for the `${KEY}`s of its query (before build params and the env)."""
    params: dict[str, str] = {}

    @staticmethod
    def params_of(run: dg.DagsterRun, export_name: str) -> dict[str, str]:
        """The params a run gave the export (for steps of the same run, such as its asset checks)."""
        return ((run.run_config.get("ops") or {}).get(export_name, {}).get("config") or {}).get("params") or {}


def build_export_asset(config: RivetConfig, export: ExportConfig, names: DefinitionNames) -> dg.AssetsDefinition:
    group = source_group(config)
    partitions = partitions_for(export)
    rivet = config  # `config` is the run config inside the asset (Dagster's name for it)

    @dg.asset(
        name=export.name,
        group_name=group,
        kinds={config.source.type, export.format},
        description=f"```sql\n{config.query_template(export).strip()}\n```",
        code_version=code_version(config, export),
        io_manager_key=names.io_manager(export.destination.type),
        required_resource_keys={names.source, names.state},
        tags={SOURCE_TAG: group},
        pool=pool_for(config, export),
        partitions_def=partitions,
        backfill_policy=backfill_policy_for(export),
        retry_policy=_retry_policy(config, export),
        metadata={"rivet/mode": export.mode, "rivet/format": export.format,
                  DESTINATION_METADATA: destination_metadata(export.destination)},
        check_specs=[dg.AssetCheckSpec(QUALITY_CHECK, asset=export.name, blocking=True,
                                       description="The quality: gates, judged on the staged data before the "
                                                   "commit")] if export.quality else None,
    )
    def export_asset(context: dg.AssetExecutionContext, config: ExportRunConfig):
        """Stages one file set per partition of the run (a range run covers several windows)."""
        keys = context.partition_keys if partitions is not None else [None]
        state, source = getattr(context.resources, names.state), getattr(context.resources, names.source)
        state.check()  # a store this code cannot use stops the run before the source is read
        checkpoint = export.mode == "chunked" and export.chunk_checkpoint
        staged, key, started, retrier, run_dir = [], keys[0], time.monotonic(), None, None
        try:
            query = rivet.query_for(export, config.params)  # a ${KEY} nothing fills fails before anything else
            run_dir = _prepare(rivet, export, state, context)
            for key in keys:
                started = time.monotonic()
                if checkpoint:
                    state.chunk_started(export.name, key)
                retrier = source_retrier(rivet.tuning_for(export), context.log, source)
                staged.append(retrier.call(f"{export.name}: the export", lambda key=key: stage_export(
                    rivet, export, source, state, context.run.run_id, context.log, run_dir, query,
                    partition_key=key,
                    time_window=partitions.time_window_for_partition_key(key)
                    if isinstance(partitions, dg.TimeWindowPartitionsDefinition) else None)))
                staged[-1].source_retries = retrier.retries
            # Gates that must stop the commit run here, before the IO manager sees the staged files.
            drift = _schema_drift(export, state, staged, context.log)
            if export.quality is not None:
                quality = combined([s.quality for s in staged], keys)
                yield dg.AssetCheckResult(check_name=QUALITY_CHECK, passed=quality.passed, metadata=quality.metadata,
                                          description="; ".join(quality.failures) or None)
                if not quality.passed:
                    raise dg.Failure(f"{export.name}: quality gate failed, nothing was committed: "
                                     + "; ".join(quality.failures), metadata=quality.metadata)
        except BaseException as exc:
            if run_dir is not None:  # nothing staged is worth keeping when nothing will be committed
                staging.remove(run_dir)
            if checkpoint:
                state.chunk_failed(export.name, key, f"{type(exc).__name__}: {exc}")
            record_failure(state, export.name, context.run.run_id, export.mode, export.format,
                           rivet.tuning_for(export).profile_label, time.monotonic() - started, exc, key,
                           retrier.retries if retrier is not None else 0)
            raise
        rows, seconds = sum(s.rows for s in staged), sum(s.extract_seconds for s in staged)
        yield dg.Output(staged, metadata={
            "dagster/row_count": rows,
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(f.name, str(f.type)) for f in staged[0].schema]),
            "status": "success" if any(s.status == "success" for s in staged) else staged[0].status,
            "bytes": sum(s.bytes for s in staged),
            "extract_seconds": round(seconds, 3),
            "rows_per_second": round(rows / max(seconds, 1e-9)),
            "peak_rss_mb": max(s.peak_rss_mb for s in staged),
            "tuning_profile": staged[0].tuning_profile,
            "source_retries": sum(s.source_retries for s in staged),
            **({"rivet/params": dg.MetadataValue.json(params)}
               if (params := rivet.params_used(export, config.params)) else {}),
            **({"schema_drift": dg.MetadataValue.json(drift)} if drift else {}),
        })

    return export_asset


def _schema_drift(export: ExportConfig, state, staged: list, log) -> dict | None:
    """This run's columns against the last committed ones: logged and returned; with `on_schema_drift: fail`,
    the run stops here, before anything is committed."""
    with_rows = [s for s in staged if s.rows]
    if not with_rows:
        return None
    drift = schema_drift(state.last_schema(export.name), with_rows[0].schema_columns())
    if drift is None:
        return None
    message = f"{export.name}: the schema changed since the last committed run ({describe_drift(drift)})"
    if export.on_schema_drift == "fail":
        raise dg.Failure(f"{message}; on_schema_drift: fail, nothing was committed",
                         metadata={"schema_drift": dg.MetadataValue.json(drift)})
    log.warning(message)
    return drift


def _prepare(config: RivetConfig, export: ExportConfig, state, context: dg.AssetExecutionContext):
    """Before reading: check the destination's credentials, clean up after crashed runs of this export (their
    staging folders, and commits they left without a manifest), and open this run's staging folder."""
    still_working = crashed_runs.still_working(context.instance, context.log)
    destination = open_destination(export.destination)
    tuning = config.tuning_for(export)
    retrier = store_retrier(destination.describe(), tuning.max_retries, tuning.retry_backoff_ms, context.log)
    retrier.call("preflight", destination.preflight)
    root = staging.staging_root(config, export)
    staging.sweep(root, export.name, still_working)
    clean_up_interrupted(export.name, destination, state, still_working, retrier, context.log)
    return staging.run_dir(root, export.name, context.run.run_id)


def _retry_policy(config: RivetConfig, export: ExportConfig) -> dg.RetryPolicy | None:
    """Chunks: `chunk_max_attempts` (default max_retries + 1) attempts, backing off from retry_backoff_ms."""
    if export.mode != "chunked":
        return None
    tuning = config.tuning_for(export)
    attempts = export.chunk_max_attempts or tuning.max_retries + 1
    if attempts <= 1:
        return None
    return dg.RetryPolicy(max_retries=attempts - 1, delay=tuning.retry_backoff_ms / 1000, backoff=dg.Backoff.EXPONENTIAL)
