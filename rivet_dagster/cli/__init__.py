"""`rivet-dagster`: the operator's command line (state, metrics, doctor, init, check) beside the Dagster UI."""
