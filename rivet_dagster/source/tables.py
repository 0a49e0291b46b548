"""The tables a query reads, found by parsing it with sqlglot in the source's dialect: where an export's lineage
starts. Best effort: a query the parser cannot read has no parsed tables (the config's `deps` can name them)."""
from __future__ import annotations

import re
from functools import lru_cache

import sqlglot
from sqlglot import exp

DIALECTS = {"postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite"}
DEFAULT_SCHEMA = {"postgres": "public", "sqlite": "main"}  # MySQL's is the connection's database
PARAM = re.compile(r"\$\{\w+\}")


@lru_cache(maxsize=1024)  # a config's definitions ask for each query's tables several times
def tables_read(query: str, engine: str, database: str | None) -> tuple[tuple[str, str], ...]:
    """`(schema, table)` of each table the query reads, unqualified names in the source's default schema; not
    its CTEs, subqueries or table functions."""
    try:  # a `${KEY}` is a bound value, so a literal stands in for it
        tree = sqlglot.parse_one(PARAM.sub("NULL", query), read=DIALECTS[engine])
    except sqlglot.errors.SqlglotError:
        return ()
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    default = DEFAULT_SCHEMA.get(engine, database or "")
    found = set()
    for table in tree.find_all(exp.Table):
        if not table.name or isinstance(table.this, exp.Func) or (not table.db and table.name in ctes):
            continue
        schema = _identifier(table.args["db"], engine) if table.db else default
        if schema:
            found.add((schema, _identifier(table.this, engine)))
    return tuple(sorted(found))


def _identifier(node: exp.Expression, engine: str) -> str:
    """PostgreSQL folds an unquoted name to lower case; MySQL and SQLite keep it as written."""
    quoted = isinstance(node, exp.Identifier) and node.quoted
    return node.name if quoted or engine != "postgres" else node.name.lower()
