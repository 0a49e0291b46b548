"""fsync for files and directories: what makes a staged file, and a rename into place, survive a crash."""
import os
from pathlib import Path


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
