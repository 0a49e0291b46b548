"""The package's layout is its data path, and imports run one way: `lint-imports` (import-linter, the contract in
`.importlinter`) fails on any upward import, and there is no mode branch outside `modes/`."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT_IMPORTS, str(config)], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_imports_run_down_the_data_path():
    result = lint_imports(ROOT / ".importlinter")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The same contract with two layers swapped: commit imports staging, so staging above commit is broken."""
    swapped = (ROOT / ".importlinter").read_text().replace("    rivet_dagster.commit\n    rivet_dagster.staging\n",
                                                           "    rivet_dagster.staging\n    rivet_dagster.commit\n")
    (tmp_path / ".importlinter").write_text(swapped)
    result = lint_imports(tmp_path / ".importlinter")
    assert result.returncode == 1
    assert "rivet_dagster.staging is not allowed to import rivet_dagster.commit" not in result.stdout
    assert "rivet_dagster.commit is not allowed to import rivet_dagster.staging" in result.stdout


def test_only_the_mode_modules_branch_on_the_mode():
    """The schema's tables of per-mode keys (MODE_KEYS, ONLY_IN_MODE, SPLIT_MODES, UNSCHEDULED_MODES,
    RETAINED_MODES) are looked up, not branched on."""
    branches = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in (ROOT / "rivet_dagster").rglob("*.py")
                if "modes" not in path.parts
                for n, line in enumerate(path.read_text().splitlines(), 1)
                if re.search(r"\bmode\s*(==|!=)|\.mode\s+(not\s+)?in\b", line)
                and not re.search(r"ONLY_IN_MODE|SPLIT_MODES|UNSCHEDULED_MODES|RETAINED_MODES|MODE_KEYS", line)]
    assert branches == []


def test_nothing_internal_to_dagster_is_imported():
    """Dagster's public API only: its `_`-prefixed modules change between releases of the range we allow."""
    private = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
               for folder in ("rivet_dagster", "rivet_dagster_tests", "benchmarks")
               for path in (ROOT / folder).rglob("*.py")
               for n, line in enumerate(path.read_text().splitlines(), 1)
               if re.match(r"\s*(from|import)\s+dagster\w*\._", line)]
    assert private == []
