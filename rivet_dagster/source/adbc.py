"""PostgreSQL reads through ADBC's own classes (`adbc_driver_manager.AdbcDatabase`, `AdbcConnection`,
`AdbcStatement`) rather than its DB-API module, which imports pyarrow.dataset and with it pandas: 0.2-0.9 s and
~55 MB in every export process, for nothing a read uses. What the DB-API did for our reads is kept: a
transaction per read (autocommit off, rolled back when the connection is handed back), each statement prepared
before it runs, values bound as one row, results as the pyarrow reader of ADBC's stream."""
from __future__ import annotations

import pyarrow as pa


class PostgresConnection:
    def __init__(self, url: str):
        import adbc_driver_manager as adbc
        import adbc_driver_postgresql

        self.database = adbc_driver_postgresql.connect(url)
        try:
            self.connection = adbc.AdbcConnection(self.database)
            self.connection.set_autocommit(False)
        except BaseException:
            self.database.close()
            raise

    def statement(self) -> PostgresStatement:
        return PostgresStatement(self.connection)

    def rollback(self) -> None:
        self.connection.rollback()

    def close(self) -> None:
        try:
            self.connection.close()
        finally:
            self.database.close()


class PostgresStatement:
    """One statement handle for a read's statements, one after another (as a DB-API cursor)."""

    def __init__(self, connection):
        import adbc_driver_manager as adbc

        self._adbc, self._reader = adbc, None
        self.handle = adbc.AdbcStatement(connection)

    def query(self, sql: str, values: tuple[str | None, ...] = ()) -> pa.RecordBatchReader:
        """The result of `sql`, with `values` bound to $1, $2, ... as text."""
        self._close_reader()
        self.handle.set_sql_query(sql)
        try:
            self.handle.prepare()
        except self._adbc.NotSupportedError:
            pass
        if values:
            self.handle.bind(pa.record_batch([pa.array([value], pa.string()) for value in values],
                                             names=[str(i) for i in range(len(values))]))
        stream, _ = self.handle.execute_query()
        self._reader = pa.RecordBatchReader.from_stream(stream)
        return self._reader

    def run(self, sql: str, values: tuple[str | None, ...] = ()) -> None:
        """A statement whose result is not needed, read to its end."""
        self.query(sql, values).read_all()

    def set_options(self, **options: str) -> None:
        self.handle.set_options(**options)

    def cancel(self) -> None:
        self.handle.cancel()

    def close(self) -> None:
        try:
            self._close_reader()
        finally:
            self.handle.close()

    def _close_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
