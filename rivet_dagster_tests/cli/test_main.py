"""The `rivet-dagster` entry point: help on every verb, one-line errors, tracebacks only with --debug."""
import csv
from pathlib import Path

import pytest

from rivet_dagster.cli.main import main
from rivet_dagster_tests.cli.conftest import NEWEST_EVENT, cli, console
from rivet_dagster_tests.conftest import rivet_dagster_cli, write_config

VERBS = [["state", "show"], ["state", "reset"], ["state", "files"], ["state", "chunks"], ["state", "reset-chunks"],
         ["state", "prune"], ["metrics"], ["doctor"], ["init"], ["check"]]


def test_the_command_runs_as_a_program(exported):
    result = rivet_dagster_cli("state", "show", "-c", exported)
    assert result.returncode == 0 and result.stderr == ""
    assert any(line.split()[:3] == ["cli_events", "incremental", NEWEST_EVENT] for line in result.stdout.splitlines())


def test_an_error_is_one_line_on_stderr_and_exit_1(tmp_path):
    result = rivet_dagster_cli("metrics", "-c", tmp_path / "missing.yaml")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {tmp_path / 'missing.yaml'}: cannot read config file: No such file or directory\n"


def test_debug_shows_the_traceback(capsys, tmp_path):
    with pytest.raises(Exception, match="cannot read config file"):
        main(["--debug", "metrics", "-c", str(tmp_path / "missing.yaml")])
    assert cli(capsys, "metrics", "-c", tmp_path / "missing.yaml")[0] == 1


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_every_verb_explains_itself(capsys, verb):
    with pytest.raises(SystemExit) as exited:
        main([*verb, "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0 and out.startswith(f"usage: rivet-dagster {' '.join(verb)}")
    assert len(out.splitlines()) > 3


# ── Rivet's short flags ───────────────────────────────────────────────────────────────────────────────────────

OUT_VAR = "RIVET_TEST_FLAGS_OUT"   # only a --param / -p sets it (the environment could too: the test removes it)


@pytest.fixture
def param_config(pg_url, tmp_path, dagster_home, monkeypatch) -> Path:
    """rivet.yaml whose destination path is `${RIVET_TEST_FLAGS_OUT}`, so every verb needs `-p` / `--param` to
    load it: `flagged` (incremental on id, 10 rows) and `other` (full, 10 rows)."""
    monkeypatch.delenv(OUT_VAR, raising=False)
    query = "SELECT g AS id FROM generate_series(1, 10) g"
    out = {"type": "local", "path": f"${{{OUT_VAR}}}"}
    return write_config(tmp_path, {"type": "postgres", "url": pg_url}, [
        {"name": "flagged", "query": query, "mode": "incremental", "cursor_column": "id", "format": "csv",
         "destination": out},
        {"name": "other", "query": query, "format": "csv", "destination": out}])


def test_a_config_variable_without_its_param_is_a_config_error_naming_it(param_config, capsys):
    result = console("metrics", "-c", param_config)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"error: {param_config}:") and result.stderr.count("\n") == 1
    assert f"destination.path: variable '${{{OUT_VAR}}}' is not set" in result.stderr

    code, out, err = cli(capsys, "state", "show", "-c", param_config)
    assert (code, out) == (1, "") and f"variable '${{{OUT_VAR}}}' is not set" in err

    result = console("metrics", "-c", param_config, "-p", f"{OUT_VAR}=/tmp/anywhere")
    assert (result.returncode, result.stdout, result.stderr) == (0, "No metrics recorded yet.\n", "")
    code, out, err = cli(capsys, "state", "show", "--config", param_config, "--param", f"{OUT_VAR}=/tmp/anywhere")
    assert (code, err) == (0, "") and [line.split()[:2] for line in out.splitlines()[1:]] == [
        ["flagged", "incremental"], ["other", "full"]]


def test_rivets_short_flags_do_what_the_long_ones_do_on_every_verb(param_config, tmp_path, capsys):
    """`-c/--config`, `-e/--export`, `-p/--param` and `-l/--last`, as Rivet's command lines spell them."""
    out = tmp_path / "exported"
    param = f"{OUT_VAR}={out}"

    # run: the console script with short flags only; -e runs that export alone, -p fills the path
    result = console("run", "-c", param_config, "-e", "flagged", "-p", param)
    assert result.returncode == 0, result.stderr
    assert "Export: flagged\n" in result.stderr and "Export: other" not in result.stderr
    [written] = out.glob("flagged_*.csv")
    assert list(csv.reader(written.open())) == [["id"], *([str(i)] for i in range(1, 11))]
    assert cli(capsys, "run", "--config", param_config, "--export", "other", "--param", param)[0] == 0

    # metrics: -e filters, -l limits, as --export / --last do
    result = console("metrics", "-c", param_config, "-e", "flagged", "-l", "1", "-p", param)
    assert result.returncode == 0, result.stderr
    [header, row] = result.stdout.splitlines()
    assert header.split()[:3] == ["RUN", "AT", "EXPORT"] and row.split()[1:4] == ["flagged", "success", "10"]
    assert cli(capsys, "metrics", "--config", param_config, "--export", "flagged", "--last", "1",
               "--param", param) == (0, result.stdout, "")
    newest = cli(capsys, "metrics", "-c", param_config, "-l", "1", "-p", param)[1].splitlines()
    assert len(newest) == 2 and newest[1].split()[1] == "other"

    same = {  # verb: (short flags, long flags), which print the same and exit 0
        "state files": (["state", "files", "-c", param_config, "-e", "flagged", "-l", "1", "-p", param],
                        ["state", "files", "--config", param_config, "--export", "flagged", "--last", "1",
                         "--param", param]),
        "state show": (["state", "show", "-c", param_config, "-e", "flagged", "-p", param],
                       ["state", "show", "--config", param_config, "--export", "flagged", "--param", param]),
        "check": (["check", "-c", param_config, "-e", "flagged", "-p", param],
                  ["check", "--config", param_config, "--export", "flagged", "--param", param]),
        "doctor": (["doctor", "-c", param_config, "-p", param], ["doctor", "--config", param_config, "--param", param]),
    }
    printed = {}
    for verb, (short, long) in same.items():
        printed[verb] = cli(capsys, *short)
        assert printed[verb][0] == 0 and printed[verb] == cli(capsys, *long), (verb, printed[verb])
    files = printed["state files"][1].splitlines()
    assert len(files) == 2 and files[1].split()[1:3] == ["flagged", "-"] and written.name in files[1]
    [_, shown] = printed["state show"][1].splitlines()
    assert shown.split()[:3] == ["flagged", "incremental", "10"] and shown.split()[4] == "success"
    assert "Export:       flagged" in printed["check"][1] and "other" not in printed["check"][1]
    assert printed["doctor"][1].splitlines()[-1] == "All checks passed." and str(out) in printed["doctor"][1]

    # state reset: -e names the export whose cursor goes
    assert cli(capsys, "state", "reset", "-c", param_config, "-e", "flagged", "-p", param) == (
        0, "State reset for export 'flagged': forgot cursor 10. The next run starts from the first row.\n", "")
    assert cli(capsys, "state", "show", "-c", param_config, "-e", "flagged", "-p", param)[1].splitlines()[1] \
        .split()[:3] == ["flagged", "incremental", "-"]
    assert cli(capsys, "state", "reset", "--config", param_config, "--export", "flagged", "--param", param) == (
        0, "State reset for export 'flagged': no cursor was recorded. The next run starts from the first row.\n", "")
