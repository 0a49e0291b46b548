"""Argument parsing and error handling for `rivet-dagster`.

Each verb group lives in its own module with a `register(subparsers)` that adds its parsers and sets
`handler`, a function `(args) -> exit code`. Adding a verb is one module and one line in `VERB_GROUPS`.
Flags and exit codes are Rivet's: 0 ok, 1 config or generic error (a usage error too, so that 2 keeps its
meaning), 2 transient (retry later), 3 data integrity, 4 schema drift.
"""
from __future__ import annotations

import argparse
import sys
import warnings

from rivet_dagster.cli import check, doctor, init, metrics, run, state
from rivet_dagster.config import ConfigError
from rivet_dagster.errors import RivetError, first_line

VERB_GROUPS = (run, state, metrics, doctor, init, check)
USAGE_ERROR = 1


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; here 2 means "transient, retry later", so a usage error is 1."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="rivet-dagster", description="Run and inspect rivet-dagster exports from the shell.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=Parser)
    for group in VERB_GROUPS:
        group.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one verb. An error is one `error: ...` line on stderr (the traceback with --debug) and its
    `RivetError`'s exit code (1 for anything else)."""
    args = build_parser().parse_args(argv)
    if not args.debug:  # Dagster's beta and supersession notices are about our code, not the user's
        warnings.filterwarnings("ignore", module="dagster")
    try:
        return args.handler(args)
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {exc if isinstance(exc, ConfigError) else first_line(exc)}", file=sys.stderr)
        if isinstance(exc, RivetError) and exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, RivetError) else 1


if __name__ == "__main__":
    sys.exit(main())
