"""Streaming reads: a query in, Arrow record batches of the declared schema out, memory bounded by the batch.

* PostgreSQL: ADBC (libpq binary COPY decoded to Arrow in C++).
* MySQL / MariaDB: connectorx's Arrow stream (binary protocol decoded in Rust).
* SQLite: the DB-API cursor, `fetchmany` per batch (the embedded demo engine; no native Arrow driver).

Each read is one streamed statement. `statement_timeout_s` keeps Rivet's meanings: per batch on PostgreSQL
(a stall watchdog cancels the COPY), the server's limit on the whole SELECT on MySQL/MariaDB.
"""
from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from ..config.tuning import EffectiveTuning, estimated_row_bytes
from .engines import SourceDatabase, SourceError
from .pacing import StallWatchdog, read_ahead, throttled
from .types import SourceColumn, mysql_column, postgres_type, schema_of, conform

READ_AHEAD_BATCHES = 2
MAX_BATCH_BYTES = 16 << 20  # ADBC's own default; the batch row count never makes a batch larger than this


def describe(source: SourceDatabase, query: str, tuning: EffectiveTuning) -> list[SourceColumn] | None:
    """The query's result columns with their exact Arrow types (None for SQLite: typed by its values)."""
    if source.kind == "sqlite":
        return None
    probe = f"SELECT * FROM ({query}) AS _rivet LIMIT 0"
    with source.session(tuning) as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(probe)
            if source.kind == "postgres":
                return _postgres_columns(cursor)
            return [mysql_column(f.name, f.type_code, f.flags, f.charsetnr, f.length, f.scale)
                    for f in cursor._result.fields]
        except conn.dialect.loaded_dbapi.Error as exc:
            raise source.error(f"the export query failed on {source.display_url}: {_first_line(exc)}") from None
        finally:
            cursor.close()


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


def stream(source: SourceDatabase, query: str, columns: list[SourceColumn] | None,
           tuning: EffectiveTuning) -> Iterator[pa.RecordBatch]:
    """Record batches of the declared schema, throttled by `throttle_ms`, read one batch ahead of the writer."""
    schema = schema_of(columns) if columns is not None else None
    rows = tuning.rows_per_batch(schema)
    if schema is not None:
        rows = max(1, min(rows, MAX_BATCH_BYTES // estimated_row_bytes(schema)))
    if source.kind == "postgres":
        batches = _postgres_batches(source, query, schema, rows, tuning)
    elif source.kind == "mysql":
        batches = _mysql_batches(source, query, columns, rows, tuning)
    else:
        batches = _dbapi_batches(source, query, rows, tuning)
    return read_ahead(throttled(batches, tuning.throttle_ms), READ_AHEAD_BATCHES)


def _postgres_batches(source, query, schema, rows, tuning) -> Iterator[pa.RecordBatch]:
    import adbc_driver_postgresql.dbapi as adbc

    try:
        conn = adbc.connect(source.native_url("postgresql"))
    except Exception as exc:
        raise source.error(f"cannot connect to {source.display_url}: {_first_line(exc)}") from None
    with conn, conn.cursor() as cursor:
        if tuning.lock_timeout_s:
            cursor.execute(f"SET lock_timeout = '{int(tuning.lock_timeout_s)}s'")
        cursor.adbc_statement.set_options(**{
            "adbc.postgresql.batch_size_hint_bytes": str(rows * estimated_row_bytes(schema))})
        with StallWatchdog(tuning.statement_timeout_s, cursor.adbc_cancel) as watchdog:
            with watchdog.waiting():
                cursor.execute(query)
                reader = cursor.fetch_record_batch()
            yield from _conformed(watchdog.iterate(reader), schema)


def _mysql_batches(source, query, columns, rows, tuning) -> Iterator[pa.RecordBatch]:
    """connectorx holds the GIL while it waits on the network, so no watchdog thread can run here:
    `statement_timeout_s` is the server's limit on the streamed SELECT as a whole (Rivet's MySQL meaning)."""
    import connectorx as cx

    def column(c: SourceColumn) -> str:
        expression = f"_rivet.{source.quote(c.name)}"
        return (c.read_as.format(col=expression) if c.read_as else expression) + f" AS {source.quote(c.name)}"

    timeout = int(tuning.statement_timeout_s)
    hint = f"/*+ MAX_EXECUTION_TIME({timeout * 1000}) */ " if timeout and not source.is_mariadb else ""
    query = f"SELECT {hint}{', '.join(column(c) for c in columns)} FROM ({query}) AS _rivet"
    if timeout and source.is_mariadb:
        query = f"SET STATEMENT max_statement_time = {timeout} FOR {query}"
    schema = schema_of(columns)
    try:
        reader = cx.read_sql(source.native_url("mysql"), query, return_type="arrow_stream", batch_size=rows)
        yield from _conformed(reader, schema)
    except (KeyboardInterrupt, SystemExit, GeneratorExit, ValueError, SourceError):
        raise
    except BaseException as exc:  # connectorx reports server errors as Rust panics (BaseException)
        raise source.error(f"the export query failed on {source.display_url}: {_connectorx_error(exc)}") from None


def _connectorx_error(exc: BaseException) -> str:
    """The server's own message out of connectorx's wrapping (`... MySqlError { ERROR 1969 (70100): ... }`)."""
    text = _first_line(exc)
    return text.rsplit("MySqlError {", 1)[-1].split("}")[0].strip() if "MySqlError {" in text else text


def _dbapi_batches(source, query, rows, tuning) -> Iterator[pa.RecordBatch]:
    """SQLite: Python rows to Arrow columns; each column's type is fixed by its first non-NULL values."""
    with source.session(tuning) as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute(query)
        names = [d[0] for d in cursor.description]
        types: list[pa.DataType | None] = [None] * len(names)
        while True:
            chunk = cursor.fetchmany(rows)
            if not chunk:
                break
            arrays = []
            for i, values in enumerate(zip(*chunk)):
                try:
                    array = pa.array(values, type=types[i])
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                    raise ValueError(f"column '{names[i]}': values of different types ({exc}); SQLite is "
                                     f"dynamically typed, cast the column in the query") from None
                if types[i] is None and not pa.types.is_null(array.type):
                    types[i] = array.type
                arrays.append(array)
            if any(t is None for t in types):  # still all NULL: hold back the type until a value shows it
                arrays = [a if t is not None else a.cast(pa.string()) for a, t in zip(arrays, types)]
                types = [t or pa.string() for t in types]
            yield pa.RecordBatch.from_arrays(arrays, names=names)
        cursor.close()


def _conformed(batches, schema) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if batch.num_rows:
            yield conform(batch, schema)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
