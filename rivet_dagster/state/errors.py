"""The state store's own error."""
from rivet_dagster.errors import RivetError


class StateStoreError(RivetError):
    """The state store cannot be used as it is: the message names the store and what to do."""
