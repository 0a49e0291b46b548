"""Which source errors are worth retrying (Rivet's classes, by PostgreSQL SQLSTATE and MySQL/MariaDB error
number first, message text last), and the hint a permanent one carries.

Transient: connection lost or reset, server gone away, too many connections, server starting up or shutting
down, deadlock, serialization failure, lock-wait timeout. Permanent: authentication, permission, unknown
table or column, syntax, statement timeout (retrying a query that is too slow only makes it slow again).
Every retry reconnects: each attempt opens its own connections."""
from __future__ import annotations

import re
from functools import cache

from rivet_dagster.errors import TRANSIENT, RivetError, first_line
from rivet_dagster.retries import Retrier, Verdict


class SourceError(RivetError):
    """The source cannot be reached or configured; the message never contains credentials. `code` keeps the
    driver's SQLSTATE / error number, so the error can still be classified as transient or permanent."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class UnexportableValue(RivetError, ValueError):
    """A value the source returned that cannot be written exactly (rows of mixed types, a TIME out of range, a
    conversion that would lose precision, a bound value with no exact literal): the export stops, naming the
    column, instead of writing something else."""


class SourceUnavailable(SourceError):
    """A transient source error that outlasted its retries: worth running again later."""
    exit_code = TRANSIENT
    hint = "the source was unavailable; nothing was committed, so run again once it is back (or raise max_retries)"


SETTLE_S = 15.0      # a server starting up, shutting down or out of connections needs time
CONFLICT_S = 1.0     # deadlock, serialization failure: try again soon
PERMANENT = "a permanent error"
READ_ONLY = "exports are read-only: the query tried to change the database"

POSTGRES = {  # SQLSTATE (or its class, two characters) -> (transient, settle seconds, reason)
    "57P01": (True, SETTLE_S, "the server terminated the connection"),
    "57P02": (True, SETTLE_S, "the server is restarting"), "57P03": (True, SETTLE_S, "the server is starting up"),
    "53300": (True, SETTLE_S, "too many connections"),
    "40001": (True, CONFLICT_S, "serialization failure"), "40P01": (True, CONFLICT_S, "deadlock"),
    "55P03": (True, 0, "lock not available"),
    "57014": (False, 0, "the statement timed out: raise statement_timeout_s, or use chunked mode"),
    "08": (True, 0, "the connection was lost"), "53": (True, 5.0, "the server is out of resources"),
    "28": (False, 0, "authentication failed: check the user and password"),
    "25006": (False, 0, READ_ONLY),
    "42P01": (False, 0, "the table does not exist"), "42703": (False, 0, "a column does not exist"),
    "42601": (False, 0, "syntax error: check the query"), "42501": (False, 0, "permission denied"),
}
CONNECTION_KILLED = 1927   # MariaDB's ER_CONNECTION_KILLED; neither it nor the next is in pymysql.constants
READ_ONLY_TRANSACTION = 1792  # ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION


@cache
def mysql_verdicts() -> dict[int, tuple[bool, float, str]]:
    """Error number -> (transient, settle seconds, reason), by PyMySQL's names: imported on the first MySQL
    error, so a process that reads PostgreSQL never loads the MySQL driver."""
    from pymysql.constants import CR, ER

    return {
        ER.LOCK_DEADLOCK: (True, CONFLICT_S, "deadlock"), ER.LOCK_WAIT_TIMEOUT: (True, 0, "lock wait timeout"),
        ER.CON_COUNT_ERROR: (True, SETTLE_S, "too many connections"),
        ER.SERVER_SHUTDOWN: (True, SETTLE_S, "the server is shutting down"),
        CR.CR_CONNECTION_ERROR: (True, 0, "cannot connect"), CR.CR_CONN_HOST_ERROR: (True, 0, "cannot connect"),
        CR.CR_SERVER_GONE_ERROR: (True, 0, "the server has gone away"),
        CR.CR_SERVER_LOST: (True, 0, "lost connection to the server"),
        CONNECTION_KILLED: (True, 0, "the connection was killed"),
        ER.STATEMENT_TIMEOUT: (False, 0, "the statement timed out (max_statement_time): raise "
                                         "statement_timeout_s, or use chunked mode"),
        ER.QUERY_TIMEOUT: (False, 0, "the statement timed out (max_execution_time): raise statement_timeout_s, or "
                                     "use chunked mode"),
        ER.ACCESS_DENIED_ERROR: (False, 0, "access denied: check the user and password"),
        ER.DBACCESS_DENIED_ERROR: (False, 0, "access denied to the database"),
        ER.BAD_DB_ERROR: (False, 0, "the database does not exist"),
        ER.NO_SUCH_TABLE: (False, 0, "the table does not exist"),
        ER.BAD_FIELD_ERROR: (False, 0, "a column does not exist"),
        ER.PARSE_ERROR: (False, 0, "syntax error: check the query"),
        READ_ONLY_TRANSACTION: (False, 0, READ_ONLY),
    }


MESSAGES = [  # lower-case text -> (transient, settle seconds, reason); the first match wins
    ("readonly database", (False, 0, READ_ONLY)), ("read-only transaction", (False, 0, READ_ONLY)),
    ("statement timeout", (False, 0, "the statement timed out: raise statement_timeout_s, or use chunked mode")),
    ("max_statement_time", (False, 0, "the statement timed out: raise statement_timeout_s, or use chunked mode")),
    ("password authentication failed", (False, 0, "authentication failed: check the user and password")),
    ("access denied", (False, 0, "access denied: check the user and password")),
    ("permission denied", (False, 0, "permission denied")),
    ("too many connections", (True, SETTLE_S, "too many connections")),
    ("starting up", (True, SETTLE_S, "the server is starting up")),
    ("shutting down", (True, SETTLE_S, "the server is shutting down")),
    ("terminating connection", (True, SETTLE_S, "the server terminated the connection")),
    ("deadlock", (True, CONFLICT_S, "deadlock")),
    ("could not serialize access", (True, CONFLICT_S, "serialization failure")),
    ("lock wait timeout", (True, 0, "lock wait timeout")),
    ("gone away", (True, 0, "the server has gone away")), ("lost connection", (True, 0, "lost connection")),
    ("connection reset", (True, 0, "connection reset")), ("broken pipe", (True, 0, "broken pipe")),
    ("connection refused", (True, 0, "connection refused")),
    ("closed the connection unexpectedly", (True, 0, "the server closed the connection")),
    ("server closed the connection", (True, 0, "the server closed the connection")),
    ("connection was killed", (True, 0, "the connection was killed")),
    ("unexpected eof", (True, 0, "the connection was cut")),
    ("io error", (True, 0, "the connection was cut")), ("ioerror", (True, 0, "the connection was cut")),
    ("server disconnected", (True, 0, "the server disconnected")),
    ("can't connect to", (True, 0, "cannot connect")),
]


def driver_message(exc: BaseException | None) -> str:
    """The database's own first line, without libpq's transport prefix (`[libpq] Execution error
    [PGRES_FATAL_ERROR]: ERROR:  division by zero` -> `division by zero`)."""
    return re.sub(r"^\[libpq\][^:]*(?:\[[A-Z_]+\])?:\s*(?:ERROR:\s+)?", "", first_line(exc))


def error_code(exc: BaseException | None) -> str | None:
    """The SQLSTATE (PostgreSQL: psycopg, ADBC) or error number (PyMySQL) anywhere in the exception's chain."""
    while exc is not None:
        args = getattr(exc, "args", ())
        if type(exc).__module__.startswith("pymysql") and args and isinstance(args[0], int):
            return str(args[0])  # the error number says more than MySQL's generic SQLSTATE
        sqlstate = getattr(exc, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate:
            return sqlstate
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return None


def classify(exc: BaseException, code: str | None = None) -> Verdict:
    code = code or (exc.code if isinstance(exc, SourceError) else None) or error_code(exc)
    if code:
        if code.isdigit() and int(code) in mysql_verdicts():
            return Verdict(*mysql_verdicts()[int(code)])
        for key in (code, code[:2]):
            if key in POSTGRES:
                return Verdict(*POSTGRES[key])
    text = str(exc).lower()
    for needle, verdict in MESSAGES:
        if needle in text:
            return Verdict(*verdict)
    return Verdict(False, reason=PERMANENT)


def source_retrier(tuning, log, source) -> Retrier:
    """Retries a whole read on a transient source error (each attempt reconnects); a permanent one fails at
    once with the database's message and a hint."""
    def give_up(exc: BaseException, verdict: Verdict, attempts: int) -> BaseException:
        if not isinstance(exc, SourceError) and error_code(exc) is None and not verdict.transient:
            return exc  # not a database error (disk full, a bad gate): as it is
        tried = f"after {attempts} attempts" if attempts > 1 else "not retried"
        error = source.error(f"{first_line(exc)} ({verdict.reason}; {tried})", error_code(exc))
        return SourceUnavailable(str(error), error.code) if verdict.transient else error

    return Retrier(tuning.max_retries, tuning.retry_backoff_ms, log, lambda exc, _what: classify(exc), give_up)
