"""The resource keys the definitions register and the assets, checks and IO managers ask for."""

SOURCE_KEY, STATE_KEY, NOTIFIER_KEY = "rivet_source", "rivet_state", "rivet_notifier"
IO_MANAGER_KEYS = {kind: f"rivet_{kind}_io" for kind in ("local", "s3", "gcs", "stdout")}  # one per destination
