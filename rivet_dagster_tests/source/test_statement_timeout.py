"""statement_timeout_s on a streamed read: the read is cancelled when one batch takes longer than that."""
import time

import pyarrow as pa
import pytest

from rivet_dagster.config.query import UserQuery
from rivet_dagster.config.sections import SourceConfig
from rivet_dagster.config.tuning import merge_tuning
from rivet_dagster.source import queries
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.errors import SourceError, classify
from rivet_dagster.source.readers import describe, stream
from rivet_dagster.source.types import SourceColumn


def test_postgres_cancels_a_read_when_one_batch_takes_longer_than_the_statement_timeout(pg_url):
    """Rivet's per-FETCH meaning, on one streamed COPY: the limit applies to each batch, not the whole read."""
    source = SourceDatabase(SourceConfig(type="postgres", url=pg_url))
    stall = "SELECT 1 AS x FROM pg_sleep(30)"
    columns = describe(source, UserQuery(stall), merge_tuning({"profile": "fast"}, None))
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"no batch for 1s \(tuning.statement_timeout_s\)"):
        list(stream(source, queries.full(source, UserQuery(stall)), columns, merge_tuning({"profile": "fast", "statement_timeout_s": 1}, None)))
    assert time.monotonic() - started < 10


def test_postgres_long_reads_are_not_limited_as_a_whole(pg_url):
    source = SourceDatabase(SourceConfig(type="postgres", url=pg_url))
    slow = "SELECT g FROM generate_series(1, 3) g, LATERAL (SELECT pg_sleep(0.6)) s"
    tuning = merge_tuning({"profile": "fast", "statement_timeout_s": 1, "batch_size": 1}, None)
    assert sum(b.num_rows for b in stream(source, queries.full(source, UserQuery(slow)), describe(source, UserQuery(slow), tuning), tuning)) == 3


def test_mariadb_limits_the_streamed_statement_with_max_statement_time(mariadb_url):
    source = SourceDatabase(SourceConfig(type="mysql", url=mariadb_url))
    stall = "SELECT SLEEP(30) AS x"
    columns = [SourceColumn("x", "int", pa.int64())]  # describing SLEEP() would run it: MariaDB evaluates it
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"ERROR 1969 .*max_statement_time exceeded") as failure:
        list(stream(source, queries.full(source, UserQuery(stall)), columns, merge_tuning({"profile": "fast", "statement_timeout_s": 1}, None)))
    assert time.monotonic() - started < 10
    assert failure.value.code == "1969" and not classify(failure.value).transient  # by number: not retried


@pytest.mark.parametrize("engine", ["postgres", "mysql"])
def test_session_limits_use_each_servers_own_setting(engine, request):
    url = request.getfixturevalue("pg_url" if engine == "postgres" else "mariadb_url")
    source = SourceDatabase(SourceConfig(type=engine, url=url))
    tuning = merge_tuning({"profile": "balanced"}, None)
    with source.session(tuning) as conn:
        if engine == "postgres":
            assert conn.exec_driver_sql("SELECT current_setting('statement_timeout'), "
                                        "current_setting('lock_timeout')").one() == ("5min", "30s")
        else:  # MariaDB has max_statement_time (seconds); MySQL's max_execution_time does not exist there
            assert float(conn.exec_driver_sql("SELECT @@max_statement_time").scalar()) == 300.0


def test_a_failing_query_names_the_server_error_and_not_the_password(mariadb_url):
    source = SourceDatabase(SourceConfig(type="mysql", url=mariadb_url))
    with pytest.raises(SourceError, match=r"the export query failed on mysql\+pymysql://root@.*doesn't exist"):
        describe(source, UserQuery("SELECT * FROM missing_table"), merge_tuning(None, None))


def test_source_errors_never_carry_the_password():
    source = SourceDatabase(SourceConfig(type="postgres", url="postgresql://u:Sup3rSecret@127.0.0.1:1/db"))
    error = source.error("driver said: postgresql://u:Sup3rSecret@127.0.0.1:1/db refused")
    assert "Sup3rSecret" not in str(error) and "u:***@" in str(error)
