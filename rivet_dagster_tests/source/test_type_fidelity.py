"""Types without an exact mapping are errors naming the column; SQLite columns take the type of their values, or
of their declaration while they hold only NULLs.

That every type arrives exactly, in every mode, engine and format, is
`rivet_dagster_tests/modes/test_every_mode_reads_every_type.py`."""
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rivet_dagster.config.query import UserQuery
from rivet_dagster.config.sections import SourceConfig
from rivet_dagster.config.tuning import merge_tuning
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.readers import describe
from rivet_dagster.source.types import UnsupportedTypeError
from rivet_dagster_tests.conftest import materialize, run_cli, write_config


def export_table(tmp_path: Path, out: Path, source: dict, query: str) -> pa.Table:
    config = write_config(tmp_path, source, [{"name": "t", "query": query, "format": "parquet",
                                              "destination": {"type": "local", "path": str(out)}}])
    assert materialize(config).success
    files = sorted(out.glob("t_*.parquet"))
    assert len(files) == 1
    return pq.read_table(files[0])


@pytest.mark.parametrize("expression, db_type", [("interval '1 day'", "interval"), ("'1.5'::money", "money"),
                                                 ("point(1, 2)", "point")])
def test_postgres_types_without_an_exact_mapping_are_errors_naming_the_column(pg_url, expression, db_type):
    source = SourceDatabase(SourceConfig(type="postgres", url=pg_url))
    with pytest.raises(UnsupportedTypeError, match=f"column 'odd' has type {db_type}.*cast it in the query"):
        describe(source, UserQuery(f"SELECT {expression} AS odd"), merge_tuning(None, None))


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


@pytest.mark.parametrize("mode", [{"mode": "chunked", "chunk_column": "id", "chunk_size": 1},
                                  {"mode": "incremental", "cursor_column": "id"}], ids=["chunked", "incremental"])
def test_a_sqlite_read_of_only_nulls_takes_each_column_s_declared_type(tmp_path, export_dir, mode):
    """Each chunk, and each incremental run's new rows, is a read of its own: where a column holds only NULLs, it
    takes the type its declaration gives by SQLite's affinity rules (text where it gives none: NUMERIC, untyped),
    so the files of one export agree on their columns. Through `rivet-dagster run`, twice."""
    database = tmp_path / "db.sqlite"
    with sqlite3.connect(database) as db:
        db.executescript("CREATE TABLE t (id INTEGER PRIMARY KEY, i BIGINT, r DOUBLE PRECISION, s VARCHAR(20), "
                         "b BLOB, n NUMERIC, u); INSERT INTO t VALUES (1, 7, 1.5, 'a', x'01', 3, 4);")
    config = write_config(tmp_path, {"type": "sqlite", "database": str(database)},
                          [{"name": "t", "query": "SELECT * FROM t", "format": "parquet", **mode,
                            "destination": {"type": "local", "path": str(export_dir)}}])
    for _ in range(2):
        result = run_cli(config, tmp_path / "home")
        assert result.returncode == 0, result.stderr[-3000:]
        with sqlite3.connect(database) as db:
            db.execute("INSERT OR IGNORE INTO t (id) VALUES (2)")
    tables = {table["id"][0].as_py(): table for table in map(pq.read_table, export_dir.glob("t_*.parquet"))}
    assert sorted(tables) == [1, 2]
    assert [str(t) for t in tables[1].schema.types] == ["int64", "int64", "double", "string", "binary", "int64",
                                                        "int64"]
    assert [str(t) for t in tables[2].schema.types] == ["int64", "int64", "double", "string", "binary", "string",
                                                        "string"]
    assert tables[2].to_pylist() == [{"id": 2, "i": None, "r": None, "s": None, "b": None, "n": None, "u": None}]
