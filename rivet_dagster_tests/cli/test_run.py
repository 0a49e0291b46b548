"""`rivet-dagster run`: exports run through Dagster on $DAGSTER_HOME (the runs are in the instance), Rivet's
summary per export, and Rivet's exit codes: 0 ok, 1 failure, 2 transient, 3 integrity, 4 schema drift with fail."""
import csv
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from rivet_dagster.cli.main import main
from rivet_dagster.state.store import StateStore
from rivet_dagster_tests.cli.conftest import RIVET_DAGSTER, cli, console
from rivet_dagster_tests.conftest import dagster_cli, run_sql, schema_url, state_in, write_config


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
    assert chunks["rows"] == "2,500" and chunks["files"] == "3" and len(chunks["run"].split(", ")) == 1
    assert (chunks["validated"], chunks["reconcile"]) == ("pass", "MATCH (2500/2500)")  # judged in the chunk run
    runs = dg.DagsterInstance.from_config(str(home)).get_runs()
    assert len(runs) == 3 and all(r.tags.get("rivet/cli") == "run" for r in runs)   # visible in the UI

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


# ── the commands as a user types them: the console script ────────────────────────────────────────────────────

TEN_IDS = "SELECT g AS id FROM generate_series(1, 10) g"


def local_csv(name: str, query: str, path: str, **keys) -> dict:
    return {"name": name, "query": query, "format": "csv", "destination": {"type": "local", "path": path}, **keys}


def config_text(url: str, *exports: dict, **top) -> str:
    return yaml.safe_dump({"source": {"type": "postgres", "url": url}, **top, "exports": list(exports)},
                          sort_keys=False)


def csv_ids(path: Path) -> list[int]:
    [header, *rows] = csv.reader(path.open())
    assert header == ["id"]
    return [int(row[0]) for row in rows]


@pytest.mark.sqlite_state  # the state file's place is what it checks
@pytest.mark.parametrize("flag, value", [("-c", "-"), ("--config", "/dev/stdin")], ids=["-c -", "--config /dev/stdin"])
def test_a_config_on_standard_input_keeps_its_files_and_state_in_the_working_directory(
        pg_url, tmp_path, home, capsys, monkeypatch, flag, value):
    """`rivet-dagster run -c - -e piped < rivet.yaml` (and Rivet's §13 form, `--config /dev/stdin` fed by a pipe):
    a piped config has no folder of its own, so `path: ./out` and `.rivet_state.db` are in the working directory."""
    text = config_text(pg_url, local_csv("piped", TEN_IDS, "./out"), local_csv("unpiped", TEN_IDS, "./out"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = console("run", flag, value, "-e", "piped", cwd=cwd, stdin=text)
    assert result.returncode == 0, result.stderr
    assert summary(result.stderr, "piped")["rows"] == "10" and "Export: unpiped" not in result.stderr
    assert sorted(p.name for p in cwd.iterdir()) == [".rivet_state.db", "out"]
    [written] = (cwd / "out").glob("piped_*.csv")
    assert csv_ids(written) == list(range(1, 11))
    [metric] = state_in(cwd).metrics("piped")
    assert (metric["status"], metric["total_rows"]) == ("success", 10)

    # the other verbs read the same state store through a piped config
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, out, _ = cli(capsys, "state", "files", "-c", "-", "-e", "piped")
    assert code == 0 and written.name in out and len(out.splitlines()) == 2


@pytest.mark.sqlite_state  # the state file's place is what it checks
def test_dev_stdin_redirected_from_a_file_is_that_file_and_its_folder(pg_url, tmp_path, home):
    """`rivet-dagster run --config /dev/stdin < project/rivet.yaml`: the config is a file after all, so its
    folder holds the exports and the state store, as when it is named directly."""
    project, cwd = tmp_path / "project", tmp_path / "cwd"
    project.mkdir()
    cwd.mkdir()
    config = project / "rivet.yaml"
    config.write_text(config_text(pg_url, local_csv("redirected", TEN_IDS, "./out")))
    with config.open() as redirected:
        result = subprocess.run([RIVET_DAGSTER, "run", "--config", "/dev/stdin"], cwd=cwd, stdin=redirected,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert list(cwd.iterdir()) == [] and (project / ".rivet_state.db").exists()
    [written] = (project / "out").glob("redirected_*.csv")
    assert csv_ids(written) == list(range(1, 11))


@pytest.mark.sqlite_state  # one state file per config; a shared store keys state by export name, as Rivet's
def test_a_chunked_run_covers_its_own_plan_not_a_same_named_export_of_another_config(pg_url, tmp_path, home):
    """Two configs with a chunked export of the same name on one instance: each run exports its own plan."""
    run_sql(pg_url, "DROP TABLE IF EXISTS ten", "CREATE TABLE ten AS SELECT g AS id FROM generate_series(1, 10) g")
    outputs = {}
    for name, size in (("a", 100), ("b", 5)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "rivet.yaml").write_text(config_text(pg_url, {
            "name": "ids", "query": "SELECT * FROM ten", "mode": "chunked", "chunk_column": "id", "chunk_size": size,
            "format": "csv", "destination": {"type": "local", "path": "./out"}}))
        result = console("run", "-c", folder / "rivet.yaml")
        assert result.returncode == 0, result.stderr
        outputs[name] = sorted(i for path in (folder / "out").glob("ids_*.csv") for i in csv_ids(path))
    assert outputs == {"a": list(range(1, 11)), "b": list(range(1, 11))}


def test_a_changed_chunk_plan_is_refused_with_the_shell_command_that_resets_it(pg_url, tmp_path, home):
    """A chunk_size changed after a run: the next run exits 1 and names the command to start over; running the
    command exactly as printed lets the new plan export every row."""
    run_sql(pg_url, "DROP TABLE IF EXISTS ten", "CREATE TABLE ten AS SELECT g AS id FROM generate_series(1, 10) g")
    config = tmp_path / "my project" / "rivet.yaml"   # a space: the command quotes its arguments
    config.parent.mkdir()
    chunked = local_csv("ids", "SELECT * FROM ten", "./out", mode="chunked", chunk_column="id", chunk_size=5)
    config.write_text(config_text(pg_url, chunked))
    assert console("run", "-c", config).returncode == 0
    config.write_text(config_text(pg_url, {**chunked, "chunk_size": 4}))
    refused = console("run", "-c", config)
    assert refused.returncode == 1
    command = f"DAGSTER_HOME={home} rivet-dagster state reset-chunks -c '{config}' -e ids"
    assert refused.stderr.startswith("error: export 'ids': chunk plan fingerprint mismatch")
    assert f"To start over (committed files stay): {command}, or from code" in refused.stderr
    path = f"{Path(RIVET_DAGSTER).parent}{os.pathsep}{os.environ['PATH']}"
    reset = subprocess.run(["bash", "-c", command], env={**os.environ, "PATH": path}, capture_output=True, text=True,
                           timeout=120)
    # the old plan's checkpoints go; its partition keys are another set's, which the new plan does not use
    assert reset.stdout == "Removed 2 chunk checkpoint(s) and 0 partition key(s) for export 'ids'.\n", reset.stderr
    rerun = console("run", "-c", config)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert summary(rerun.stderr, "ids")["rows"] == "10"
    new_plan = ("000000000001-000000000004", "000000000005-000000000008", "000000000009-000000000010")
    assert [csv_ids(path) for key in new_plan for path in (config.parent / "out").glob(f"ids_{key}_*.csv")] == [
        [1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]


def test_exit_codes_are_rivets_and_a_usage_error_is_1_not_argparses_2(tmp_path, capsys):
    """Rivet's exit codes, which schedulers and scripts branch on:

        code  meaning                                                       made real by
        ----  ------------------------------------------------------------  -------------------------------------
        0     every export ok                                               any successful run
        1     config error, usage error, any other failure                  unknown key; `run --no-such-flag`;
                                                                            --resume without chunk_checkpoint
        2     transient: a source/store error that outlasted its retries    connection refused, max_retries: 1
        3     integrity: a quality gate, validate or reconcile failed       quality: {row_count_min: 10**9}
        4     schema drift with on_schema_drift: fail                       the query's columns change

    With several exports in one run (sequential or in child processes) the highest code wins. argparse's own
    exit code for a usage error is 2; here 2 means "transient, run again later", so a usage error is 1.
    """
    result = console("run", "--no-such-flag")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("usage: rivet-dagster") and \
        result.stderr.endswith("rivet-dagster: error: unrecognized arguments: --no-such-flag\n")
    for argv in (["run", "-e"], ["metrics", "-l", "many"], ["state", "show", "--nope"], []):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 1, argv
    capsys.readouterr()

    config = tmp_path / "rivet.yaml"
    config.write_text(config_text("postgresql://nobody@127.0.0.1:1/never_connected",
                                  local_csv("typo", TEN_IDS, "./out", frmat="csv")))
    code, out, err = cli(capsys, "run", "-c", config)
    assert (code, out) == (1, "") and "Export:" not in err
    assert err == f"error: {config}:11: exports[0].frmat: unknown key 'frmat'; did you mean 'format'?\n"


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: bound by the OS's choice, then closed (connect is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_source_that_stays_unreachable_past_its_retries_exits_2_naming_the_source(tmp_path, home):
    port = closed_port()
    config = tmp_path / "rivet.yaml"
    config.write_text(yaml.safe_dump({
        "source": {"type": "postgres", "url": f"postgresql://rivet:s3cret-pw@127.0.0.1:{port}/nowhere",
                   "tuning": {"max_retries": 1, "retry_backoff_ms": 10}},
        "exports": [local_csv("unreachable", TEN_IDS, str(tmp_path / "out"))]}))
    result = console("run", "-c", config)
    assert result.returncode == 2, result.stderr
    printed = summary(result.stderr, "unreachable")
    assert printed["status"] == "failed" and printed["files"] == "0"
    assert f"postgresql+psycopg://rivet:***@127.0.0.1:{port}/nowhere" in printed["error"]   # the source, masked
    assert "connection refused" in printed["error"].lower() and "after 2 attempts" in printed["error"]
    assert printed["hint"].startswith("the source was unavailable; nothing was committed")   # SourceUnavailable's
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert "retry 1/1" in result.stderr and not any(tmp_path.glob("out/*.csv"))   # nothing committed


def test_a_failed_quality_gate_commits_nothing_and_exits_3_over_an_export_that_succeeded(pg_url, tmp_path, home):
    out = tmp_path / "out"
    config = tmp_path / "rivet.yaml"
    config.write_text(config_text(pg_url, local_csv("fine", TEN_IDS, str(out)),
                                  local_csv("gated", TEN_IDS, str(out), quality={"row_count_min": 10**9})))
    result = console("run", "-c", config)
    assert result.returncode == 3, result.stderr
    assert summary(result.stderr, "fine")["status"] == "success"
    gated = summary(result.stderr, "gated")
    assert (gated["status"], gated["quality"], gated["files"]) == ("failed", "FAIL", "0")
    assert gated["error"] == "gated: quality gate failed, nothing was committed: row_count 10 below minimum 1000000000"
    assert [p.name.split("_")[0] for p in out.glob("*.csv")] == ["fine"]
    assert {f["export_name"] for f in state_in(tmp_path).files()} == {"fine"}


def test_a_chunk_that_fails_its_quality_gate_is_not_committed_and_the_others_are(pg_url, tmp_path, home):
    """Ids 1-8 in chunks of 5: the second chunk holds 3 rows, under `row_count_min: 4`. The run goes on with the
    other chunk, commits it, and exits 3 naming the chunk that failed its gate."""
    out = tmp_path / "out"
    config = tmp_path / "rivet.yaml"
    config.write_text(config_text(pg_url, local_csv(
        "gated", "SELECT g AS id FROM generate_series(1, 8) g", str(out), mode="chunked", chunk_column="id",
        chunk_size=5, chunk_checkpoint=True, quality={"row_count_min": 4})))
    result = console("run", "-c", config)
    assert result.returncode == 3, result.stderr
    gated = summary(result.stderr, "gated")
    assert (gated["status"], gated["quality"], gated["rows"], gated["files"]) == ("failed", "FAIL", "5", "1")
    assert gated["error"] == ("gated: 1 of 2 chunk(s) failed, 1 committed (a rerun exports only the failed and "
                              "missing ones); chunk 000000000006-000000000008: quality gate failed, nothing was committed: "
                              "row_count 3 below minimum 4")
    [committed] = out.glob("*.csv")
    assert committed.name.startswith("gated_000000000001-000000000005_")
    tasks = state_in(tmp_path).chunk_tasks("gated")
    assert [(t["status"], t["attempts"]) for t in tasks] == [("completed", 1), ("failed", 1)]   # not retried


def test_the_highest_code_of_the_exports_wins(run_src, tmp_path, home, capsys):
    config = config_with(tmp_path, run_src,
                         {"name": "drifty", "query": "SELECT id, label FROM run_src", "on_schema_drift": "fail"},
                         {"name": "gated", "query": "SELECT * FROM run_src", "quality": {"row_count_min": 10**9}})
    code, _, err = cli(capsys, "run", "-c", config)
    assert code == 3 and summary(err, "drifty")["status"] == "success"
    config.write_text(config.read_text().replace("SELECT id, label FROM run_src", "SELECT id FROM run_src"))
    code, _, err = cli(capsys, "run", "-c", config)
    assert code == 4, err
    assert summary(err, "drifty")["schema"] == "DRIFT" and summary(err, "gated")["quality"] == "FAIL"


# ── parallel exports: a child process per export ─────────────────────────────────────────────────────────────

@pytest.fixture
def used_home(home) -> Path:
    """$DAGSTER_HOME with its storage created, as in any home that has run before (the children only use it)."""
    dg.DagsterInstance.from_config(str(home)).get_runs()
    return home


def run_records(home: Path, printed: str, *exports: str) -> list:
    """The Dagster run record of each export's one run (by the run id its summary printed) and the pid that ran it."""
    instance = dg.DagsterInstance.from_config(str(home))
    records = {r.dagster_run.run_id: r for r in instance.get_run_records()}
    found = []
    for export in exports:
        [run_id] = [r for r in records if r.startswith(summary(printed, export)["run"])]
        [started] = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)
        found.append((records[run_id], started.dagster_event.pid))
    return found


def test_parallel_exports_run_every_export_in_its_own_process_at_the_same_time(pg_url, tmp_path, used_home):
    """Two exports whose queries sleep 2 s and 3 s: with --parallel-exports each runs in its own child process and
    their Dagster runs overlap in time; every summary is printed; the highest child's code (3) is the exit code."""
    out = str(tmp_path / "out")
    config = tmp_path / "rivet.yaml"
    config.write_text(config_text(
        pg_url, local_csv("nap", f"{TEN_IDS}, (SELECT pg_sleep(2)) s", out),
        local_csv("nap_gated", f"{TEN_IDS}, (SELECT pg_sleep(3)) s", out, quality={"row_count_min": 10**9})))
    command = subprocess.Popen([RIVET_DAGSTER, "run", "-c", str(config), "--parallel-exports"], text=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = command.communicate(timeout=120)
    assert command.returncode == 3, err
    assert (summary(err, "nap")["status"], summary(err, "nap")["rows"]) == ("success", "10")
    assert (summary(err, "nap_gated")["status"], summary(err, "nap_gated")["quality"]) == ("failed", "FAIL")
    (nap, nap_pid), (gated, gated_pid) = run_records(used_home, err, "nap", "nap_gated")
    assert len({nap_pid, gated_pid, command.pid}) == 3            # two children, neither the command itself
    assert max(nap.start_time, gated.start_time) < min(nap.end_time, gated.end_time)   # at the same time
    assert min(nap.end_time - nap.start_time, gated.end_time - gated.start_time) >= 2  # each slept in its run


@pytest.mark.parametrize("flag, keys", [
    (["--parallel-export-processes"], {}),
    ([], {"parallel_exports": True}),
    ([], {"parallel_export_processes": True}),
], ids=["--parallel-export-processes", "parallel_exports: true", "parallel_export_processes: true"])
def test_every_parallel_setting_runs_each_export_in_a_child_and_exits_with_the_highest_code(
        pg_url, tmp_path, used_home, capfd, flag, keys):
    """`second` sleeps 1 s, so the two children's summaries come one after the other."""
    out = str(tmp_path / "out")
    config = tmp_path / "rivet.yaml"
    config.write_text(config_text(pg_url, local_csv("first", TEN_IDS, out),
                                  local_csv("second", f"{TEN_IDS}, (SELECT pg_sleep(1)) s", out,
                                            quality={"row_count_min": 10**9}), **keys))
    code, _, err = cli(capfd, "run", "-c", config, *flag)   # the children print to the inherited stderr
    assert code == 3, err
    assert summary(err, "first")["status"] == "success" and summary(err, "second")["quality"] == "FAIL"
    (_, first_pid), (_, second_pid) = run_records(used_home, err, "first", "second")
    assert len({first_pid, second_pid, os.getpid()}) == 3


def test_without_a_parallel_setting_exports_run_one_after_another_in_the_command_itself(pg_url, tmp_path, home,
                                                                                     capsys):
    out = str(tmp_path / "out")
    config = tmp_path / "rivet.yaml"
    config.write_text(config_text(pg_url, local_csv("first", TEN_IDS, out),
                                  local_csv("second", TEN_IDS, out, quality={"row_count_min": 10**9})))
    code, _, err = cli(capsys, "run", "-c", config)
    assert code == 3 and err.index("Export: first") < err.index("Export: second")
    (first, first_pid), (second, second_pid) = run_records(home, err, "first", "second")
    assert first_pid == second_pid == os.getpid() and first.end_time <= second.start_time


# ── the export's own error reaches the user ──────────────────────────────────────────────────────────────────

def test_a_failing_chunk_reports_the_databases_words_not_dagsters_retry_wrapper(pg_url, tmp_path, home, capsys):
    """Chunk 1-5 divides by zero at id 5 (chunk 6-10 exports); chunk_max_attempts: 2 tries it twice in the run,
    and the run's error carries the database's own words."""
    config = tmp_path / "rivet.yaml"
    config.write_text(config_text(pg_url, local_csv(
        "boom", "SELECT g AS id, 1/(g-5) AS x FROM generate_series(1, 10) g", str(tmp_path / "out"),
        mode="chunked", chunk_column="id", chunk_size=5, chunk_max_attempts=2, tuning={"retry_backoff_ms": 10})))
    result = console("run", "-c", config)
    assert result.returncode == 1, result.stderr
    printed = summary(result.stderr, "boom")
    assert (printed["status"], printed["rows"], len(printed["run"].split(", "))) == ("failed", "5", 1)
    assert printed["error"].startswith("boom: 1 of 2 chunk(s) failed, 1 committed")
    assert "division by zero" in printed["error"] and sa.make_url(pg_url).database in printed["error"]
    assert "Exceeded max_retries" not in result.stderr

    code, out, _ = cli(capsys, "metrics", "-c", config, "-e", "boom")   # the state store's record of each attempt
    failed = [line for line in out.splitlines() if " failed " in line]
    assert code == 0 and len(failed) == 2 and all("division by zero" in line for line in failed)
    code, out, _ = cli(capsys, "metrics", "-c", config, "-e", "boom", "--json")
    errors = [m["error_message"] for m in json.loads(out) if m["status"] == "failed"]
    assert len(errors) == 2 and all("division by zero" in e and "max_retries" not in e for e in errors)


def test_a_failing_mariadb_chunk_reports_the_servers_message(mariadb_url, tmp_path, home, capsys):
    """MariaDB's Sequence engine table seq_1_to_10; at seq 5 a scalar subquery returns two rows (error 1242)."""
    config = tmp_path / "rivet.yaml"
    config.write_text(yaml.safe_dump({"source": {"type": "mysql", "url": mariadb_url}, "exports": [local_csv(
        "mboom", "SELECT seq AS id, CASE WHEN seq = 5 THEN (SELECT 1 UNION ALL SELECT 2) ELSE 0 END AS x "
                 "FROM seq_1_to_10", str(tmp_path / "out"),
        mode="chunked", chunk_column="id", chunk_size=5, chunk_max_attempts=2, tuning={"retry_backoff_ms": 10})]}))
    code, _, err = cli(capsys, "run", "-c", config)
    printed = summary(err, "mboom")
    assert code == 1 and (printed["status"], printed["rows"]) == ("failed", "5")
    assert "Subquery returns more than 1 row" in printed["error"] and sa.make_url(mariadb_url).database in \
        printed["error"]
    assert "Exceeded max_retries" not in err and "panicked" not in printed["error"]


def test_resume_without_chunk_checkpoint_exits_1_and_says_it_is_needed(pg_url, tmp_path, home):
    out = tmp_path / "out"
    config = tmp_path / "rivet.yaml"
    config.write_text(config_text(pg_url, local_csv("unchecked", TEN_IDS, str(out), mode="chunked",
                                                    chunk_column="id", chunk_size=5)))
    result = console("run", "-c", config, "-e", "unchecked", "--resume")
    assert result.returncode == 1, result.stderr
    printed = summary(result.stderr, "unchecked")
    assert (printed["run"], printed["status"], printed["rows"]) == ("", "failed", "0")
    assert printed["error"] == ("export 'unchecked': --resume needs chunk_checkpoint: true (no chunk progress is "
                                "recorded without it)")
    assert not out.exists() and dg.DagsterInstance.from_config(str(home)).get_runs() == []


def test_a_rerun_after_a_killed_chunk_run_is_not_held_by_its_pool_slot(run_src, tmp_path, home, monkeypatch):
    """`parallel: 1` gives the chunks' pool one slot; the killed run claimed it and can never free it. The rerun
    marks the dead run failed and frees its slot, then exports every chunk (before: it waited forever)."""
    config = config_with(tmp_path, run_src, {"name": "chunks", "query": "SELECT * FROM run_src", "mode": "chunked",
                                             "chunk_column": "id", "chunk_size": 1000, "chunk_checkpoint": True})
    monkeypatch.setenv("RIVET_CRASH_AT", "fetch")
    killed = console("run", "-c", config)
    assert killed.returncode == -9, killed.stderr[-2000:]
    monkeypatch.delenv("RIVET_CRASH_AT")
    rerun = console("run", "-c", config, timeout=90)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert summary(rerun.stderr, "chunks")["rows"] == "2,500"
    failed = dg.DagsterInstance.from_config(str(home)).get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    assert len(failed) == 1   # the killed run, marked failed by the rerun


@pytest.mark.parametrize("named_by", ["RIVET_STATE_URL", "state: url_env"])
def test_a_shared_state_store_serves_run_dagster_and_state_from_any_folder(named_by, run_src, tmp_path, home,
                                                                          monkeypatch):
    """Rivet's `RIVET_STATE_URL=postgresql://...` (or the config's `state:`) puts the state in a PostgreSQL
    database: `rivet-dagster run` from one folder and `dagster asset materialize` of a copy of the config in
    another advance the same cursor, `rivet-dagster state show` reads it, and no `.rivet_state.db` appears."""
    url = schema_url(run_src, "shared")
    variable = "RIVET_STATE_URL" if named_by == "RIVET_STATE_URL" else "TEAM_STATE_URL"
    monkeypatch.setenv(variable, url)
    exports = [{"name": "grows", "query": "SELECT id FROM run_src", "mode": "incremental", "cursor_column": "id",
                "format": "csv"}]
    configs = []
    for folder in ("laptop", "server"):
        (tmp_path / folder).mkdir()
        config = config_with(tmp_path / folder, run_src, *exports)
        if named_by == "state: url_env":
            config.write_text(config.read_text() + f"state:\n  url_env: {variable}\n")
        configs.append(config)

    result = console("run", "-c", configs[0])
    assert result.returncode == 0 and summary(result.stderr, "grows")["rows"] == "2,500", result.stderr
    run_sql(run_src, "INSERT INTO run_src SELECT g, 'row ' || g FROM generate_series(2501, 2600) g")
    command, env = dagster_cli(configs[1], home, "grows")
    materialized = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert materialized.returncode == 0, materialized.stderr[-3000:]
    assert [csv_ids(f) for f in (tmp_path / "server" / "out").glob("grows_*.csv")] == [list(range(2501, 2601))]

    shown = console("state", "show", "-c", configs[0], "--json")
    assert json.loads(shown.stdout)[0]["cursor"] == "2600"
    assert not [p for p in tmp_path.rglob(".rivet_state.db*")]
    store = StateStore(url_env=variable)
    assert [m["status"] for m in store.metrics("grows")] == ["success", "success"]
