"""Retention (`keep_last: N`): after a full or trailing time-window export's new manifest is recorded, the file
sets older than its latest N are removed, manifest first, then forgotten; `rivet-dagster state prune` does the same
on demand. A process SIGKILLed mid-prune leaves only complete sets behind a manifest, and the next run or prune
finishes the job."""
import json
import signal
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest
import yaml

from rivet_dagster.stages import Stage
from rivet_dagster_tests.conftest import materialize, materialize_cli, rivet_dagster_cli, state_in, write_config

ROWS = 3_000


@pytest.fixture
def source(tmp_path) -> dict:
    """ROWS rows stamped within the last hour (inside any trailing window)."""
    database = tmp_path / "source.db"
    stamp = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, ts TEXT, label TEXT)")
        conn.executemany("INSERT INTO items VALUES (?, ?, ?)", [(i, stamp, f"item {i}") for i in range(1, ROWS + 1)])
    return {"type": "sqlite", "database": str(database)}


class Folder:
    """A destination as a reader of it sees it: names (relative to the folder) and their bytes."""

    def __init__(self, destination: dict, names, read):
        self.destination, self.names, self.read = destination, names, read

    def manifests(self) -> dict[str, dict]:
        return {n: json.loads(self.read(n)) for n in self.names() if n.endswith("_manifest.json")}

    def data_files(self) -> set[str]:
        return {n for n in self.names() if n.endswith((".parquet", ".csv"))}


@pytest.fixture(params=["local", "s3", "gcs"])
def folder(request, tmp_path) -> Folder:
    if request.param == "local":
        out = tmp_path / "out"
        return Folder({"type": "local", "path": str(out)}, lambda: sorted(p.name for p in out.iterdir()),
                      lambda name: (out / name).read_bytes())
    store = request.getfixturevalue(request.param)
    return Folder(store.destination(), lambda: [k.removeprefix("exports/") for k in store.keys()],
                  lambda name: store.read(f"exports/{name}"))


def items_config(tmp_path, source, destination, **export) -> Path:
    return write_config(tmp_path, source, [{"name": "items", "query": "SELECT id, ts, label FROM items",
                                            "format": "parquet", "max_file_size": "8KB", "tuning": {"batch_size": 500},
                                            "destination": destination,
                                            **export}])


def with_keep_last(config: Path, keep_last: int | None) -> None:
    document = yaml.safe_load(config.read_text())
    document["exports"][0]["keep_last"] = keep_last
    config.write_text(yaml.safe_dump(document, sort_keys=False))


def ids(folder: Folder, manifest: dict) -> list[int]:
    read = {"parquet": pq.read_table, "csv": pv.read_csv}[manifest["format"]]
    return sorted(i for f in manifest["files"] for i in read(pa.BufferReader(folder.read(f["name"])))
                  .column("id").to_pylist())


def assert_only_whole_copies(folder: Folder, state, run_ids: list[str]) -> None:
    """The folder holds exactly the file sets of `run_ids`, each complete behind its manifest, each a whole copy
    of the table, and the state store records exactly those files."""
    manifests = folder.manifests()
    assert sorted(m["run_id"] for m in manifests.values()) == sorted(run_ids)
    listed = {f["name"] for m in manifests.values() for f in m["files"]}
    assert folder.data_files() == listed                    # no file outside a manifest, none a manifest misses
    assert all(ids(folder, m) == list(range(1, ROWS + 1)) for m in manifests.values())
    assert {name for names in state.file_sets("items") for name in names} == listed | set(manifests)


MODES = {"full": {}, "time_window": {"mode": "time_window", "time_column": "ts", "days_window": 2},
         "full-csv": {"format": "csv"}}


@pytest.mark.parametrize("mode", list(MODES))
def test_each_run_keeps_the_latest_n_copies_on_every_destination(tmp_path, source, folder, mode):
    config = items_config(tmp_path, source, folder.destination, keep_last=2, **MODES[mode])
    instance = dg.DagsterInstance.ephemeral()
    runs = [materialize(config, instance=instance).run_id for _ in range(4)]
    assert len(folder.data_files()) > 2                     # several parts a set, so a prune has parts to remove
    assert_only_whole_copies(folder, state_in(tmp_path), runs[-2:])


def test_a_prune_removes_only_its_own_exports_files_from_a_shared_folder(tmp_path, source, export_dir):
    """Three exports write to one folder: a full one with keep_last, a partitioned time window and an incremental
    one. Only the full export's older copy goes; the others' files and records stay, whatever their names."""
    out = {"type": "local", "path": str(export_dir)}
    day = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%d")
    config = write_config(tmp_path, source, [
        {"name": "items", "query": "SELECT id, ts, label FROM items", "format": "parquet", "keep_last": 1,
         "destination": out},
        {"name": "items_daily", "query": "SELECT id, ts, label FROM items", "mode": "time_window",
         "time_column": "ts", "partitioning": {"granularity": "daily", "start": day, "end_offset": 1},
         "format": "csv", "destination": out},
        {"name": "items_new", "query": "SELECT id, ts, label FROM items", "mode": "incremental",
         "cursor_column": "id", "format": "parquet", "destination": out}])
    instance = dg.DagsterInstance.ephemeral()
    materialize(config, "items_daily", instance=instance, partition_key=day)
    materialize(config, "items_new", instance=instance)
    def others() -> set[str]:   # every name but the full export's (`[_]items_<timestamp>…`)
        return {p.name for p in export_dir.iterdir() if not p.name.lstrip("_").startswith("items_2")}
    before = others()
    runs = [materialize(config, "items", instance=instance).run_id for _ in range(3)]
    state = state_in(tmp_path)
    assert others() == before and len(before) == 5     # a csv and a parquet file, their manifests, _SUCCESS
    assert [len(state.files(name)) for name in ("items_daily", "items_new")] == [1, 1]
    [kept] = state.file_sets("items")
    assert runs[-1][:8] in kept[1] and all((export_dir / name).exists() for name in kept)
    assert not [p for p in export_dir.glob("*items_2*") if p.name not in kept]


def oldest_set_cut_midway(folder: Folder, state, runs: list[str]) -> None:
    """What a prune SIGKILLed after its first removal leaves: the oldest set lost its manifest but not its parts
    (still recorded, so the next prune finds them); every manifest left names only files that are there."""
    manifests = folder.manifests()
    assert sorted(m["run_id"] for m in manifests.values()) == sorted(runs[1:])
    for manifest in manifests.values():
        assert {f["name"] for f in manifest["files"]} <= folder.data_files()
    oldest = [names for names in state.file_sets("items") if names[0] not in manifests]
    assert len(oldest) == 1 and set(oldest[0][1:]) <= folder.data_files()


@pytest.mark.parametrize("finish", ["next run", "state prune"])
def test_a_run_killed_mid_prune_is_finished_by_the_next_run_or_a_prune(tmp_path, source, export_dir, finish):
    config = items_config(tmp_path, source, {"type": "local", "path": str(export_dir)})
    home = tmp_path / "home"
    instance_runs = [materialize(config).run_id for _ in range(3)]
    with_keep_last(config, 1)
    killed = materialize_cli(config, home, "items", crash_at=Stage.EXPIRED.value)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    state = state_in(tmp_path)
    folder = Folder({}, lambda: sorted(p.name for p in export_dir.iterdir()), lambda n: (export_dir / n).read_bytes())
    killed_run = state.file_sets("items")[-1]
    oldest_set_cut_midway(folder, state, instance_runs + [json.loads(folder.read(killed_run[0]))["run_id"]])

    if finish == "next run":
        assert materialize_cli(config, home, "items").returncode == 0
        kept = [json.loads(folder.read(state.file_sets("items")[-1][0]))["run_id"]]
    else:
        pruned = rivet_dagster_cli("state", "prune", "-c", config)
        assert pruned.returncode == 0, pruned.stderr
        assert pruned.stdout.splitlines()[1].split()[:3] == ["items", "1", "3"]     # export, keep last, sets removed
        kept = [json.loads(folder.read(killed_run[0]))["run_id"]]
    assert_only_whole_copies(folder, state, kept)


@pytest.mark.parametrize("folder", ["local", "s3"], indirect=True)
def test_state_prune_killed_midway_then_run_again_removes_the_rest(tmp_path, source, folder):
    config = items_config(tmp_path, source, folder.destination)
    instance = dg.DagsterInstance.ephemeral()
    runs = [materialize(config, instance=instance).run_id for _ in range(4)]
    state = state_in(tmp_path)

    dry = rivet_dagster_cli("state", "prune", "-c", config, "-e", "items", "--keep-last", "2", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.splitlines()[1].split()[:3] == ["items", "2", "2"]
    assert sorted(m["run_id"] for m in folder.manifests().values()) == sorted(runs)      # nothing removed

    killed = rivet_dagster_cli("state", "prune", "-c", config, "-e", "items", "--keep-last", "1",
                           crash_at=Stage.EXPIRED.value)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    oldest_set_cut_midway(folder, state, runs)

    pruned = rivet_dagster_cli("state", "prune", "-c", config, "-e", "items", "--keep-last", "1")
    assert pruned.returncode == 0 and pruned.stdout.splitlines()[1].split()[:3] == ["items", "1", "3"]
    assert_only_whole_copies(folder, state, runs[-1:])
    again = rivet_dagster_cli("state", "prune", "-c", config, "-e", "items", "--keep-last", "1")
    assert again.stdout.splitlines()[1].split()[:3] == ["items", "1", "0"]
    assert_only_whole_copies(folder, state, runs[-1:])
