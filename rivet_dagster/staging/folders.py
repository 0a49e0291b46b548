"""Where an export step writes its parts before the IO manager commits them.

Local destinations stage beside the target (`<dir>/.rivet-staging`), so the commit is a rename; cloud and
stdout destinations stage under `staging_dir` (default: the system temp dir). Each host stages in its own folder
below that, so hosts that share a destination or a staging folder never touch each other's files. Each run has its
own folder `<root>/<host>/<export>/<run id>/`: it is removed after a successful commit, kept for diagnosis after a
failed one, and swept by a later run of the same export on the same host once the run that left it has finished.
"""
from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from rivet_dagster.config.models import ExportConfig, RivetConfig
from rivet_dagster.owners import current_owner

LOCAL_STAGING_DIR = ".rivet-staging"
OWNER_FILE = ".owner"


def staging_root(config: RivetConfig, export: ExportConfig) -> Path:
    """This host's staging folder for the export's destination."""
    if config.staging_dir is not None:
        shared = (config.base_dir / config.staging_dir).absolute()
    elif export.destination.type == "local":
        shared = Path(export.destination.local_dir).absolute() / LOCAL_STAGING_DIR
    else:
        shared = Path(tempfile.gettempdir()) / "rivet-dagster"
    return shared / socket.gethostname()


def run_dir(root: Path, export_name: str, run_id: str) -> Path:
    path = root / export_name / run_id
    path.mkdir(parents=True, exist_ok=True)
    (path / OWNER_FILE).write_text(current_owner())
    return path


def owners(root: Path, export_name: str) -> dict[str, str | None]:
    """The runs that left a staging folder for this export, with the process that owned each (if recorded)."""
    export_dir = root / export_name
    if not export_dir.is_dir():
        return {}
    return {leftover.name: (leftover / OWNER_FILE).read_text() if (leftover / OWNER_FILE).is_file() else None
            for leftover in export_dir.iterdir() if leftover.is_dir()}


def sweep(root: Path, export_name: str, still_working: Callable[[str, str | None], bool]) -> None:
    """Remove the staging folders that failed or killed runs of this export left behind."""
    for run_id, owner in owners(root, export_name).items():
        if not still_working(run_id, owner):
            shutil.rmtree(root / export_name / run_id, ignore_errors=True)


def remove(run_directory: Path) -> None:
    """After a successful commit: the run's folder, then its parents (export, host, staging root) while they are
    empty."""
    shutil.rmtree(run_directory, ignore_errors=True)
    for parent in run_directory.parents[:3]:
        try:
            parent.rmdir()
        except OSError:
            break
