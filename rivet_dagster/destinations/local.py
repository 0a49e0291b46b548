"""Local disk: parts are staged beside the target and renamed into place, so a final path only ever
holds a complete file (no copy, no partial file, even on SIGKILL)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..config.models import DestinationConfig
from ..durability import fsync

STAGING_DIR = ".rivet-staging"


class LocalDestination:
    def __init__(self, config: DestinationConfig):
        self.root = Path(config.local_dir).absolute()

    def staging_dir(self, export_name: str, run_id: str) -> Path:
        """On the target's filesystem, so the commit is a rename. Leftovers of failed runs are removed first."""
        export_dir = self.root / STAGING_DIR / export_name
        if export_dir.exists():
            for stale in export_dir.iterdir():
                if stale.name != run_id:
                    shutil.rmtree(stale, ignore_errors=True)
        path = export_dir / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def commit(self, staged_file: Path, file_name: str) -> str:
        final = self.root / file_name
        os.replace(staged_file, final)
        fsync(self.root)
        return final.as_uri()

    def remove(self, file_name: str) -> None:
        """Delete a committed file that a repaired window superseded."""
        (self.root / file_name).unlink(missing_ok=True)
        fsync(self.root)

    def cleanup(self, export_name: str, run_id: str) -> None:
        """After a successful commit: remove the run's staging folder, and the parents once they are empty."""
        run_dir = self.root / STAGING_DIR / export_name / run_id
        shutil.rmtree(run_dir, ignore_errors=True)
        for parent in (run_dir.parent, run_dir.parent.parent):
            try:
                parent.rmdir()
            except OSError:
                break

