"""`rivet-dagster init` writes a config that loads, with the mode each real table's keys and indexes allow."""
import pyarrow.parquet as pq
import pytest
import yaml

from rivet_dagster.config import load_config
from rivet_dagster.demo.seed import seed
from rivet_dagster_tests.cli.conftest import cli
from rivet_dagster_tests.conftest import run_sql

PG_TABLES = [
    "DROP TABLE IF EXISTS init_orders, init_events, init_logs, init_docs",
    "CREATE TABLE init_orders (id bigserial PRIMARY KEY, updated_at timestamptz)",       # integer key: chunked
    "CREATE TABLE init_events (ref text, created_at timestamp, updated_at timestamptz)",
    "CREATE INDEX init_events_updated ON init_events (updated_at)",                       # indexed cursor
    "CREATE TABLE init_logs (line text, logged_at timestamp)",                            # nothing indexed: full
    "CREATE TABLE init_docs (slug text PRIMARY KEY, published_at timestamp, modified_at timestamp)",
    "CREATE INDEX ON init_docs (published_at)", "CREATE INDEX ON init_docs (modified_at)",
]
MYSQL_TABLES = [
    "DROP TABLE IF EXISTS init_orders, init_events, init_logs",
    "CREATE TABLE init_orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(20))",
    "CREATE TABLE init_events (code CHAR(3) PRIMARY KEY, updated_at DATETIME(6), KEY (updated_at))",
    "CREATE TABLE init_logs (line TEXT, updated_at DATETIME)",                            # not indexed: full
]
PASSWORD = "init-s3cret"
EXPECTED = {"init_orders": {"mode": "chunked", "chunk_column": "id", "chunk_checkpoint": True},
            "init_events": {"mode": "incremental", "cursor_column": "updated_at"},
            "init_logs": {"mode": "full"},
            "init_docs": {"mode": "incremental", "cursor_column": "modified_at"}}


@pytest.fixture(params=["postgres", "mysql"])
def database(request, monkeypatch):
    """A source with the init_* tables, its URL in $INIT_URL."""
    url = request.getfixturevalue("pg_url" if request.param == "postgres" else "mariadb_url")
    run_sql(url, *(PG_TABLES if request.param == "postgres" else MYSQL_TABLES))
    if request.param == "postgres":     # trust auth accepts any password: it must not reach the config
        url = url.replace("postgres@", f"postgres:{PASSWORD}@")
    monkeypatch.setenv("INIT_URL", url)
    return request.param, url


def test_each_table_gets_the_mode_its_keys_and_indexes_allow(capsys, database, tmp_path):
    engine, url = database
    output = tmp_path / "rivet.yaml"
    tables = [t for t in EXPECTED if engine == "postgres" or t != "init_docs"]
    code, out, err = cli(capsys, "init", "--source-env", "INIT_URL", *[f"--table={t}" for t in tables], "-o", output)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"Wrote {output} with {len(tables)} export(s):"
    assert "  init_orders: chunked on id" in out.splitlines()
    written = yaml.safe_load(output.read_text())
    assert written["source"] == {"type": engine, "url_env": "INIT_URL"}
    for export in written["exports"]:
        assert {k: export[k] for k in EXPECTED[export["name"]]} == EXPECTED[export["name"]]
        assert export["query"] == f"SELECT * FROM {export['name']}"
        assert export["format"] == "parquet" and export["destination"] == {"type": "local", "path": "./exports"}
    assert [e["name"] for e in written["exports"]] == tables
    assert url not in output.read_text() and PASSWORD not in output.read_text() + out
    assert [e.mode for e in load_config(output).exports] == [EXPECTED[t]["mode"] for t in tables]


def test_without_tables_every_table_of_the_schema_is_exported(capsys, database, tmp_path):
    output = tmp_path / "rivet.yaml"
    assert cli(capsys, "init", "--source-env", "INIT_URL", "-o", output)[0] == 0
    names = {e.name for e in load_config(output).exports}
    assert {"init_orders", "init_events", "init_logs"} <= names


def test_an_existing_file_is_kept_unless_forced(capsys, database, tmp_path):
    output = tmp_path / "rivet.yaml"
    output.write_text("# mine\n")
    code, out, err = cli(capsys, "init", "--source-env", "INIT_URL", "--table", "init_logs", "-o", output)
    assert (code, out, err) == (1, "", f"error: {output} already exists (use --force to overwrite it)\n")
    assert output.read_text() == "# mine\n"
    assert cli(capsys, "init", "--source-env", "INIT_URL", "--table", "init_logs", "-o", output, "--force")[0] == 0
    assert load_config(output).exports[0].name == "init_logs"


def test_a_missing_table_or_variable_is_a_one_line_error(capsys, database, tmp_path, monkeypatch):
    code, _, err = cli(capsys, "init", "--source-env", "INIT_URL", "--table", "nope", "-o", tmp_path / "r.yaml")
    assert code == 1 and err.startswith("error: table(s) nope not found in ") and err.count("\n") == 1
    monkeypatch.delenv("INIT_URL")
    code, _, err = cli(capsys, "init", "--source-env", "INIT_URL", "-o", tmp_path / "r.yaml")
    assert (code, err) == (1, "error: environment variable 'INIT_URL' is not set (it should hold the database URL)\n")
    assert not (tmp_path / "r.yaml").exists()


def test_the_embedded_default_sqlite_is_initialised_checked_and_exported(capsys, tmp_path, monkeypatch):
    """The README's init and check commands on the embedded default: a SQLite file, no server."""
    seed(tmp_path / "demo.db", customers=300, orders=500, events=200)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INIT_URL", "sqlite:///demo.db")
    code, out, err = cli(capsys, "init", "--source-env", "INIT_URL", "-o", "rivet.yaml")
    assert code == 0, err
    exports = {e["name"]: e for e in yaml.safe_load((tmp_path / "rivet.yaml").read_text())["exports"]}
    assert {name: e["mode"] for name, e in exports.items()} == {"customers": "chunked", "events": "chunked",
                                                               "orders": "chunked", "visits": "chunked"}
    code, out, err = cli(capsys, "check", "-c", "rivet.yaml", "-e", "orders")
    assert code == 0, err
    assert "Row estimate: ~500 (500 rows)" in out and "index on id" in out and "Verdict:      EFFICIENT" in out
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    code, _, err = cli(capsys, "run", "-c", "rivet.yaml", "-e", "orders")
    assert code == 0, err
    assert sum(pq.read_table(p).num_rows for p in (tmp_path / "exports").glob("orders_*.parquet")) == 500
