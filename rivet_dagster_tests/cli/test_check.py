"""`rivet-dagster check` rates each export from the source's own plans (PostgreSQL EXPLAIN JSON, MySQL EXPLAIN)."""
import pytest

from rivet_dagster.cli.check import Plan, parallel, profile, verdict, warnings
from rivet_dagster.config import ExportConfig
from rivet_dagster_tests.cli.conftest import cli
from rivet_dagster_tests.conftest import run_sql, write_config

SETUP = {
    "postgres": ("pg_url", [
        "DROP TABLE IF EXISTS check_indexed, check_plain, check_sparse",
        "CREATE TABLE check_indexed AS SELECT g AS id, timestamp '2024-01-01' + g * interval '1 second' AS updated_at, "
        "'label %% ' || g AS label FROM generate_series(1, 20000) g",
        "CREATE INDEX check_indexed_updated ON check_indexed (updated_at)",
        "CREATE TABLE check_plain AS SELECT * FROM check_indexed",
        "CREATE TABLE check_sparse AS SELECT g * 100 AS id FROM generate_series(1, 2000) g",
        "ALTER TABLE check_sparse ADD PRIMARY KEY (id)",
        "ANALYZE check_indexed", "ANALYZE check_plain", "ANALYZE check_sparse"]),
    "mysql": ("mariadb_url", [
        "DROP TABLE IF EXISTS check_indexed, check_plain, check_sparse",
        "CREATE TABLE check_indexed (id INT, updated_at DATETIME, label VARCHAR(40), KEY check_indexed_updated "
        "(updated_at)) AS SELECT seq AS id, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND AS updated_at, "
        "CONCAT('label %% ', seq) AS label FROM seq_1_to_20000",
        "CREATE TABLE check_plain AS SELECT * FROM check_indexed",
        "CREATE TABLE check_sparse (id INT PRIMARY KEY) AS SELECT seq * 100 AS id FROM seq_1_to_2000",
        "ANALYZE TABLE check_indexed, check_plain, check_sparse"]),
}


def incremental(name: str, table: str) -> dict:
    return {"name": name, "query": f"SELECT * FROM {table} WHERE label LIKE 'label %'", "mode": "incremental",
            "cursor_column": "updated_at", "format": "parquet", "destination": {"type": "stdout"}}


@pytest.fixture(params=["postgres", "mysql"])
def config(request, tmp_path):
    fixture, statements = SETUP[request.param]
    url = request.getfixturevalue(fixture)
    run_sql(url, *statements)
    return write_config(tmp_path, {"type": request.param, "url": url}, [
        incremental("indexed", "check_indexed"), incremental("plain", "check_plain"),
        {"name": "sparse", "query": "SELECT * FROM check_sparse", "mode": "chunked", "chunk_column": "id",
         "chunk_size": 500, "format": "parquet", "destination": {"type": "local", "path": "./out"}},
        {"name": "everything", "query": "SELECT * FROM check_plain", "format": "csv",
         "destination": {"type": "stdout"}}])


def report(capsys, config, export: str) -> dict[str, list[str]]:
    """`check --export` output as {label: [values]} (Recommended and Warning lines repeat)."""
    code, out, err = cli(capsys, "check", "-c", config, "--export", export)
    assert (code, err) == (0, "")
    lines: dict[str, list[str]] = {}
    for line in out.splitlines():
        label, value = line.split(":", 1)
        lines.setdefault(label, []).append(value.strip())
    return lines


def test_an_indexed_cursor_column_is_efficient(capsys, config):
    lines = report(capsys, config, "indexed")
    assert lines["Export"] == ["indexed"] and lines["Mode"] == ["incremental"]
    assert lines["Strategy"] == ["cursor range: updated_at > last cursor, in updated_at order"]
    assert lines["Row estimate"][0].startswith("~")
    assert lines["Scan type"] == ["index on updated_at (check_indexed_updated)"]
    assert lines["Verdict"] == ["EFFICIENT"]
    assert lines["Recommended"] == ["tuning.profile: fast"]
    assert "Warning" not in lines


def test_an_unindexed_cursor_column_on_a_small_table_is_degraded_with_a_warning(capsys, config):
    lines = report(capsys, config, "plain")
    assert lines["Scan type"][0].startswith("full scan (") and lines["Scan type"][0].endswith("no index on updated_at")
    assert "check_plain" in lines["Scan type"][0]
    assert lines["Verdict"] == ["DEGRADED"] and lines["Recommended"] == ["tuning.profile: balanced"]
    assert lines["Warning"] == ["no index on incremental column 'updated_at': every run scans the whole query "
                                "(add an index on updated_at)"]


def test_a_sparse_chunk_column_is_warned_about(capsys, config):
    lines = report(capsys, config, "sparse")
    assert lines["Strategy"] == ["chunk ranges: id from start to end of each chunk, 500 per chunk"]
    assert lines["Chunk range"] == ["100 .. 200000 (2000 rows)"]
    assert lines["Verdict"] == ["EFFICIENT"] and lines["Scan type"][0].startswith("index on id (")
    assert lines["Recommended"] == ["tuning.profile: fast",
                                    "parallel: 1 (small table: one chunk at a time finishes quickly)"]
    assert lines["Warning"] == ["sparse chunk range: id spans 100..200000 (199901 values) for 2000 rows, so most "
                                "chunks are nearly empty (chunk_dense: true cuts by row number)"]


def test_a_full_export_is_a_full_scan_and_every_export_is_reported(capsys, config):
    lines = report(capsys, config, "everything")
    assert lines["Strategy"] == ["full scan: the whole query on every run"]
    assert "check_plain" in lines["Scan type"][0] and lines["Verdict"] == ["DEGRADED"]
    code, out, _ = cli(capsys, "check", "-c", config)
    assert code == 0 and [line for line in out.splitlines() if line.startswith("Export:")] == [
        "Export:       indexed", "Export:       plain", "Export:       sparse", "Export:       everything"]


def test_a_query_the_source_rejects_is_a_one_line_error_and_the_other_exports_are_still_checked(capsys, tmp_path,
                                                                                              pg_url):
    run_sql(pg_url, *SETUP["postgres"][1])
    config = write_config(tmp_path, {"type": "postgres", "url": pg_url}, [
        {"name": "gone", "query": "SELECT * FROM check_no_such_table", "format": "csv",
         "destination": {"type": "stdout"}}, incremental("indexed", "check_indexed")])
    code, out, err = cli(capsys, "check", "-c", config)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("error: export 'gone': cannot explain its query on postgresql+psycopg://") \
        and "check_no_such_table" in err
    assert "Export:       indexed" in out and "Verdict:      EFFICIENT" in out


def test_params_fill_the_query_it_explains(capsys, tmp_path, pg_url):
    run_sql(pg_url, *SETUP["postgres"][1])
    config = write_config(tmp_path, {"type": "postgres", "url": pg_url}, [
        {"name": "some", "query": "SELECT * FROM check_indexed WHERE id <= ${MAX_ID}", "format": "csv",
         "destination": {"type": "stdout"}}])
    code, out, _ = cli(capsys, "check", "-c", config, "--param", "MAX_ID=100")
    assert code == 0 and "Export:       some" in out
    assert cli(capsys, "check", "-c", config)[0] == 1          # without it: the missing ${MAX_ID} is the error


RANGED = ExportConfig(name="e", query="SELECT 1", mode="incremental", cursor_column="c", format="csv",
                      destination={"type": "stdout"})
FULL = ExportConfig(name="e", query="SELECT 1", format="csv", destination={"type": "stdout"})
CHUNKED = ExportConfig(name="e", query="SELECT 1", mode="chunked", chunk_column="c", parallel=4, format="csv",
                       destination={"type": "local", "path": "."})


@pytest.mark.parametrize("export, rows, index, expected", [   # Rivet's table: (index, range column, rows)
    (RANGED, 10_000_000, "c_idx", "EFFICIENT"), (RANGED, 10_000_001, "c_idx", "ACCEPTABLE"),
    (FULL, 10_000_000, "c_idx", "ACCEPTABLE"), (FULL, 1_000_000, None, "DEGRADED"),
    (RANGED, 50_000_000, None, "DEGRADED"), (RANGED, 50_000_001, None, "UNSAFE"), (FULL, 1_000_001, None, "UNSAFE")])
def test_verdicts_follow_index_use_and_table_size(export, rows, index, expected):
    assert verdict(export, Plan(rows=rows, scan="Seq Scan on t", index=index)) == expected


def test_profile_and_parallel_grow_more_careful_with_size():
    assert [profile(RANGED, Plan(rows, "x", "i")) for rows in (1_000_000, 10_000_000, 10_000_001)] == [
        "fast", "balanced", "safe"]
    assert [profile(export, Plan(rows, "x", None)) for export, rows in [
        (RANGED, 100_000), (CHUNKED, 100_000), (RANGED, 1_000_000), (RANGED, 1_000_001)]] == [
        "balanced", "safe", "balanced", "safe"]
    assert [parallel(Plan(rows, "x", index))[0] for rows, index in [
        (10_000, "i"), (200_000, "i"), (2_000_000, "i"), (2_000_000, None), (6_000_000, None)]] == [1, 2, 4, 2, 1]


def test_parallel_chunks_on_a_big_table_are_warned_about():
    assert any(w.startswith("parallel: 4 on ~6.0M rows") for w in warnings(CHUNKED, Plan(6_000_000, "x", "i")))
