"""`RivetExports`: a rivet.yaml as a dg Component (`defs/<name>/defs.yaml`), a thin wrapper over
`build_definitions`, so tests, the CLI and `$RIVET_CONFIG` never depend on dg. Several configs are several
component instances in one code location."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import BaseModel

from rivet_dagster.config.asset_settings import AssetSettings
from rivet_dagster.defs.build import build_definitions

STARTER_CONFIG = """\
# A starter rivet.yaml (Rivet's keys): one source, one export per table or query.
# The source URL is read from an environment variable, so no secret is written here or shown in the UI.
source:
  type: postgres            # postgres | mysql | sqlite
  url_env: DATABASE_URL

exports:
  - name: orders
    query: SELECT * FROM orders
    mode: full              # full | incremental | chunked | time_window
    format: parquet
    destination: {type: local, path: ./exports}
"""


class ScaffoldParams(BaseModel):
    config_path: str = "rivet.yaml"


class RivetExportsScaffolder(dg.Scaffolder[ScaffoldParams]):
    """`dg scaffold defs rivet_dagster.RivetExports <name> [--config-path ../rivet.yaml]`: defs.yaml naming the
    config, and a starter config beside it where none exists yet."""

    @classmethod
    def get_scaffold_params(cls) -> type[ScaffoldParams]:
        return ScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[ScaffoldParams]) -> None:
        dg.scaffold_component(request, {"config_path": request.params.config_path})
        config = Path(request.target_path) / request.params.config_path
        if not config.exists():
            config.write_text(STARTER_CONFIG)


@dg.scaffold_with(RivetExportsScaffolder)
class RivetExports(dg.Component, dg.Model, dg.Resolvable):
    """The exports of a rivet.yaml: one asset per export, with its checks, sensors and automation.

    `config_path` is relative to this defs.yaml's folder; `translation` takes the config's `dagster:` keys
    (key_prefix, group_name, owners, tags, kinds, automation_condition, freshness_policy) for every export, over
    the config's own; an export's `dagster:` block still wins."""

    config_path: str
    params: dict[str, str] = {}
    name: str | None = None
    translation: dict[str, Any] | None = None

    @classmethod
    def get_spec(cls) -> dg.ComponentTypeSpec:
        return dg.ComponentTypeSpec(description="Crash-safe database exports from a Rivet rivet.yaml",
                                    owners=[], tags=["rivet", "export"])

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        translation = AssetSettings(**self.translation) if self.translation else None
        return build_definitions(Path(context.path) / self.config_path, params=self.params, name=self.name,
                                 translation=translation)
