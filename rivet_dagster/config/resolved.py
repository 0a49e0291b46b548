"""What the loader works out once per export, so a run neither recomputes nor re-reads it: the effective tuning,
the SQL as written (a `query_file` is read at load, so the asset's description and code version are what runs),
and where its query key stands for errors. Then, per run, the query with its `${KEY}`s bound."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rivet_dagster.config.errors import ConfigError, format_key, line_for
from rivet_dagster.config.query import UnsafeQuery, UserQuery, bind_params, check_read_only
from rivet_dagster.config.tuning import EffectiveTuning, merge_tuning

if TYPE_CHECKING:
    from rivet_dagster.config.models import ExportConfig, RivetConfig, SourceConfig

SECRET_NAME = re.compile(r"(?i)pass|pwd|secret|token|credential|auth|api_?key|private|cert|session|cookie|signature")
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class ResolvedExport:
    tuning: EffectiveTuning
    query_template: str            # `${KEY}`s kept
    query_where: dict              # file, line and key of `query` / `query_file`, for errors about the SQL


def effective_tuning(source: SourceConfig, export: ExportConfig) -> EffectiveTuning:
    """Profile defaults, then the source's values, then the export's."""
    return merge_tuning(source.tuning.model_dump(exclude_none=True) if source.tuning else None,
                        export.tuning.model_dump(exclude_none=True) if export.tuning else None)


def resolve(config: RivetConfig, base_dir: Path, file: str, lines: dict) -> dict[str, ResolvedExport]:
    resolved = {}
    for index, export in enumerate(config.exports):
        key = ("exports", index, "query" if export.query is not None else "query_file")
        resolved[export.name] = ResolvedExport(
            tuning=effective_tuning(config.source, export),
            query_template=export.query if export.query is not None else (base_dir / export.query_file).read_text(),
            query_where={"file": file, "line": line_for(lines, key), "key": format_key(key)})
    return resolved


def bound_query(resolved: ResolvedExport, source_type: str, build_params: Mapping[str, str],
                run_params: Mapping[str, str] | None) -> UserQuery:
    """The SQL a run executes, without a trailing `;` (it is wrapped as a subquery), its `${KEY}`s bound as
    parameters (`config/query.py`) with values from the run's params, then build_definitions' params, then the
    environment. A missing key, a key where its value would become SQL, or a query that is not a SELECT fails
    before any query runs, naming the export's key and line."""
    values = {**os.environ, **build_params, **(run_params or {})}
    template = resolved.query_template.strip().rstrip(";").strip()
    for name in placeholders(template):
        if name not in values:
            raise ConfigError(f"variable '${{{name}}}' is not set (pass it as a run param or set the environment "
                              "variable)", **resolved.query_where)
    try:
        check_read_only(template)
        return bind_params(template, values, source_type)
    except UnsafeQuery as exc:
        raise ConfigError(str(exc), **resolved.query_where) from None


def shown_params(resolved: ResolvedExport, build_params: Mapping[str, str],
                 run_params: Mapping[str, str] | None) -> dict[str, str]:
    """The `${KEY}`s of the query with the values a run gives them, secrets shown as ***."""
    values = {**os.environ, **build_params, **(run_params or {})}
    return {name: "***" if SECRET_NAME.search(name) else values.get(name, "")
            for name in placeholders(resolved.query_template)}


def placeholders(template: str) -> list[str]:
    return list(dict.fromkeys(m.strip() for m in PLACEHOLDER.findall(template)))
