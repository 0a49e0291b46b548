"""`rivet-dagster doctor`: every check is real (connect, SELECT 1, write a probe), a failure exits 1, the probe
never stays behind and no password is printed."""
from rivet_dagster_tests.cli.conftest import cli
from rivet_dagster_tests.conftest import schema_url, state_in, write_config

PASSWORD = "not-the-s3cret"


def export(name: str, destination: dict) -> dict:
    return {"name": name, "query": "SELECT 1 AS one", "format": "csv", "destination": destination}


def test_a_working_config_passes_every_check_and_leaves_no_probe(capsys, tmp_path, pg_url, export_dir,
                                                                 state_backend):
    local = {"type": "local", "path": str(export_dir)}
    config = write_config(tmp_path, {"type": "postgres", "url": pg_url},
                          [export("a", local), export("b", local), export("c", {"type": "stdout"})])
    code, out, err = cli(capsys, "doctor", "-c", config)
    assert (code, err) == (0, "")
    display = pg_url.replace("postgresql://", "postgresql+psycopg://")
    assert out.splitlines() == ["[OK]  Config parsed successfully", f"[OK]  Source auth ({display})",
                                f"[OK]  Destination Local({export_dir})",      # one probe per unique destination
                                "[OK]  Destination Stdout", f"[OK]  State store {state_in(tmp_path).location}"
                                + ("" if state_backend == "postgres" else " (made by the first run)"),
                                "All checks passed."]
    assert list(export_dir.iterdir()) == []


def test_a_wrong_password_fails_the_source_check_without_showing_it(capsys, tmp_path, mariadb_url, export_dir):
    url = mariadb_url.replace("root@", f"root:{PASSWORD}@")
    config = write_config(tmp_path, {"type": "mysql", "url": url},
                          [export("a", {"type": "local", "path": str(export_dir)})])
    code, out, err = cli(capsys, "doctor", "-c", config)
    lines = out.splitlines()
    assert code == 1 and err == ""
    assert lines[1].startswith("[FAIL] Source auth error: cannot connect to mysql+pymysql://root:***@127.0.0.1:3306/")
    assert "Access denied" in lines[1]
    assert lines[2] == f"[OK]  Destination Local({export_dir})" and lines[-1] == "Some checks failed."
    assert PASSWORD not in out


def test_an_unknown_postgres_role_is_an_auth_failure_too(capsys, tmp_path, pg_url):
    url = pg_url.replace("postgres@", f"nobody_here:{PASSWORD}@")
    config = write_config(tmp_path, {"type": "postgres", "url": url}, [export("a", {"type": "stdout"})])
    code, out, _ = cli(capsys, "doctor", "-c", config)
    assert code == 1 and "[FAIL] Source auth error: cannot connect to postgresql+psycopg://nobody_here:***@" in out
    assert PASSWORD not in out


def test_a_local_destination_that_is_a_file_fails_its_probe(capsys, tmp_path, pg_url):
    not_a_dir = tmp_path / "exports"
    not_a_dir.write_text("a file where the export folder should be")
    config = write_config(tmp_path, {"type": "postgres", "url": pg_url},
                          [export("a", {"type": "local", "path": str(not_a_dir)})])
    code, out, _ = cli(capsys, "doctor", "-c", config)
    lines = out.splitlines()
    assert code == 1
    assert lines[1].startswith("[OK]  Source auth")
    assert lines[2].startswith(f"[FAIL] Destination Local({not_a_dir}) -- error: ")
    assert lines[-1] == "Some checks failed."
    assert not_a_dir.read_text() == "a file where the export folder should be"


def test_a_config_error_is_reported_with_file_line_and_key(capsys, tmp_path):
    config = tmp_path / "rivet.yaml"
    config.write_text("source:\n  type: postgres\n  url: postgresql://x@127.0.0.1/db\nexports:\n"
                      "  - name: a\n    query: SELECT 1\n    format: xml\n    destination: {type: stdout}\n")
    code, out, _ = cli(capsys, "doctor", "-c", config)
    assert code == 1
    assert out.splitlines()[0].startswith(f"[FAIL] Config error: {config}:7: exports[0].format: ")
    assert out.splitlines()[-1] == "Some checks failed."


def test_an_unreachable_shared_state_store_fails_its_check_without_its_password(capsys, tmp_path, pg_url,
                                                                                monkeypatch):
    monkeypatch.setenv("RIVET_STATE_URL", f"postgresql://rivet:{PASSWORD}@127.0.0.1:1/state")
    config = write_config(tmp_path, {"type": "postgres", "url": pg_url}, [export("a", {"type": "stdout"})])
    code, out, _ = cli(capsys, "doctor", "-c", config)
    assert code == 1 and out.splitlines()[-2].startswith(
        "[FAIL] State store error: the state store postgresql://rivet:***@127.0.0.1:1/state cannot be reached")
    assert PASSWORD not in out


def test_a_shared_state_store_is_opened_for_writing_and_migrated(capsys, tmp_path, pg_url, monkeypatch):
    url = schema_url(pg_url, "doctor")
    monkeypatch.setenv("RIVET_STATE_URL", url)
    config = write_config(tmp_path, {"type": "postgres", "url": pg_url}, [export("a", {"type": "stdout"})])
    code, out, _ = cli(capsys, "doctor", "-c", config)
    assert code == 0 and out.splitlines()[-2] == f"[OK]  State store {url}"
