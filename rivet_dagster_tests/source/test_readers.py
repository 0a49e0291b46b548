"""A run that reads one query many times (a chunk run) shares its PostgreSQL connections: one connection serves
consecutive reads, an idle one holds no transaction on the source, and one a read left broken is not reused.
A MySQL/MariaDB chunk is read in parts of a few batches each, paced between them; what connectorx decodes ahead
of a slow writer waits on disk."""
import time

import pyarrow as pa
import pytest
import sqlalchemy as sa

from rivet_dagster.config.query import UserQuery
from rivet_dagster.config.sections import SourceConfig
from rivet_dagster.config.tuning import merge_tuning
from rivet_dagster.source import queries
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.errors import SourceError
from rivet_dagster.source.readers import Connections, describe, stream
from rivet_dagster_tests.conftest import run_sql, sql_engine
from rivet_dagster_tests.source.every_type import MARIADB


def sessions(url: str, marker: str) -> list[tuple[int, str]]:
    """The server's sessions of this test's reads (application_name), with their state."""
    with sql_engine(url).connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(
            "SELECT pid, state FROM pg_stat_activity WHERE application_name = %s", (marker,))]


@pytest.fixture
def source(pg_url):
    marker = "rivet_test_shared_reads"
    url = sa.make_url(pg_url).update_query_dict({"application_name": marker}).render_as_string(hide_password=False)
    return SourceDatabase(SourceConfig(type="postgres", url=url)), pg_url, marker


def read(source: SourceDatabase, sql: str, connections: Connections) -> list[int]:
    query, tuning = UserQuery(sql), merge_tuning(None, None)
    columns = describe(source, query, tuning)
    return [v for batch in stream(source, queries.full(source, query), columns, tuning, connections)
            for v in batch.column(0).to_pylist()]


def test_consecutive_reads_share_one_connection_that_idles_without_a_transaction(source):
    database, url, marker = source
    connections = Connections(database)
    try:
        assert read(database, "SELECT g AS id FROM generate_series(1, 3) g", connections) == [1, 2, 3]
        [(first, state)] = sessions(url, marker)
        assert state == "idle"                                    # not "idle in transaction": no snapshot held
        assert read(database, "SELECT g AS id FROM generate_series(4, 5) g", connections) == [4, 5]
        assert sessions(url, marker) == [(first, "idle")]         # the same server session served both
    finally:
        connections.close()
    assert sessions(url, marker) == []


def test_a_connection_a_read_failed_on_is_closed_and_the_next_read_opens_a_new_one(source):
    database, url, marker = source
    connections = Connections(database)
    try:
        read(database, "SELECT g AS id FROM generate_series(1, 2) g", connections)
        [(first, _)] = sessions(url, marker)
        with pytest.raises(SourceError, match="division by zero"):
            read(database, "SELECT 1 / (g - 2) AS id FROM generate_series(1, 2) g", connections)
        assert read(database, "SELECT g AS id FROM generate_series(1, 2) g", connections) == [1, 2]
        [(second, _)] = sessions(url, marker)
        assert second != first
    finally:
        connections.close()


def test_a_throttle_paces_a_mysql_chunk_between_its_reads(mariadb_url):
    """10,000 keys in batches of 500 are five reads of four batches: 100 ms a batch is 400 ms after each of the
    first four reads, not a wait inside a read (which would only keep its rows in connectorx's queue)."""
    run_sql(mariadb_url, "DROP TABLE IF EXISTS paced", "CREATE TABLE paced AS SELECT seq AS id FROM seq_1_to_10000")
    source = SourceDatabase(SourceConfig(type="mysql", url=mariadb_url))
    query, tuning = UserQuery("SELECT id FROM paced"), merge_tuning(None, {"batch_size": 500, "throttle_ms": 100})
    plan = queries.chunk(source, query, "id", None, 1, 10_000, dense=False)
    started = time.monotonic()
    ids = [v for batch in stream(source, plan, describe(source, query, tuning), tuning)
           for v in batch.column("id").to_pylist()]
    assert time.monotonic() - started >= 4 * 0.4
    assert sorted(ids) == list(range(1, 10_001))


def executed_statements(url: str) -> int:
    with sql_engine(url).connect() as conn:
        return int(conn.exec_driver_sql("SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'").fetchone()[1])


@pytest.mark.parametrize("batch_size, reads", [(500, 5), (20_000, 1)])
def test_a_mysql_chunk_is_read_in_parts_of_a_few_batches_each_and_every_row_comes_once(mariadb_url, batch_size,
                                                                                      reads):
    """connectorx decodes a whole result ahead of a slow reader, so a chunk's key range is read four batches'
    worth of keys at a time: ids 1..10,000 (every third missing) with batches of 500 rows are five reads."""
    run_sql(mariadb_url, "DROP TABLE IF EXISTS parts", "CREATE TABLE parts AS SELECT seq AS id, CONCAT('row ', seq) "
            "AS label FROM seq_1_to_10000 WHERE seq %% 3 <> 0")
    source = SourceDatabase(SourceConfig(type="mysql", url=mariadb_url))
    query, tuning = UserQuery("SELECT id, label FROM parts"), merge_tuning(None, {"batch_size": batch_size})
    columns = describe(source, query, tuning)
    plan = queries.chunk(source, query, "id", None, 1, 10_000, dense=False)
    before = executed_statements(mariadb_url)
    ids = [v for batch in stream(source, plan, columns, tuning) for v in batch.column("id").to_pylist()]
    assert executed_statements(mariadb_url) - before == reads
    assert sorted(ids) == [i for i in range(1, 10_001) if i % 3]


def spill_files(folder) -> list:
    return sorted(folder.glob(".spill-*"))


@pytest.mark.parametrize("engine, read, throttle_ms, spills", [
    ("mysql", "full", 200, True), ("mysql", "chunk", 0, False), ("postgres", "full", 0, False)])
def test_a_read_the_writer_lags_behind_waits_on_disk_only_when_its_reader_cannot_wait(engine, read, throttle_ms,
                                                                                     spills, request, tmp_path):
    """connectorx decodes a whole MySQL/MariaDB result ahead of the writer however slow it is (a throttle would
    not slow it either): what the writer is not ready for waits in the staging folder, not in memory, and comes
    back in order; the spill is gone once the read ends. A chunk's key range is read in parts the writer waits
    between, and a PostgreSQL read (ADBC) waits for the writer: neither spills."""
    url = request.getfixturevalue("mariadb_url" if engine == "mysql" else "pg_url")
    rows = "seq_1_to_20000" if engine == "mysql" else "generate_series(1, 20000) AS g(seq)"
    run_sql(url, "DROP TABLE IF EXISTS lagged", f"CREATE TABLE lagged AS SELECT seq AS id, REPEAT('x', 200) AS pad "
            f"FROM {rows}")
    source = SourceDatabase(SourceConfig(type=engine, url=url))
    query = UserQuery("SELECT id, pad FROM lagged")
    tuning = merge_tuning(None, {"batch_size": 500, "throttle_ms": throttle_ms})
    plan = queries.full(source, query) if read == "full" else \
        queries.chunk(source, query, "id", None, 1, 20_000, dense=False)
    ids, spilled_midway = [], []
    for batch in stream(source, plan, describe(source, query, tuning), tuning, spill_to=tmp_path):
        time.sleep(0.02)  # a writer slower than the reader
        spilled_midway.append(bool(spill_files(tmp_path)))
        ids.extend(batch.column("id").to_pylist())
    assert sorted(ids) == list(range(1, 20_001))
    if read == "full":
        assert ids == sorted(ids)  # the order the server sent
    assert any(spilled_midway) is spills
    assert spill_files(tmp_path) == []


def test_a_spilling_read_stopped_early_leaves_no_spill(mariadb_url, tmp_path):
    run_sql(mariadb_url, "DROP TABLE IF EXISTS stopped", "CREATE TABLE stopped AS SELECT seq AS id, REPEAT('x', 200) "
            "AS pad FROM seq_1_to_20000")
    source = SourceDatabase(SourceConfig(type="mysql", url=mariadb_url))
    query, tuning = UserQuery("SELECT id, pad FROM stopped"), merge_tuning(None, {"batch_size": 500})
    batches = stream(source, queries.full(source, query), describe(source, query, tuning), tuning,
                     spill_to=tmp_path)
    next(batches)
    time.sleep(1)  # the reader runs on, into the spill
    assert spill_files(tmp_path)
    batches.close()  # a failed gate, a cancelled run: the writer stops taking batches
    assert spill_files(tmp_path) == []


def test_every_mariadb_type_comes_back_from_the_spill_exactly(mariadb_url, tmp_path):
    """The every-type table's rows, four times over in batches of one row: a writer that waits until the reader
    is done gets all but two of them back from disk, with their exact Arrow types and values."""
    table = MARIADB
    run_sql(mariadb_url, *table.setup, "DROP TABLE IF EXISTS spilled_types", f"CREATE TABLE spilled_types "
            f"(id int PRIMARY KEY, {table.columns})")
    rows = ", ".join(f"({i}, {table.rows[i % 3]})" for i in range(12))
    run_sql(mariadb_url, *table.insert_session, f"INSERT INTO spilled_types VALUES {rows}")
    source = SourceDatabase(SourceConfig(type="mysql", url=mariadb_url))
    query = UserQuery(f"SELECT {', '.join(table.names())} FROM spilled_types ORDER BY id")
    tuning = merge_tuning(None, {"batch_size": 1})
    batches = stream(source, queries.full(source, query), describe(source, query, tuning), tuning,
                     spill_to=tmp_path)
    first = next(batches)
    time.sleep(1)  # the reader finishes: ten batches wait on disk
    assert spill_files(tmp_path)
    got = pa.Table.from_batches([first, *batches])
    assert dict(zip(got.schema.names, map(str, got.schema.types))) == table.types
    assert got.to_pylist() == [table.expected[i % 3] for i in range(12)]
    assert spill_files(tmp_path) == []
