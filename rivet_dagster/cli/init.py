"""`init`: a starter rivet.yaml from a live database, one export per table with the mode its keys allow.

An integer single-column primary key gives `chunked` (resumable, parallel ranges); else an indexed timestamp
column named like `updated_at` gives `incremental`; else the table is exported in `full`.
"""
from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import sqlalchemy as sa
import yaml

from rivet_dagster.cli.common import CliError
from rivet_dagster.config import SourceConfig
from rivet_dagster.source.engines import SourceDatabase

SOURCE_TYPES = {"postgres": "postgres", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql",
                "sqlite": "sqlite"}
CURSOR_NAMES = ("updated_at", "modified_at", "last_modified_at", "changed_at")  # preferred, in this order


def register(subparsers) -> None:
    parser = subparsers.add_parser("init", help="write a starter rivet.yaml from the tables of a live database",
                                   description="Inspect the tables of the database whose URL is in an environment "
                                               "variable and write one export per table. The config refers to "
                                               "the variable (url_env), never to the URL itself.")
    parser.add_argument("--source-env", required=True, metavar="VAR",
                        help="environment variable holding a postgres://, mysql:// or sqlite:/// URL")
    parser.add_argument("--table", action="append", dest="tables", metavar="T",
                        help="a table to export (repeatable; default: every table of the current schema)")
    parser.add_argument("-o", "--output", default="rivet.yaml", help="where to write (default: ./rivet.yaml)")
    parser.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    parser.set_defaults(handler=run_init)


def run_init(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.exists() and not args.force:
        raise CliError(f"{output} already exists (use --force to overwrite it)")
    source = SourceDatabase(SourceConfig(type=source_type(args.source_env), url_env=args.source_env))
    try:
        inspector = sa.inspect(source.engine)
        exports = [export_for(source, inspector, table) for table in chosen_tables(source, inspector, args.tables)]
    except sa.exc.DBAPIError as exc:
        raise source.failure("cannot inspect", exc.orig) from None
    if not exports:
        raise CliError(f"no tables found in {source.display_url}")
    header = (f"# Written by `rivet-dagster init` from the database in ${args.source_env}.\n"
              "# Review each export's mode and columns, then run `rivet-dagster doctor` and `rivet-dagster check`.\n")
    body = yaml.safe_dump({"source": {"type": source.kind, "url_env": args.source_env}, "exports": exports},
                          sort_keys=False)
    output.write_text(header + body)
    print(f"Wrote {output} with {len(exports)} export(s):")
    for export in exports:
        print(f"  {export['name']}: {describe_mode(export)}")
    return 0


def source_type(variable: str) -> str:
    url = os.environ.get(variable)
    if not url:
        raise CliError(f"environment variable '{variable}' is not set (it should hold the database URL)")
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in SOURCE_TYPES:
        raise CliError(f"${variable} is not a postgres://, mysql:// or sqlite:/// URL (scheme '{scheme}')")
    return SOURCE_TYPES[scheme]


def chosen_tables(source: SourceDatabase, inspector: sa.Inspector, wanted: list[str] | None) -> list[str]:
    tables = inspector.get_table_names()
    if not wanted:
        return tables
    missing = [t for t in wanted if t not in tables]
    if missing:
        raise CliError(f"table(s) {', '.join(missing)} not found in {source.display_url} "
                       f"(tables: {', '.join(tables) or 'none'})")
    return wanted


def export_for(source: SourceDatabase, inspector: sa.Inspector, table: str) -> dict:
    """The export for one table; the mode depends on the keys and indexes the table has."""
    columns = {c["name"]: c["type"] for c in inspector.get_columns(table)}
    quoted = source.engine.dialect.identifier_preparer.quote(table)  # quoted only when the name needs it
    export = {"name": export_name(table), "query": f"SELECT * FROM {quoted}"}
    key = inspector.get_pk_constraint(table).get("constrained_columns") or []
    indexed = {index["column_names"][0] for index in inspector.get_indexes(table) if index["column_names"]}
    if len(key) == 1 and isinstance(columns[key[0]], sa.Integer):
        export.update(mode="chunked", chunk_column=key[0], chunk_checkpoint=True)
    elif cursor := cursor_column(columns, indexed | set(key[:1])):
        export.update(mode="incremental", cursor_column=cursor)
    else:
        export.update(mode="full")
    export.update(format="parquet", destination={"type": "local", "path": "./exports"})
    return export


def cursor_column(columns: dict[str, sa.types.TypeEngine], indexed: set[str]) -> str | None:
    """An indexed timestamp column that a row update moves: updated_at first, then other `*_at` names."""
    candidates = [name for name, kind in columns.items()
                  if name in indexed and isinstance(kind, sa.DateTime) and name.lower().endswith("_at")]
    ranked = sorted(candidates, key=lambda n: CURSOR_NAMES.index(n.lower()) if n.lower() in CURSOR_NAMES
                    else len(CURSOR_NAMES))
    return ranked[0] if ranked else None


def export_name(table: str) -> str:
    """Export names are identifiers (they name the asset and the files)."""
    name = re.sub(r"\W", "_", table, flags=re.ASCII)
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def describe_mode(export: dict) -> str:
    if export["mode"] == "chunked":
        return f"chunked on {export['chunk_column']}"
    if export["mode"] == "incremental":
        return f"incremental on {export['cursor_column']}"
    return "full"
