"""The SQL each mode runs: MySQL/MariaDB values become literals that mean exactly the typed value, whatever it
holds, because connectorx cannot bind parameters."""
import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from rivet_dagster.source.queries import mysql_literal
from rivet_dagster_tests.conftest import sql_engine

VALUES = [
    0, -9223372036854775808, 18446744073709551615, 1.5, -1e-308, Decimal("-9999999999999999999999999999.9999999999"),
    Decimal("1E-30"), dt.date(1000, 1, 1), dt.date(9999, 12, 31), dt.datetime(1000, 1, 1, 0, 0, 0, 1),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999), dt.time(23, 59, 59, 999999), "", "plain",
    "x') AS a; DROP TABLE t; -- ", "back\\slash \\' quote'' \"double\"", "日本 ✓ é", "nul\x00byte", "$$dollar$$",
    b"", b"\x00'\\\xff",
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_literal_reads_back_as_the_value_it_was_made_from(mariadb_url, value):
    with sql_engine(mariadb_url).connect() as conn:
        got = conn.exec_driver_sql(f"SELECT {mysql_literal(value)}", execution_options={"no_parameters": True}) \
            .scalar()
    if isinstance(value, str):
        got = got.decode() if isinstance(got, bytes) else got
    if isinstance(value, dt.time):
        got = (dt.datetime.min + got).time()  # PyMySQL returns TIME as a timedelta
    if isinstance(value, float):
        got = float(got)
    assert got == value and (isinstance(value, bool) or not isinstance(got, bool))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN"), object(), [1], {"a": 1}, None])
def test_values_without_an_exact_literal_are_refused(value):
    with pytest.raises((ValueError, TypeError)):
        mysql_literal(value)


def test_a_literal_is_one_token_the_statement_cannot_be_extended(mariadb_url):
    hostile = "'; SELECT 1; -- "
    with sql_engine(mariadb_url).connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="1146|doesn't exist"):
        conn.exec_driver_sql(f"SELECT * FROM no_such_table WHERE x = {mysql_literal(hostile)}",
                             execution_options={"no_parameters": True})
