"""rivet.yaml rules: each bad input gets an error naming the file, the line and the key path."""
from pathlib import Path

import pytest

from rivet_dagster.config import ConfigError, load_config, parse_config

VALID = """\
source:
  type: postgres
  url_env: DATABASE_URL
  tuning:
    profile: safe
exports:
  - name: users
    query: SELECT * FROM users
    format: parquet
    destination:
      type: local
      path: ./out
"""


def error_of(text: str, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, file="rivet.yaml", **kwargs)
    return info.value


def test_a_valid_config_loads_with_rivet_defaults():
    config = parse_config(VALID)
    export = config.exports[0]
    assert (export.mode, export.compression, export.chunk_size, export.parallel) == ("full", "zstd", 100_000, 1)
    assert export.skip_empty is False and export.meta_columns.run_id is False
    tuning = config.tuning_for(export)
    assert (tuning.profile, tuning.rows_per_batch(None), tuning.throttle_ms, tuning.statement_timeout_s,
            tuning.max_retries, tuning.retry_backoff_ms, tuning.lock_timeout_s) == ("safe", 2000, 500, 120, 5,
                                                                                     5000, 10)


def test_a_rivet_0_2_config_with_every_documented_key_parses_unchanged():
    text = """\
source:
  type: mysql
  host: db.internal
  port: 3307
  user: exporter
  database: shop
  password_env: SHOP_PASSWORD
  tuning: {profile: balanced, batch_size: 5000, throttle_ms: 10, statement_timeout_s: 60, max_retries: 2,
           retry_backoff_ms: 500, lock_timeout_s: 5, memory_threshold_mb: 0}
notifications:
  slack: {webhook_url_env: SLACK_URL, on: [failure, schema_change, degraded]}
parallel_exports: false
exports:
  - {name: a, query: SELECT 1, mode: incremental, cursor_column: updated_at, format: csv,
     destination: {type: s3, bucket: b, prefix: p/, region: eu-west-1, endpoint: "http://127.0.0.1:9000",
                   access_key_env: AK, secret_key_env: SK}}
  - {name: b, query: SELECT 1, mode: chunked, chunk_column: id, chunk_size: 1000, parallel: 2, chunk_checkpoint: true,
     chunk_max_attempts: 4, chunk_dense: true, format: parquet, compression: gzip, compression_level: 9,
     max_file_size: 1GB, skip_empty: true, meta_columns: {exported_at: true, row_hash: true},
     quality: {row_count_min: 1, row_count_max: 10, null_ratio_max: {x: 0.5}, unique_columns: [id]},
     destination: {type: gcs, bucket: g, allow_anonymous: true, endpoint: "http://127.0.0.1:4443"},
     tuning: {batch_size: 100}}
  - {name: c, query: SELECT 1, mode: time_window, time_column: ts, time_column_type: unix, days_window: 7,
     format: csv, destination: {type: stdout}}
"""
    config = parse_config(text)
    assert [e.mode for e in config.exports] == ["incremental", "chunked", "time_window"]
    assert config.exports[1].max_file_size_bytes == 1 << 30
    assert config.tuning_for(config.exports[1]).rows_per_batch(None) == 100


@pytest.mark.parametrize("old, new, key, line, message", [
    ("  url_env: DATABASE_URL\n", "  url_env: DATABASE_URL\n  batch_size: 10\n", "source.batch_size", 4,
     "belong under 'source.tuning:'"),
    ("    format: parquet\n", "    format: parquet\n    throttle_ms: 5\n", "exports[0].throttle_ms", 10,
     "belong under 'exports[].tuning:'"),
    ("    format: parquet\n", "    format: parquet\n    compresion: zstd\n", "exports[0].compresion", 10,
     "unknown key 'compresion'; did you mean 'compression'?"),
    ("      path: ./out\n", "      path: ./out\n      bukcet: x\n", "exports[0].destination.bukcet", 13,
     "did you mean 'bucket'?"),
    ("  url_env: DATABASE_URL\n", "  url_env: DATABASE_URL\n  url: postgresql://h/d\n", "source.url_env", 3,
     "specify exactly one of 'url', 'url_env', or 'url_file'"),
    ("  url_env: DATABASE_URL\n", "  url_env: DATABASE_URL\n  host: h\n", "source.host", 4,
     "not both"),
    ("  url_env: DATABASE_URL\n", "", "source.type", 2, "must specify url, url_env, url_file"),
    ("  url_env: DATABASE_URL\n", "  host: h\n  database: d\n", "source.user", 1,
     "structured config requires 'user'"),
    ("  url_env: DATABASE_URL\n", "  host: h\n  user: u\n  database: d\n  password: p\n  password_env: P\n",
     "source.password_env", 7, "specify 'password' or 'password_env', not both"),
    ("    query: SELECT * FROM users\n", "", "exports[0].query", 7, "must specify 'query' or 'query_file'"),
    ("    query: SELECT * FROM users\n", "    query: SELECT 1\n    query_file: q.sql\n", "exports[0].query_file",
     9, "specify either 'query' or 'query_file', not both"),
    ("    format: parquet\n", "    format: parquet\n    mode: incremental\n", "exports[0].cursor_column", 7,
     "incremental mode requires cursor_column"),
    ("    format: parquet\n", "    format: parquet\n    mode: chunked\n", "exports[0].chunk_column", 7,
     "chunked mode requires chunk_column"),
    ("    format: parquet\n", "    format: parquet\n    mode: time_window\n    time_column: ts\n",
     "exports[0].days_window", 7, "time_window mode requires days_window"),
    ("    format: parquet\n", "    format: parquet\n    chunk_dense: true\n", "exports[0].chunk_dense", 10,
     "chunk_dense is only valid with mode: chunked"),
    ("    format: parquet\n", "    format: parquet\n    compression_level: 23\n", "exports[0].compression_level", 10,
     "zstd compression_level must be 1..22, got 23"),
    ("    format: parquet\n", "    format: parquet\n    compression: gzip\n    compression_level: 11\n",
     "exports[0].compression_level", 11, "gzip compression_level must be 0..10, got 11"),
    ("    format: parquet\n", "    format: parquet\n    compression: snappy\n    compression_level: 1\n",
     "exports[0].compression_level", 11, "compression_level is only supported for zstd and gzip"),
    ("    format: parquet\n", "    format: parquet\n    max_file_size: 12 parsecs\n", "exports[0].max_file_size", 10,
     "invalid max_file_size '12 parsecs'"),
    ("      type: local\n", "      type: s3\n", "exports[0].destination.bucket", 10,
     "S3 destination requires 'bucket'"),
    ("      type: local\n", "      type: s3\n      bucket: b\n      access_key_env: AK\n",
     "exports[0].destination.secret_key_env", 10, "S3 requires both access_key_env and secret_key_env"),
    ("      type: local\n", "      type: gcs\n      bucket: b\n      allow_anonymous: true\n"
                            "      credentials_file: key.json\n", "exports[0].destination.allow_anonymous", 13,
     "allow_anonymous cannot be used together with credentials_file"),
    ("      type: local\n", "      type: stdout\n", None, None, None),
    ("    format: parquet\n", "    format: parquet\n    max_file_size: 1MB\n", None, None, None),
    ("    format: parquet\n", "    format: xml\n", "exports[0].format", 9, "'parquet' or 'csv'"),
    ("  - name: users\n", "  - name: users.v2\n", "exports[0].name", 7, "must start with a letter"),
    ("  tuning:\n    profile: safe\n", "  tuning:\n    profile: safe\n    batch_size: 1\n    batch_size_memory_mb: 8\n",
     "source.tuning.batch_size_memory_mb", 7, "mutually exclusive"),
    ("    format: parquet\n", "    format: parquet\n    tuning: {batch_size_memory_mb: 8}\n", None, None, None),
    ("  tuning:\n    profile: safe\n", "  tuning:\n    profile: safe\n    batch_size: 1\n",
     None, None, None),
    ("    query: SELECT * FROM users\n", "    query: SELECT * FROM users\n    query: SELECT 2\n", "exports[0].query",
     9, "duplicate key 'query'"),
    ("exports:\n", "state:\n  url: postgresql://rivet:pw@db/state\nexports:\n", "state.url", 7,
     "the state store's url holds a password; give the url through 'url_env'"),
    ("exports:\n", "state:\n  path: s.db\n  url_env: STATE\nexports:\n", "state.url_env", 8,
     "specify exactly one of 'path', 'url' or 'url_env'"),
    ("exports:\n", "state:\n  uri: postgresql://db/state\nexports:\n", "state.uri", 7, "did you mean 'url'?"),
    ("exports:\n", "state: postgresql://rivet@db/state\nexports:\n", None, None, None),
    ("exports:\n", "state: {url_env: STATE_URL}\nexports:\n", None, None, None),
    # the `dagster:` block: Dagster's own rules for each attribute, at its key
    ("    format: parquet\n", "    format: parquet\n    dagster:\n      owners: [data team]\n",
     "exports[0].dagster.owners", 11, "Owner must be an email address or a team name"),
    ("exports:\n", "dagster:\n  tags: {'bad key!': x}\nexports:\n", "dagster.tags", 7, "invalid tag keys"),
    ("exports:\n", "dagster:\n  automation_condition: {on_cron: every day}\nexports:\n",
     "dagster.automation_condition.on_cron", 7, "not a valid cron expression"),
    ("exports:\n", "dagster:\n  automation_condition: sometimes\nexports:\n", "dagster.automation_condition", 7,
     "must be eager, on_missing or {on_cron: '<cron>'}"),
    ("exports:\n", "dagster:\n  automation_condition: {on_cron: '0 6 * * *', eager: true}\nexports:\n",
     "dagster.automation_condition", 7, "must be eager, on_missing or {on_cron: '<cron>'}"),
    ("exports:\n", "dagster:\n  freshness_policy: {deadline_cron: '0 6 * * *'}\nexports:\n",
     "dagster.freshness_policy.lower_bound_delta", 7, "deadline_cron needs lower_bound_delta"),
    ("exports:\n", "dagster:\n  freshness_policy: {fail_window: a while}\nexports:\n",
     "dagster.freshness_policy.fail_window", 7, "'a while' is not a duration"),
    ("exports:\n", "dagster:\n  group: exports\nexports:\n", "dagster.group", 7, "did you mean 'group_name'?"),
    ("    format: parquet\n", "    format: parquet\n    schedule: '0 3 * * *'\n    dagster: {automation_condition: "
                            "eager}\n", "exports[0].schedule", 10, "give one of the two"),
    ("    format: parquet\n", "    format: parquet\n    mode: chunked\n    chunk_column: id\n"
                            "    schedule: '0 3 * * *'\n", "exports[0].schedule", 12, "chunks are partitions"),
    ("    format: parquet\n", "    format: parquet\n    mode: incremental\n    cursor_column: id\n    keep_last: 3\n",
     "exports[0].keep_last", 12, "only valid with mode: full or time_window"),
    ("    format: parquet\n", "    format: parquet\n    mode: chunked\n    chunk_column: id\n    keep_last: 3\n",
     "exports[0].keep_last", 12, "removing one loses data"),
    ("    format: parquet\n", "    format: parquet\n    mode: time_window\n    time_column: at\n    partitioning: "
                            "{granularity: daily, start: '2024-01-01'}\n    keep_last: 3\n", "exports[0].keep_last", 13,
     "keeps one file set per window already"),
    ("    format: parquet\n", "    format: parquet\n    keep_last: 0\n", "exports[0].keep_last", 10,
     "greater than 0"),
    ("      type: local\n      path: ./out\n", "      type: stdout\n    keep_last: 2\n", "exports[0].keep_last", 12,
     "stdout keeps no files"),
    ("    format: parquet\n", "    format: parquet\n    mode: time_window\n    time_column: at\n    days_window: 2\n"
                            "    keep_last: 7\n", None, None, None),
    ("    format: parquet\n", "    format: parquet\n    meta_columns: {row_hash_version: 2}\n",
     "exports[0].meta_columns.row_hash_version", 10, "set row_hash: true"),
    ("    format: parquet\n", "    format: parquet\n    meta_columns: {row_hash: true, row_hash_version: 3}\n",
     "exports[0].meta_columns.row_hash_version", 10, "Input should be 1 or 2"),
    ("    format: parquet\n", "    format: parquet\n    meta_columns: {row_hash: true, row_hash_version: 2}\n",
     None, None, None),
    ("exports:\n", "dagster:\n  key_prefix: [warehouse, raw]\n  owners: [team:data]\n  automation_condition: "
                    "eager\n  freshness_policy: {fail_window: 1d, warn_window: 12h}\nexports:\n", None, None, None),
])
def test_each_rule_names_the_key_and_line(old, new, key, line, message):
    text = VALID.replace(old, new)
    assert text != VALID
    if key is None:
        parse_config(text)
        return
    error = error_of(text)
    described = str(error)
    assert f"rivet.yaml:{line}: {key}: " in described, described
    assert message in described


def test_batch_size_and_memory_sizing_conflict_after_the_merge_names_the_export():
    text = VALID.replace("    profile: safe\n", "    profile: safe\n    batch_size: 1\n").replace(
        "    format: parquet\n", "    format: parquet\n    tuning: {batch_size_memory_mb: 8}\n")
    assert "export 'users': effective tuning has both batch_size and batch_size_memory_mb" in str(error_of(text))


def test_stdout_is_rejected_where_there_is_no_commit_boundary():
    text = VALID.replace("      type: local\n", "      type: stdout\n").replace(
        "    format: parquet\n", "    format: parquet\n    max_file_size: 1MB\n")
    assert "stdout has no commit boundary" in str(error_of(text))


def test_every_problem_is_reported_at_once():
    text = VALID.replace("    format: parquet\n", "    format: parket\n    compresion: zstd\n")
    described = str(error_of(text))
    assert "exports[0].format" in described and "exports[0].compresion" in described


def test_variables_come_from_params_then_the_environment(monkeypatch):
    monkeypatch.setenv("MAX_ID", "5")
    text = VALID.replace("SELECT * FROM users", "SELECT * FROM users WHERE id <= ${MAX_ID} AND t = '${TENANT}'")
    config = parse_config(text, params={"TENANT": "acme"})
    assert config.exports[0].query == "SELECT * FROM users WHERE id <= ${MAX_ID} AND t = '${TENANT}'"  # as written
    query = config.query_for(config.exports[0])                       # values are bound, never pasted
    assert (query.sql, query.params) == ("SELECT * FROM users WHERE id <= {p0} AND t = {p1}", {"p0": 5, "p1": "acme"})
    assert parse_config(text, params={"TENANT": "x", "MAX_ID": "9"}).query_for(config.exports[0]).params == {
        "p0": 9, "p1": "x"}


def test_a_missing_variable_is_an_error_never_an_empty_string(monkeypatch):
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    error = error_of(VALID.replace("      path: ./out", "      path: ./${NOPE_NOT_SET}"))
    assert "rivet.yaml:12: exports[0].destination.path: variable '${NOPE_NOT_SET}' is not set" in str(error)
    config = parse_config(VALID.replace("SELECT * FROM users", "SELECT * FROM ${NOPE_NOT_SET}"))
    with pytest.raises(ConfigError, match=r"rivet.yaml:8: exports\[0\]\.query: variable '\$\{NOPE_NOT_SET\}' is not "
                                          "set"):
        config.query_for(config.exports[0])                          # queries are filled when a run starts


def test_query_file_is_read_relative_to_the_config_file(tmp_path: Path):
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "users.sql").write_text("SELECT id FROM users\n")
    (tmp_path / "rivet.yaml").write_text(VALID.replace("query: SELECT * FROM users", "query_file: sql/users.sql"))
    config = load_config(tmp_path / "rivet.yaml")
    assert config.query_template(config.exports[0]) == "SELECT id FROM users\n"   # the file as written
    assert config.query_for(config.exports[0]).sql == "SELECT id FROM users"      # the SQL a run wraps


def test_broken_yaml_and_missing_files_are_reported_with_the_file():
    assert "rivet.yaml:3: invalid YAML" in str(error_of("source:\n  type: postgres\n   bad: [\n"))
    with pytest.raises(ConfigError, match="nowhere.yaml: cannot read config file"):
        load_config("nowhere.yaml")


def test_max_file_size_uses_binary_units():
    def size(value):
        return parse_config(VALID.replace("    format: parquet\n", f"    format: parquet\n    max_file_size: {value}\n")
                            ).exports[0].max_file_size_bytes
    assert [size("512MB"), size("1GB"), size("20KB"), size("100B"), size("1048576"), size("1.5kb")] == \
        [512 << 20, 1 << 30, 20 << 10, 100, 1 << 20, 1536]


@pytest.mark.parametrize("state, environment, expected", [
    (None, None, {"path": "/project/.rivet_state.db"}),                    # Rivet's default: beside the config
    (None, "postgresql://db/state", {"url_env": "RIVET_STATE_URL"}),        # Rivet's variable, unchanged
    ("state: states/main.db\n", "postgresql://db/state", {"path": "/project/states/main.db"}),
    ("state: postgresql://rivet@db/state\n", None, {"url": "postgresql://rivet@db/state"}),
    ("state: {url_env: SHARED_STATE}\n", None, {"url_env": "SHARED_STATE"}),
])
def test_the_state_store_is_the_configs_then_rivet_state_url_then_the_file_beside_it(state, environment, expected,
                                                                                    monkeypatch):
    from rivet_dagster.state.store import store_for
    if environment:
        monkeypatch.setenv("RIVET_STATE_URL", environment)
    else:
        monkeypatch.delenv("RIVET_STATE_URL", raising=False)
    config = parse_config(VALID.replace("exports:\n", (state or "") + "exports:\n"), base_dir=Path("/project"))
    chosen = store_for(config).model_dump(exclude_defaults=True)
    assert chosen == expected
