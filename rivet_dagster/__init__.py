"""rivet-dagster: crash-safe database exports as Dagster assets, configured by a Rivet-style rivet.yaml."""
from .build import build_definitions
from .config import ConfigError, load_config
from .destinations.exported import ExportedFiles

__all__ = ["ConfigError", "ExportedFiles", "build_definitions", "load_config"]
