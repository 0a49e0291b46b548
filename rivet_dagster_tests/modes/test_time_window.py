"""Time-window exports: one partition per window, bound [start, end), one file set per window, superseded by
the next materialization of the window only once that one is complete."""
import datetime as dt
import json
import signal
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import dagster as dg
import pyarrow.parquet as pq
import pytest

from rivet_dagster import ConfigError, build_definitions
from rivet_dagster_tests.conftest import materialize, materialize_cli, run_sql, state_in, write_config

BERLIN = ZoneInfo("Europe/Berlin")
RANGE = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-03"}


@pytest.fixture
def pg_ticks(pg_url):
    """One row every 30 minutes from 2023-12-31 20:00 UTC for four days, in three time representations."""
    run_sql(pg_url, "DROP TABLE IF EXISTS ticks",
            "CREATE TABLE ticks (id int PRIMARY KEY, at timestamptz NOT NULL, local_at timestamp NOT NULL, "
            "epoch int8 NOT NULL)",
            "INSERT INTO ticks SELECT g, t, t AT TIME ZONE 'UTC', extract(epoch FROM t)::int8 FROM "
            "(SELECT g, timestamptz '2023-12-31 20:00+00' + (g - 1) * interval '30 minutes' AS t "
            "FROM generate_series(1, 192) g) s")
    return pg_url


def window_config(tmp_path, url, out, engine="postgres", table="ticks", column="at", **extra):
    return write_config(tmp_path, {"type": engine, "url": url},
                        [{"name": "ticks", "query": f"SELECT * FROM {table}", "mode": "time_window",
                          "time_column": column, "format": "parquet",
                          "destination": {"type": "local", "path": str(out)}, **extra}])


def expected_ids(start: dt.datetime, end: dt.datetime) -> list[int]:
    first = dt.datetime(2023, 12, 31, 20, tzinfo=dt.timezone.utc)
    return [g for g in range(1, 193) if start <= first + (g - 1) * dt.timedelta(minutes=30) < end]


def window_file(out, key: str):
    """The one file a window's materialization wrote: `ticks_<window>_<UTC time>_<run id>.parquet`."""
    [path] = out.glob(f"ticks_{key}_*.parquet")
    return path


def window_keys(out) -> list[str]:
    return sorted(p.name.split("_")[1] for p in out.glob("ticks_*.parquet"))


def ids_in(path) -> list[int]:
    return sorted(pq.read_table(path)["id"].to_pylist())


def test_a_partition_exports_exactly_its_window_as_instants(pg_ticks, tmp_path, export_dir):
    config = window_config(tmp_path, pg_ticks, export_dir,
                           partitioning={"granularity": "daily", "start": "2024-01-01", "timezone": "Europe/Berlin"})
    materialize(config, partition_key="2024-01-02")
    [path] = export_dir.glob("ticks_*.parquet")
    assert path == window_file(export_dir, "2024-01-02")
    assert ids_in(path) == expected_ids(dt.datetime(2024, 1, 2, tzinfo=BERLIN), dt.datetime(2024, 1, 3, tzinfo=BERLIN))


@pytest.mark.parametrize("column", ["local_at", "epoch"])
def test_naive_and_unix_columns_use_wall_clock_and_epoch_bounds(pg_ticks, tmp_path, export_dir, column):
    extra = {"time_column_type": "unix"} if column == "epoch" else {}
    config = window_config(tmp_path, pg_ticks, export_dir, column=column,
                           partitioning={"granularity": "hourly", "start": "2024-01-01-00:00"}, **extra)
    materialize(config, partition_key="2024-01-01-05:00")
    [path] = export_dir.glob("ticks_*.parquet")
    assert path == window_file(export_dir, "2024-01-01-0500")
    assert ids_in(path) == expected_ids(dt.datetime(2024, 1, 1, 5, tzinfo=dt.timezone.utc),
                                        dt.datetime(2024, 1, 1, 6, tzinfo=dt.timezone.utc))


def test_materializing_a_window_again_replaces_its_files(pg_ticks, tmp_path, export_dir):
    config = window_config(tmp_path, pg_ticks, export_dir, partitioning={"start": "2024-01-01"},
                           max_file_size="100B", tuning={"batch_size": 10})
    materialize(config, partition_key="2024-01-01")
    assert len(list(export_dir.glob("*.parquet"))) > 1
    run_sql(pg_ticks, "DELETE FROM ticks WHERE id % 2 = 0 AND id < 100".replace("%", "%%"))
    result = materialize(config, partition_key="2024-01-01")
    files = sorted(export_dir.glob("*.parquet"))
    ids = sorted(i for path in files for i in ids_in(path))
    window = expected_ids(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc))
    assert ids == [i for i in window if not (i % 2 == 0 and i < 100)]          # no stale parts, no duplicates
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["dagster/partition_row_count"].value == len(ids)
    recorded = state_in(tmp_path).partition_objects("ticks", "2024-01-01")
    assert sorted(recorded) == sorted(p.name for p in export_dir.iterdir() if not p.name.startswith(".") and p.name != "_SUCCESS")     # the files and their manifest


def test_a_range_run_writes_one_file_set_per_window(pg_ticks, tmp_path, export_dir):
    config = window_config(tmp_path, pg_ticks, export_dir, partitioning={"start": "2024-01-01"})
    result = materialize(config, tags=RANGE)
    assert window_keys(export_dir) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    for day in (1, 2, 3):
        start = dt.datetime(2024, 1, day, tzinfo=dt.timezone.utc)
        assert ids_in(window_file(export_dir, f"2024-01-0{day}")) == expected_ids(start, start + dt.timedelta(days=1))
    events = result.get_asset_materialization_events()
    assert sorted(e.partition for e in events) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    # one output for three windows: their total, and no per-window count that would be wrong for two of them
    total = expected_ids(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
                         dt.datetime(2024, 1, 4, tzinfo=dt.timezone.utc))
    assert {e.materialization.metadata["dagster/row_count"].value for e in events} == {len(total)}
    assert not any("dagster/partition_row_count" in e.materialization.metadata for e in events)


def test_mariadb_datetime_windows_are_wall_clock(mariadb_url, tmp_path, export_dir):
    run_sql(mariadb_url, "DROP TABLE IF EXISTS ticks",
            "CREATE TABLE ticks (id int PRIMARY KEY, at datetime NOT NULL)",
            "INSERT INTO ticks SELECT seq, TIMESTAMP '2023-12-31 20:00:00' + INTERVAL (seq - 1) * 30 MINUTE "
            "FROM seq_1_to_192")
    config = window_config(tmp_path, mariadb_url, export_dir, engine="mysql",
                           partitioning={"start": "2024-01-01", "timezone": "Europe/Berlin"})
    materialize(config, partition_key="2024-01-02")
    first = dt.datetime(2023, 12, 31, 20)
    wall = [g for g in range(1, 193) if dt.datetime(2024, 1, 2) <= first + (g - 1) * dt.timedelta(minutes=30)
            < dt.datetime(2024, 1, 3)]
    assert ids_in(window_file(export_dir, "2024-01-02")) == wall


def test_without_partitioning_days_window_is_rivets_trailing_window(pg_url, tmp_path, export_dir):
    run_sql(pg_url, "DROP TABLE IF EXISTS recent",
            "CREATE TABLE recent AS SELECT g AS id, date_trunc('day', now() AT TIME ZONE 'UTC') "
            "- (g - 1) * interval '1 day' + interval '1 hour' AS at FROM generate_series(1, 10) g")
    config = window_config(tmp_path, pg_url, export_dir, table="recent", days_window=3)
    materialize(config)
    [path] = export_dir.glob("ticks_*.parquet")
    assert ids_in(path) == [1, 2, 3, 4]      # today and the three days before, from UTC midnight


def test_the_cli_materializes_one_window_or_a_range(pg_ticks, tmp_path, export_dir):
    config = window_config(tmp_path, pg_ticks, export_dir, partitioning={"start": "2024-01-01"})
    one = materialize_cli(config, tmp_path / "home", "ticks", extra=("--partition", "2024-01-02"))
    assert one.returncode == 0, one.stderr[-2000:]
    several = materialize_cli(config, tmp_path / "home", "ticks", extra=("--partition-range", "2024-01-01...2024-01-03"))
    assert several.returncode == 0, several.stderr[-2000:]
    assert window_keys(export_dir) == ["2024-01-01", "2024-01-02", "2024-01-03"]


def test_each_window_is_requested_once_it_has_closed(pg_ticks, tmp_path, export_dir):
    """The automation condition at the windows' own tick (the deps on the source table, which Dagster never sees
    updated, don't hold it back)."""
    config = window_config(tmp_path, pg_ticks, export_dir, partitioning={"granularity": "hourly",
                                                                          "start": "2024-01-01-00:00"})
    defs, instance = build_definitions(config), dg.DagsterInstance.ephemeral()
    key = dg.AssetKey("ticks")
    assert defs.resolve_assets_def(key).specs_by_key[key].deps          # it reads a table upstream of it
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance,
                                              evaluation_time=dt.datetime(2024, 1, 2, 5, 30, tzinfo=dt.timezone.utc))
    at_tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor,
                                                evaluation_time=dt.datetime(2024, 1, 2, 6, 1, tzinfo=dt.timezone.utc))
    assert at_tick.get_requested_partitions(key) == {"2024-01-02-05:00"}     # the window that just closed


@pytest.mark.parametrize("partitioning, message", [
    ({"start": "yesterday"}, "exports[0].partitioning.start"),
    ({"start": "2024-01-01", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
])
def test_bad_partitioning_is_reported_at_its_key(pg_url, tmp_path, export_dir, partitioning, message):
    config = window_config(tmp_path, pg_url, export_dir, partitioning=partitioning)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        build_definitions(config)


@pytest.mark.parametrize("stage", ["fetch", "staged", "committed", "manifest", "metric"])
def test_a_sigkill_in_a_window_is_repaired_by_materializing_it_again(pg_ticks, tmp_path, export_dir, stage):
    config = window_config(tmp_path, pg_ticks, export_dir, partitioning={"start": "2024-01-01"},
                           max_file_size="100B", tuning={"batch_size": 10})
    select = ("--partition", "2024-01-02")
    crashed = materialize_cli(config, tmp_path / "home", "ticks", crash_at=stage, extra=select)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    for path in export_dir.glob("ticks_*.parquet"):           # whatever reached a final path is complete
        assert pq.ParquetFile(path).metadata.num_rows > 0
    rerun = materialize_cli(config, tmp_path / "home", "ticks", extra=select)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    ids = sorted(i for path in export_dir.glob("ticks_*.parquet") for i in ids_in(path))
    start = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)
    assert ids == expected_ids(start, start + dt.timedelta(days=1))       # the window exactly once
    state = state_in(tmp_path)
    assert sorted(state.partition_objects("ticks", "2024-01-02")) == sorted(p.name for p in export_dir.iterdir() if not p.name.startswith(".") and p.name != "_SUCCESS")


@pytest.mark.parametrize("stage", ["committed", "manifest"])
def test_a_crash_while_a_window_is_exported_again_never_touches_its_committed_files(pg_ticks, tmp_path, export_dir,
                                                                                    stage):
    config = window_config(tmp_path, pg_ticks, export_dir, partitioning={"start": "2024-01-01"},
                           max_file_size="100B", tuning={"batch_size": 10})
    home, window = tmp_path / "home", ("--partition", "2024-01-02")
    assert materialize_cli(config, home, "ticks", extra=window).returncode == 0
    committed = {path.name: path.read_bytes() for path in export_dir.glob("ticks_*.parquet")}
    run_sql(pg_ticks, "UPDATE ticks SET epoch = -epoch")                    # the window's data changes
    crashed = materialize_cli(config, home, "ticks", crash_at=stage, extra=window)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    assert {name: (export_dir / name).read_bytes() for name in committed} == committed   # never overwritten

    # the export's next run finishes the crashed commit (its manifest was written) or removes its parts
    assert materialize_cli(config, home, "ticks", extra=("--partition", "2024-01-03")).returncode == 0
    [manifest_uri] = state_in(tmp_path).manifest_uris("ticks", ["2024-01-02"])
    manifest = json.loads(Path(urlparse(manifest_uri).path).read_text())
    listed = sorted(f["name"] for f in manifest["files"])
    assert sorted(p.name for p in export_dir.glob("ticks_2024-01-02*.parquet")) == listed   # nothing else left
    epochs = [e for name in listed for e in pq.read_table(export_dir / name)["epoch"].to_pylist()]
    assert all(e < 0 for e in epochs) if stage == "manifest" else all(e > 0 for e in epochs)
    start = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)
    assert sorted(i for name in listed for i in ids_in(export_dir / name)) == expected_ids(
        start, start + dt.timedelta(days=1))
