"""The code location `dagster` and `dg` load. `$RIVET_CONFIG` (else `./rivet.yaml`, as in Rivet) names one config.
Without either, a source checkout loads this repository's dg project: its defs folder, whose `RivetExports`
components name their configs."""
import os
from pathlib import Path

import dagster as dg

from rivet_dagster.defs.build import build_definitions

PROJECT_ROOT = Path(__file__).parents[1]


@dg.definitions
def defs() -> dg.Definitions:
    config = os.environ.get("RIVET_CONFIG")
    if config is None and not Path("rivet.yaml").exists() and (PROJECT_ROOT / "pyproject.toml").exists():
        return dg.load_from_defs_folder(project_root=PROJECT_ROOT)
    return build_definitions(config or "rivet.yaml")
