"""The export modes. Each is one module with a `Mode` subclass, registered here; the rest of the package asks
`mode_of(export)` what a mode means."""
from rivet_dagster.config.models import ExportConfig
from rivet_dagster.modes.base import Mode, ModeRefused
from rivet_dagster.modes.chunked import Chunked
from rivet_dagster.modes.full import Full
from rivet_dagster.modes.incremental import Incremental
from rivet_dagster.modes.time_window import TimeWindowMode

MODES: dict[str, Mode] = {mode.name: mode for mode in (Full(), Incremental(), Chunked(), TimeWindowMode())}


def mode_of(export: ExportConfig) -> Mode:
    return MODES[export.mode]


__all__ = ["MODES", "Mode", "ModeRefused", "mode_of"]
