"""What the bad-input suite (`test_bad_input.py`) observes around one `rivet-dagster` command: the files under the
case's folder, the state DB's tables, the source table, and every place a planted secret could end up (the
command's output, the files the run left, Dagster's storage with its compressed snapshots inflated)."""
from __future__ import annotations

import base64
import binascii
import hashlib
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RIVET_DAGSTER = str(Path(sys.executable).with_name("rivet-dagster"))  # the console script a user runs
TRACEBACK = "Traceback (most recent call last)"
STATE_FILE = ".rivet_state.db"
SQLITE_HEADER = b"SQLite format 3\0"


@dataclass
class Case:
    """One row's world. `root` holds `cfg/` (the config's folder and the command's working directory, with the
    state DB), `out/` (the local destination), `victim.txt` (`../victim.txt` seen from `out/`),
    `elsewhere/victim.txt` (an absolute path outside the destination), `home/` ($DAGSTER_HOME) and `tmp/`
    ($TMPDIR: staging for object stores)."""
    root: Path
    secret: str
    values: dict[str, str] = field(default_factory=dict)   # <PLACEHOLDER> -> text, for configs, argv and words
    env: dict[str, str] = field(default_factory=dict)
    inputs: set[Path] = field(default_factory=set)          # files the test wrote itself (they hold the secret)
    source: str = "pg"                                      # pg | maria | sqlite: whose table must survive
    wrapper: tuple = ()                                     # argv before the command's (see state_read_only)
    arm: list = field(default_factory=list)                 # run just before the command (after the snapshots,
                                                            # which read files); each returns its release
    clients: dict = field(default_factory=dict)             # object-store clients, by kind

    @property
    def cfg(self) -> Path:
        return self.root / "cfg"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def state(self) -> Path:
        return self.cfg / STATE_FILE

    def fill(self, text: str) -> str:
        for name, value in self.values.items():
            text = text.replace(f"<{name}>", value)
        return text

    def write(self, relative: str, data: str | bytes) -> Path:
        """An input file in the config's folder (kept out of the secret search: the test wrote it)."""
        path = self.cfg / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.fill(data).encode() if isinstance(data, str) else data)
        self.inputs.add(path)
        return path


@dataclass
class Result:
    code: int | None
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(case: Case, argv: tuple[str, ...], timeout: float) -> Result:
    started = time.monotonic()
    try:
        done = subprocess.run([*case.wrapper, RIVET_DAGSTER, *(case.fill(a) for a in argv)], cwd=case.cfg,
                              env=case.env, capture_output=True, text=True, errors="replace",
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)
        return Result(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    except subprocess.TimeoutExpired as exc:
        def text(data) -> str:
            return (data.decode(errors="replace") if isinstance(data, bytes) else data) or ""
        return Result(None, text(exc.stdout), text(exc.stderr) + f"\n[still running after {timeout:.0f} s: killed]",
                      time.monotonic() - started)


# ------------------------------------------------------------------------------------------- files
def file_snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, str]:
    """Every file under `root` (hidden ones too) but those under `skip`: relative name -> sha256."""
    found = {}
    for path in sorted(root.rglob("*")):
        if any(path == s or s in path.parents for s in skip) or not path.is_file() or path.is_symlink():
            continue
        found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return found


def file_changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    changes = [f"+{name}" for name in sorted(after.keys() - before.keys())]
    changes += [f"-{name}" for name in sorted(before.keys() - after.keys())]
    changes += [f"~{name}" for name in sorted(before.keys() & after.keys()) if before[name] != after[name]]
    return changes


# ------------------------------------------------------------------------------------------- state DB
def state_snapshot(path: Path):
    """None when absent; the sha256 of its bytes when it is not an SQLite database (or cannot be read); else
    table -> sorted rows (as dicts). `sqlite_sequence` (SQLite's own counters) is left out."""
    if not path.exists():
        return None
    data = path.read_bytes()
    if not data.startswith(SQLITE_HEADER):
        return f"bytes:{hashlib.sha256(data).hexdigest()}"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.row_factory = sqlite3.Row
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                                 "name <> 'sqlite_sequence' ORDER BY name")]
            return {table: sorted((dict(r) for r in conn.execute(f'SELECT * FROM "{table}"')), key=repr)
                    for table in tables}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"unreadable ({exc}); bytes:{hashlib.sha256(data).hexdigest()}"


METRICS = "export_metrics"
SCHEMA_TABLES = ("export_schema", "schema_history")


def state_changes(before, after, *, empty_run: bool) -> list[str]:
    """What changed in the state DB. Allowed: new `export_metrics` rows with status `failed` and nothing written
    (the README: a failed materialization records a failed metric with its error); after a run that exported 0
    rows (`empty_run`), also `skipped`/`success` metrics of 0 rows and the export's schema record."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return [] if before == after else [f"state DB was {_short(before)}, now {_short(after)}"]
    changes = []
    for table in sorted(before.keys() | after.keys()):
        old = {repr(r): r for r in before.get(table, [])}
        new = {repr(r): r for r in after.get(table, [])}
        if table not in before or table not in after:
            changes.append(f"table {table} {'added' if table not in before else 'removed'}")
            continue
        added = [new[k] for k in new.keys() - old.keys()]
        removed = [old[k] for k in old.keys() - new.keys()]
        if table == METRICS:
            statuses = ("failed", "skipped", "success") if empty_run else ("failed",)
            added = [r for r in added if not (r.get("status") in statuses and not r.get("total_rows")
                                              and not r.get("files_produced") and not r.get("bytes_written"))]
        if empty_run and table in SCHEMA_TABLES:
            added = []
        changes += [f"{table}: +{_short(r)}" for r in added] + [f"{table}: -{_short(r)}" for r in removed]
    return changes


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "…"


# ------------------------------------------------------------------------------------------- secrets
def secret_needles(secret: str) -> list[bytes]:
    """The secret as it could be written: raw, percent-encoded (the same for its characters), and base64 at
    each of the three alignments (the characters that depend on the secret alone), standard and URL-safe."""
    raw = secret.encode()
    needles = [raw]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        start, end = -(-8 * shift // 6), (8 * (shift + len(raw))) // 6
        core = encoded[start:end]
        needles += [core, core.replace(b"+", b"-").replace(b"/", b"_")]
    return list(dict.fromkeys(needles))


def _views(value) -> Iterator[bytes]:
    """A stored value and what it holds once inflated: zlib or gzip, directly or under base64."""
    if value is None or isinstance(value, (int, float)):
        return
    data = value.encode("utf-8", "replace") if isinstance(value, str) else bytes(value)
    yield data
    for candidate in (data, _b64(data)):
        if candidate:
            try:
                yield zlib.decompress(candidate, 47)  # 32 + 15: zlib or gzip header
            except zlib.error:
                pass
    decoded = _b64(data)
    if decoded:
        yield decoded


def _b64(data: bytes) -> bytes | None:
    if len(data) < 8:
        return None
    try:
        return base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        try:
            return base64.urlsafe_b64decode(data.strip())
        except (binascii.Error, ValueError):
            return None


def secret_hits(secret: str, texts: dict[str, str], root: Path, skip: set[Path]) -> list[str]:
    """Where the secret appears: in `texts` (name -> text), in any file under `root` but `skip` (raw, and
    inflated when the whole file is compressed), and in every value of every table of every SQLite file there
    (Dagster's runs, event logs and schedules DBs: snapshots are stored compressed)."""
    needles = secret_needles(secret)
    hits = [name for name, text in texts.items() if any(n in text.encode("utf-8", "replace") for n in needles)]
    for path in sorted(root.rglob("*")):
        if path in skip or not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        if any(n in view for view in _views(data) for n in needles):
            hits.append(str(path.relative_to(root)))
        if data.startswith(SQLITE_HEADER):
            hits += [f"{path.relative_to(root)}:{where}" for where in _sqlite_hits(path, needles)]
    return hits


def _sqlite_hits(path: Path, needles: list[bytes]) -> list[str]:
    hits = []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return hits
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                if any(n in view for value in row for view in _views(value) for n in needles):
                    hits.append(table)
                    break
    except sqlite3.Error as exc:
        hits.append(f"(could not be searched: {exc})")
    finally:
        conn.close()
    return hits
