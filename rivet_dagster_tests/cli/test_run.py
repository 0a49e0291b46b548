"""`rivet-dagster run`: exports run through Dagster on $DAGSTER_HOME (the runs are in the instance), Rivet's
summary per export, and Rivet's exit codes: 0 ok, 1 failure, 3 integrity, 4 schema drift with fail."""
import dagster as dg
import pytest

from rivet_dagster_tests.cli.conftest import cli
from rivet_dagster_tests.conftest import run_sql, write_config


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    path.mkdir()
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(path))
    return path


@pytest.fixture
def run_src(pg_url):
    run_sql(pg_url, "DROP TABLE IF EXISTS run_src",
            "CREATE TABLE run_src AS SELECT g AS id, 'row ' || g AS label FROM generate_series(1, 2500) g")
    return pg_url


def config_with(tmp_path, url, *exports):
    out = {"type": "local", "path": str(tmp_path / "out")}
    return write_config(tmp_path, {"type": "postgres", "url": url},
                        [{"format": "parquet", "destination": out, **export} for export in exports])


def summary(err: str, export: str) -> dict[str, str]:
    """Rivet's summary block of one export, from standard error (standard output may carry a stdout export)."""
    block = err.split(f"Export: {export}\n", 1)[1].split("Export: ", 1)[0]
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in block.strip().splitlines())}


def test_run_materializes_every_mode_in_the_instance_and_prints_the_summary(run_src, tmp_path, home, capsys):
    config = config_with(
        tmp_path, run_src,
        {"name": "full_rows", "query": "SELECT * FROM run_src"},
        {"name": "new_rows", "query": "SELECT * FROM run_src", "mode": "incremental", "cursor_column": "id"},
        {"name": "chunks", "query": "SELECT * FROM run_src", "mode": "chunked", "chunk_column": "id",
         "chunk_size": 1000, "chunk_checkpoint": True})
    code, _, err = cli(capsys, "run", "-c", config, "--validate", "--reconcile")
    assert code == 0, err
    for export in ("full_rows", "new_rows"):
        printed = summary(err, export)
        assert {key: printed[key] for key in ("status", "rows", "files", "quality", "validated", "reconcile",
                                              "schema")} == {
            "status": "success", "rows": "2,500", "files": "1", "quality": "-", "validated": "pass",
            "reconcile": "MATCH (2500/2500)", "schema": "unchanged"}
        assert printed["peak RSS"].endswith(" MB") and printed["duration"] != "0ms"
    chunks = summary(err, "chunks")
    assert chunks["rows"] == "2,500" and chunks["files"] == "3" and len(chunks["run"].split(", ")) == 3
    runs = dg.DagsterInstance.from_config(str(home)).get_runs()
    assert len(runs) == 5 and all(r.tags.get("rivet/cli") == "run" for r in runs)   # visible in the UI

    code, _, err = cli(capsys, "run", "-c", config, "--export", "chunks", "--resume")   # Rivet's words and code
    assert code == 1 and summary(err, "chunks")["run"] == "" and "no in-progress chunk checkpoint" in err


def test_params_fill_the_query_and_secrets_stay_out_of_the_stored_run(run_src, tmp_path, home, capsys):
    config = config_with(tmp_path, run_src, {"name": "some", "query": "SELECT * FROM run_src WHERE id <= ${MAX_ID} "
                                                                    "AND '${API_TOKEN}' <> ''"})
    code, _, err = cli(capsys, "run", "-c", config, "--param", "MAX_ID=42", "--param", "API_TOKEN=hunter2")
    assert code == 0 and summary(err, "some")["rows"] == "42"
    [run] = dg.DagsterInstance.from_config(str(home)).get_runs()
    assert run.run_config["ops"]["some"]["config"]["params"] == {"MAX_ID": "42"}   # what the UI shows
    assert "hunter2" not in str(run.run_config) and "hunter2" not in err


@pytest.mark.parametrize("export, code, line", [
    ({"query": "SELECT * FROM run_src_missing"}, 1, "relation \"run_src_missing\" does not exist"),
    ({"query": "SELECT * FROM run_src", "quality": {"row_count_max": 10}}, 3, "row_count 2500 exceeds maximum 10"),
])
def test_failures_exit_with_rivets_codes(run_src, tmp_path, home, capsys, export, code, line):
    config = config_with(tmp_path, run_src, {"name": "bad", **export})
    exit_code, _, err = cli(capsys, "run", "-c", config)
    assert exit_code == code and summary(err, "bad")["status"] == "failed" and line in summary(err, "bad")["error"]
    assert "Traceback" not in err and "Stack Trace" not in err      # the log is one line a message
    assert "bad: Execution of step \"bad\" failed. " in err                # with the step's error


def test_schema_drift_with_fail_exits_4(run_src, tmp_path, home, capsys):
    config = config_with(tmp_path, run_src, {"name": "drifty", "query": "SELECT * FROM run_src",
                                             "on_schema_drift": "fail"})
    assert cli(capsys, "run", "-c", config)[0] == 0
    config.write_text(config.read_text().replace("SELECT * FROM run_src", "SELECT id FROM run_src"))
    code, _, err = cli(capsys, "run", "-c", config)
    assert code == 4 and summary(err, "drifty")["schema"] == "DRIFT"
