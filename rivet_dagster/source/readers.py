"""Streaming reads: a query in, Arrow record batches of the declared schema out, memory bounded by the batch.

* PostgreSQL: ADBC (libpq binary COPY decoded to Arrow in C++).
* MySQL / MariaDB: connectorx's Arrow stream (binary protocol decoded in Rust).
* SQLite: the DB-API cursor, `fetchmany` per batch (the embedded demo engine; no native Arrow driver).

Every mode reads through the same path on each engine: a full export and a chunk, a cursor range or a time
window differ only in the plan's SQL and its bound values.

Each read is one streamed statement. `statement_timeout_s` keeps Rivet's meanings: per batch on PostgreSQL
(a stall watchdog cancels the COPY), the server's limit on the whole SELECT on MySQL/MariaDB.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from rivet_dagster.config.query import UserQuery
from rivet_dagster.config.tuning import EffectiveTuning, estimated_row_bytes
from rivet_dagster.errors import first_line
from rivet_dagster.source import queries
from rivet_dagster.source.adbc import PostgresConnection
from rivet_dagster.source.engines import SourceDatabase, close_quietly
from rivet_dagster.source.errors import SourceError, UnexportableValue
from rivet_dagster.source.pacing import StallWatchdog, read_ahead, throttled
from rivet_dagster.source.queries import ReadPlan
from rivet_dagster.source.types import SourceColumn, conform, mysql_column, postgres_type, schema_of

READ_AHEAD_BATCHES = 2
MAX_BATCH_BYTES = 8 << 20  # half ADBC's default; the batch row count never makes a batch larger than this
MYSQL_READ_BATCHES = 4   # the most batches of one MySQL/MariaDB read that connectorx may decode ahead of us


def describe(source: SourceDatabase, query: UserQuery, tuning: EffectiveTuning) -> list[SourceColumn] | None:
    """The query's result columns with their exact Arrow types (None for SQLite: typed by its values)."""
    if source.kind == "sqlite":
        return None
    plan = queries.probe(source, query)
    with source.session(tuning) as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            execute(source, cursor, plan)
            if source.kind == "postgres":
                return _postgres_columns(cursor)
            # pymysql's public `description` drops the flags (unsigned, binary) and the charset an exact type needs
            return [mysql_column(f.name, f.type_code, f.flags, f.charsetnr, f.length, f.scale)
                    for f in cursor._result.fields]
        except conn.dialect.loaded_dbapi.Error as exc:
            raise source.failure(plan.failed("the export query") + " failed on", exc, plan.secrets()) from None
        finally:
            close_quietly(cursor)


def execute(source: SourceDatabase, cursor, plan: ReadPlan) -> None:
    """One statement on a DB-API cursor, with the plan's values passed as the engine takes them: PostgreSQL as
    session settings and then a prepared statement (so a statement can never be a script), SQLite as
    parameters, MySQL/MariaDB as literals (PyMySQL runs one statement)."""
    if source.kind == "postgres":
        for name, value in plan.bound(source).items():
            cursor.execute("SELECT set_config(%s, %s, false)", (f"rivet.{name}", value))
        cursor.execute(plan.render(source), prepare=True)
    elif source.kind == "sqlite":
        cursor.execute(plan.render(source), plan.bound(source))
    else:
        cursor.execute(plan.render(source))


def _postgres_columns(cursor) -> list[SourceColumn]:
    description = list(cursor.description)
    cursor.execute(
        "SELECT t.oid, t.typname, t.typtype, e.typname, b.typname FROM pg_type t "
        "LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
        "LEFT JOIN pg_type b ON b.oid = t.typbasetype WHERE t.oid = ANY(%s)",
        ([c.type_code for c in description],))
    types = {row[0]: row[1:] for row in cursor.fetchall()}
    columns = []
    for c in description:
        typname, typtype, element, base = types[c.type_code]
        if typtype == "d":  # a domain reads as its base type
            typname, typtype = base, "b"
        db_type, arrow_type = postgres_type(c.name, typname, typtype, c.precision, c.scale, element)
        columns.append(SourceColumn(c.name, db_type, arrow_type))
    return columns


class Connections:
    """Native PostgreSQL connections kept for the many reads of one run (a chunk run's chunks): an ADBC connection
    costs ~40 ms to open (the driver loads the type catalog), more than a small chunk's read. A read takes an idle
    one or opens one, gives it back when it ends cleanly and closes it otherwise; `close()` ends them all."""

    def __init__(self, source: SourceDatabase):
        self.source, self._idle, self._lock = source, [], threading.Lock()

    def take(self):
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return PostgresConnection(self.source.native_url("postgresql"))
        except Exception as exc:
            raise self.source.failure("cannot connect to", exc) from None

    def give_back(self, conn) -> None:
        """Its transaction ended first: an idle connection holds no snapshot on the source."""
        try:
            conn.rollback()
        except Exception:
            close_quietly(conn)
            return
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            close_quietly(conn)


def stream(source: SourceDatabase, plan: ReadPlan, columns: list[SourceColumn] | None,
           tuning: EffectiveTuning, connections: Connections | None = None,
           side_by_side: int = 1, spill_to: Path | None = None) -> Iterator[pa.RecordBatch]:
    """Record batches of the declared schema, throttled by `throttle_ms`, read one batch ahead of the writer.
    PostgreSQL reads connect for themselves unless given `connections` to share; `side_by_side` reads at once
    share the batch memory. A MySQL/MariaDB read that is not a key range (read in parts: `_mysql_batches`), which
    connectorx decodes ahead without limit, spills what the writer is not ready for to `spill_to` (a folder of
    the run's staging) rather than hold it in memory."""
    schema = schema_of(columns) if columns is not None else None
    rows = tuning.rows_per_batch(schema)
    if schema is not None:
        rows = max(1, min(rows, MAX_BATCH_BYTES // side_by_side // estimated_row_bytes(schema)))
    if source.kind == "mysql":  # a key range is read in parts the writer waits between; one whole read spills
        return read_ahead(_mysql_batches(source, plan, columns, rows, tuning), READ_AHEAD_BATCHES,
                          None if plan.key_range else spill_to)
    if source.kind == "postgres":
        batches = _postgres_batches(source, plan, schema, rows, tuning, connections)
    else:
        batches = _sqlite_batches(source, plan, rows, tuning)
    return read_ahead(throttled(batches, tuning.throttle_ms), READ_AHEAD_BATCHES)


def _postgres_batches(source, plan, schema, rows, tuning, shared: Connections | None) -> Iterator[pa.RecordBatch]:
    connections = shared or Connections(source)
    conn = connections.take()
    statement, clean = conn.statement(), False
    try:
        if tuning.lock_timeout_s:
            statement.run(f"SET lock_timeout = '{int(tuning.lock_timeout_s)}s'")
        for name, value in plan.bound(source).items():  # bound here, read back with the column's type
            statement.run("SELECT set_config($1, $2, false)", (f"rivet.{name}", value))
        statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(rows * estimated_row_bytes(schema))})
        with StallWatchdog(tuning.statement_timeout_s, statement.cancel) as watchdog:
            with watchdog.waiting():
                reader = statement.query(plan.render(source))
            yield from _conformed(watchdog.iterate(reader), schema, rows)
        clean = True
    except (ValueError, SourceError):  # a value that does not fit its type; a read the watchdog cancelled
        raise
    except Exception as exc:
        raise source.failure(plan.failed("the export query") + " failed on", exc, plan.secrets()) from None
    finally:
        close_quietly(statement)
        if clean:   # a connection a read left in any other state is not reused
            connections.give_back(conn)
        else:
            close_quietly(conn)
        if shared is None:
            connections.close()


def _mysql_batches(source, plan, columns, rows, tuning) -> Iterator[pa.RecordBatch]:
    """connectorx holds the GIL while it waits on the network, so no watchdog thread can run here:
    `statement_timeout_s` is the server's limit on each streamed SELECT (Rivet's MySQL meaning), set with the
    session's other settings (UTC, so TIMESTAMP values and bounds are instants) before the read.

    connectorx decodes a result into an unbounded queue as fast as the server sends it, however slowly it is
    consumed, so a read over a key range (a chunk) is made as consecutive reads of MYSQL_READ_BATCHES batches'
    worth of keys (of rows, for a unique key): no more of it is decoded ahead of the writer. For the same reason
    `throttle_ms` paces the source between those reads (as long as between their batches), never within one:
    a wait there would only keep the result in connectorx's queue. One read (a full export) is not paced."""
    import connectorx as cx

    projection = ", ".join(_projection(source, c) for c in columns)
    schema = schema_of(columns)
    batches = 0  # of the previous read
    try:
        for part in plan.parts(rows * MYSQL_READ_BATCHES):
            if batches and tuning.throttle_ms:
                time.sleep(tuning.throttle_ms * batches / 1000)
            reader = cx.read_sql(source.native_url("mysql"), part.render(source, projection),
                                 return_type="arrow_stream", batch_size=rows,
                                 pre_execution_query=source.session_settings(tuning))
            batches = 0
            for batch in _conformed(reader, schema, rows):
                batches += 1
                yield batch
    except (KeyboardInterrupt, SystemExit, GeneratorExit, ValueError, SourceError):
        raise
    except BaseException as exc:  # connectorx reports server errors as Rust panics (BaseException)
        message = _connectorx_error(exc)
        number = re.match(r"ERROR (\d+)", message)
        raise source.error(f"{plan.failed('the export query')} failed on {source.display_url}: {message}",
                           number.group(1) if number else None, plan.secrets()) from None


def _connectorx_error(exc: BaseException) -> str:
    """The server's own message out of connectorx's wrapping (`... MySqlError { ERROR 1969 (70100): ... }`);
    its error number classifies it (transient or permanent) better than its text."""
    text = first_line(exc)
    return text.rsplit("MySqlError {", 1)[-1].split("}")[0].strip() if "MySqlError {" in text else text


def _sqlite_batches(source, plan, rows, tuning) -> Iterator[pa.RecordBatch]:
    """Python rows to Arrow columns, one batch per `fetchmany`: a column takes the type of its first non-NULL
    values (SQLite is dynamically typed); while it has none, the type its declaration gives, else text."""
    with source.session(tuning) as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            declared = _declared_types(cursor, plan)
            execute(source, cursor, plan)
            names = [d[0] for d in cursor.description]
            types: list[pa.DataType | None] = [None] * len(names)
            while chunk := cursor.fetchmany(rows):
                arrays = [_column_array(names[i], values, types[i]) for i, values in enumerate(zip(*chunk))]
                types = [t or (a.type if not pa.types.is_null(a.type) else None) for t, a in zip(types, arrays)]
                yield pa.RecordBatch.from_arrays(
                    [a if not pa.types.is_null(a.type) else a.cast(d or pa.string()) for a, d in zip(arrays, declared)],
                    names=names)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise source.failure(plan.failed("the export query") + " failed on", exc, plan.secrets()) from None
        finally:
            close_quietly(cursor)


def _declared_types(cursor, plan: ReadPlan) -> list[pa.DataType | None]:
    """The type each result column's declaration gives by SQLite's affinity rules (None for an expression, a
    NUMERIC or an untyped column), so that a read whose column holds only NULLs (a chunk, an incremental run's new
    rows) is typed as the reads with values are. SQLite tells a query's declared types only as a view's columns:
    the query becomes a temporary view (bound values as NULL; they don't change the columns) on this connection,
    for which the read-only guard is lifted, since a view's body is one SELECT and a temporary one lives beside
    the database, not in it."""
    view, query = "_rivet_declared_types", plan.sql.format(columns="*", **dict.fromkeys(plan.params, "NULL"))
    cursor.execute("PRAGMA query_only = OFF")
    try:
        cursor.execute(f"CREATE TEMP VIEW {view} AS {query}")
        return [_affinity(column[2]) for column in cursor.execute(f"PRAGMA temp.table_info({view})").fetchall()]
    finally:
        cursor.execute(f"DROP VIEW IF EXISTS temp.{view}")
        cursor.execute("PRAGMA query_only = ON")


def _affinity(declared: str) -> pa.DataType | None:
    """https://www.sqlite.org/datatype3.html#determination_of_column_affinity, rules applied in its order."""
    upper = declared.upper()
    if "INT" in upper:
        return pa.int64()
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return pa.string()
    if "BLOB" in upper:
        return pa.binary()
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return pa.float64()
    return None


def _column_array(name: str, values: tuple, known: pa.DataType | None) -> pa.Array:
    try:
        return pa.array(values, type=known)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise UnexportableValue(f"column '{name}': values of different types ({exc}); SQLite is dynamically typed, "
                         "cast the column in the query") from None


def _projection(source, column: SourceColumn) -> str:
    expression = f"_rivet.{source.quote(column.name)}"
    return (column.read_as.format(col=expression) if column.read_as else expression) + \
        f" AS {source.quote(column.name)}"


def fetch_value(source: SourceDatabase, plan: ReadPlan, tuning: EffectiveTuning):
    """One value from a small query (sensors, planners, reconcile), with the plan's values passed as the
    streaming reads pass them."""
    with source.session(tuning) as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            execute(source, cursor, plan)
            return cursor.fetchone()[0]
        except conn.dialect.loaded_dbapi.Error as exc:
            raise source.failure(plan.failed("the query") + " failed on", exc, plan.secrets()) from None
        finally:
            close_quietly(cursor)


def _conformed(batches, schema, rows: int) -> Iterator[pa.RecordBatch]:
    """Batches of the declared schema and at most `rows` rows (ADBC sizes its batches by bytes, roughly), so
    `batch_size`, the throttle and `max_file_size` rotation mean what they say."""
    for batch in batches:
        for offset in range(0, batch.num_rows, rows):
            yield conform(batch.slice(offset, rows), schema)
