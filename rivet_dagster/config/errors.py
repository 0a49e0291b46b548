"""Config errors that point at the file, line and key path the user has to fix."""
from __future__ import annotations

from pathlib import Path

from rivet_dagster.errors import RivetError


class ConfigError(RivetError, ValueError):
    """A rivet.yaml problem: `rivet.yaml:14: exports[2].destination.bucket: S3 requires 'bucket'`."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None,
                 key: str | None = None):
        self.message = message
        self.file = str(file) if file else None
        self.line = line
        self.key = key
        super().__init__(self.describe())

    def describe(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        return f"{where}{self.key + ': ' if self.key else ''}{self.message}"


class ConfigErrors(ConfigError):
    """Every problem found in one config, reported together so the user fixes them in one pass."""

    def __init__(self, errors: list[ConfigError]):
        self.errors = errors
        ValueError.__init__(self, "\n".join(e.describe() for e in errors))
        self.message, self.file, self.line, self.key = str(self), None, None, None

    def describe(self) -> str:
        return str(self)


class KeyedError(ValueError):
    """Raised inside model validators: `key` is the offending key relative to the model being validated."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(message)


KeyPath = tuple  # ("exports", 2, "destination", "bucket")


def format_key(key_path: KeyPath) -> str:
    out = ""
    for part in key_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_for(lines: dict[KeyPath, int], key_path: KeyPath) -> int | None:
    """The line of the key, or of its nearest ancestor that exists in the file (for missing keys)."""
    for end in range(len(key_path), -1, -1):
        if key_path[:end] in lines:
            return lines[key_path[:end]]
    return None
