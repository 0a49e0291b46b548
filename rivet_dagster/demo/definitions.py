"""The demo's code location: its exports ($RIVET_CONFIG, else demo_data/rivet.yaml) and the asset downstream of
one, as `rivet-dagster-demo` runs them and the README's UI command opens them."""
import os

import dagster as dg

from rivet_dagster.defs.build import build_definitions
from rivet_dagster.demo.defs.revenue_by_status import revenue_by_status


@dg.definitions
def defs() -> dg.Definitions:
    exports = build_definitions(os.environ.get("RIVET_CONFIG", "demo_data/rivet.yaml"))
    return dg.Definitions.merge(exports, dg.Definitions(assets=[revenue_by_status]))
