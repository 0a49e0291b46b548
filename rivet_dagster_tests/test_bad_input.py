"""Issue 11, item 10: hostile and broken input, each given to the real `rivet-dagster` console script in a
subprocess (working directory: the config's folder; $DAGSTER_HOME: a fresh instance, telemetry off; $TMPDIR inside
the case's folder), bounded by a timeout.

Every row of ROWS asserts three things:

1. **Refused, with the cause named**: a non-zero exit, exactly 1 for usage, config and permanent errors and 2 where
   the cause is transient (Rivet's codes); every word of the row in the output (case-insensitive; a tuple is any
   one of its words), `file:line: key` where it applies; no Python traceback.
2. **Nothing changed**: every file under the case's folder by name and sha256 (the local destination with its
   hidden folders, `../victim.txt` beside it, a victim at an absolute path, the config's folder), the state DB's
   tables (its bytes when it is not a database), the object store's keys, and the source table's rows (and, on
   PostgreSQL, its sequence). The one change allowed in the state DB is a new `failed` metric that wrote nothing
   (the README: a failed materialization records a failed metric with its error).
3. **No secret leaked**: a planted secret, as the source URL's password (PostgreSQL trusts any password on
   127.0.0.1; on MariaDB only the wrong-password row can carry one), as the S3 secret key, and as a secret-looking
   run parameter the query uses as a value (`-p API_TOKEN=...`), appears nowhere: not in stdout or stderr, not in
   any file under the case's folder but the inputs the test wrote (destination, staging, state DB, Dagster's
   storage), raw or base64-encoded, nor in any value of Dagster's SQLite databases once inflated (its snapshots
   are stored compressed).

Injection rows (`code=INJECTION`) put a hostile `-p X=...` into a query as a quoted value (`'${X}'`), a bare value
(`${X}`) or part of a pattern (`'%${X}%'`). Beyond 2 and 3 (the table keeps every row), the run either exports 0
rows (the value was bound as a value: exit 0, no data file; the `_SUCCESS` marker and the run's `skipped` metric
and schema record may be written) or fails naming the parameter (exit 1, `${X}`).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import botocore.exceptions
import pytest
import sqlalchemy as sa

from rivet_dagster.state.store import StateStore
from rivet_dagster_tests.bad_input_support import (STATE_FILE, TRACEBACK, Case, Result, file_changes, file_snapshot,
                                                   run_cli, secret_hits, state_changes, state_snapshot)
from rivet_dagster_tests.commit.conftest import S3_ACCESS_KEY, gcs_server, s3_server  # noqa: F401 (fixtures)
from rivet_dagster_tests.conftest import run_sql, sql_engine

pytestmark = pytest.mark.sqlite_state  # the cases plant and inspect the SQLite state file

CONFIG, NAMES, PARAMS, SOURCES, STATE, DESTINATIONS, CLI = (
    "config", "names and paths", "parameters", "sources", "state store", "destinations", "CLI")
INJECTION = None   # `code` of an injection row: exit 0 with 0 rows exported, or exit 1 naming the parameter

Setup = Callable[[Case], None]
Check = Callable[[Case, Result], list]


@dataclass(frozen=True)
class Row:
    id: str
    kind: str
    setup: Setup
    argv: tuple
    words: tuple            # each in the output (case-insensitive); a tuple: any one of its words
    code: int | None = 1    # the exit code; INJECTION: see the module's docstring
    check: Check | None = None
    needs: tuple = ()       # "s3" / "gcs": the object-store emulators
    timeout: float = 90


# ------------------------------------------------------------------------------------------------ configs
SOURCE_LINES = {
    "pg": 'source: {type: postgres, url: "<PG>"}',                     # the password is the planted secret
    "maria": 'source: {type: mysql, url: "<MARIA>"}',
    "sqlite": "source: {type: sqlite, database: src.db}",
}
TOKEN = "'${API_TOKEN}' <> ''"                                      # the secret param, in a value position
SELECT = f"SELECT * FROM orders WHERE {TOKEN}"
BASE = [                                                            # errors are asserted at these line numbers
    None,                                                           # 1: the source
    "exports:",                                                     # 2
    "  - name: orders",                                             # 3
    None,                                                           # 4: the query
    "    format: csv",                                              # 5
    "    skip_empty: true",                                         # 6
    "    destination: {type: local, path: ../out}",                 # 7
    "    tuning: {max_retries: 0, retry_backoff_ms: 10}",           # 8
]                                                                   # 9...: `add`
S3_DESTINATION = ("    destination: {type: s3, bucket: <BUCKET>, prefix: <PREFIX>, endpoint: \"<S3>\", region: "
                  "us-east-1, access_key_env: <KEY_ENV>, secret_key_env: <SECRET_ENV>}")
GCS_DESTINATION = ("    destination: {type: gcs, bucket: <BUCKET>, prefix: <PREFIX>, endpoint: \"<GCS>\", "
                   "allow_anonymous: true}")


def config(source: str = "pg", query: str = SELECT, line: dict | None = None, add: tuple = ()) -> Setup:
    """rivet.yaml from BASE: the source, the query (line 4), whole lines replaced by number, lines added after 8."""
    lines = list(BASE)
    lines[0], lines[3] = SOURCE_LINES[source], f"    query: {json.dumps(query)}"
    for number, text in (line or {}).items():
        lines[number - 1] = text
    return raw("\n".join([*lines, *add]) + "\n", source)


def raw(text: str | bytes, source: str = "pg") -> Setup:
    def setup(case: Case) -> None:
        case.source = source
        case.write("rivet.yaml", text.replace(b"<SOURCE>", SOURCE_LINES[source].encode()) if isinstance(text, bytes)
                   else text.replace("<SOURCE>", SOURCE_LINES[source]))
    return setup


def destination(template: str, **values: str) -> dict:
    text = template
    for name, value in values.items():
        text = text.replace(f"<{name.upper()}>", value)
    return {7: text}


def both(*setups: Setup) -> Setup:
    def setup(case: Case) -> None:
        for step in setups:
            step(case)
    return setup


BOMB = "\n".join(['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'] + [
    f"{this}: &{this} [{','.join([f'*{prev}'] * 9)}]" for prev, this in zip("abcdefgh", "bcdefghi")])
BASE_TEXT = "\n".join([SOURCE_LINES["pg"], *BASE[1:3], f"    query: {json.dumps(SELECT)}", *BASE[4:]]) + "\n"


# ------------------------------------------------------------------------------------------------ state DBs
def state_bytes(case: Case) -> None:
    case.state.write_bytes(b"\x13\x37" + os.urandom(8190))


def state_newer(case: Case) -> None:
    with sqlite3.connect(case.state) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (999)")


def state_read_only(case: Case) -> None:
    """A read-only state DB in a read-only folder (the destination is elsewhere and writable). Root ignores
    permissions: as root the command runs without CAP_DAC_OVERRIDE (`setpriv`), so they hold for it too."""
    case.state.chmod(0o444)
    case.cfg.chmod(0o555)
    if os.geteuid() == 0 and shutil.which("setpriv"):
        case.wrapper = ("setpriv", "--bounding-set=-dac_override,-dac_read_search",
                        "--inh-caps=-dac_override,-dac_read_search", "--")


def state_locked(case: Case) -> None:
    """Another process holds the state DB (`BEGIN EXCLUSIVE`) while the command runs. Taken after the snapshots:
    closing any descriptor of the file in this process would drop the lock (POSIX locks are per process)."""
    def hold() -> Callable[[], None]:
        conn = sqlite3.connect(case.state, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN EXCLUSIVE")

        def release() -> None:
            conn.execute("ROLLBACK")
            conn.close()
        return release
    case.arm.append(hold)


def pending(*files: str, manifest: dict | None = None) -> Setup:
    """A tampered `pending_commit` row of a dead run naming `files` (and a manifest at the destination naming
    what `manifest` says)."""
    def setup(case: Case) -> None:
        names = [case.fill(name) for name in files]
        with sqlite3.connect(case.state) as conn:
            conn.execute("INSERT INTO pending_commit (export_name, run_id, file_stem, partition_key, files_json, "
                         "manifest_name, owner, created_at) VALUES ('orders', 'tampered-run', 'orders_tampered', "
                         "NULL, ?, '_orders_tampered_manifest.json', ?, '2024-01-01T00:00:00.000+00:00')",
                         (json.dumps(names), f"{socket.gethostname()}:4194000:1"))
        if manifest is not None:
            (case.out / "_orders_tampered_manifest.json").write_text(json.dumps({
                "format_version": 1, "export": "orders", "run_id": "tampered-run", "partition": None,
                "mode": "full", "format": "csv", "compression": None, "rows": 1,
                "files": [{"name": case.fill(n), "uri": case.fill(n), "rows": 1, "bytes": 1, "sha256": "0" * 64}
                          for n in manifest["files"]]}))
    return setup


# ------------------------------------------------------------------------------------------------ extra checks
def loads_within(seconds: float) -> Check:
    """The loader alone (in a subprocess of its own, so a hang is bounded) refuses the file within `seconds`."""
    script = ("import sys, time\nfrom rivet_dagster.config import load_config\nstarted = time.monotonic()\n"
              "try:\n    load_config(sys.argv[1])\nexcept Exception:\n    pass\n"
              "print(time.monotonic() - started)\n")

    def check(case: Case, result: Result) -> list:
        try:
            done = subprocess.run([sys.executable, "-c", script, str(case.cfg / "rivet.yaml")], capture_output=True,
                                  text=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return ["the loader was still parsing after 30 s"]
        took = float(done.stdout.strip() or "inf")
        return [] if took < seconds else [f"the loader took {took:.2f} s to refuse it (limit {seconds} s)"]
    return check


def bucket_still_missing(case: Case, result: Result) -> list:
    try:
        case.clients["s3"].head_bucket(Bucket=case.values["MISSING_BUCKET"])
    except botocore.exceptions.ClientError:
        return []
    return [f"bucket {case.values['MISSING_BUCKET']} was created"]


# ------------------------------------------------------------------------------------------------ the table
RUN = ("run", "-c", "rivet.yaml", "-p", "API_TOKEN=<SECRET>")
STATE_NAMED = "<STATE>"                     # the state DB's absolute path
KEYED = "rivet.yaml:4: exports[0].query"    # where a query's problem is
READ_ONLY = "exports are read-only"
ISSUE_PAYLOAD = "x') AS a; COMMIT; DROP TABLE orders; SELECT * FROM (SELECT 1 AS id WHERE '1' = '1"
QUOTED, BARE, PATTERN = (f"SELECT * FROM orders WHERE label = '${{X}}' AND {TOKEN}",
                         f"SELECT * FROM orders WHERE id = ${{X}} AND {TOKEN}",
                         f"SELECT * FROM orders WHERE label LIKE '%${{X}}%' AND {TOKEN}")


def injection(name: str, source: str, query: str, payload: str) -> Row:
    return Row(name, PARAMS, config(source, query), (*RUN, "-p", f"X={payload}"), ("${X}",), INJECTION)


STACKED = (("read-only", "one statement", "single statement", 'near ";"', "near '; DELETE"),)  # the `;` named


def read_only(name: str, source: str, query: str, words: tuple = (KEYED, READ_ONLY)) -> Row:
    return Row(name, SOURCES, config(source, query), RUN, words)


ROWS = [
    # ---- config: refused at load, exit 1, `file:line: key: what is wrong`
    Row("yaml_syntax_error", CONFIG, config(line={5: "    format: csv: parquet"}), RUN,
        ("rivet.yaml:5", "invalid YAML")),
    Row("duplicate_key", CONFIG, config(add=("    format: parquet",)), RUN,
        ("rivet.yaml:9: exports[0].format", "duplicate key")),
    Row("unknown_key", CONFIG, config(add=("    formt: csv",)), RUN,
        ("rivet.yaml:9: exports[0].formt", "unknown key", "did you mean 'format'")),
    Row("tuning_key_misplaced", CONFIG, config(add=("    batch_size: 500",)), RUN,
        ("rivet.yaml:9: exports[0].batch_size", "tuning:")),
    Row("billion_laughs", CONFIG, raw(BOMB + "\n" + BASE_TEXT), RUN, ("rivet.yaml", "alias"),
        check=loads_within(1.0)),
    Row("recursive_anchor", CONFIG, raw(BASE_TEXT.replace('source: {', 'source: &s {tuning: *s, ')), RUN,
        ("rivet.yaml:1", "recursive")),
    Row("python_tag", CONFIG, config(line={4: '    query: !!python/name:os.system "SELECT 1"'}), RUN,
        ("rivet.yaml:4: exports[0].query", "tag")),
    Row("not_utf8", CONFIG, raw(BASE_TEXT.encode().replace(b"SELECT *", b"SELECT 'caf\xe9', *")), RUN,
        ("rivet.yaml:4", "UTF-8", "0xe9")),
    Row("over_1_mib", CONFIG, raw(BASE_TEXT + "# " + "x" * (1 << 20) + "\n"), RUN, ("rivet.yaml", "1 MiB")),
    Row("empty_file", CONFIG, raw(""), RUN, ("rivet.yaml", "empty")),
    Row("no_exports", CONFIG, raw("<SOURCE>\nexports: []\n"), RUN, ("rivet.yaml:2: exports", "no exports")),
    Row("query_file_missing", CONFIG, config(line={4: "    query_file: sql/missing.sql"}), RUN,
        ("rivet.yaml:4: exports[0].query_file", "sql/missing.sql")),
    Row("bad_enum", CONFIG, config(line={5: "    format: xlsx"}), RUN,
        ("rivet.yaml:5: exports[0].format", "parquet")),
    Row("compression_level_out_of_range", CONFIG, config(add=("    compression: zstd", "    compression_level: 99")),
        RUN, ("rivet.yaml:10: exports[0].compression_level", "1..22")),
    Row("max_file_size_invalid", CONFIG, config(add=("    max_file_size: 12 parsecs",)), RUN,
        ("rivet.yaml:9: exports[0].max_file_size", "12 parsecs")),
    Row("cron_invalid", CONFIG, config(add=('    schedule: "61 25 * * *"',)), RUN,
        ("rivet.yaml:9: exports[0].schedule", "cron")),
    Row("time_zone_unknown", CONFIG, config(add=("    mode: time_window", "    time_column: id",
                                                 "    partitioning: {start: '2024-01-01', timezone: Mars/Olympus}")),
        RUN, ("rivet.yaml:11: exports[0].partitioning.timezone", "time zone")),
    Row("max_sessions_zero", CONFIG, config(line={1: 'source: {type: postgres, url: "<PG>", max_sessions: 0}'}), RUN,
        ("rivet.yaml:1: source.max_sessions", "greater than or equal to 1")),
    Row("config_file_missing", CONFIG, config(), ("run", "-c", "nope.yaml", "-p", "API_TOKEN=<SECRET>"),
        ("nope.yaml", "cannot read")),

    # ---- names and paths: nothing reaches outside the destination
    Row("export_name_newline", NAMES, config(line={3: '  - name: "orders\\n"'}), RUN,
        ("rivet.yaml:3: exports[0].name", "export name")),
    Row("export_name_slash", NAMES, config(line={3: '  - name: "orders/../../x"'}), RUN,
        ("rivet.yaml:3: exports[0].name", "export name")),
    Row("export_name_dotdot", NAMES, config(line={3: '  - name: ".."'}), RUN,
        ("rivet.yaml:3: exports[0].name", "export name")),
    Row("s3_prefix_dotdot", NAMES, config(line=destination(S3_DESTINATION, bucket="<S3_BUCKET>",
                                                           prefix="exports/../../escape", key_env="RIVET_BAD_S3_KEY",
                                                           secret_env="RIVET_BAD_S3_SECRET")), RUN,
        ("rivet.yaml:7: exports[0].destination.prefix", ".."), needs=("s3",)),
    Row("gcs_prefix_dotdot", NAMES, config(line=destination(GCS_DESTINATION, bucket="<GCS_BUCKET>",
                                                            prefix="../outside")), RUN,
        ("rivet.yaml:7: exports[0].destination.prefix", ".."), needs=("gcs",)),
    Row("local_path_is_a_file", NAMES, config(line={7: "    destination: {type: local, path: ../out/keep_me.csv}"}),
        RUN, ("keep_me.csv", ("not a folder", "not a directory", "is a file"))),

    # ---- parameters: values are bound, never SQL; names only where a plain identifier stands
    Row("param_without_value", PARAMS, config(query=f"SELECT * FROM orders WHERE id <= ${{MAX_ID}} AND {TOKEN}"),
        RUN, (KEYED, "${MAX_ID}")),
    Row("param_as_table_not_identifier", PARAMS, config(query=f"SELECT * FROM ${{TABLE}} WHERE {TOKEN}"),
        (*RUN, "-p", "TABLE=orders; DROP TABLE orders"), ("${TABLE}",)),
    injection("pg_quoted_stacked", "pg", QUOTED, ISSUE_PAYLOAD),
    injection("pg_bare_stacked", "pg", BARE, "1; COMMIT; DROP TABLE orders"),
    injection("pg_pattern_comment", "pg", PATTERN, "x%' OR 1=1 --"),
    injection("pg_quoted_quote_doubling", "pg", QUOTED, "x'' OR ''1''=''1'; DROP TABLE orders; --"),
    injection("pg_bare_dollar_quoting", "pg", BARE, "$$ OR 1=1; DROP TABLE orders; SELECT $$"),
    injection("maria_quoted_stacked", "maria", QUOTED, "x'; DROP TABLE orders; SELECT '1"),
    injection("maria_bare_comment", "maria", BARE, "0 OR 1=1 -- "),
    injection("maria_pattern_stacked", "maria", PATTERN, "x%'; DROP TABLE orders; #"),
    injection("maria_quoted_backslash", "maria", QUOTED, "\\'; DROP TABLE orders; -- "),
    injection("maria_pattern_backslash", "maria", PATTERN, "\\' OR 1=1 #"),

    # ---- sources: exports are read-only; a source that cannot be read says why
    Row("pg_unreachable", SOURCES, raw(BASE_TEXT.replace("<PG>", "<PG_CLOSED>")), RUN,
        (("refused", "could not connect"),), code=2),
    Row("maria_wrong_password", SOURCES, config("maria", line={1: 'source: {type: mysql, url: "<MARIA_WRONG>"}'}),
        RUN, ("access denied",)),
    Row("pg_missing_table", SOURCES, config(query=f"SELECT * FROM no_such_table WHERE {TOKEN}"), RUN,
        ("no_such_table",)),
    read_only("sqlite_delete", "sqlite", f"DELETE FROM orders WHERE {TOKEN}"),
    read_only("sqlite_update", "sqlite", f"UPDATE orders SET label = 'gone' WHERE {TOKEN}"),
    read_only("sqlite_delete_returning", "sqlite", f"DELETE FROM orders WHERE {TOKEN} RETURNING *"),
    read_only("sqlite_with_delete", "sqlite", f"WITH doomed AS (SELECT id FROM orders) DELETE FROM orders WHERE "
                                              f"id IN (SELECT id FROM doomed) AND {TOKEN}", (READ_ONLY,)),
    read_only("pg_delete", "pg", f"DELETE FROM orders WHERE {TOKEN}"),
    read_only("pg_drop", "pg", "DROP TABLE orders"),
    read_only("pg_delete_returning", "pg", f"DELETE FROM orders WHERE {TOKEN} RETURNING *"),
    read_only("pg_cte_delete", "pg", f"WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone WHERE "
                                     f"{TOKEN}", (READ_ONLY,)),
    read_only("pg_nextval", "pg", f"SELECT nextval('orders_seq') AS n WHERE {TOKEN}", ("read-only",)),
    read_only("pg_stacked", "pg", f"SELECT * FROM orders WHERE {TOKEN}; DELETE FROM orders", STACKED),
    read_only("maria_update", "maria", f"UPDATE orders SET label = 'gone' WHERE {TOKEN}"),
    read_only("maria_drop", "maria", "DROP TABLE orders"),
    read_only("maria_delete_returning", "maria", f"DELETE FROM orders WHERE {TOKEN} RETURNING id, label"),

    # ---- state store: refused before the source is read, naming the file and what to do
    Row("state_not_a_database", STATE, both(config(), state_bytes), RUN,
        (STATE_NAMED, "not a readable SQLite database", "restore")),
    Row("state_read_only", STATE, both(config(), state_read_only), RUN,
        (STATE_NAMED, ("permission", "read-only", "readonly"))),
    Row("state_locked", STATE, both(config(), state_locked), RUN, (STATE_NAMED, "locked"),
        timeout=40),  # a refusal may wait out SQLite's busy timeout (30 s) once
    Row("state_schema_newer", STATE, both(config(), state_newer), RUN, (STATE_NAMED, "newer", "upgrade")),
    Row("pending_commit_relative_victim", STATE, both(config(), pending("../victim.txt")), RUN,
        ("../victim.txt",)),
    Row("pending_commit_absolute_victim", STATE, both(config(), pending("<VICTIM>")), RUN, ("<VICTIM>",)),
    Row("manifest_relative_victim", STATE, both(config(), pending("orders_tampered.csv",
                                                                  manifest={"files": ["../victim.txt"]})), RUN,
        ("../victim.txt",)),

    # ---- destinations: a permanent store error names the store; a transient one exits 2
    Row("s3_bucket_missing", DESTINATIONS, config(line=destination(
        S3_DESTINATION, bucket="<MISSING_BUCKET>", prefix="exports", key_env="RIVET_BAD_S3_KEY",
        secret_env="RIVET_BAD_S3_SECRET")), RUN, ("S3(<MISSING_BUCKET>)", ("does not exist", "NoSuchBucket")),
        check=bucket_still_missing, needs=("s3",)),
    Row("s3_credential_variables_unset", DESTINATIONS, config(line=destination(
        S3_DESTINATION, bucket="<S3_BUCKET>", prefix="exports", key_env="RIVET_BAD_UNSET_KEY",
        secret_env="RIVET_BAD_UNSET_SECRET")), RUN, ("RIVET_BAD_UNSET_KEY", "not set"), needs=("s3",)),
    Row("gcs_endpoint_refuses", DESTINATIONS, config(line=destination(
        GCS_DESTINATION.replace("<GCS>", "http://127.0.0.1:<CLOSED>"), bucket="<GCS_BUCKET>", prefix="exports")),
        RUN, ("GCS(<GCS_BUCKET>)", ("refused", "connect")), code=2, needs=("gcs",), timeout=15),

    # ---- CLI: a usage error is exit 1 (2 means transient), one line
    Row("unknown_verb", CLI, config(), ("frobnicate", "-c", "rivet.yaml"), ("invalid choice", "frobnicate")),
    Row("unknown_flag", CLI, config(), (*RUN, "--frobnicate"), ("unrecognized arguments: --frobnicate",)),
    Row("param_without_equals", CLI, config(), (*RUN, "-p", "NOEQUALS"), ("NOEQUALS", "KEY=VALUE")),
    Row("export_not_in_config", CLI, config(), (*RUN, "-e", "nope"), ("export 'nope' not found",)),
    Row("state_reset_without_export", CLI, config(), ("state", "reset", "-c", "rivet.yaml"),
        ("-e/--export", "required")),
]


# ------------------------------------------------------------------------------------------------ the world
PG_TABLE = ("DROP TABLE IF EXISTS orders", "CREATE TABLE orders (id integer PRIMARY KEY, label text NOT NULL)",
            "INSERT INTO orders SELECT g, 'row ' || g FROM generate_series(1, 5) g",
            "DROP SEQUENCE IF EXISTS orders_seq", "CREATE SEQUENCE orders_seq")
MARIA_TABLE = ("DROP TABLE IF EXISTS orders", "CREATE TABLE orders (id int PRIMARY KEY, label varchar(40) NOT NULL)",
               "INSERT INTO orders VALUES " + ", ".join(f"({i}, 'row {i}')" for i in range(1, 6)))


@pytest.fixture(scope="module")
def buckets(request) -> Callable:
    """One bucket per object store for this module, created on first use."""
    made = {}

    def get(kind: str):
        if kind not in made:
            store = request.getfixturevalue(f"{kind}_server")
            made[kind] = (store, store.new_bucket())
        return made[kind]
    return get


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def make_case(row: Row, root: Path, pg_url: str, mariadb_url: str, buckets) -> Case:
    secret = f"PLANTED-{uuid.uuid4().hex}"
    case = Case(root=root, secret=secret)
    for folder in (case.cfg, case.out, case.home, case.tmp, root / "elsewhere"):
        folder.mkdir(parents=True)
    (case.home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (case.out / "keep_me.csv").write_text("id,label\n1,committed earlier\n")
    (root / "victim.txt").write_text("not yours\n")
    (root / "elsewhere" / "victim.txt").write_text("not yours either\n")
    closed = _closed_port()
    planted = sa.make_url(pg_url).set(password=secret)
    case.values.update({
        "SECRET": secret, "STATE": str(case.state), "VICTIM": str(root / "elsewhere" / "victim.txt"),
        "CLOSED": closed, "PG": planted.render_as_string(hide_password=False),
        "PG_CLOSED": planted.set(port=int(closed)).render_as_string(hide_password=False),
        "MARIA": mariadb_url,
        "MARIA_WRONG": sa.make_url(mariadb_url).set(password=secret).render_as_string(hide_password=False),
        "MISSING_BUCKET": f"rivet-missing-{uuid.uuid4().hex[:12]}"})
    case.env = {key: value for key, value in os.environ.items()
                if not key.startswith(("AWS_", "RIVET_", "DAGSTER_", "GOOGLE_", "STORAGE_EMULATOR", "CLOUDSDK_"))}
    case.env.update(DAGSTER_HOME=str(case.home), TMPDIR=str(case.tmp), RIVET_BAD_S3_KEY=S3_ACCESS_KEY,
                    RIVET_BAD_S3_SECRET=secret, AWS_EC2_METADATA_DISABLED="true")
    for kind in row.needs:
        store, bucket = buckets(kind)
        case.values.update({kind.upper(): store.endpoint, f"{kind.upper()}_BUCKET": bucket})
        case.clients[kind] = store.client
    StateStore(path=str(case.state)).check()  # a state DB that has seen a run: a metric and a committed file
    with sqlite3.connect(case.state) as conn:
        conn.execute("INSERT INTO export_metrics (export_name, run_id, run_at, duration_ms, total_rows, status, "
                     "files_produced, bytes_written) VALUES ('orders', 'earlier-run', '2024-01-01T00:00:00.000+00:00',"
                     " 100, 1, 'success', 1, 32)")
        conn.execute("INSERT INTO file_manifest (run_id, export_name, file_name, uri, row_count, bytes, format, "
                     "checksum, created_at) VALUES ('earlier-run', 'orders', 'keep_me.csv', ?, 1, 32, 'csv', "
                     "'sha256:0', '2024-01-01T00:00:00.000+00:00')", (str(case.out / "keep_me.csv"),))
    conn.close()
    return case


def seed_source(case: Case, pg_url: str, mariadb_url: str) -> None:
    if case.source == "pg":
        run_sql(pg_url, *PG_TABLE)
    elif case.source == "maria":
        run_sql(mariadb_url, *MARIA_TABLE)
    else:
        with sqlite3.connect(case.cfg / "src.db") as conn:
            conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, label TEXT NOT NULL)")
            conn.executemany("INSERT INTO orders VALUES (?, ?)", [(i, f"row {i}") for i in range(1, 6)])
        conn.close()


def source_rows(case: Case, pg_url: str, mariadb_url: str):
    """The source table's rows (and the PostgreSQL sequence), or why they cannot be read."""
    try:
        if case.source == "sqlite":
            conn = sqlite3.connect(f"file:{case.cfg / 'src.db'}?mode=ro", uri=True)
            try:
                return conn.execute("SELECT id, label FROM orders ORDER BY id").fetchall()
            finally:
                conn.close()
        with sql_engine(pg_url if case.source == "pg" else mariadb_url).connect() as conn:
            rows = [tuple(r) for r in conn.exec_driver_sql("SELECT id, label FROM orders ORDER BY id")]
            if case.source == "pg":
                rows.append(tuple(conn.exec_driver_sql("SELECT last_value, is_called FROM orders_seq").one()))
            return rows
    except Exception as exc:
        return f"unreadable: {type(exc).__name__}: {str(exc).splitlines()[0]}"


def bucket_keys(case: Case, row: Row, buckets) -> dict:
    keys = {}
    for kind in row.needs:
        store, bucket = buckets(kind)
        if kind == "s3":
            pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            keys[kind] = sorted(item["Key"] for page in pages for item in page.get("Contents", []))
        else:
            keys[kind] = sorted(blob.name for blob in store.client.list_blobs(bucket))
    return keys


def _missing(words: tuple, text: str) -> list:
    lowered = text.lower()
    return [w for w in words if not any(alt.lower() in lowered for alt in (w if isinstance(w, tuple) else (w,)))]


# ------------------------------------------------------------------------------------------------ the test
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input_is_refused_changes_nothing_and_leaks_no_secret(row: Row, tmp_path, pg_url, mariadb_url,
                                                                   buckets):
    root = tmp_path / "case"
    try:
        case = make_case(row, root, pg_url, mariadb_url, buckets)
        row.setup(case)
        seed_source(case, pg_url, mariadb_url)
        skip = (case.home, case.tmp, case.state, case.state.with_name(case.state.name + "-wal"),
                case.state.with_name(case.state.name + "-shm"))
        files, state, source, keys = (file_snapshot(root, skip), state_snapshot(case.state),
                                      source_rows(case, pg_url, mariadb_url), bucket_keys(case, row, buckets))

        releases = [arm() for arm in case.arm]
        try:
            result = run_cli(case, row.argv, row.timeout)
        finally:
            for release in releases:
                release()

        problems = []
        words = tuple(tuple(case.fill(a) for a in w) if isinstance(w, tuple) else case.fill(w) for w in row.words)
        empty_run = row.code is INJECTION and result.code == 0
        if row.code is INJECTION:
            if result.code == 0:
                if not any(line.split() == ["rows:", "0"] for line in result.err.splitlines()):
                    problems.append("exit 0 but the summary does not say 0 rows")
            elif result.code != 1:
                problems.append(f"exit {result.code} (expected 0 with 0 rows, or 1 naming the parameter)")
            elif _missing(words, result.text):
                problems.append(f"the failure does not name {_missing(words, result.text)}")
        else:
            if result.code != row.code:
                problems.append(f"exit {result.code} (expected {row.code})")
            if _missing(words, result.text):
                problems.append(f"the output lacks {_missing(words, result.text)}")
        if TRACEBACK in result.text:
            problems.append("a Python traceback in the output")
        after_files = file_snapshot(root, skip)
        if empty_run:  # a run that exported 0 rows may mark its (empty) set committed, as Spark readers expect
            files = {**{name: digest for name, digest in after_files.items() if name == "out/_SUCCESS"}, **files}
        problems += [f"file changed: {c}" for c in file_changes(files, after_files)]
        problems += [f"state DB changed: {c}" for c in state_changes(state, state_snapshot(case.state),
                                                                       empty_run=empty_run)]
        after_source = source_rows(case, pg_url, mariadb_url)
        if after_source != source:
            problems.append(f"the source changed: {source} -> {after_source}")
        after_keys = bucket_keys(case, row, buckets)
        if after_keys != keys:
            problems.append(f"the bucket changed: {keys} -> {after_keys}")
        leaks = secret_hits(case.secret, {"stdout": result.out, "stderr": result.err}, root, case.inputs)
        if leaks:
            problems.append(f"the planted secret is in: {', '.join(leaks)}")
        if row.check is not None:
            problems += row.check(case, result)
        assert not problems, (f"{row.kind} / {row.id}: `rivet-dagster {' '.join(row.argv)}` exited {result.code} "
                              f"after {result.seconds:.1f} s\n  - " + "\n  - ".join(problems) +
                              f"\n--- stderr (tail)\n{result.err[-2500:]}\n--- stdout (tail)\n{result.out[-800:]}")
    finally:  # so that pytest can remove the folder (state_read_only)
        for path in (root / "cfg", root / "cfg" / STATE_FILE):
            if path.exists():
                path.chmod(0o755)


def test_the_table_covers_every_class_with_at_least_40_inputs():
    assert len(ROWS) >= 40 and len({row.id for row in ROWS}) == len(ROWS)
    assert {row.kind for row in ROWS} == {CONFIG, NAMES, PARAMS, SOURCES, STATE, DESTINATIONS, CLI}


def test_the_secret_search_sees_through_compression_and_base64(tmp_path):
    """The detector of rule 3 finds a secret however Dagster may store it: raw, zlib / gzip, base64, base64 of
    zlib, inside an SQLite value or a whole file."""
    import base64
    import gzip
    import zlib

    secret = f"PLANTED-{uuid.uuid4().hex}"
    document = json.dumps({"run_config": {"params": {"REGION": secret}}}).encode()
    for n, stored in enumerate([document, zlib.compress(document), gzip.compress(document),
                                base64.b64encode(document).decode(), base64.b64encode(zlib.compress(document)),
                                b"xx" + base64.b64encode(b"y" + document)]):
        with sqlite3.connect(tmp_path / f"{n}.db") as conn:
            conn.execute("CREATE TABLE snapshots (body)")
            conn.execute("INSERT INTO snapshots VALUES (?)", (stored,))
        conn.close()
    (tmp_path / "compute.err.gz").write_bytes(gzip.compress(document))
    hits = secret_hits(secret, {"stderr": "clean"}, tmp_path, set())
    assert {hit.split(":")[0] for hit in hits if hit.endswith(":snapshots")} == {f"{n}.db" for n in range(6)}
    assert "compute.err.gz" in hits and "stderr" not in hits
    assert secret_hits(f"PLANTED-{uuid.uuid4().hex}", {}, tmp_path, set()) == []
