"""Every column type arrives in Parquet exactly: declared types, NULLs and extremes, read back from the file."""
import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rivet_dagster.config.models import SourceConfig
from rivet_dagster.config.tuning import merge_tuning
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.readers import describe
from rivet_dagster.source.types import UnsupportedTypeError
from rivet_dagster_tests.conftest import materialize, run_sql, write_config

UTC = dt.timezone.utc
U = uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")


def export_table(tmp_path: Path, out: Path, source: dict, query: str) -> pa.Table:
    config = write_config(tmp_path, source, [{"name": "t", "query": query, "format": "parquet",
                                              "destination": {"type": "local", "path": str(out)}}])
    assert materialize(config).success
    files = sorted(out.glob("t_*.parquet"))
    assert len(files) == 1
    return pq.read_table(files[0])


PG_COLUMNS = """
    id int8, i2 int2, i4 int4, f4 float4, f8 float8, b bool, n38 numeric(38,10), n12 numeric(12,2),
    n50 numeric(50,5), nu numeric, d date, t time, ts timestamp, tstz timestamptz, tx text, vc varchar(10),
    ch char(3), by bytea, js json, jb jsonb, u uuid, ai int4[], at text[], mood mood"""
PG_ROWS = """
  (1, -32768, -2147483648, 1.5, -1e308, true, 9999999999999999999999999999.9999999999, -1234567890.12,
   12345678901234567890123456789012345678901234.56789, 3.14159265358979323846264338327950288419716939937510,
   '0001-01-01', '00:00:00', '1900-01-01 00:00:00.000001', '1969-12-31 23:59:59.999999+00', 'héllo ✓ 日本',
   '', 'ab', '\\x00ff', '{"a": [1, 2]}', '{"b": null}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}',
   '{"x","y"}', 'happy'),
  (2, 32767, 2147483647, 'NaN', 'Infinity', false, -0.0000000001, 0, 0, -0, '9999-12-31', '23:59:59.999999',
   '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00', '', NULL, NULL, '\\x', '[]', '{}', NULL,
   '{}', NULL, NULL),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL)"""


@pytest.fixture(scope="module")
def pg_table(pg_url):
    run_sql(pg_url, "DROP TABLE IF EXISTS fidelity", "DROP TYPE IF EXISTS mood",
            "CREATE TYPE mood AS ENUM ('sad', 'happy')", f"CREATE TABLE fidelity ({PG_COLUMNS})",
            f"INSERT INTO fidelity VALUES {PG_ROWS}")
    return pg_url


def test_postgres_types_are_exact(pg_table, tmp_path, export_dir):
    table = export_table(tmp_path, export_dir, {"type": "postgres", "url": pg_table},
                         "SELECT * FROM fidelity ORDER BY id")
    assert dict(zip(table.schema.names, map(str, table.schema.types))) == {
        "id": "int64", "i2": "int16", "i4": "int32", "f4": "float", "f8": "double", "b": "bool",
        "n38": "decimal128(38, 10)", "n12": "decimal128(12, 2)", "n50": "decimal256(50, 5)", "nu": "string",
        "d": "date32[day]", "t": "time64[us]", "ts": "timestamp[us]", "tstz": "timestamp[us, tz=UTC]",
        "tx": "string", "vc": "string", "ch": "string", "by": "binary", "js": "string", "jb": "string",
        "u": "string", "ai": "list<element: int32>", "at": "list<element: string>", "mood": "string"}
    first, second, third = table.to_pylist()
    assert first == {
        "id": 1, "i2": -32768, "i4": -2147483648, "f4": 1.5, "f8": -1e308, "b": True,
        "n38": Decimal("9999999999999999999999999999.9999999999"), "n12": Decimal("-1234567890.12"),
        "n50": Decimal("12345678901234567890123456789012345678901234.56789"),
        "nu": "3.14159265358979323846264338327950288419716939937510",
        "d": dt.date(1, 1, 1), "t": dt.time(0, 0), "ts": dt.datetime(1900, 1, 1, 0, 0, 0, 1),
        "tstz": dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "tx": "héllo ✓ 日本", "vc": "",
        "ch": "ab ", "by": b"\x00\xff", "js": '{"a": [1, 2]}', "jb": '{"b": null}', "u": str(U),
        "ai": [1, None, 3], "at": ["x", "y"], "mood": "happy"}
    assert second["f4"] != second["f4"] and second["f8"] == float("inf")  # NaN, Infinity
    assert (second["n38"], second["nu"], second["d"], second["t"]) == (
        Decimal("-1E-10"), "0", dt.date(9999, 12, 31), dt.time(23, 59, 59, 999999))
    assert second["ts"] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
    assert (second["tx"], second["vc"], second["by"], second["ai"]) == ("", None, b"", [])
    assert all(value is None for key, value in third.items() if key != "id")


@pytest.mark.parametrize("expression, db_type", [("interval '1 day'", "interval"), ("'1.5'::money", "money"),
                                                 ("point(1, 2)", "point")])
def test_postgres_types_without_an_exact_mapping_are_errors_naming_the_column(pg_url, expression, db_type):
    source = SourceDatabase(SourceConfig(type="postgres", url=pg_url))
    with pytest.raises(UnsupportedTypeError, match=f"column 'odd' has type {db_type}.*cast it in the query"):
        describe(source, f"SELECT {expression} AS odd", merge_tuning(None, None))


MARIADB_COLUMNS = """
    id bigint primary key, ti tinyint, tu tinyint unsigned, si smallint, mi mediumint, i int, ub bigint unsigned,
    y year, f float, d double, n38 decimal(38,10), n65 decimal(65,30), n52 decimal(5,2) unsigned,
    da date, tm time(6), dt datetime(6), ts timestamp(6) NULL, tx text, vc varchar(10), ch char(3),
    bl blob, vb varbinary(8), js json, e enum('a','b'), st set('x','y'), b1 bit(1), b8 bit(8)"""
MARIADB_ROWS = """
  (1, -128, 255, -32768, -8388608, -2147483648, 18446744073709551615, 1901, 1.5, -1.7976931348623157e308,
   9999999999999999999999999999.9999999999, 12345678901234567890123456789012345.123456789012345678901234567890,
   999.99, '1000-01-01', '00:00:00', '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01.000001',
   'héllo ✓ 日本', '', 'ab', x'00ff', x'', '{"a": [1, 2]}', 'b', 'x,y', b'1', b'10101010'),
  (2, 127, 0, 32767, 8388607, 2147483647, 0, 2155, 0, 0, -0.0000000001, -0.000000000000000000000000000001, 0,
   '9999-12-31', '23:59:59.999999', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '', NULL, NULL,
   x'', NULL, '[]', 'a', '', b'0', b'0'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"""


@pytest.fixture(scope="module")
def mariadb_table(mariadb_url):
    run_sql(mariadb_url, "DROP TABLE IF EXISTS fidelity", f"CREATE TABLE fidelity ({MARIADB_COLUMNS})",
            "SET time_zone = '+00:00'", f"INSERT INTO fidelity VALUES {MARIADB_ROWS}")
    return mariadb_url


def test_mariadb_types_are_exact(mariadb_table, tmp_path, export_dir):
    table = export_table(tmp_path, export_dir, {"type": "mysql", "url": mariadb_table},
                         "SELECT * FROM fidelity ORDER BY id")
    assert dict(zip(table.schema.names, map(str, table.schema.types))) == {
        "id": "int64", "ti": "int8", "tu": "uint8", "si": "int16", "mi": "int32", "i": "int32", "ub": "uint64",
        "y": "int16", "f": "float", "d": "double", "n38": "decimal128(38, 10)", "n65": "decimal256(65, 30)",
        "n52": "decimal128(5, 2)", "da": "date32[day]", "tm": "time64[us]", "dt": "timestamp[us]",
        "ts": "timestamp[us, tz=UTC]", "tx": "string", "vc": "string", "ch": "string", "bl": "binary",
        "vb": "binary", "js": "string", "e": "string", "st": "string", "b1": "bool", "b8": "uint64"}
    first, second, third = table.to_pylist()
    assert first == {
        "id": 1, "ti": -128, "tu": 255, "si": -32768, "mi": -8388608, "i": -2147483648, "ub": 2**64 - 1,
        "y": 1901, "f": 1.5, "d": -1.7976931348623157e308, "n38": Decimal("9999999999999999999999999999.9999999999"),
        "n65": Decimal("12345678901234567890123456789012345.123456789012345678901234567890"),
        "n52": Decimal("999.99"), "da": dt.date(1000, 1, 1), "tm": dt.time(0, 0),
        "dt": dt.datetime(1000, 1, 1, 0, 0, 0, 1), "ts": dt.datetime(1970, 1, 1, 0, 0, 1, 1, tzinfo=UTC),
        "tx": "héllo ✓ 日本", "vc": "", "ch": "ab", "bl": b"\x00\xff", "vb": b"", "js": '{"a": [1, 2]}',
        "e": "b", "st": "x,y", "b1": True, "b8": 170}
    assert (second["n65"], second["tm"], second["dt"], second["ts"]) == (
        Decimal("-1E-30"), dt.time(23, 59, 59, 999999), dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
        dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC))
    assert (second["tx"], second["vc"], second["bl"], second["b1"]) == ("", None, b"", False)
    assert all(value is None for key, value in third.items() if key != "id")


def test_mariadb_time_values_beyond_a_day_are_an_error_not_a_wrong_time(mariadb_url, tmp_path, export_dir):
    config = write_config(tmp_path, {"type": "mysql", "url": mariadb_url},
                          [{"name": "durations", "query": "SELECT CAST('838:59:59' AS TIME) AS waited",
                            "format": "parquet", "destination": {"type": "local", "path": str(export_dir)}}])
    result = materialize(config, raise_on_error=False)
    assert not result.success
    assert "column 'waited': a TIME value lies outside" in str(result.get_step_failure_events()[0].event_specific_data
                                                               .error)
    assert list(export_dir.glob("*.parquet")) == []


def test_sqlite_columns_take_the_type_of_their_values(tmp_path, export_dir):
    import sqlite3
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        db.executescript("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT);"
                         "INSERT INTO t VALUES (9223372036854775807, 1.25, 'ü', x'00ff', NULL), "
                         "(-1, NULL, '', NULL, NULL);")
    table = export_table(tmp_path, export_dir, {"type": "sqlite", "database": "db.sqlite"}, "SELECT * FROM t")
    assert [str(t) for t in table.schema.types] == ["int64", "double", "string", "binary", "string"]
    assert table.to_pylist() == [{"i": 2**63 - 1, "r": 1.25, "s": "ü", "b": b"\x00\xff", "n": None},
                                 {"i": -1, "r": None, "s": "", "b": None, "n": None}]
