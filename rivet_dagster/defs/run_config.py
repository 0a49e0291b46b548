"""The run config of an export's step (shown with the run in the UI)."""

import dagster as dg  # no `from __future__ import annotations`: Dagster reads the field annotations


class ExportRunConfig(dg.Config):
    """Values for the `${KEY}`s of the export's query (before build params and the env)."""
    params: dict[str, str] = {}

    @staticmethod
    def params_of(run: dg.DagsterRun, op_name: str) -> dict[str, str]:
        """The params a run gave the export's op (for steps of the same run, such as its asset checks)."""
        return ((run.run_config.get("ops") or {}).get(op_name, {}).get("config") or {}).get("params") or {}
