"""fsync for files and directories, and the write-beside-then-rename that makes a file appear whole: what makes a
staged file, and a rename into place, survive a crash."""
import os
from collections.abc import Callable
from pathlib import Path


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_beside(target: Path) -> Path:
    """Where `replace_atomically` writes before the rename: hidden, in the same folder (one filesystem)."""
    return target.with_name(f".{target.name}.tmp")


def replace_atomically(target: Path, fill: Callable[[Path], None]) -> None:
    """`fill(path)` writes the content beside `target`; it is fsynced and renamed into place, so after a crash
    `target` is the old file or the complete new one, never a part."""
    temp = temp_beside(target)
    fill(temp)
    fsync(temp)
    os.replace(temp, target)
    fsync(target.parent)
