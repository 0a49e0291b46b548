"""`run`: execute exports through Dagster on `$DAGSTER_HOME` (each run shows in the UI) and print Rivet's
per-export summary. A chunked export runs all its chunks (`--resume`: only those not completed), a
partitioned time-window export its latest closed window.

Exit codes, as Rivet's: 0 ok, 1 config or generic failure, 2 transient (a source or store error that outlasted
its retries: run again later), 3 data integrity (a quality gate, validate or reconcile failed), 4 schema drift
with `on_schema_drift: fail`. With several exports the highest code wins."""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import dagster as dg

from rivet_dagster.cli.common import STDIN, add_export_argument, config_flags, config_from, named_export, params_from
from rivet_dagster.cli.metrics import seconds
from rivet_dagster.config import RivetConfig
from rivet_dagster.config.resolved import SECRET_NAME
from rivet_dagster.defs.build import build_definitions
from rivet_dagster.defs.names import DefinitionNames
from rivet_dagster.defs.sensors.crashed_runs import release_dead_runs
from rivet_dagster.defs.sensors.failure_alerts import CLI_TAG, post_failure
from rivet_dagster.errors import DRIFT, FAILED, INTEGRITY, OK, exit_code_of, export_message, first_line, rivet_error_of
from rivet_dagster.modes import ModeRefused, mode_of
from rivet_dagster.state.store import StateStore, store_for

INTEGRITY_CHECKS = ("quality", "validate", "reconcile")
JOB_NAME = "rivet_cli_run"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", parents=[config_flags()],
                                   help="run exports through Dagster and print a summary",
                                   description="Materialize exports on $DAGSTER_HOME (so the runs show in the UI).")
    add_export_argument(parser, repeatable=True)
    parser.add_argument("--validate", action="store_true", help="re-read the committed files (the validate check)")
    parser.add_argument("--reconcile", action="store_true", help="count the source over the exported scope")
    parser.add_argument("--resume", action="store_true", help="chunked with chunk_checkpoint: only the chunks not "
                                                              "completed yet")
    parser.add_argument("--parallel-exports", action="store_true",
                        help="run the exports at the same time (as parallel_exports: true)")
    parser.add_argument("--parallel-export-processes", action="store_true",
                        help="run each export in its own process (as parallel_export_processes: true)")
    parser.set_defaults(handler=run_exports)


@dataclass
class Outcome:
    export: str
    run_ids: list[str] = field(default_factory=list)
    code: int = OK
    checks: dict[str, bool] = field(default_factory=dict)
    reconcile: list[tuple[int, int]] = field(default_factory=list)   # (committed, source) per checked run
    error: str | None = None
    hint: str | None = None

    def failed(self, code: int, error: str, hint: str | None = None) -> None:
        if self.error is None:
            self.error, self.hint = error, hint
        self.code = max(self.code, code)


def run_exports(args: argparse.Namespace) -> int:
    config = _asking_checks(config_from(args), args.validate, args.reconcile)
    exports = [named_export(config, name) for name in args.export] or config.exports
    instance = _instance()  # before any child: a new instance's storage is created here, once
    # likewise the state store (created, migrated, in WAL mode: children racing to do that found it locked); one
    # this code cannot use stops every export before anything is read
    state = store_for(config)
    state.check()
    parallel = args.parallel_exports or args.parallel_export_processes or config.parallel_exports or \
        config.parallel_export_processes
    if parallel and len(exports) > 1:
        return _run_in_processes(args, [export.name for export in exports])
    params = params_from(args)
    tags = {CLI_TAG: "run"}
    defs = build_definitions(config)  # the config holds the params
    outcomes = []
    for export in exports:
        outcome = _run_one(config, export, defs, instance, state, params, args.resume, tags, args.debug)
        _print_summary(outcome, state)
        outcomes.append(outcome)
    return max((o.code for o in outcomes), default=OK)


def _asking_checks(config: RivetConfig, validate: bool, reconcile: bool) -> RivetConfig:
    """`--validate` / `--reconcile`: every export asks for the check in these runs (validate where there are files
    to re-read)."""
    exports = [export.model_copy(update={"validate_files": export.validate_files or (
        validate and export.destination.type != "stdout"), "reconcile": export.reconcile or reconcile})
        for export in config.exports]
    return config.model_copy(update={"exports": exports})


def _run_in_processes(args: argparse.Namespace, names: list[str]) -> int:
    """Rivet's parallel exports: one `rivet-dagster run -e <export>` child per export, all at once (Dagster's
    in-process execution is one run per process). Each child prints its own summary; the highest code wins."""
    argv = [sys.executable, "-m", "rivet_dagster.cli.main", *(["--debug"] if args.debug else []), "run",
            "-c", args.config, *(f"--param={p}" for p in args.param),
            *(flag for flag, on in (("--validate", args.validate), ("--reconcile", args.reconcile),
                                    ("--resume", args.resume)) if on)]
    stdin = args.config_text if args.config == STDIN else None

    def child(name: str) -> int:
        return subprocess.run([*argv, "-e", name], input=stdin, text=True).returncode

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        return max(pool.map(child, names))


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


def _export_job(config, defs: dg.Definitions, export, debug: bool) -> dg.JobDefinition:
    """The export and its checks as one in-process job; without --debug its log is one line per message."""
    key = config.asset_key(export)
    selection = dg.AssetSelection.assets(key) | dg.AssetSelection.checks_for_assets(key)
    job_defs = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, resources=defs.resources,
                              jobs=[dg.define_asset_job(JOB_NAME, selection=selection,
                                                        partitions_def=mode_of(export).partitions(config, export))],
                              loggers=None if debug else {"console": _brief_console})
    return job_defs.resolve_job_def(JOB_NAME)


def _partition_keys(config, export, instance, state, resume: bool, outcome: Outcome
                    ) -> list[str | dg.PartitionKeyRange | None]:
    """What one `run` of the export covers, one run per item, as its mode says (the planned chunks as one range,
    the latest closed window, the whole export); nothing when the mode refuses (`--resume` with nothing to
    resume)."""
    try:
        return mode_of(export).run_keys(config, export, instance, state, resume)
    except ModeRefused as exc:
        outcome.failed(FAILED, str(exc))
        return []


def _run_one(config, export, defs, instance, state, params, resume, tags, debug) -> Outcome:
    outcome = Outcome(export.name)
    release_dead_runs(config, [export], state, instance)  # a killed run's pool slot would hold this one forever
    keys = _partition_keys(config, export, instance, state, resume, outcome)
    job = _export_job(config, defs, export, debug)
    # The run config is stored with the run and shown in the UI: secret-looking params stay in this process
    # (the config holds every --param already).
    shown = {key: value for key, value in params.items() if not SECRET_NAME.search(key)}
    for key in keys:
        ranged = {RANGE_START: key.start, RANGE_END: key.end} if isinstance(key, dg.PartitionKeyRange) else {}
        run_config = {"ops": {config.definition_name(export): {"config": {"params": shown}}},
                      "loggers": {"console": {}}}
        result = job.execute_in_process(instance=instance, partition_key=None if ranged else key,
                                        raise_on_error=False, tags={**tags, **ranged}, run_config=run_config)
        outcome.run_ids.append(result.run_id)
        for evaluation in result.get_asset_check_evaluations():
            outcome.checks[evaluation.check_name] = outcome.checks.get(evaluation.check_name, True) and \
                evaluation.passed
            if evaluation.check_name == "reconcile" and "source_rows" in evaluation.metadata:
                outcome.reconcile.append((evaluation.metadata["committed_rows"].value,
                                          evaluation.metadata["source_rows"].value))
        if not result.success:
            failures = result.get_step_failure_events()
            error = failures[0].event_specific_data if failures else None
            message = export_message(error.error) if error and error.error else "the run failed"
            # what the failure sensor does for the runs a daemon sees
            post_failure(defs.resources[DefinitionNames.of(config).notifier], instance, result.run_id, export.name,
                         message)
            known = rivet_error_of(error.error) if error and error.error else None
            outcome.failed(_failure_code(error), message, known.hint if known is not None else None)
    if any(not outcome.checks.get(name, True) for name in INTEGRITY_CHECKS):
        outcome.code = max(outcome.code, INTEGRITY)
    return outcome


def _failure_code(failure) -> int:
    """The code of the failed step's `RivetError` (a transient error that outlasted its retries: 2, schema drift
    with on_schema_drift: fail: 4, ...), else 1."""
    return exit_code_of(failure.error) if failure is not None and failure.error else FAILED


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
             ("quality", check("quality")), ("validated", check("validate")),
             ("reconcile", _reconcile_line(outcome)),
             ("schema", "DRIFT" if outcome.code == DRIFT else
              "changed" if any(m["schema_changed"] for m in metrics) else "unchanged")]
    if outcome.error:
        lines.append(("error", first_line(outcome.error)))
    if outcome.hint:
        lines.append(("hint", outcome.hint))
    # One write on standard error (standard output may carry a stdout export), so parallel exports' summaries
    # do not interleave.
    sys.stderr.write(f"Export: {outcome.export}\n" + "".join(f"  {label + ':':<11}{value}\n" for label, value in lines))
    sys.stderr.flush()


def _reconcile_line(outcome: Outcome) -> str:
    """Rivet's words, which scripts grep: `MATCH (<rows>/<source>)` or `MISMATCH (exported X vs source Y)`."""
    if "reconcile" not in outcome.checks:
        return "-"
    committed, source = (sum(pair[i] for pair in outcome.reconcile) for i in (0, 1))
    if outcome.checks["reconcile"]:
        return f"MATCH ({committed}/{source})"
    return f"MISMATCH (exported {committed} vs source {source})"


def _instance() -> dg.DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    print("note: DAGSTER_HOME is not set; the runs are not kept (set it to see them in the Dagster UI)",
          file=sys.stderr)
    return dg.DagsterInstance.ephemeral()
