"""`validate` re-reads what was committed; `reconcile` counts the source over exactly the exported scope. An
export has the checks it asks for: they run with its every materialization, and on their own over everything
committed; a mismatch is an ERROR failed check."""
import dagster as dg
import pytest

from rivet_dagster import build_definitions
from rivet_dagster.config import load_config
from rivet_dagster.modes.chunk_plan import register_plan
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster_tests.conftest import materialize, run_sql, state_in, write_config

TABLES = {
    "postgres": ("pg_url", "CREATE TABLE ledger AS SELECT g AS id, 'entry ' || g AS note FROM generate_series(1, 3000) g"),
    "mysql": ("mariadb_url", "CREATE TABLE ledger AS SELECT seq AS id, CONCAT('entry ', seq) AS note "
                             "FROM seq_1_to_3000"),
}
MODES = {"full": {}, "incremental": {"mode": "incremental", "cursor_column": "id"},
         "chunked": {"mode": "chunked", "chunk_column": "id", "chunk_size": 1000}}


@pytest.fixture(params=list(TABLES))
def ledger(request):
    url = request.getfixturevalue(TABLES[request.param][0])
    run_sql(url, "DROP TABLE IF EXISTS ledger", TABLES[request.param][1])
    return request.param, url


def ledger_config(tmp_path, ledger, out, fmt="parquet", **export):
    engine, url = ledger
    return write_config(tmp_path, {"type": engine, "url": url}, [{
        "name": "ledger", "query": "SELECT * FROM ledger", "format": fmt, "validate": True, "reconcile": True,
        "destination": {"type": "local", "path": str(out)}, **export}])


def checks_of(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def run_checks(config, instance):
    return materialize(config, instance=instance, selection=dg.AssetSelection.checks_for_assets("ledger"),
                       raise_on_error=False)


@pytest.mark.parametrize("mode", list(MODES))
def test_both_checks_pass_after_each_materialization(ledger, tmp_path, export_dir, mode):
    config = ledger_config(tmp_path, ledger, export_dir, max_file_size="4KB", tuning={"batch_size": 250},
                           **MODES[mode])
    instance = dg.DagsterInstance.ephemeral()
    keys = [None]
    if mode == "chunked":
        loaded = load_config(config)
        keys = register_plan(instance, loaded, loaded.exports[0], SourceDatabase(loaded.source, loaded.base_dir),
                             state_in(tmp_path))
    if mode == "incremental":
        materialize(config, instance=instance)
        run_sql(ledger[1], "INSERT INTO ledger SELECT id + 3000, note FROM ledger WHERE id <= 500")
    result = materialize(config, instance=instance, partition_key=keys[-1])
    checks = checks_of(result)
    assert checks["validate"].passed and checks["reconcile"].passed
    assert checks["validate"].severity == dg.AssetCheckSeverity.ERROR
    committed = {"full": 3000, "incremental": 500, "chunked": 1000}[mode]       # what this run committed
    assert checks["reconcile"].metadata["source_rows"].value == committed
    assert checks["validate"].metadata["rows_read"].value == committed
    run_files = state_in(tmp_path).files_of_run("ledger", result.run_id)
    assert checks["validate"].metadata["files_checked"].value == len(run_files)   # every part is re-read

    for key in keys[:-1]:
        materialize(config, instance=instance, partition_key=key)
    checks = checks_of(run_checks(config, instance))           # on its own: every partition committed now
    assert checks["validate"].passed and checks["reconcile"].passed
    assert checks["reconcile"].metadata["source_rows"].value == (3000 if mode == "chunked" else committed)


def test_an_export_that_asks_for_no_check_has_none_so_nothing_is_planned_skipped_or_shown(ledger, tmp_path,
                                                                                           export_dir):
    engine, url = ledger
    config = write_config(tmp_path, {"type": engine, "url": url}, [{
        "name": "ledger", "query": "SELECT * FROM ledger", "format": "parquet",
        "destination": {"type": "local", "path": str(export_dir)}}])
    assert build_definitions(config).resolve_asset_graph().asset_check_keys == set()   # no "0 / 2" on its node
    result = materialize(config)
    assert result.success and checks_of(result) == {}
    noise = [e.message for e in result.all_events
             if e.event_type_value == "ASSET_CHECK_EVALUATION_PLANNED" or "did not yield" in (e.message or "")]
    assert noise == []


def test_reconcile_counts_with_the_params_of_the_run(ledger, tmp_path, export_dir):
    config = ledger_config(tmp_path, ledger, export_dir, query="SELECT * FROM ledger WHERE id <= ${MAX_ID}")
    result = materialize(config, run_config={"ops": {"ledger": {"config": {"params": {"MAX_ID": "1200"}}}}})
    check = checks_of(result)["reconcile"]
    assert check.passed and check.metadata["source_rows"].value == 1200


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_validate_fails_on_a_changed_file(ledger, tmp_path, export_dir, fmt):
    config = ledger_config(tmp_path, ledger, export_dir, fmt=fmt)
    instance = dg.DagsterInstance.ephemeral()
    materialize(config, instance=instance)
    [committed] = list(export_dir.glob(f"ledger_*.{fmt}"))
    data = committed.read_bytes()
    committed.write_bytes(data[:-40] + data[-40:].replace(b"0", b"9") if fmt == "csv" else data[:-10])

    check = checks_of(run_checks(config, instance))["validate"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    mismatch = check.metadata["mismatches"].value[0]
    assert committed.name in mismatch and ("sha256" in mismatch if fmt == "csv" else "bytes" in mismatch)


def test_reconcile_fails_when_the_source_changed_in_the_exported_scope(ledger, tmp_path, export_dir):
    config = ledger_config(tmp_path, ledger, export_dir)
    instance = dg.DagsterInstance.ephemeral()
    materialize(config, instance=instance)
    run_sql(ledger[1], "DELETE FROM ledger WHERE id <= 10")

    check = checks_of(run_checks(config, instance))["reconcile"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "source has 2990 rows in scope, 3000 were committed" in check.metadata["mismatches"].value[0]


def test_validate_counts_csv_rows_whatever_their_values_look_like(pg_url, tmp_path, export_dir):
    """The first MB of `late` is empty, then text: a reader that guessed types from the first block would fail."""
    run_sql(pg_url, "DROP TABLE IF EXISTS sparse_notes",
            "CREATE TABLE sparse_notes AS SELECT g AS id, repeat('x', 60) AS pad, "
            "CASE WHEN g > 39000 THEN 'hello' END AS late FROM generate_series(1, 40000) g")
    config = write_config(tmp_path, {"type": "postgres", "url": pg_url}, [{
        "name": "sparse_notes", "query": "SELECT * FROM sparse_notes", "format": "csv", "validate": True,
        "destination": {"type": "local", "path": str(export_dir)}}])
    check = checks_of(materialize(config))["validate"]
    assert check.passed and check.metadata["rows_read"].value == 40000


def test_reconcile_counts_a_time_window_over_the_bounds_it_was_exported_with(pg_url, tmp_path, export_dir):
    run_sql(pg_url, "DROP TABLE IF EXISTS readings",
            "CREATE TABLE readings AS SELECT g AS id, now() - g * interval '1 hour' AS at FROM generate_series(1, 200) g")
    config = write_config(tmp_path, {"type": "postgres", "url": pg_url}, [{
        "name": "readings", "query": "SELECT * FROM readings", "format": "parquet", "mode": "time_window",
        "time_column": "at", "days_window": 1, "reconcile": True,
        "destination": {"type": "local", "path": str(export_dir)}}])
    check = checks_of(materialize(config))["reconcile"]
    exported = check.metadata["source_rows"].value
    assert check.passed and 0 < exported < 200

    # a wider trailing window now would count more rows: the manifest's recorded bounds are what is counted
    config.write_text(config.read_text().replace("days_window: 1", "days_window: 5"))
    alone = materialize(config, selection=dg.AssetSelection.checks_for_assets("readings"))
    check = checks_of(alone)["reconcile"]
    assert check.passed and check.metadata["source_rows"].value == exported
