"""The `rivet-dagster` entry point: help on every verb, one-line errors, tracebacks only with --debug."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rivet_dagster.cli.main import main
from rivet_dagster_tests.cli.conftest import NEWEST_EVENT, cli

REPO = Path(__file__).resolve().parents[2]
VERBS = [["state", "show"], ["state", "reset"], ["state", "files"], ["state", "chunks"], ["state", "reset-chunks"],
         ["metrics"], ["doctor"], ["init"], ["check"]]


def rivet_dagster(*argv) -> subprocess.CompletedProcess:
    """The console script's code path, in a subprocess that imports this checkout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "rivet_dagster.cli.main", *map(str, argv)], env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_command_runs_as_a_program(exported):
    result = rivet_dagster("state", "show", "-c", exported)
    assert result.returncode == 0 and result.stderr == ""
    assert any(line.split()[:3] == ["cli_events", "incremental", NEWEST_EVENT] for line in result.stdout.splitlines())


def test_an_error_is_one_line_on_stderr_and_exit_1(tmp_path):
    result = rivet_dagster("metrics", "-c", tmp_path / "missing.yaml")
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
