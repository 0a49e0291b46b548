"""The code location Dagster loads: the exports of $RIVET_CONFIG (default ./rivet.yaml)."""
import os

from rivet_dagster.defs.build import build_definitions

defs = build_definitions(os.environ.get("RIVET_CONFIG", "rivet.yaml"))
