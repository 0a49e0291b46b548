"""`run`: execute exports through Dagster on `$DAGSTER_HOME` (each run shows in the UI) and print Rivet's
per-export summary. A chunked export runs all its chunks (`--resume`: only those not completed), a
partitioned time-window export its latest closed window.

Exit codes, as Rivet: 0 ok, 1 failure, 3 integrity (a quality, validate or reconcile check failed),
4 schema drift with `on_schema_drift: fail`."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass, field

import dagster as dg

from ..assets.chunks import register_plan
from ..assets.partitions import partitions_for
from ..build import build_definitions
from ..checks.asset_checks import RECONCILE_TAG, VALIDATE_TAG
from ..config import load_config
from ..config.models import SECRET_NAME
from ..errors import export_message, first_line
from ..resource_keys import DefinitionNames
from ..sensors.failure_alerts import CLI_TAG, post_failure
from ..source.engines import SourceDatabase
from ..state.store import StateStore
from .common import add_config_argument, add_param_argument, named_export, params_from, state_path
from .metrics import seconds

OK, FAILED, INTEGRITY, DRIFT = 0, 1, 3, 4
INTEGRITY_CHECKS = ("quality", "validate", "reconcile")
JOB_NAME = "rivet_cli_run"


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="run exports through Dagster and print a summary",
                                   description="Materialize exports on $DAGSTER_HOME (so the runs show in the UI).")
    add_config_argument(parser)
    parser.add_argument("--export", action="append", default=[], metavar="NAME", help="only this export (repeatable)")
    parser.add_argument("--validate", action="store_true", help="re-read the committed files (the validate check)")
    parser.add_argument("--reconcile", action="store_true", help="count the source over the exported scope")
    parser.add_argument("--resume", action="store_true", help="chunked: only chunks not completed yet")
    add_param_argument(parser)
    parser.set_defaults(handler=run_exports)


@dataclass
class Outcome:
    export: str
    run_ids: list[str] = field(default_factory=list)
    code: int = OK
    checks: dict[str, bool] = field(default_factory=dict)
    error: str | None = None


def run_exports(args: argparse.Namespace) -> int:
    params = params_from(args)
    config = load_config(args.config, params)
    exports = [named_export(config, name) for name in args.export] or config.exports
    tags = {CLI_TAG: "run", **({VALIDATE_TAG: "true"} if args.validate else {}),
            **({RECONCILE_TAG: "true"} if args.reconcile else {})}
    defs = build_definitions(config)  # the config holds the params
    instance = _instance()
    state = StateStore(path=str(state_path(config)))
    outcomes = [_run_one(config, export, defs, instance, state, params, args.resume, tags, args.debug)
                for export in exports]
    for outcome in outcomes:
        _print_summary(outcome, state)
    return max((o.code for o in outcomes), default=OK)


class _BriefFormatter(logging.Formatter):
    """`HH:MM:SS LEVEL step: message`, one line each; a failed step adds its error's first line."""

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", {})
        message = first_line(meta.get("orig_message") or record.getMessage())
        event = meta.get("dagster_event")
        error = getattr(event.event_specific_data, "error", None) if event is not None else None
        if error is not None and event.is_step_failure:
            message += f" {first_line(export_message(error))}"
        step = meta.get("step_key") or "run"
        return f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {step}: {message}"


@dg.logger(description="one line per message, INFO and above, on standard error (`run` without --debug)")
def _brief_console(_init_context) -> logging.Logger:
    logger = logging.Logger("rivet-dagster", level=logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_BriefFormatter())
    logger.addHandler(handler)
    return logger


def _export_job(defs: dg.Definitions, export, debug: bool) -> dg.JobDefinition:
    """The export and its checks as one in-process job; without --debug its log is one line per message."""
    selection = dg.AssetSelection.assets(export.name) | dg.AssetSelection.checks_for_assets(export.name)
    job_defs = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, resources=defs.resources,
                              jobs=[dg.define_asset_job(JOB_NAME, selection=selection,
                                                        partitions_def=partitions_for(export))],
                              loggers=None if debug else {"console": _brief_console})
    return job_defs.resolve_job_def(JOB_NAME)


def _run_one(config, export, defs, instance, state, params, resume, tags, debug) -> Outcome:
    outcome = Outcome(export.name)
    partitions = partitions_for(export)
    if export.mode == "chunked":
        register_plan(instance, config, export, SourceDatabase(config.source, config.base_dir), state)
        done = {t["chunk_key"] for t in state.chunk_tasks(export.name) if t["status"] == "completed"}
        keys = [k for k in instance.get_dynamic_partitions(partitions.name) if not (resume and k in done)]
    elif isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        keys = [partitions.get_last_partition_key()]
    else:
        keys = [None]
    job = _export_job(defs, export, debug)
    # The run config is stored with the run and shown in the UI: secret-looking params stay in this process
    # (the config holds every --param already).
    shown = {key: value for key, value in params.items() if not SECRET_NAME.search(key)}
    for key in keys:
        result = job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False, tags=tags,
                                        run_config={"ops": {export.name: {"config": {"params": shown}}},
                                                    "loggers": {"console": {}}})
        outcome.run_ids.append(result.run_id)
        for evaluation in result.get_asset_check_evaluations():
            outcome.checks[evaluation.check_name] = outcome.checks.get(evaluation.check_name, True) and \
                evaluation.passed
        if not result.success:
            failures = result.get_step_failure_events()
            outcome.error = export_message(failures[0].event_specific_data.error) if failures else "the run failed"
            # what the failure sensor does for the runs a daemon sees
            post_failure(defs.resources[DefinitionNames.of(config).notifier], instance, result.run_id, export.name, outcome.error)
            outcome.code = max(outcome.code, DRIFT if "on_schema_drift: fail" in outcome.error else FAILED)
    if any(not outcome.checks.get(name, True) for name in INTEGRITY_CHECKS):
        outcome.code = max(outcome.code, INTEGRITY) if outcome.code != DRIFT else DRIFT
    return outcome


def _print_summary(outcome: Outcome, state: StateStore) -> None:
    metrics = [m for m in state.metrics(outcome.export, last=10_000) if m["run_id"] in outcome.run_ids]
    status = "success" if outcome.code == OK else "failed"
    if metrics and outcome.code == OK and all(m["status"] == "skipped" for m in metrics):
        status = "skipped"

    def check(name: str) -> str:
        return "-" if name not in outcome.checks else ("pass" if outcome.checks[name] else "FAIL")

    lines = [("run", ", ".join(r[:8] for r in outcome.run_ids)), ("status", status),
             ("rows", f"{sum(m['total_rows'] for m in metrics):,}"),
             ("files", sum(m["files_produced"] for m in metrics)),
             ("bytes", f"{sum(m['bytes_written'] for m in metrics):,}"),
             ("duration", seconds(sum(m["duration_ms"] for m in metrics))),
             ("peak RSS", f"{max((m['peak_rss_mb'] or 0 for m in metrics), default=0)} MB"),
             ("quality", check("quality")), ("validated", check("validate")), ("reconcile", check("reconcile")),
             ("schema", "DRIFT" if outcome.code == DRIFT else
              "changed" if any(m["schema_changed"] for m in metrics) else "unchanged")]
    print(f"Export: {outcome.export}", file=sys.stderr)  # as Rivet: standard output may carry a stdout export
    for label, value in lines:
        print(f"  {label + ':':<11}{value}", file=sys.stderr)
    if outcome.error:
        print(f"  {'error:':<11}{first_line(outcome.error)}", file=sys.stderr)


def _instance() -> dg.DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    print("note: DAGSTER_HOME is not set; the runs are not kept (set it to see them in the Dagster UI)",
          file=sys.stderr)
    return dg.DagsterInstance.ephemeral()
