"""Rivet's end-to-end suite, `dev/e2e/run_e2e.sh` at Rivet 89a6bb35, run against `rivet-dagster`.

The command lines are Rivet's, with the `rivet` binary replaced by the `rivet-dagster` console script. Each
command runs as a subprocess in a temporary "repo root" that holds `dev/e2e/*.yaml`, `dev/test_stdout.yaml`
and `dev/test_params.yaml`. These files are written from the templates in `rivet_e2e/dev/`, filled in with
this session's PostgreSQL and MariaDB databases, moto's S3 server and the GCS emulator. Both databases are
seeded once per module with Rivet's users/orders/events (`rivet_e2e/seed_*.sql`: 500 users, 5,002 orders,
25,000 events, deterministic). `$OUT` is `dev/e2e/output`, as in the script.

Like the script, the suite is stateful and its sections run in order: §8 reads the state that §3-§7 left,
§11 reruns §3's exports, and so on. Each test covers one or two of the script's sections. Inside a test,
each of Rivet's assertions is a labelled block. A failing block is recorded and the section goes on, as the
script's `pass`/`fail` lines do, and the test then fails with every failed label. Nothing is skipped: a
missing database server fails the suite in CI (see `rivet_dagster_tests/conftest.py`).

Deliberate differences from Rivet:
- A relative local `path` resolves against the config file's folder, as `query_file` and the state store
  do. So the ported `dev/e2e/*.yaml` say `path: ./output` (Rivet: `./dev/e2e/output`, relative to the
  working directory), and `dev/test_params.yaml` says `path: ./output` (lands in `dev/output`).
- `pg_e2e.yaml` and `mysql_e2e.yaml` each hold a second chunked export (`*_events_chunked_dense`:
  chunk_dense, chunk_checkpoint, parallel 2). It is run in §3 / §5, and every ported config must load as
  a Dagster code location (`dagster definitions validate`).
- §11 incremental `--reconcile`: Rivet skips reconcile for incremental exports (its assertion is that no
  `reconcile:` line is printed). rivet-dagster counts the exported cursor window when a run exports one; the
  run here finds no new rows, so it is a skip with nothing to reconcile, and the line says `-`.

Every assertion of the script, numbered 1-59 in the script's order, by the test that covers it. Columns:
the number (`+`: an addition, not in Rivet's script), the step (section.command), Rivet's label, and what
this port checks on top of Rivet's own check. Rivet checks only the exit code (`rivet ... && pass`) or a
file glob under $OUT. "rows = source" means the rows read back from the files the run wrote (Parquet with
pyarrow, CSV with the csv module) equal COUNT(*) over the export's query. "ids once" means that, in
addition, every source id is there exactly once. A failure names its assertion as `#<n> <step> <label>`.

test_doctor_and_check_accept_both_sources (§1-§2):
  1   1.1   PG doctor                             "All checks passed."
  2   1.2   MySQL doctor                          "All checks passed."
  3   2.1   PG check                              a Verdict for each of the 11 exports
  4   2.2   MySQL check                           a Verdict for each of the 6 exports

test_postgres_exports_every_mode_to_local_files (§3):
  5   3.1   PG full CSV                           summary: success, 500 rows
  6   3.1   PG full CSV file                      header = the query's columns; rows = source, ids once
  7   3.2   PG full Parquet                       validated: pass
  8   3.2   PG full Parquet file                  rows = source, ids once
  9   3.3   PG incremental                        validated: pass
  10  3.3   PG incremental file                   rows = source, ids once
  11  3.4   PG incremental rerun                  0 rows, 0 files, no new file
  12  3.5   PG chunked                            validated: pass
  13  3.5   PG chunked files                      the run's chunk files together: ids once
  +   3.5b  PG second chunked export              chunk_dense + checkpoint: >=3 chunk files, ids once
  14  3.6   PG time_window                        summary rows = source window
  15  3.6   PG time_window file                   rows = COUNT(*) from UTC midnight 1500 days ago

test_postgres_compression_skip_empty_meta_columns_and_split (§4):
  16  4.1   PG zstd                               validated: pass
  17  4.1   PG zstd file                          every column chunk ZSTD; ids once
  18  4.2   PG gzip CSV                           summary rows = source
  19  4.2   PG gzip CSV file                      rows = source, ids once (plain or gzip CSV)
  20  4.3   PG skip_empty                         status skipped, 0 rows, 0 files
  21  4.3   PG skip_empty no file                 (as Rivet)
  22  4.4   PG meta columns                       validated: pass; Rivet's `source_file: true` kept
  23  4.4   PG meta file                          100 rows; _rivet_exported_at set; _rivet_run_id = run
  24  4.5   PG file split                         validated: pass
  25  4.5   PG split files >=2                    all of the run's files are parts; ids once

test_mysql_exports_every_mode_to_local_files (§5):
  26  5.1   MySQL full CSV                        summary: success, 500 rows
  27  5.1   MySQL full CSV file                   rows = source, ids once
  28  5.2   MySQL full Parquet                    validated: pass
  29  5.2   MySQL full Parquet file               ids once; DECIMAL balance stays a decimal
  30  5.3   MySQL incremental                     validated: pass
  31  5.3   MySQL incremental file                ids once (cursor on a TIMESTAMP column)
  32  5.4   MySQL chunked                         validated: pass
  33  5.4   MySQL chunked files                   the run's chunk files together: ids once
  +   5.4b  MySQL second chunked export           chunk_dense + checkpoint: >=3 chunk files, ids once
  34  5.5   MySQL time_window                     summary rows = source window
  35  5.5   MySQL time_window file                rows = COUNT(*) from UTC midnight 1500 days ago

test_object_store_destinations_receive_every_row (§6-§7):
  36  6.1   S3 full upload                        validated: pass; one object under pg/users/, ids once
  37  6.2   S3 chunked upload                     validated: pass; objects under pg/orders/, ids once
  38  7.1   GCS full upload                       validated: pass; one object under pg/users/, ids once
  39  7.2   GCS incremental upload                CSV objects under pg/orders/, ids once

test_state_commands_and_re_export_after_reset (§8):
  40  8.1   state show                            every export listed; cursor = MAX(orders.updated_at)
  41  8.2   state files                           every data file in $OUT is listed
  42  8.3   metrics                               exactly 5 runs listed
  43  8.4   state reset                           "State reset for export 'pg_orders_incremental'"
  44  8.5   re-export after reset                 validated: pass; the new file has every row again

test_stdout_destination_and_params (§9-§10):
  45  9.1   stdout destination                    exit 0; stdout is one CSV: header + 5 rows
  46  10.1  params                                the file in dev/output holds exactly ids 1..10

test_reconcile_reports_a_match_for_each_mode (§11):
  47  11.1  reconcile full MATCH                  exit 0; `MATCH (500/500)`; no MISMATCH
  48  11.2  reconcile chunked MATCH               exit 0; `MATCH (n/n)`, n = COUNT(*); no MISMATCH
  49  11.3  reconcile incremental skip            a skip (no new rows): reconcile `-`, no MATCH / MISMATCH

test_reruns_and_resume_recover_cleanly (§12):
  50  12.1  recovery full run1                    its file has every row
  51  12.2  recovery full run2                    its file has every row
  52  12.3  recovery full separate files          run 1's file is still there
  53  12.4  recovery incr run1                    ids once
  54  12.5  recovery incr run2 (no new data)      Rivet's always passes; here exit 0, 0 rows, no file
  55  12.6  recovery chunked ckpt run1            3 chunk files, ids once
  56  12.7  recovery chunked resume (no pending)  (as Rivet) and no file written
  57  12.8  recovery chunked re-export            $OUT holds every order exactly once
  58  12.9  recovery metrics entries              recovery_full listed as success, 500 rows

test_misplaced_tuning_key_on_stdin_is_rejected (§13):
  59  13.1  misplaced field detection             non-zero exit as well

test_ported_config_loads_as_a_dagster_code_location (not in Rivet):
  +   14    definitions validate, each config     exit 0 (two chunked exports in pg/mysql_e2e.yaml)
"""
from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

# The destination tests' session-scoped servers (moto S3, GCS emulator); importing them makes them fixtures here.
from rivet_dagster_tests.commit.conftest import S3_ACCESS_KEY, S3_SECRET_KEY, gcs_server, s3_server  # noqa: F401
from rivet_dagster_tests.conftest import sql_engine

RIVET = str(Path(sys.executable).with_name("rivet-dagster"))
DAGSTER = str(Path(sys.executable).with_name("dagster"))
TEMPLATES = Path(__file__).with_name("rivet_e2e")
OUT = "dev/e2e/output"
BUCKET = "rivet-e2e"
TIMEOUT = 120  # seconds, per command
PORTED_CONFIGS = ["dev/e2e/pg_e2e.yaml", "dev/e2e/mysql_e2e.yaml", "dev/e2e/pg_s3_e2e.yaml",
                  "dev/e2e/pg_gcs_e2e.yaml", "dev/e2e/pg_recovery_e2e.yaml", "dev/test_stdout.yaml",
                  "dev/test_params.yaml"]

# Queries of the ported exports (as in the configs), for the source's COUNT(*) and ids.
USERS_FULL = "SELECT id, name, email, age, balance, is_active, created_at FROM users"
ORDERS_INCREMENTAL = "SELECT id, user_id, product, quantity, price, status, updated_at FROM orders"
ORDERS_CHUNKED = "SELECT id, user_id, product, quantity, price, status, ordered_at FROM orders"
EVENTS = "SELECT id, user_id, event_type, ip_address, created_at FROM events"
USERS_SHORT = "SELECT id, name, email FROM users"

# Rivet's §13 input, verbatim.
MISPLACED_BATCH_SIZE = """\
source:
  type: postgres
  url: "postgresql://rivet:rivet@localhost:5432/rivet"
  batch_size: 1000
exports:
  - name: t
    query: "SELECT 1"
    format: csv
    destination:
      type: local
      path: /tmp
"""


# ── the commands ──────────────────────────────────────────────────────────────────────────────────────────────

@dataclass
class Run:
    """One finished command: exit code (None on a timeout), standard output and standard error."""
    argv: list[str]
    code: int | None
    out: str
    err: str

    @property
    def log(self) -> str:
        """The command, its exit code and the tail of its output, for an assertion's message."""
        return (f"$ {' '.join([Path(self.argv[0]).name, *self.argv[1:]])}\nexit {self.code}\n"
                f"--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}")

    def summary(self, export: str) -> dict[str, str]:
        """The `Export: <name>` block of `run`'s summary on standard error, as {label: value}."""
        marker = f"Export: {export}\n"
        if marker not in self.err:
            return {}
        block = {}
        for line in self.err.split(marker, 1)[1].splitlines():
            if not line.startswith("  ") or ":" not in line:
                break
            label, value = line.split(":", 1)
            block[label.strip()] = value.strip()
        return block

    def run_ids(self, export: str) -> list[str]:
        """The (short) Dagster run ids this command ran for an export; they are in its file names."""
        return [r for r in self.summary(export).get("run", "").split(", ") if r]

    def rows(self, export: str) -> int:
        return int(self.summary(export)["rows"].replace(",", ""))

    def reconcile_matches(self) -> list[tuple[int, int]]:
        """Rivet's `reconcile:   MATCH (<rows>/<src>)` lines, as (exported, source) pairs."""
        return [(int(a.replace(",", "")), int(b.replace(",", "")))
                for a, b in re.findall(r"reconcile:\s+MATCH \(([\d,]+)/([\d,]+)\)", self.out + self.err)]


@dataclass
class Repo:
    """The temporary repo root, the servers behind its configs, and the seeded databases."""
    root: Path
    env: dict[str, str]
    pg_url: str
    mariadb_url: str
    s3: object
    gcs: object

    def rivet(self, *argv: str, stdin: str | None = None) -> Run:
        return self.command([RIVET, *argv], stdin=stdin)

    def command(self, argv: list[str], stdin: str | None = None, env: dict[str, str] | None = None) -> Run:
        try:
            done = subprocess.run(argv, cwd=self.root, env=env or self.env, input=stdin, capture_output=True,
                                  text=True, timeout=TIMEOUT, check=False,
                                  stdin=None if stdin is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            return Run(argv, None, _text(exc.stdout), _text(exc.stderr) + f"\n(timed out after {TIMEOUT}s)")
        return Run(argv, done.returncode, done.stdout, done.stderr)

    def glob(self, pattern: str) -> list[Path]:
        """Files matching a glob relative to the root, as the script's `compgen -G`."""
        return sorted(self.root.glob(pattern))

    def expect_files(self, pattern: str, minimum: int = 1) -> list[Path]:
        """Rivet's `assert_file_exists` / `assert_file_count_ge`; a failure says where files of that name went."""
        found = self.glob(pattern)
        assert len(found) >= minimum, f"expected >= {minimum} file(s) {pattern}, found {len(found)}; " + \
            self._elsewhere(pattern)
        return found

    def files_of(self, run: Run, export: str, pattern: str) -> list[Path]:
        """The files matching `pattern` that this command's runs of `export` wrote (their names hold the run id);
        at least one."""
        ids = run.run_ids(export)
        found = [p for p in self.glob(pattern) if any(f"_{r}" in p.name for r in ids)]
        assert found, f"no file {pattern} of run(s) {ids or '(none printed)'}; " + self._elsewhere(pattern)
        return found

    def _elsewhere(self, pattern: str) -> str:
        stem = Path(pattern).name.split("*", 1)[0]
        found = sorted(str(p.relative_to(self.root)) for p in self.root.rglob(f"{stem}*"))
        return f"files named {stem}* anywhere under the repo root: {found[:6] or 'none'}"

    def scalar(self, url: str, sql: str, **params):
        with sql_engine(url).connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def count(self, url: str, query: str) -> int:
        return self.scalar(url, f"SELECT COUNT(*) FROM ({query}) AS q")

    def ids(self, url: str, query: str) -> list[int]:
        with sql_engine(url).connect() as conn:
            return sorted(row[0] for row in conn.execute(sa.text(f"SELECT id FROM ({query}) AS q")))

    def window_count(self, url: str, days: int) -> int:
        """Rows of events a `days_window` export takes: created_at from UTC midnight `days` days ago onward."""
        start = datetime.combine(datetime.now(UTC).date() - timedelta(days=days), datetime.min.time())
        return self.scalar(url, "SELECT COUNT(*) FROM events WHERE created_at >= :start", start=start)

    def s3_objects(self, prefix: str) -> dict[str, bytes]:
        pages = self.s3.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        return {key: self.s3.client.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}

    def gcs_objects(self, prefix: str) -> dict[str, bytes]:
        return {blob.name: blob.download_as_bytes() for blob in self.gcs.client.list_blobs(BUCKET, prefix=prefix)}


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


# ── reading what was exported ─────────────────────────────────────────────────────────────────────────────────

def data_files(names):
    """Exported data files, without the manifests (`_<stem>_manifest.json`) and other hidden names."""
    return [n for n in names if not Path(str(n)).name.startswith((".", "_"))]


def read_table(name: str, data: bytes) -> pa.Table:
    """A Parquet or CSV file (gzip-compressed or not) as an Arrow table of strings for CSV."""
    if name.endswith(".gz") or data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if ".parquet" in name:
        return pq.read_table(pa.BufferReader(data))
    rows = list(csv.reader(io.StringIO(data.decode())))
    header, body = rows[0], rows[1:]
    return pa.table({column: [row[i] for row in body] for i, column in enumerate(header)})


def read_files(paths: list[Path]) -> list[pa.Table]:
    return [read_table(p.name, p.read_bytes()) for p in paths]


def read_objects(objects: dict[str, bytes]) -> list[pa.Table]:
    return [read_table(key, objects[key]) for key in data_files(objects)]


def exported_ids(tables: list[pa.Table]) -> list[int]:
    return sorted(int(v) for t in tables for v in t.column("id").to_pylist())


def assert_every_id_once(tables: list[pa.Table], source_ids: list[int]) -> None:
    ids = exported_ids(tables)
    duplicates = [i for i, n in Counter(ids).items() if n > 1][:10]
    assert not duplicates, f"ids exported more than once: {duplicates}"
    assert len(ids) == len(source_ids), f"exported {len(ids)} rows, the source has {len(source_ids)}"
    assert ids == source_ids


def assert_succeeded(run: Run, export: str | None = None, validated: bool = False) -> None:
    assert run.code == 0, run.log
    if export is not None:
        printed = run.summary(export)
        assert printed.get("status") in ("success", "skipped"), run.log
        if validated:
            assert printed.get("validated") == "pass", run.log


# ── Rivet's pass / fail lines ────────────────────────────────────────────────────────────────────────────────

@dataclass
class Assertions:
    """Rivet's labelled assertions of one section: a failing one is recorded and the section goes on, as in
    the script; `verify()` then fails the test with every failed label."""
    failed: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def __call__(self, label: str):
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - an assertion, or a file that cannot be read: the label fails
            message = str(exc) if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {exc}"
            self.failed.append(f"FAIL  {label}\n{_indent(message)}")

    def verify(self) -> None:
        if self.failed:
            pytest.fail(f"{len(self.failed)} of Rivet's assertions failed:\n\n" + "\n\n".join(self.failed),
                        pytrace=False)


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text[-6000:].splitlines())


# ── the repo root ─────────────────────────────────────────────────────────────────────────────────────────────

def seed(url: str, script: str) -> None:
    """Run a seed script statement by statement on a DB-API connection (no parameter parsing of `%`)."""
    statements = [s.strip() for s in re.split(r";\s*$", (TEMPLATES / script).read_text(), flags=re.MULTILINE)]
    connection = sql_engine(url).raw_connection()
    try:
        cursor = connection.cursor()
        for statement in filter(None, statements):
            cursor.execute(statement)
        connection.commit()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def repo(pg_url, mariadb_url, s3_server, gcs_server, tmp_path_factory) -> Repo:  # noqa: F811
    """Rivet's CI setup: both databases seeded, the bucket `rivet-e2e` on S3 and GCS, the configs in place and
    `$OUT` created (`mkdir -p "$OUT"`), and a DAGSTER_HOME with telemetry off."""
    seed(pg_url, "seed_postgres.sql")
    seed(mariadb_url, "seed_mariadb.sql")
    with contextlib.suppress(s3_server.client.exceptions.BucketAlreadyOwnedByYou):
        s3_server.client.create_bucket(Bucket=BUCKET)
    from google.api_core.exceptions import Conflict
    with contextlib.suppress(Conflict):
        gcs_server.client.create_bucket(BUCKET)

    root = tmp_path_factory.mktemp("rivet_repo")
    values = {"PG_URL": pg_url, "MARIADB_URL": mariadb_url, "S3_ENDPOINT": s3_server.endpoint,
              "GCS_ENDPOINT": gcs_server.endpoint}
    for template in (TEMPLATES / "dev").rglob("*.yaml"):
        text = template.read_text()
        for name, value in values.items():
            text = text.replace("{{" + name + "}}", value)
        assert "{{" not in text.replace("{{...}}", ""), f"unfilled placeholder in {template}"
        target = root / template.relative_to(TEMPLATES)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (root / OUT).mkdir(parents=True, exist_ok=True)

    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "MINIO_ACCESS_KEY": S3_ACCESS_KEY,
           "MINIO_SECRET_KEY": S3_SECRET_KEY}
    for name in ("RIVET_CONFIG", "RIVET_CRASH_AT", "STORAGE_EMULATOR_HOST"):
        env.pop(name, None)
    return Repo(root, env, pg_url, mariadb_url, s3_server, gcs_server)


# ── §1-§2 ─────────────────────────────────────────────────────────────────────────────────────────────────────

def test_doctor_and_check_accept_both_sources(repo):
    check = Assertions()
    sources = [(1, "PG", "dev/e2e/pg_e2e.yaml", 11), (2, "MySQL", "dev/e2e/mysql_e2e.yaml", 6)]
    for number, label, config, _ in sources:
        with check(f"#{number} 1.{number} {label} doctor"):
            run = repo.rivet("doctor", "--config", config)
            assert run.code == 0 and "All checks passed." in run.out, run.log
    for number, label, config, exports in sources:
        with check(f"#{number + 2} 2.{number} {label} check"):
            run = repo.rivet("check", "--config", config)
            assert run.code == 0, run.log
            assert run.out.count("Export:") == exports and run.out.count("Verdict:") == exports, run.log
    check.verify()


# ── §3 ────────────────────────────────────────────────────────────────────────────────────────────────────────

def test_postgres_exports_every_mode_to_local_files(repo):
    check, pg, config = Assertions(), repo.pg_url, "dev/e2e/pg_e2e.yaml"

    run = repo.rivet("run", "--config", config, "--export", "pg_users_full_csv")
    with check("#5 3.1 PG full CSV"):
        assert_succeeded(run, "pg_users_full_csv")
        assert run.rows("pg_users_full_csv") == repo.count(pg, USERS_FULL) == 500
    with check("#6 3.1 PG full CSV file"):
        repo.expect_files(f"{OUT}/pg_users_full_csv_*.csv")
        [table] = read_files(repo.files_of(run, "pg_users_full_csv", f"{OUT}/pg_users_full_csv_*.csv"))
        assert table.column_names == ["id", "name", "email", "age", "balance", "is_active", "created_at"]
        assert_every_id_once([table], repo.ids(pg, USERS_FULL))

    run = repo.rivet("run", "--config", config, "--export", "pg_users_full_parquet", "--validate")
    with check("#7 3.2 PG full Parquet"):
        assert_succeeded(run, "pg_users_full_parquet", validated=True)
    with check("#8 3.2 PG full Parquet file"):
        repo.expect_files(f"{OUT}/pg_users_full_parquet_*.parquet")
        tables = read_files(repo.files_of(run, "pg_users_full_parquet", f"{OUT}/pg_users_full_parquet_*.parquet"))
        assert len(tables) == 1
        assert_every_id_once(tables, repo.ids(pg, USERS_FULL))

    run = repo.rivet("run", "--config", config, "--export", "pg_orders_incremental", "--validate")
    with check("#9 3.3 PG incremental"):
        assert_succeeded(run, "pg_orders_incremental", validated=True)
    with check("#10 3.3 PG incremental file"):
        repo.expect_files(f"{OUT}/pg_orders_incremental_*.parquet")
        tables = read_files(repo.files_of(run, "pg_orders_incremental", f"{OUT}/pg_orders_incremental_*.parquet"))
        assert_every_id_once(tables, repo.ids(pg, ORDERS_INCREMENTAL))

    # Incremental rerun: no new data, so no file, and still exit 0.
    before = repo.glob(f"{OUT}/pg_orders_incremental_*")
    run = repo.rivet("run", "--config", config, "--export", "pg_orders_incremental")
    with check("#11 3.4 PG incremental rerun"):
        assert_succeeded(run, "pg_orders_incremental")
        assert run.rows("pg_orders_incremental") == 0 and run.summary("pg_orders_incremental")["files"] == "0", run.log
        assert repo.glob(f"{OUT}/pg_orders_incremental_*") == before

    run = repo.rivet("run", "--config", config, "--export", "pg_orders_chunked", "--validate")
    with check("#12 3.5 PG chunked"):
        assert_succeeded(run, "pg_orders_chunked", validated=True)
    with check("#13 3.5 PG chunked files"):
        repo.expect_files(f"{OUT}/pg_orders_chunked_*.parquet", 1)
        tables = read_files(repo.files_of(run, "pg_orders_chunked", f"{OUT}/pg_orders_chunked_*.parquet"))
        assert_every_id_once(tables, repo.ids(pg, ORDERS_CHUNKED))

    run = repo.rivet("run", "--config", config, "--export", "pg_events_chunked_dense", "--validate")
    with check("+ 3.5b PG second chunked export (chunk_dense, chunk_checkpoint, parallel 2)"):
        assert_succeeded(run, "pg_events_chunked_dense", validated=True)
        files = repo.files_of(run, "pg_events_chunked_dense", f"{OUT}/pg_events_chunked_dense_*.parquet")
        assert len(files) >= 3, run.log  # 25,000 rows in chunks of 10,000
        assert_every_id_once(read_files(files), repo.ids(pg, EVENTS))

    run = repo.rivet("run", "--config", config, "--export", "pg_events_timewindow")
    with check("#14 3.6 PG time_window"):
        assert_succeeded(run, "pg_events_timewindow")
        assert run.rows("pg_events_timewindow") == repo.window_count(pg, 1500), run.log
    with check("#15 3.6 PG time_window file"):
        repo.expect_files(f"{OUT}/pg_events_timewindow_*.csv")
        tables = read_files(repo.files_of(run, "pg_events_timewindow", f"{OUT}/pg_events_timewindow_*.csv"))
        assert sum(t.num_rows for t in tables) == repo.window_count(pg, 1500) > 0
    check.verify()


# ── §4 ────────────────────────────────────────────────────────────────────────────────────────────────────────

def test_postgres_compression_skip_empty_meta_columns_and_split(repo):
    check, pg, config = Assertions(), repo.pg_url, "dev/e2e/pg_e2e.yaml"

    run = repo.rivet("run", "--config", config, "--export", "pg_users_zstd", "--validate")
    with check("#16 4.1 PG zstd"):
        assert_succeeded(run, "pg_users_zstd", validated=True)
    with check("#17 4.1 PG zstd file"):
        repo.expect_files(f"{OUT}/pg_users_zstd_*.parquet")
        [path] = repo.files_of(run, "pg_users_zstd", f"{OUT}/pg_users_zstd_*.parquet")
        metadata = pq.ParquetFile(path).metadata
        codecs = {metadata.row_group(g).column(c).compression
                  for g in range(metadata.num_row_groups) for c in range(metadata.num_columns)}
        assert codecs == {"ZSTD"}
        assert_every_id_once(read_files([path]), repo.ids(pg, USERS_SHORT))

    # Rivet writes CSV uncompressed whatever `compression` says; the glob allows a .csv.gz too.
    run = repo.rivet("run", "--config", config, "--export", "pg_users_gzip_csv")
    with check("#18 4.2 PG gzip CSV"):
        assert_succeeded(run, "pg_users_gzip_csv")
        assert run.rows("pg_users_gzip_csv") == repo.count(pg, USERS_SHORT)
    with check("#19 4.2 PG gzip CSV file"):
        repo.expect_files(f"{OUT}/pg_users_gzip_csv_*.csv*")
        tables = read_files(repo.files_of(run, "pg_users_gzip_csv", f"{OUT}/pg_users_gzip_csv_*.csv*"))
        assert_every_id_once(tables, repo.ids(pg, USERS_SHORT))

    run = repo.rivet("run", "--config", config, "--export", "pg_empty_skip")
    with check("#20 4.3 PG skip_empty"):
        assert_succeeded(run, "pg_empty_skip")
        printed = run.summary("pg_empty_skip")
        assert (printed["status"], printed["rows"], printed["files"]) == ("skipped", "0", "0"), run.log
    with check("#21 4.3 PG skip_empty no file"):
        assert repo.glob(f"{OUT}/pg_empty_skip_*.csv*") == []

    run = repo.rivet("run", "--config", config, "--export", "pg_users_meta", "--validate")
    with check("#22 4.4 PG meta columns"):
        assert_succeeded(run, "pg_users_meta", validated=True)
    with check("#23 4.4 PG meta file"):
        repo.expect_files(f"{OUT}/pg_users_meta_*.parquet")
        [path] = repo.files_of(run, "pg_users_meta", f"{OUT}/pg_users_meta_*.parquet")
        table = pq.read_table(path)
        assert table.num_rows == repo.count(pg, "SELECT id, name, email FROM users LIMIT 100") == 100
        assert table.column_names[:3] == ["id", "name", "email"]
        assert table.column("_rivet_exported_at").null_count == 0
        [run_id] = set(table.column("_rivet_run_id").to_pylist())
        assert run_id.startswith(run.run_ids("pg_users_meta")[0])

    run = repo.rivet("run", "--config", config, "--export", "pg_events_split", "--validate")
    with check("#24 4.5 PG file split"):
        assert_succeeded(run, "pg_events_split", validated=True)
    with check("#25 4.5 PG split files >=2"):
        repo.expect_files(f"{OUT}/pg_events_split_*_part*.parquet", 2)
        parts = repo.files_of(run, "pg_events_split", f"{OUT}/pg_events_split_*_part*.parquet")
        assert len(parts) >= 2 and len(parts) == len(repo.files_of(run, "pg_events_split",
                                                                     f"{OUT}/pg_events_split_*.parquet"))
        assert_every_id_once(read_files(parts), repo.ids(pg, EVENTS))
    check.verify()


# ── §5 ────────────────────────────────────────────────────────────────────────────────────────────────────────

def test_mysql_exports_every_mode_to_local_files(repo):
    check, db, config = Assertions(), repo.mariadb_url, "dev/e2e/mysql_e2e.yaml"

    run = repo.rivet("run", "--config", config, "--export", "mysql_users_full_csv")
    with check("#26 5.1 MySQL full CSV"):
        assert_succeeded(run, "mysql_users_full_csv")
        assert run.rows("mysql_users_full_csv") == repo.count(db, USERS_FULL) == 500
    with check("#27 5.1 MySQL full CSV file"):
        repo.expect_files(f"{OUT}/mysql_users_full_csv_*.csv")
        tables = read_files(repo.files_of(run, "mysql_users_full_csv", f"{OUT}/mysql_users_full_csv_*.csv"))
        assert_every_id_once(tables, repo.ids(db, USERS_FULL))

    run = repo.rivet("run", "--config", config, "--export", "mysql_users_full_parquet", "--validate")
    with check("#28 5.2 MySQL full Parquet"):
        assert_succeeded(run, "mysql_users_full_parquet", validated=True)
    with check("#29 5.2 MySQL full Parquet file"):
        repo.expect_files(f"{OUT}/mysql_users_full_parquet_*.parquet")
        tables = read_files(repo.files_of(run, "mysql_users_full_parquet",
                                          f"{OUT}/mysql_users_full_parquet_*.parquet"))
        assert_every_id_once(tables, repo.ids(db, USERS_FULL))
        assert pa.types.is_decimal(tables[0].schema.field("balance").type)  # DECIMAL(12,2), not text or float

    run = repo.rivet("run", "--config", config, "--export", "mysql_orders_incremental", "--validate")
    with check("#30 5.3 MySQL incremental"):
        assert_succeeded(run, "mysql_orders_incremental", validated=True)
    with check("#31 5.3 MySQL incremental file"):
        repo.expect_files(f"{OUT}/mysql_orders_incremental_*.parquet")
        tables = read_files(repo.files_of(run, "mysql_orders_incremental",
                                          f"{OUT}/mysql_orders_incremental_*.parquet"))
        assert_every_id_once(tables, repo.ids(db, ORDERS_INCREMENTAL))

    run = repo.rivet("run", "--config", config, "--export", "mysql_orders_chunked", "--validate")
    with check("#32 5.4 MySQL chunked"):
        assert_succeeded(run, "mysql_orders_chunked", validated=True)
    with check("#33 5.4 MySQL chunked files"):
        repo.expect_files(f"{OUT}/mysql_orders_chunked_*.parquet", 1)
        tables = read_files(repo.files_of(run, "mysql_orders_chunked", f"{OUT}/mysql_orders_chunked_*.parquet"))
        assert_every_id_once(tables, repo.ids(db, ORDERS_CHUNKED))

    run = repo.rivet("run", "--config", config, "--export", "mysql_events_chunked_dense", "--validate")
    with check("+ 5.4b MySQL second chunked export (chunk_dense, chunk_checkpoint, parallel 2)"):
        assert_succeeded(run, "mysql_events_chunked_dense", validated=True)
        files = repo.files_of(run, "mysql_events_chunked_dense", f"{OUT}/mysql_events_chunked_dense_*.parquet")
        assert len(files) >= 3, run.log
        assert_every_id_once(read_files(files), repo.ids(db, EVENTS))

    run = repo.rivet("run", "--config", config, "--export", "mysql_events_timewindow")
    with check("#34 5.5 MySQL time_window"):
        assert_succeeded(run, "mysql_events_timewindow")
        assert run.rows("mysql_events_timewindow") == repo.window_count(db, 1500), run.log
    with check("#35 5.5 MySQL time_window file"):
        repo.expect_files(f"{OUT}/mysql_events_timewindow_*.csv")
        tables = read_files(repo.files_of(run, "mysql_events_timewindow", f"{OUT}/mysql_events_timewindow_*.csv"))
        assert sum(t.num_rows for t in tables) == repo.window_count(db, 1500) > 0
    check.verify()


# ── §6-§7 ─────────────────────────────────────────────────────────────────────────────────────────────────────

def test_object_store_destinations_receive_every_row(repo):
    check, pg = Assertions(), repo.pg_url

    run = repo.rivet("run", "--config", "dev/e2e/pg_s3_e2e.yaml", "--export", "pg_users_s3", "--validate")
    with check("#36 6.1 S3 full upload"):
        assert_succeeded(run, "pg_users_s3", validated=True)
        tables = read_objects(repo.s3_objects("pg/users/"))
        assert len(tables) == 1, sorted(repo.s3_objects("pg/users/"))
        assert_every_id_once(tables, repo.ids(pg, "SELECT id, name, email, age, balance FROM users"))

    run = repo.rivet("run", "--config", "dev/e2e/pg_s3_e2e.yaml", "--export", "pg_orders_s3_chunked", "--validate")
    with check("#37 6.2 S3 chunked upload"):
        assert_succeeded(run, "pg_orders_s3_chunked", validated=True)
        tables = read_objects(repo.s3_objects("pg/orders/"))
        assert tables, sorted(repo.s3_objects("pg/orders/"))
        assert_every_id_once(tables, repo.ids(pg, "SELECT id, user_id, product, quantity, price, status FROM orders"))

    run = repo.rivet("run", "--config", "dev/e2e/pg_gcs_e2e.yaml", "--export", "pg_users_gcs", "--validate")
    with check("#38 7.1 GCS full upload"):
        assert_succeeded(run, "pg_users_gcs", validated=True)
        tables = read_objects(repo.gcs_objects("pg/users/"))
        assert len(tables) == 1, sorted(repo.gcs_objects("pg/users/"))
        assert_every_id_once(tables, repo.ids(pg, "SELECT id, name, email, age, balance FROM users"))

    run = repo.rivet("run", "--config", "dev/e2e/pg_gcs_e2e.yaml", "--export", "pg_orders_gcs_incremental")
    with check("#39 7.2 GCS incremental upload"):
        assert_succeeded(run, "pg_orders_gcs_incremental")
        objects = repo.gcs_objects("pg/orders/")
        assert [key for key in data_files(objects) if key.endswith(".csv")], sorted(objects)
        assert_every_id_once(read_objects(objects), repo.ids(pg, ORDERS_INCREMENTAL))
    check.verify()


# ── §8 ────────────────────────────────────────────────────────────────────────────────────────────────────────

def test_state_commands_and_re_export_after_reset(repo):
    check, pg, config = Assertions(), repo.pg_url, "dev/e2e/pg_e2e.yaml"

    run = repo.rivet("state", "show", "--config", config)
    with check("#40 8.1 state show"):
        assert run.code == 0, run.log
        lines = {line.split()[0]: line for line in run.out.splitlines()[1:] if line.strip()}
        assert {"pg_users_full_csv", "pg_orders_incremental", "pg_orders_chunked", "pg_events_chunked_dense",
                "pg_events_timewindow", "pg_users_zstd", "pg_users_gzip_csv", "pg_empty_skip", "pg_users_meta",
                "pg_events_split", "pg_users_full_parquet"} <= set(lines), run.log
        newest = repo.scalar(pg, "SELECT MAX(updated_at) FROM orders")
        assert newest.strftime("%Y-%m-%dT%H:%M:%S") in lines["pg_orders_incremental"], run.log

    run = repo.rivet("state", "files", "--config", config)
    with check("#41 8.2 state files"):
        assert run.code == 0, run.log
        on_disk = data_files(p.name for p in repo.glob(f"{OUT}/*"))
        assert on_disk, f"nothing in {OUT}"
        assert [name for name in on_disk if name not in run.out] == [], run.log

    run = repo.rivet("metrics", "--config", config, "--last", "5")
    with check("#42 8.3 metrics"):
        assert run.code == 0, run.log
        assert len([line for line in run.out.splitlines()[1:] if line.strip()]) == 5, run.log

    run = repo.rivet("state", "reset", "--config", config, "--export", "pg_orders_incremental")
    with check("#43 8.4 state reset"):
        assert run.code == 0 and "State reset for export 'pg_orders_incremental'" in run.out, run.log

    run = repo.rivet("run", "--config", config, "--export", "pg_orders_incremental", "--validate")
    with check("#44 8.5 re-export after reset"):
        assert_succeeded(run, "pg_orders_incremental", validated=True)
        tables = read_files(repo.files_of(run, "pg_orders_incremental", f"{OUT}/pg_orders_incremental_*.parquet"))
        assert_every_id_once(tables, repo.ids(pg, ORDERS_INCREMENTAL))
    check.verify()


# ── §9-§10 ────────────────────────────────────────────────────────────────────────────────────────────────────

def test_stdout_destination_and_params(repo):
    check, pg = Assertions(), repo.pg_url

    run = repo.rivet("run", "--config", "dev/test_stdout.yaml")
    with check("#45 9.1 stdout destination"):
        assert run.code == 0 and run.out, run.log
        records = list(csv.reader(io.StringIO(run.out)))  # standard output is the CSV and nothing else
        assert records[0] == ["id", "name", "email"] and len(records) == 6, run.log
        assert {int(r[0]) for r in records[1:]} <= set(repo.ids(pg, USERS_SHORT))

    run = repo.rivet("run", "--config", "dev/test_params.yaml", "--param", "MAX_ID=10")
    with check("#46 10.1 params"):
        assert_succeeded(run, "users_parameterized")
        tables = read_files(repo.files_of(run, "users_parameterized", "dev/output/users_parameterized_*.csv"))
        assert_every_id_once(tables, list(range(1, 11)))
    check.verify()


# ── §11 ───────────────────────────────────────────────────────────────────────────────────────────────────────

def test_reconcile_reports_a_match_for_each_mode(repo):
    check, pg, config = Assertions(), repo.pg_url, "dev/e2e/pg_e2e.yaml"

    run = repo.rivet("run", "--config", config, "--export", "pg_users_full_csv", "--reconcile")
    with check("#47 11.1 reconcile full MATCH"):
        assert run.code == 0 and "MATCH" in run.err and "MISMATCH" not in run.err, run.log
        assert (500, 500) in run.reconcile_matches(), run.log

    run = repo.rivet("run", "--config", config, "--export", "pg_orders_chunked", "--reconcile")
    with check("#48 11.2 reconcile chunked MATCH"):
        assert run.code == 0 and "MATCH" in run.err and "MISMATCH" not in run.err, run.log
        orders = repo.count(pg, ORDERS_CHUNKED)
        assert (orders, orders) in run.reconcile_matches(), run.log  # one chunk of 50,000 holds every order

    # Rivet skips reconcile for incremental (no `reconcile:` line). rivet-dagster counts an exported window
    # (defs/test_checks.py); a run with no new rows (a first run took them) is a skip, with nothing to reconcile.
    repo.rivet("run", "--config", config, "--export", "pg_orders_incremental")
    run = repo.rivet("run", "--config", config, "--export", "pg_orders_incremental", "--reconcile")
    with check("#49 11.3 reconcile incremental skip (here: a skip, nothing to reconcile)"):
        assert run.code == 0 and "MATCH" not in run.err, run.log
        assert run.summary("pg_orders_incremental")["status"] == "skipped", run.log
        assert run.summary("pg_orders_incremental")["reconcile"] == "-", run.log
    check.verify()


# ── §12 ───────────────────────────────────────────────────────────────────────────────────────────────────────

def test_reruns_and_resume_recover_cleanly(repo):
    check, pg, config = Assertions(), repo.pg_url, "dev/e2e/pg_recovery_e2e.yaml"
    users = repo.ids(pg, USERS_SHORT)

    # Full mode: two consecutive runs both succeed and produce separate files.
    run1 = repo.rivet("run", "--config", config, "--export", "recovery_full", "--reconcile")
    with check("#50 12.1 recovery full run1"):
        assert_succeeded(run1, "recovery_full")
        assert_every_id_once(read_files(repo.files_of(run1, "recovery_full", f"{OUT}/recovery_full_*.parquet")),
                             users)
    count1 = len(repo.glob(f"{OUT}/recovery_full_*.parquet"))
    time.sleep(1)  # Rivet's names have second precision; rivet-dagster's hold the run id as well
    run2 = repo.rivet("run", "--config", config, "--export", "recovery_full", "--reconcile")
    with check("#51 12.2 recovery full run2"):
        assert_succeeded(run2, "recovery_full")
        assert_every_id_once(read_files(repo.files_of(run2, "recovery_full", f"{OUT}/recovery_full_*.parquet")),
                             users)
    count2 = len(repo.glob(f"{OUT}/recovery_full_*.parquet"))
    with check(f"#52 12.3 recovery full separate files (n={count2})"):
        assert count2 > count1, (count1, count2)
        assert repo.files_of(run1, "recovery_full", f"{OUT}/recovery_full_*.parquet"), "run 1's file is gone"

    # Incremental mode: the second run succeeds with 0 rows.
    repo.rivet("state", "reset", "--config", config, "--export", "recovery_incremental")
    run = repo.rivet("run", "--config", config, "--export", "recovery_incremental", "--reconcile")
    with check("#53 12.4 recovery incr run1"):
        assert_succeeded(run, "recovery_incremental")
        tables = read_files(repo.files_of(run, "recovery_incremental", f"{OUT}/recovery_incremental_*.parquet"))
        assert_every_id_once(tables, repo.ids(pg, ORDERS_INCREMENTAL))
    before = repo.glob(f"{OUT}/recovery_incremental_*")
    run = repo.rivet("run", "--config", config, "--export", "recovery_incremental")
    with check("#54 12.5 recovery incr run2 (no new data)"):
        assert_succeeded(run, "recovery_incremental")
        assert run.rows("recovery_incremental") == 0, run.log
        assert repo.glob(f"{OUT}/recovery_incremental_*") == before

    # Chunked with checkpoint: the run succeeds; --resume after it completed says there is nothing to resume.
    run = repo.rivet("run", "--config", config, "--export", "recovery_chunked_ckpt", "--reconcile")
    with check("#55 12.6 recovery chunked ckpt run1"):
        assert_succeeded(run, "recovery_chunked_ckpt")
        files = repo.files_of(run, "recovery_chunked_ckpt", f"{OUT}/recovery_chunked_ckpt_*.parquet")
        assert len(files) == 3, run.log  # 5,002 ids in chunks of 2,000
        assert_every_id_once(read_files(files), repo.ids(pg, ORDERS_CHUNKED))
    before = repo.glob(f"{OUT}/recovery_chunked_ckpt_*")
    run = repo.rivet("run", "--config", config, "--export", "recovery_chunked_ckpt", "--resume")
    with check("#56 12.7 recovery chunked resume (no pending)"):
        assert "no in-progress" in (run.out + run.err).lower(), run.log
        assert repo.glob(f"{OUT}/recovery_chunked_ckpt_*") == before

    # Re-run without --resume succeeds (a full re-export).
    run = repo.rivet("run", "--config", config, "--export", "recovery_chunked_ckpt", "--reconcile")
    with check("#57 12.8 recovery chunked re-export"):
        assert_succeeded(run, "recovery_chunked_ckpt")
        assert run.rows("recovery_chunked_ckpt") == repo.count(pg, ORDERS_CHUNKED), run.log
        # each chunk's new files replace its old ones: the folder holds every order exactly once
        assert_every_id_once(read_files(data_files(repo.glob(f"{OUT}/recovery_chunked_ckpt_*.parquet"))),
                             repo.ids(pg, ORDERS_CHUNKED))

    run = repo.rivet("metrics", "--config", config, "--last", "10")
    with check("#58 12.9 recovery metrics entries"):
        listed = [line.split() for line in (run.out + run.err).splitlines() if "recovery_full" in line]
        assert listed, run.log
        assert all("success" in line and "500" in line for line in listed), run.log
    check.verify()


# ── §13 ───────────────────────────────────────────────────────────────────────────────────────────────────────

def test_misplaced_tuning_key_on_stdin_is_rejected(repo):
    check = Assertions()
    run = repo.rivet("run", "--config", "/dev/stdin", stdin=MISPLACED_BATCH_SIZE)
    with check("#59 13.1 misplaced field detection"):
        assert run.code not in (0, None), run.log
        assert "source.tuning" in run.out + run.err, run.log
    check.verify()


# ── not in Rivet's script ─────────────────────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("config", PORTED_CONFIGS)
def test_ported_config_loads_as_a_dagster_code_location(repo, config):
    """`dagster definitions validate` on each ported config; pg_e2e.yaml and mysql_e2e.yaml hold two chunked
    exports each."""
    env = {**repo.env, "RIVET_CONFIG": str(repo.root / config)}
    run = repo.command([DAGSTER, "definitions", "validate", "-m", "rivet_dagster.definitions"], env=env)
    assert run.code == 0, run.log
