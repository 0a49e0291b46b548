"""rivet-dagster: crash-safe database exports as Dagster assets, configured by a Rivet-style rivet.yaml.

The public API (what the README uses); everything else is internal and may move."""
from rivet_dagster.allocators import configure_allocators
from rivet_dagster.process_exit import skip_the_last_collection

configure_allocators()  # first, before anything below imports pyarrow
skip_the_last_collection()

from rivet_dagster.commit.exported import ExportedFiles
from rivet_dagster.config import ConfigError, RivetConfig, load_config
from rivet_dagster.defs.build import build_definitions
from rivet_dagster.defs.component import RivetExports
from rivet_dagster.defs.translator import spec_for
from rivet_dagster.errors import RivetError
from rivet_dagster.modes import mode_of
from rivet_dagster.modes.chunk_plan import register_plan, reset_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.state.store import StateStore

__all__ = ["ConfigError", "ExportedFiles", "RivetConfig", "RivetError", "RivetExports", "SourceDatabase",
           "StateStore", "build_definitions", "load_config", "mode_of", "register_plan", "reset_plan", "spec_for"]
