"""IO managers: the asset returns staged files, the IO manager commits them. A failed commit fails the
step before Dagster stores the materialization, so a materialization always means committed data."""

import time

import dagster as dg

from ..state.store import StateStore
from .local import LocalDestination
from .publish import publish
from .staged import StagedExport


class LocalExportIOManager(dg.ConfigurableIOManager):
    """Commits to local disk (atomic rename) and records the manifest and metric in the state store."""

    state: dg.ResourceDependency[StateStore]

    def handle_output(self, context: dg.OutputContext, obj: list[StagedExport]) -> None:
        """Commits each staged file set (one per partition in a range run) in the crash matrix's order."""
        started = time.monotonic()
        schema_changed = False
        destination = LocalDestination(obj[0].destination)
        for staged in obj:
            schema_changed |= publish(staged, destination, self.state, context.log)
        destination.cleanup(obj[0].export_name, obj[0].run_id)  # staging is kept only when a commit failed
        context.add_output_metadata({
            "uris": dg.MetadataValue.json([uri for staged in obj for uri in staged.uris]),
            "files": sum(len(staged.uris) for staged in obj),
            "duration_seconds": round(sum(s.extract_seconds for s in obj) + time.monotonic() - started, 3),
            "schema_changed": schema_changed,
        })

    def load_input(self, context: dg.InputContext) -> list[str]:
        """The file URIs of the upstream export's latest committed run."""
        export_name = context.upstream_output.asset_key.path[-1]
        return [row["uri"] for row in self.state.latest_run_files(export_name)]
