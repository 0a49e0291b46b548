"""`full`: every run exports the whole query into new, timestamped files (Rivet's default mode)."""
from rivet_dagster.modes.base import Mode


class Full(Mode):
    name = "full"
