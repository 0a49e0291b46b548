"""The state store's own errors, and those of claims (`state/claims.py`)."""
from rivet_dagster.errors import RivetError


class StateStoreError(RivetError):
    """The state store cannot be used as it is: the message names the store and what to do."""


def newer_schema(where: str, detail: str) -> StateStoreError:
    return StateStoreError(f"{where} was written by a newer rivet-dagster ({detail}): upgrade rivet-dagster, or point "
                           "this config at another state store")


def locked(where: str, detail: str, waited_ms: int) -> StateStoreError:
    return StateStoreError(f"{where} is locked by another process ({detail}, waited {waited_ms / 1000:g}s): let that "
                           "process finish, or stop it")


class ClaimHeld(RivetError):
    """Another run holds the scope (a chunk, a window): this run leaves it to that one. The message names it."""
    hint = "nothing to repair: the other run exports it; run again after it finished if that one fails"


class ClaimLost(RivetError):
    """This run's claim was taken over after its lease expired: it stopped before committing anything more."""
    hint = "the run that took the scope over exports it; nothing of this run's attempt at it is recorded"
