"""`rivet-dagster metrics` shows the runs real materializations recorded."""
import json

from rivet_dagster_tests.cli.conftest import cli


def test_metrics_list_each_run_newest_first_with_the_error_of_a_failed_one(capsys, exported):
    code, out, err = cli(capsys, "metrics", "-c", exported)
    lines = out.splitlines()
    assert code == 0 and err == ""
    assert lines[0].split() == ["RUN", "AT", "EXPORT", "STATUS", "ROWS", "FILES", "BYTES", "DURATION", "RSS",
                                "RETRIES", "VALIDATED", "SCHEMA", "ERROR"]
    runs = [line.split()[1:5] + line.split()[9:11] for line in lines[1:]]
    assert runs == [["cli_items", "success", "1000", "1", "-", "ok"], ["cli_items", "success", "1000", "1", "-", "ok"],
                    ["cli_broken", "failed", "0", "0", "-", "ok"], ["cli_notes", "success", "10", "1", "pass", "ok"],
                    ["cli_events", "success", "300", "1", "-", "ok"]]
    assert all(line.split()[7].endswith("MB") for line in lines[1:])
    [broken] = [line for line in lines if "cli_broken" in line]
    assert "cli_no_such_table" in broken


def test_metrics_filter_by_export_and_count_and_print_json(capsys, exported):
    _, out, _ = cli(capsys, "metrics", "-c", exported, "--export", "cli_items", "--last", "1")
    assert len(out.splitlines()) == 2 and " cli_items " in out
    _, out, _ = cli(capsys, "metrics", "-c", exported, "--export", "cli_events", "--json")
    [run] = json.loads(out)
    assert (run["status"], run["total_rows"], run["mode"]) == ("success", 300, "incremental")
