"""`store`: a fresh state store on each backend, the embedded SQLite file and a PostgreSQL schema."""
from collections.abc import Iterator

import pytest

from rivet_dagster.state.store import StateStore, close_connections
from rivet_dagster_tests.conftest import schema_url


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        yield StateStore(path=str(tmp_path / "state" / "s.db"))
    else:
        yield StateStore(url=schema_url(request.getfixturevalue("pg_url"), "store"))
        close_connections()


def settings(store: StateStore) -> list[str]:
    """The store's resource config as `key=value` arguments, for another process to open it."""
    return [f"{key}={value}" for key, value in store.model_dump().items() if value is not None]
