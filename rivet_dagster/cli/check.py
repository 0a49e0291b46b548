"""`check`: how each export will read the source, judged from the database's own query plans.

Per export: the SQL strategy of its mode, the planner's row estimate, whether an index serves the mode's column
(cursor, chunk or time column), a verdict, and the tuning profile and chunk parallelism to start from. Whether an
index serves the column is asked with `ORDER BY <column> LIMIT 1`: the planner picks an index for that whenever
one exists, whatever the table's size, so the answer does not depend on how many rows the test range selects.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field

from rivet_dagster.cli.common import add_export_argument, config_flags, config_from, named_export
from rivet_dagster.config import ExportConfig, RivetConfig
from rivet_dagster.errors import first_line
from rivet_dagster.modes import mode_of
from rivet_dagster.source import queries
from rivet_dagster.source.engines import SourceDatabase, close_quietly
from rivet_dagster.source.queries import ReadPlan
from rivet_dagster.source.readers import execute

# Rivet's thresholds (rows, from the planner's estimate)
SMALL_TABLE = 1_000_000       # an unindexed read is merely DEGRADED up to this; `fast` with an index
LARGE_TABLE = 10_000_000      # an indexed range read stays EFFICIENT up to this; `balanced` with an index
HUGE_TABLE = 50_000_000       # an unindexed range read becomes UNSAFE above this
TINY_TABLE = 100_000          # without an index, `balanced` (or `safe` with parallel chunks) up to this
PARALLEL_LOAD = 5_000_000     # parallel chunks over this many rows load the source
SPARSE_DENSITY, SPARSE_WINDOWS = 0.1, 10


@dataclass
class Plan:
    """What the planner says about an export's read."""
    rows: int
    scan: str                  # the scan of the whole query, e.g. "Seq Scan on orders"
    index: str | None = None   # the index that serves the mode's column, if any
    chunk_range: tuple[int, int, int] | None = None  # MIN, MAX and COUNT of the chunk column
    warnings: list[str] = field(default_factory=list)


def register(subparsers) -> None:
    parser = subparsers.add_parser("check", parents=[config_flags()],
                                   help="explain how each export reads the source and rate it",
                                   description="Ask the source's planner how each export will read: row "
                                               "estimate, index use on the mode's column, a verdict "
                                               "(EFFICIENT / ACCEPTABLE / DEGRADED / UNSAFE) and recommended "
                                               "tuning. Reads no rows except MIN/MAX/COUNT for chunked exports.")
    add_export_argument(parser)
    parser.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Every export is reported; one whose query the source rejects gets an `error:` line (exit 1)."""
    config = config_from(args)
    exports = [named_export(config, args.export)] if args.export else config.exports
    source = SourceDatabase(config.source, config.base_dir)
    failed = 0
    for i, export in enumerate(exports):
        if i:
            print()
        try:
            plan = plan_export(config, source, export)
        except Exception as exc:
            print(f"Export:       {export.name}")
            print(f"error: {first_line(exc)}", file=sys.stderr)
            failed += 1
            continue
        print_report(export, plan)
    return 1 if failed else 0


def plan_export(config: RivetConfig, source: SourceDatabase, export: ExportConfig) -> Plan:
    query = config.query_for(export)
    column = range_column(export)
    whole = queries.full(source, query)
    with source.session(config.tuning_for(export)) as conn:
        def run(sql: str) -> list[dict]:
            """`sql` ({plan} stands for the whole query) with the query's parameters bound, one statement."""
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                execute(source, cursor, ReadPlan(sql.replace("{plan}", whole.sql), whole.params, whole.param_types))
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row)) for row in cursor.fetchall()]
            except conn.dialect.loaded_dbapi.Error as exc:
                raise source.failure(f"export '{export.name}': cannot explain its query on", exc) from None
            finally:
                close_quietly(cursor)

        explain = {"postgres": explain_postgres, "mysql": explain_mysql, "sqlite": explain_sqlite}[source.kind]
        plan = explain(run, "{plan}")
        if column:
            plan.index = explain(run, f"{{plan}} ORDER BY _rivet.{source.quote(column)} LIMIT 1").index
        if (key_column := mode_of(export).key_range_column(export)) is not None:
            quoted = f"_rivet.{source.quote(key_column)}"
            [row] = run(f"SELECT MIN({quoted}) AS low, MAX({quoted}) AS high, COUNT(*) AS n FROM ({{plan}}) AS _rivet")
            plan.chunk_range = (int(row["low"]), int(row["high"]), int(row["n"])) if row["n"] else (0, 0, 0)
    plan.warnings = warnings(export, plan)
    return plan


def range_column(export: ExportConfig) -> str | None:
    return mode_of(export).range_column(export)


def explain_postgres(run, sql: str) -> Plan:
    document = next(iter(run(f"EXPLAIN (FORMAT JSON) {sql}")[0].values()))
    top = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    nodes = list(plan_nodes(top))
    scans = [f"{n['Node Type']} on {n['Relation Name']}" for n in nodes if "Relation Name" in n]
    index = next((n["Index Name"] for n in nodes if "Index Name" in n), None)
    return Plan(rows=int(top["Plan Rows"]), scan=", ".join(scans) or top["Node Type"], index=index)


def plan_nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def explain_mysql(run, sql: str) -> Plan:
    rows = run(f"EXPLAIN {sql}")
    scans = [f"{'full scan' if r['type'] == 'ALL' else r['type']} on {r['table']}" for r in rows if r["table"]]
    index = next((r["key"] for r in rows if r["key"]), None)
    return Plan(rows=sum(int(r["rows"] or 0) for r in rows), scan=", ".join(scans) or "no table", index=index)


def explain_sqlite(run, sql: str) -> Plan:
    """SQLite's planner gives no row estimate, so the count is exact (an embedded database counts quickly). An
    index serves the read when the plan searches or scans by one, or walks the rowid without sorting."""
    rows = int(run(f"SELECT COUNT(*) AS n FROM ({sql}) AS _rivet_count")[0]["n"])
    details = [row["detail"] for row in run(f"EXPLAIN QUERY PLAN {sql}")]
    named = next((m.group(1) for d in details if (m := re.search(r"USING (?:COVERING )?INDEX (\w+)", d))), None)
    sorted_ = any("TEMP B-TREE" in d for d in details)
    rowid = any("INTEGER PRIMARY KEY" in d for d in details) or (" ORDER BY " in sql and not sorted_)
    index = None if sorted_ else named or ("rowid" if rowid else None)
    return Plan(rows=rows, scan=", ".join(details) or "no table", index=index)


def verdict(export: ExportConfig, plan: Plan) -> str:
    """Rivet's rating by (index, range column, rows): an index on the column a ranged mode reads by keeps each
    run cheap; without one every run scans the whole query, tolerable while small, unsafe when huge."""
    ranged = range_column(export) is not None
    if plan.index:
        if plan.rows > LARGE_TABLE:
            return "ACCEPTABLE" if ranged else "DEGRADED"
        return "EFFICIENT" if ranged else "ACCEPTABLE"
    if plan.rows <= SMALL_TABLE or (ranged and plan.rows <= HUGE_TABLE):
        return "DEGRADED"
    return "UNSAFE"


def profile(export: ExportConfig, plan: Plan) -> str:
    if plan.index:
        return "fast" if plan.rows <= SMALL_TABLE else "balanced" if plan.rows <= LARGE_TABLE else "safe"
    if plan.rows <= TINY_TABLE:
        return "safe" if export.parallel > 1 else "balanced"
    return "balanced" if plan.rows <= SMALL_TABLE else "safe"


def parallel(plan: Plan) -> tuple[int, str]:
    """Rivet's rule: parallel chunks pay off on big tables, but not when each chunk scans the whole table."""
    if plan.rows < 50_000:
        return 1, "small table: one chunk at a time finishes quickly"
    if not plan.index and plan.rows > PARALLEL_LOAD:
        return 1, "no index: every chunk scans the whole table"
    if not plan.index:
        return 2, "no index: keep concurrent scans few"
    if plan.rows < 500_000:
        return 2, "index-served chunks, moderate size"
    return 4, "index-served chunks on a big table"


def warnings(export: ExportConfig, plan: Plan) -> list[str]:
    out = []
    column = range_column(export)
    if column and not plan.index:
        out.append(f"no index on {export.mode} column '{column}': every run scans the whole query "
                   f"(add an index on {column})")
    if export.chunk_dense:
        out.append("chunk_dense numbers the rows of the whole query with ROW_NUMBER() for every chunk")
    if plan.chunk_range and plan.chunk_range[2]:
        low, high, count = plan.chunk_range
        span = high - low + 1
        if count / span < SPARSE_DENSITY and -(-span // export.chunk_size) > SPARSE_WINDOWS:
            out.append(f"sparse chunk range: {column} spans {low}..{high} ({span} values) for {count} rows, so "
                       "most chunks are nearly empty (chunk_dense: true cuts by row number)")
    if mode_of(export).has_chunks and export.parallel > 1 and plan.rows > PARALLEL_LOAD:
        out.append(f"parallel: {export.parallel} on {approximate(plan.rows)} rows: concurrent chunk reads "
                   "load the source; watch its I/O and replicas")
    return out


def print_report(export: ExportConfig, plan: Plan) -> None:
    print(f"Export:       {export.name}")
    print(f"Mode:         {export.mode}")
    print(f"Strategy:     {mode_of(export).strategy(export)}")
    print(f"Row estimate: {approximate(plan.rows)} ({plan.rows} rows)")
    if plan.chunk_range:
        print(f"Chunk range:  {plan.chunk_range[0]} .. {plan.chunk_range[1]} ({plan.chunk_range[2]} rows)")
    column = range_column(export)
    print(f"Scan type:    {scan_type(column, plan)}")
    print(f"Verdict:      {verdict(export, plan)}")
    print(f"Recommended:  tuning.profile: {profile(export, plan)}")
    if mode_of(export).has_chunks:
        count, reason = parallel(plan)
        print(f"Recommended:  parallel: {count} ({reason})")
    for warning in plan.warnings:
        print(f"Warning:      {warning}")


def scan_type(column: str | None, plan: Plan) -> str:
    if column is None:
        return plan.scan
    if plan.index:
        return f"index on {column} ({plan.index})"
    return f"full scan ({plan.scan}); no index on {column}"


def approximate(rows: int) -> str:
    if rows >= 1_000_000:
        return f"~{rows / 1_000_000:.1f}M"
    if rows >= 1_000:
        return f"~{rows / 1_000:.1f}K"
    return f"~{rows}"
