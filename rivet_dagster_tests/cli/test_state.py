"""`rivet-dagster state ...` reads and repairs the state store that real materializations wrote."""
import datetime
import json

import dagster as dg
import pytest

from rivet_dagster.state.cursors import Window
from rivet_dagster_tests.cli.conftest import NEWEST_EVENT, cli, state_of
from rivet_dagster_tests.conftest import chunk_set, materialize


def rows_of(out: str) -> dict[str, list[str]]:
    """A printed table as {first cell: cells}, header included."""
    return {line.split()[0]: line.split() for line in out.splitlines()}


def test_show_lists_every_export_with_mode_cursor_last_run_and_chunk_progress(capsys, exported):
    code, out, err = cli(capsys, "state", "show", "-c", exported)
    assert code == 0 and err == ""
    rows = rows_of(out)
    assert rows["EXPORT"][:3] == ["EXPORT", "MODE", "CURSOR"]
    assert rows["cli_events"][:3] == ["cli_events", "incremental", NEWEST_EVENT]
    assert rows["cli_events"][4] == "success"
    assert rows["cli_notes"][:3] == ["cli_notes", "full", "-"]
    assert rows["cli_broken"][4] == "failed"
    assert rows["cli_items"][1] == "chunked" and rows["cli_items"][-1] == "2/3"
    header, first = out.splitlines()[:2]
    assert header.index("MODE") == first.index("incremental")        # aligned columns


def test_show_json_gives_the_same_state_to_scripts(capsys, exported):
    code, out, _ = cli(capsys, "state", "show", "-c", exported, "--json")
    by_name = {s["export"]: s for s in json.loads(out)}
    assert code == 0 and set(by_name) == {"cli_events", "cli_notes", "cli_items", "cli_broken"}
    assert by_name["cli_events"]["cursor"] == NEWEST_EVENT and by_name["cli_events"]["pending_window"] is None
    assert (by_name["cli_items"]["chunks_completed"], by_name["cli_items"]["chunks_total"]) == (2, 3)
    assert by_name["cli_notes"]["chunks_total"] is None and by_name["cli_notes"]["last_status"] == "success"


def open_window_after_crash(config) -> None:
    """What a run that stopped between opening its window and moving the cursor leaves behind."""
    state_of(config).open_window("cli_events", "run-crashed", Window(
        datetime.datetime(2024, 1, 1, 5), datetime.datetime(2024, 1, 1, 6), "cli_events_x", ("cli_events_x.parquet",)))


def test_show_reports_a_pending_window_left_by_a_crashed_run(capsys, exported_copy):
    open_window_after_crash(exported_copy)
    _, out, _ = cli(capsys, "state", "show", "-c", exported_copy, "--json")
    [events] = [s for s in json.loads(out) if s["export"] == "cli_events"]
    assert events["pending_window"] == f"({NEWEST_EVENT}, 2024-01-01T06:00:00.000000]"


def test_reset_forgets_cursor_and_window_so_the_next_run_exports_every_row(capsys, exported_copy):
    open_window_after_crash(exported_copy)
    files_before = state_of(exported_copy).files("cli_events")
    code, out, _ = cli(capsys, "state", "reset", "-c", exported_copy, "--export", "cli_events")
    assert code == 0
    assert out == (f"State reset for export 'cli_events': forgot cursor {NEWEST_EVENT} and pending window up to "
                   "2024-01-01T06:00:00.000000. The next run starts from the first row.\n")
    store = state_of(exported_copy)
    assert store.cursor("cli_events") is None and store.pending_window("cli_events") is None
    assert store.files("cli_events") == files_before and store.metrics("cli_events")     # history stays
    materialize(exported_copy, "cli_events")
    assert store.metrics("cli_events", last=1)[0]["total_rows"] == 300


def test_reset_of_an_export_without_cursor_says_so(capsys, exported_copy):
    code, out, _ = cli(capsys, "state", "reset", "-c", exported_copy, "--export", "cli_notes")
    assert code == 0 and "State reset for export 'cli_notes': no cursor was recorded." in out


def test_files_lists_the_manifest_newest_first_with_filters(capsys, exported):
    code, out, _ = cli(capsys, "state", "files", "-c", exported)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["RUN", "ID", "EXPORT", "PARTITION", "FILE", "ROWS", "BYTES", "CREATED"]
    notes = [line.split() for line in lines if " cli_notes " in line]
    assert len(notes) == 1 and notes[0][3].startswith("cli_notes_") and notes[0][3].endswith(".csv")
    assert len(notes[0][0]) == 8 and notes[0][4] == "10"
    chunk_rows = [line.split() for line in lines if " cli_items " in line]
    assert [r[2] for r in chunk_rows] == ["000000001001-000000002000", "000000000001-000000001000"]

    _, out, _ = cli(capsys, "state", "files", "-c", exported, "--export", "cli_items", "--last", "1")
    assert len(out.splitlines()) == 2 and "000000001001-000000002000" in out

    _, out, _ = cli(capsys, "state", "files", "-c", exported, "--export", "cli_events", "--json")
    [events_file] = json.loads(out)
    assert events_file["row_count"] == 300 and events_file["file_name"].endswith(".parquet")


def test_chunks_shows_each_checkpoint_and_the_progress(capsys, exported):
    code, out, _ = cli(capsys, "state", "chunks", "-c", exported, "--export", "cli_items")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "cli_items: 2/3 chunks completed, 1 pending"
    assert lines[1].split()[:6] == ["CHUNK", "STATUS", "START", "END", "ATTEMPTS", "ROWS"]
    assert lines[2].split()[:6] == ["000000000001-000000001000", "completed", "1", "1000", "1", "1000"]
    assert lines[4].split()[:6] == ["000000002001-000000002500", "pending", "2001", "2500", "0", "-"]

    _, out, _ = cli(capsys, "state", "chunks", "-c", exported, "--export", "cli_items", "--json")
    assert [t["status"] for t in json.loads(out)] == ["completed", "completed", "pending"]


def test_chunks_of_an_export_that_is_not_chunked_is_an_error(capsys, exported):
    code, out, err = cli(capsys, "state", "chunks", "-c", exported, "--export", "cli_events")
    assert (code, out) == (1, "")
    assert err == "error: export 'cli_events' is mode: incremental; only chunked exports have chunks\n"


def test_reset_chunks_forgets_the_checkpoints(capsys, exported_copy, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    code, out, _ = cli(capsys, "state", "reset-chunks", "-c", exported_copy, "--export", "cli_items")
    assert code == 0 and out == ("Removed 3 chunk checkpoint(s) for export 'cli_items'. DAGSTER_HOME is not set, "
                                 f"so the partition keys of {chunk_set(exported_copy, 'cli_items')} stay.\n")
    assert state_of(exported_copy).chunk_tasks("cli_items") == []
    _, out, _ = cli(capsys, "state", "chunks", "-c", exported_copy, "--export", "cli_items")
    assert out.startswith("No chunk checkpoints recorded for export 'cli_items'")


@pytest.mark.parametrize("argv, error", [
    ((), "no export in {config} sets keep_last; name one with --export and --keep-last N"),
    (("-e", "cli_notes"), "export 'cli_notes' sets no keep_last; give --keep-last N"),
    (("-e", "cli_notes", "--keep-last", "0"), "--keep-last must be 1 or more (got 0); the latest file set always "
                                              "stays"),
    (("-e", "cli_events", "--keep-last", "2"), "export 'cli_events': keep_last is only valid with mode: full or "
                                               "time_window; each incremental file set holds rows no other one "
                                               "holds, so removing one loses data"),
])
def test_prune_refuses_what_would_lose_data_or_has_no_rule(capsys, exported, argv, error):
    code, out, err = cli(capsys, "state", "prune", "-c", exported, *argv)
    assert (code, out, err) == (1, "", f"error: {error.format(config=exported)}\n")


def test_an_unknown_export_names_the_known_ones(capsys, exported):
    code, out, err = cli(capsys, "state", "reset", "-c", exported, "--export", "nope")
    assert (code, out) == (1, "")
    assert err == (f"error: export 'nope' not found in config {exported} "
                   "(exports: cli_events, cli_notes, cli_items, cli_broken)\n")


@pytest.mark.sqlite_state  # the state file's absence is what it checks
def test_a_config_that_never_ran_has_no_state_and_reading_creates_none(capsys, tmp_path, pg_url):
    from rivet_dagster_tests.conftest import write_config
    config = write_config(tmp_path, {"type": "postgres", "url": pg_url}, [
        {"name": "fresh", "query": "SELECT 1 AS one", "format": "csv", "destination": {"type": "stdout"}}])
    assert cli(capsys, "state", "files", "-c", config)[1] == "No files recorded yet.\n"
    code, out, _ = cli(capsys, "state", "show", "-c", config)
    assert code == 0 and out.splitlines()[1].split() == ["fresh", "full", "-", "-", "-", "-", "-"]
    assert not (tmp_path / ".rivet_state.db").exists()


def test_reset_chunks_with_a_dagster_home_forgets_the_partition_keys_too(capsys, exported_copy, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(chunk_set(exported_copy, "cli_items"), [t["chunk_key"] for t in
                                                              state_of(exported_copy).chunk_tasks("cli_items")])
    code, out, _ = cli(capsys, "state", "reset-chunks", "-c", exported_copy, "--export", "cli_items")
    assert code == 0 and out == "Removed 3 chunk checkpoint(s) and 3 partition key(s) for export 'cli_items'.\n"
    with dg.DagsterInstance.get() as instance:
        assert instance.get_dynamic_partitions(chunk_set(exported_copy, "cli_items")) == []
    assert state_of(exported_copy).chunk_tasks("cli_items") == []
