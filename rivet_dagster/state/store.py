"""The state store as a Dagster resource: cursors, file manifest, chunk checkpoints, run metrics, schema history.

It lives in an SQLite file beside the config (the embedded default, as in Rivet) or in a PostgreSQL database
that several hosts share (`url`, or Rivet's `RIVET_STATE_URL`). Each call writes in one transaction, so the same
store serves asset steps, sensors and the CLI, and a crash never leaves it half-written.
"""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

import dagster as dg

from rivet_dagster.config.models import RivetConfig
from rivet_dagster.config.sections import STATE_URL_ENV
from rivet_dagster.state import cursors
from rivet_dagster.state.claims import scope_label
from rivet_dagster.state.cursors import Window
from rivet_dagster.state.errors import StateStoreError
from rivet_dagster.state.records import FileRecord, MetricRecord, utc_now
from rivet_dagster.state.sqlite import SqliteDatabase

STATE_FILE = ".rivet_state.db"
_DATABASES: dict[tuple, object] = {}  # one backend per store per process (PostgreSQL keeps its connections there)


def store_for(config: RivetConfig) -> "StateStore":
    """The config's state store: where its `state:` block says, else `$RIVET_STATE_URL` (as Rivet), else
    `.rivet_state.db` beside the config."""
    state = config.state
    lease = {} if state is None or state.lease_seconds is None else {"lease_seconds": state.lease_seconds}
    if state is not None and state.path is not None:
        return StateStore(path=str(config.base_dir / state.path), **lease)
    if state is not None and (state.url or state.url_env):
        return StateStore(url=state.url, url_env=state.url_env, **lease)
    return default_store(config.base_dir, **lease)


def default_store(base_dir, **settings) -> "StateStore":
    """A config's store when its `state:` block names none: `$RIVET_STATE_URL`, else the file beside it."""
    if os.environ.get(STATE_URL_ENV):
        return StateStore(url_env=STATE_URL_ENV, **settings)
    return StateStore(path=str(base_dir / STATE_FILE), **settings)


def close_connections() -> None:
    """Close the connections this process keeps to shared stores (for a process that opens many stores in turn,
    such as a test session; a connection is otherwise kept per thread for the thread's life)."""
    for database in _DATABASES.values():
        database.close()
    _DATABASES.clear()


class StateStore(dg.ConfigurableResource):
    """An SQLite file (`path`), or a database named by `url` or by the environment variable `url_env` (which
    keeps a password out of the resource's config, and so out of Dagster's UI). A `sqlite:///file` URL is a file
    too."""

    path: str = STATE_FILE
    url: str | None = None
    url_env: str | None = None
    busy_timeout_ms: int = 30_000
    lease_seconds: float = 60.0  # how long a claim outlives its last renewal (`state/claims.py`)

    @property
    def database(self):
        """The backend (`state/sqlite.py`, `state/postgres.py`): connections, exclusive transactions, errors."""
        url = self._url()
        key = (url or self.path, self.busy_timeout_ms)
        if key not in _DATABASES:
            if url is None or url.startswith("sqlite:///"):
                _DATABASES[key] = SqliteDatabase(url[len("sqlite:///"):] if url else self.path, self.busy_timeout_ms)
            else:
                from rivet_dagster.state.postgres import SCHEMES, PostgresDatabase  # only a shared store needs psycopg
                if url.split("://", 1)[0].split("+", 1)[0] not in SCHEMES:
                    raise StateStoreError(f"the state store URL must start with postgresql:// or sqlite:/// (got "
                                          f"'{url.split('://', 1)[0]}://...')")
                _DATABASES[key] = PostgresDatabase(url, self.busy_timeout_ms)
        return _DATABASES[key]

    def identity(self) -> str:
        """Which store this is, as two configs compare it (a file's real path, or the database's URL)."""
        url = self._url()
        return url if url is not None and not url.startswith("sqlite:///") else \
            os.path.realpath(url[len("sqlite:///"):] if url else self.path)

    def _url(self) -> str | None:
        if self.url_env is None:
            return self.url
        url = os.environ.get(self.url_env)
        if not url:
            raise StateStoreError(f"the state store's URL is taken from ${self.url_env}, which is not set")
        return url

    @property
    def location(self) -> str:
        """The file, or the URL without its password: what messages and `state` commands show."""
        return self.database.location

    def exists(self) -> bool:
        """False for an SQLite file no run has made yet (reading the state must not create it)."""
        return self.database.exists()

    @contextmanager
    def connect(self) -> Iterator:
        """A connection to a store this code understands; otherwise a StateStoreError naming the store and what
        to do (a corrupt, foreign, newer, read-only, locked or unreachable store), raised before anything is
        written."""
        with self.database.connect() as conn:
            yield conn

    def reusing(self):
        """A scope whose calls reuse their connections (a chunk run's many small commits), closed at its end."""
        return self.database.reusing()

    def check(self) -> None:
        """Open the store for writing once before a run reads its source, so a store it cannot use (foreign,
        corrupt, newer, read-only, locked, unreachable) stops the run before anything is read or staged."""
        self.database.check()

    @contextmanager
    def transaction(self, export_name: str) -> Iterator:
        """One write transaction; writers of the same export wait for each other, on every host."""
        with self.connect() as conn, conn.exclusive(export_name):
            yield conn

    def _insert(self, table: str, row: dict) -> None:
        row = {k: int(v) if isinstance(v, bool) else v for k, v in row.items()}  # flags are integers, as in Rivet
        with self.transaction(row["export_name"]) as conn:
            conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                         tuple(row.values()))

    # ---------------------------------------------------------------- writes, in the crash matrix's order
    def commit_started(self, export_name: str, run_id: str, file_stem: str, partition_key: str | None,
                       file_names: list[str], manifest_name: str | None, owner: str, claim=None) -> None:
        """Before the first upload: what this commit will write and which process writes it, so a later run can
        clean up after a crash."""
        with self.transaction(export_name) as conn:
            _fence(conn, claim, "upload of its files")
            conn.execute("INSERT INTO pending_commit (export_name, run_id, file_stem, partition_key, files_json, "
                         "manifest_name, owner, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                         "ON CONFLICT (export_name, run_id, file_stem) DO UPDATE SET "
                         "partition_key = excluded.partition_key, files_json = excluded.files_json, "
                         "manifest_name = excluded.manifest_name, owner = excluded.owner, "
                         "created_at = excluded.created_at",
                         (export_name, run_id, file_stem, partition_key, json.dumps(file_names), manifest_name,
                          owner, utc_now()))

    def record_files(self, export_name: str, run_id: str, file_stem: str, records: list[FileRecord],
                     manifest_uri: str | None, claim=None) -> None:
        """After the manifest is written: the committed files, replacing rows of the same names, and the end of
        the pending commit, in one transaction (fenced by the run's claim, if it holds one)."""
        now = utc_now()
        with self.transaction(export_name) as conn:
            _fence(conn, claim, "recording of its files")
            for record in records:
                row = {**asdict(record), "manifest_uri": manifest_uri, "created_at": now}
                conn.execute("DELETE FROM file_manifest WHERE export_name = ? AND file_name = ?",
                             (record.export_name, record.file_name))
                conn.execute(f"INSERT INTO file_manifest ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                             tuple(row.values()))
            conn.execute("DELETE FROM pending_commit WHERE export_name = ? AND run_id = ? AND file_stem = ?",
                         (export_name, run_id, file_stem))

    def pending_commits(self, export_name: str) -> list[dict]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM pending_commit WHERE export_name = ? ORDER BY created_at",
                                (export_name,)).fetchall()
        return [{**dict(r), "files": json.loads(r["files_json"])} for r in rows]

    def forget_commit(self, export_name: str, run_id: str, file_stem: str) -> None:
        with self.transaction(export_name) as conn:
            conn.execute("DELETE FROM pending_commit WHERE export_name = ? AND run_id = ? AND file_stem = ?",
                         (export_name, run_id, file_stem))

    def recorded_names(self, export_name: str, file_names: list[str]) -> set[str]:
        with self.connect() as conn:
            rows = conn.execute("SELECT file_name FROM file_manifest WHERE export_name = ? AND file_name IN "
                                f"{conn.json_list}", (export_name, json.dumps(file_names))).fetchall()
        return {r["file_name"] for r in rows}

    def record_metric(self, record: MetricRecord) -> None:
        self._insert("export_metrics", asdict(record))

    def set_validated(self, export_name: str, run_id: str, passed: bool) -> None:
        with self.transaction(export_name) as conn:
            conn.execute("UPDATE export_metrics SET validated = ? WHERE export_name = ? AND run_id = ?",
                         (int(passed), export_name, run_id))

    def last_schema(self, export_name: str) -> list[dict] | None:
        with self.connect() as conn:
            row = conn.execute("SELECT columns_json FROM export_schema WHERE export_name = ?",
                               (export_name,)).fetchone()
        return json.loads(row["columns_json"]) if row else None

    def record_schema(self, export_name: str, run_id: str, columns: list[dict]) -> list[dict] | None:
        """Store the export's schema (and its history when it differs); returns the one it replaces."""
        columns_json = json.dumps(columns, sort_keys=True)
        with self.transaction(export_name) as conn:
            row = conn.execute("SELECT columns_json FROM export_schema WHERE export_name = ?",
                               (export_name,)).fetchone()
            previous = json.loads(row["columns_json"]) if row is not None else None
            if row is not None and row["columns_json"] == columns_json:
                return previous
            now = utc_now()
            conn.execute("INSERT INTO export_schema (export_name, columns_json, updated_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (export_name) DO UPDATE SET columns_json = excluded.columns_json, "
                         "updated_at = excluded.updated_at", (export_name, columns_json, now))
            conn.execute("INSERT INTO schema_history (export_name, run_id, columns_json, recorded_at) "
                         "VALUES (?, ?, ?, ?)", (export_name, run_id, columns_json, now))
            return previous

    # ------------------------------------------------------------------------ incremental cursor (stage 8)
    def cursor(self, export_name: str):
        with self.connect() as conn:
            row = conn.execute("SELECT cursor_json FROM export_state WHERE export_name = ?", (export_name,)).fetchone()
        return cursors.decode(row["cursor_json"]) if row else None

    def pending_window(self, export_name: str) -> Window | None:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM pending_window WHERE export_name = ?", (export_name,)).fetchone()
        if row is None:
            return None
        return Window(cursors.decode(row["after_json"]), cursors.decode(row["up_to_json"]), row["file_stem"],
                      tuple(json.loads(row["files_json"])))

    def open_window(self, export_name: str, run_id: str, window: Window) -> None:
        """Before the commit: the window and its file names, so a crash after it can be repaired exactly."""
        with self.transaction(export_name) as conn:
            conn.execute("INSERT INTO pending_window (export_name, run_id, after_json, up_to_json, file_stem, "
                         "files_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (export_name) DO UPDATE "
                         "SET run_id = excluded.run_id, after_json = excluded.after_json, "
                         "up_to_json = excluded.up_to_json, file_stem = excluded.file_stem, "
                         "files_json = excluded.files_json, created_at = excluded.created_at",
                         (export_name, run_id, None if window.after is None else cursors.encode(window.after),
                          cursors.encode(window.up_to), window.file_stem, json.dumps(list(window.files)), utc_now()))

    def close_window(self, export_name: str, up_to, claim=None) -> None:
        """After every file is committed and in the manifest: advance the cursor and drop the pending window,
        in one transaction."""
        with self.transaction(export_name) as conn:
            _fence(conn, claim, "advance of the cursor")
            conn.execute("INSERT INTO export_state (export_name, last_cursor_value, last_run_at, cursor_json) "
                         "VALUES (?, ?, ?, ?) ON CONFLICT (export_name) DO UPDATE SET "
                         "last_cursor_value = excluded.last_cursor_value, last_run_at = excluded.last_run_at, "
                         "cursor_json = excluded.cursor_json",
                         (export_name, cursors.display(up_to), utc_now(), cursors.encode(up_to)))
            conn.execute("DELETE FROM pending_window WHERE export_name = ?", (export_name,))

    def reset_cursor(self, export_name: str) -> tuple[object, Window | None]:
        """Forget the cursor and any pending window, so the next run starts from the first row again (files,
        manifest and metrics stay). Returns what was forgotten."""
        cursor, window = self.cursor(export_name), self.pending_window(export_name)
        with self.transaction(export_name) as conn:
            conn.execute("DELETE FROM export_state WHERE export_name = ?", (export_name,))
            conn.execute("DELETE FROM pending_window WHERE export_name = ?", (export_name,))
        return cursor, window

    def forget_files(self, export_name: str, file_names: list[str]) -> None:
        """Drop the manifest rows of files removed from the destination."""
        with self.transaction(export_name) as conn:
            conn.executemany("DELETE FROM file_manifest WHERE export_name = ? AND file_name = ?",
                             [(export_name, name) for name in file_names])

    # ------------------------------------------------------------------------- chunk checkpoints (stage 8)
    def chunk_plan_hash(self, export_name: str) -> str | None:
        with self.connect() as conn:
            row = conn.execute("SELECT plan_hash FROM chunk_plan WHERE export_name = ?", (export_name,)).fetchone()
        return row["plan_hash"] if row else None

    def save_chunk_plan(self, export_name: str, plan_hash: str, chunks: list[tuple[str, int, int]]) -> None:
        """Record the plan's fingerprint and add its chunks as pending (existing chunks keep their status)."""
        now = utc_now()
        with self.transaction(export_name) as conn:
            conn.execute("INSERT INTO chunk_plan (export_name, plan_hash, created_at) VALUES (?, ?, ?) "
                         "ON CONFLICT DO NOTHING",
                         (export_name, plan_hash, now))
            conn.executemany("INSERT INTO chunk_task (export_name, chunk_key, start_key, end_key, status, "
                             "updated_at) VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
                             [(export_name, key, start, end, now) for key, start, end in chunks])

    def chunk_started(self, export_name: str, chunk_key: str) -> None:
        self._chunk_update(export_name, chunk_key, "status = 'running', attempts = attempts + 1")

    def chunk_completed(self, export_name: str, chunk_key: str, rows: int, files: list[str], claim=None) -> None:
        self._chunk_update(export_name, chunk_key, "status = 'completed', rows_written = ?, files_json = ?, "
                                                   "last_error = NULL", rows, json.dumps(files), claim=claim)

    def chunk_failed(self, export_name: str, chunk_key: str, error: str) -> None:
        self._chunk_update(export_name, chunk_key, "status = 'failed', last_error = ?", error[:2000])

    def chunk_tasks(self, export_name: str) -> list[dict]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM chunk_task WHERE export_name = ? ORDER BY chunk_key",
                                (export_name,)).fetchall()
        return [dict(r) for r in rows]

    def reset_chunks(self, export_name: str) -> int:
        """Forget the export's chunk plan and checkpoints (files and manifest stay). Returns tasks removed."""
        with self.transaction(export_name) as conn:
            removed = conn.execute("DELETE FROM chunk_task WHERE export_name = ?", (export_name,)).rowcount
            conn.execute("DELETE FROM chunk_plan WHERE export_name = ?", (export_name,))
        return removed

    def _chunk_update(self, export_name: str, chunk_key: str, assignments: str, *values, claim=None) -> None:
        with self.transaction(export_name) as conn:
            _fence(conn, claim, "chunk's checkpoint")
            conn.execute(f"UPDATE chunk_task SET {assignments}, updated_at = ? WHERE export_name = ? AND chunk_key = ?",
                         (*values, utc_now(), export_name, chunk_key))

    # --------------------------------------------------------------------- claims (`state/claims.py`)
    def take_claims(self, export_name: str, scopes: list[str], run_id: str, owner: str,
                    still_working, at_most: int | None = None) -> tuple[dict[str, int], dict[str, str]]:
        """Each scope that is free (never claimed, its lease expired, its holder known gone: `still_working(run
        id, owner)` is False) becomes this run's until its lease expires, all in one transaction (`at_most`: the
        first that many free ones). Returns the fences of the scopes taken, and for the others who holds them
        (ClaimHeld's message)."""
        working: dict[tuple[str, str], bool] = {}  # one answer per holder, however many scopes it holds
        with self.transaction(export_name) as conn:  # (no `IN` list of 20,000: fresh statistics plan it badly)
            current = {r["scope"]: r for r in conn.execute(
                f"SELECT scope, run_id, owner, fence, expires_ms - {conn.now_ms} AS left_ms FROM claim WHERE "
                "export_name = ?", (export_name,)).fetchall()}
            taken, refused = {}, {}
            for scope in scopes:
                row = current.get(scope)
                if row is not None and row["left_ms"] > 0:
                    holder = (row["run_id"], row["owner"])
                    if holder not in working:
                        working[holder] = still_working(*holder)
                    if working[holder]:
                        refused[scope] = (f"{export_name}: {scope_label(scope)} is being exported by run "
                                          f"{row['run_id']} ({row['owner']}, lease {row['left_ms'] / 1000:.0f}s left); "
                                          "this run leaves it to that one")
                        continue
                if at_most is not None and len(taken) >= at_most:
                    break
                taken[scope] = (row["fence"] if row is not None else 0) + 1
            conn.executemany("INSERT INTO claim (export_name, scope, run_id, owner, fence, expires_ms) VALUES "
                             f"(?, ?, ?, ?, ?, {conn.now_ms} + ?) ON CONFLICT (export_name, scope) DO UPDATE SET "
                             "run_id = excluded.run_id, owner = excluded.owner, fence = excluded.fence, "
                             "expires_ms = excluded.expires_ms",
                             [(export_name, scope, run_id, owner, fence, int(self.lease_seconds * 1000))
                              for scope, fence in taken.items()])
        return taken, refused

    def renew_claims(self, export_name: str, run_id: str, owner: str, scopes: list[str]) -> dict[str, str]:
        """Extend the lease of every claim this process holds for the run on the export, in one statement;
        returns, for those of `scopes` it no longer holds, who took them over."""
        holder = (export_name, run_id, owner)
        with self.transaction(export_name) as conn:
            renewed = conn.execute(f"UPDATE claim SET expires_ms = {conn.now_ms} + ? WHERE export_name = ? AND "
                                   "run_id = ? AND owner = ? AND expires_ms > 0",
                                   (int(self.lease_seconds * 1000), *holder)).rowcount
            if renewed == len(scopes):
                return {}
            held = {r["scope"] for r in conn.execute("SELECT scope FROM claim WHERE export_name = ? AND run_id = ? "
                                                     "AND owner = ? AND expires_ms > 0", holder).fetchall()}
            return {scope: _taken_by(conn, export_name, scope) for scope in scopes if scope not in held}

    def release_claims(self, export_name: str, run_id: str, owner: str, scopes: list[str]) -> None:
        """Their leases end now; the fences stay, so a stale holder of an older one stays fenced out."""
        with self.transaction(export_name) as conn:
            conn.executemany("UPDATE claim SET expires_ms = 0 WHERE export_name = ? AND scope = ? AND run_id = ? AND "
                             "owner = ?", [(export_name, scope, run_id, owner) for scope in scopes])

    def claims(self, export_name: str) -> list[dict]:
        """The export's claims with the milliseconds each has left (0 or less: free)."""
        with self.connect() as conn:
            rows = conn.execute(f"SELECT scope, run_id, owner, fence, expires_ms - {conn.now_ms} AS left_ms FROM "
                                "claim WHERE export_name = ? ORDER BY scope", (export_name,)).fetchall()
        return [dict(r) for r in rows]

    # ---------------------------------------------------------------------------------------- reads
    def files(self, export_name: str | None = None, last: int = 50) -> list[dict]:
        return self._recent("file_manifest", export_name, last)

    def metrics(self, export_name: str | None = None, last: int = 20) -> list[dict]:
        return self._recent("export_metrics", export_name, last)

    def files_of_run(self, export_name: str, run_id: str) -> list[dict]:
        with self.connect() as conn:
            rows = conn.execute("SELECT * FROM file_manifest WHERE export_name = ? AND run_id = ? ORDER BY id",
                                (export_name, run_id)).fetchall()
        return [dict(r) for r in rows]

    def partition_objects(self, export_name: str, partition_key: str) -> list[str]:
        """The partition's recorded files and their manifests: what materializing it again supersedes."""
        with self.connect() as conn:
            rows = conn.execute("SELECT file_name, manifest_uri FROM file_manifest WHERE export_name = ? AND "
                                "partition_key = ? ORDER BY id", (export_name, partition_key)).fetchall()
        manifests = [r["manifest_uri"].rsplit("/", 1)[-1] for r in rows if r["manifest_uri"]]
        return list(dict.fromkeys([r["file_name"] for r in rows] + manifests))

    def file_sets(self, export_name: str) -> list[list[str]]:
        """The export's unpartitioned file sets, oldest first, each its manifest's name then its files' (what
        `keep_last` counts: one per committed run)."""
        with self.connect() as conn:
            rows = conn.execute("SELECT run_id, file_name, manifest_uri FROM file_manifest WHERE export_name = ? AND "
                                "partition_key IS NULL ORDER BY id", (export_name,)).fetchall()
        sets: dict[tuple, list[str]] = {}
        for row in rows:
            sets.setdefault((row["run_id"], row["manifest_uri"]), []).append(row["file_name"])
        return [[manifest.rsplit("/", 1)[-1]] * bool(manifest) + names for (_, manifest), names in sets.items()]

    def latest_run_files(self, export_name: str) -> list[dict]:
        """The files of the export's most recent committed run (what a downstream asset should read)."""
        with self.connect() as conn:
            row = conn.execute("SELECT run_id FROM file_manifest WHERE export_name = ? ORDER BY id DESC LIMIT 1",
                               (export_name,)).fetchone()
        return self.files_of_run(export_name, row["run_id"]) if row else []

    def manifest_uris(self, export_name: str, partition_keys: list[str] | None = None,
                      run_id: str | None = None) -> list[str]:
        """The manifests of one run (by default the latest committed), or the latest of each given partition
        (a crash can leave a superseded one recorded until the partition is materialized again), oldest first."""
        if partition_keys is None:
            files = self.files_of_run(export_name, run_id) if run_id else self.latest_run_files(export_name)
        else:
            with self.connect() as conn:
                rows = conn.execute(
                    "SELECT partition_key, run_id, manifest_uri FROM file_manifest WHERE export_name = ? AND "
                    f"partition_key IN {conn.json_list} ORDER BY id",
                    (export_name, json.dumps(partition_keys))).fetchall()
            latest = {r["partition_key"]: r["run_id"] for r in rows}
            files = [r for r in rows if r["run_id"] == latest[r["partition_key"]]]
        return list(dict.fromkeys(f["manifest_uri"] for f in files if f["manifest_uri"]))

    def committed_partitions(self, export_name: str) -> list[str]:
        with self.connect() as conn:
            rows = conn.execute("SELECT DISTINCT partition_key FROM file_manifest WHERE export_name = ? AND "
                                "partition_key IS NOT NULL ORDER BY partition_key", (export_name,)).fetchall()
        return [r["partition_key"] for r in rows]

    def _recent(self, table: str, export_name: str | None, last: int) -> list[dict]:
        where, args = ("WHERE export_name = ?", (export_name,)) if export_name else ("", ())
        with self.connect() as conn:
            rows = conn.execute(f"SELECT * FROM {table} {where} ORDER BY id DESC LIMIT ?", (*args, last)).fetchall()
        return [dict(r) for r in rows]


def _fence(conn, claim, doing: str) -> None:
    """Inside a write transaction: ClaimLost unless `claim` (if any) is still the holder of its scope."""
    if claim is None:
        return
    held = conn.execute("SELECT 1 AS held FROM claim WHERE export_name = ? AND scope = ? AND run_id = ? AND "
                        "owner = ? AND fence = ?",
                        (claim.export_name, claim.scope, claim.run_id, claim.owner, claim.fence)).fetchone()
    if held is None:
        claim.lost = _taken_by(conn, claim.export_name, claim.scope)
        claim.ensure(doing)


def _taken_by(conn, export_name: str, scope: str) -> str:
    row = conn.execute("SELECT run_id, owner FROM claim WHERE export_name = ? AND scope = ?",
                       (export_name, scope)).fetchone()
    if row is None:
        return "its claim is gone from the state store"
    return f"run {row['run_id']} ({row['owner']}) took it over after its lease expired"
