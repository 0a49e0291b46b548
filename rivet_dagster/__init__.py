"""rivet-dagster: crash-safe database exports as Dagster assets, configured by a Rivet-style rivet.yaml."""
from rivet_dagster.defs.build import build_definitions
from rivet_dagster.config import ConfigError, load_config
from rivet_dagster.commit.exported import ExportedFiles

__all__ = ["ConfigError", "ExportedFiles", "build_definitions", "load_config"]
