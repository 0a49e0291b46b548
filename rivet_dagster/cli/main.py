"""Argument parsing and error handling for `rivet-dagster`.

Each verb group lives in its own module with a `register(subparsers)` that adds its parsers and sets
`handler`, a function `(args) -> exit code`. Adding a verb is one module and one line in `VERB_GROUPS`.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import first_line
from . import check, doctor, init, metrics, run, state

VERB_GROUPS = (run, state, metrics, doctor, init, check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rivet-dagster",
                                     description="Inspect and prepare rivet-dagster exports from the shell.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for group in VERB_GROUPS:
        group.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one verb. An error is one `error: ...` line on stderr and exit code 1 (the traceback with --debug)."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {first_line(exc)}", file=sys.stderr)  # config errors may list more; --debug shows all
        return 1


if __name__ == "__main__":
    sys.exit(main())
