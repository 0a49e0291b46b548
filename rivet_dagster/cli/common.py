"""What several verbs share: Rivet's flags (`-c/--config`, `-e/--export`, `-p/--param`, `-l/--last`), the config
(a file, or `-` for standard input), the state store beside it, and the export a `--export` names."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rivet_dagster.config import ConfigError, ExportConfig, RivetConfig, load_config, parse_config
from rivet_dagster.config.loader import MAX_CONFIG_BYTES, config_text
from rivet_dagster.errors import RivetError
from rivet_dagster.state.store import StateStore, store_for

STDIN = "-"


class CliError(RivetError):
    """A problem the operator can fix, reported as one line."""


def config_flags() -> argparse.ArgumentParser:
    """`-c/--config` and `-p/--param`, which every verb that reads a config takes (a parent parser)."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("-c", "--config", default="rivet.yaml",
                       help="the rivet.yaml (default: ./rivet.yaml; - reads it from standard input)")
    flags.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                       help="a value for ${KEY} in the config and queries (repeatable)")
    return flags


def add_export_argument(parser: argparse.ArgumentParser, required: bool = False, repeatable: bool = False,
                        help: str = "only this export") -> None:
    parser.add_argument("-e", "--export", required=required, action="append" if repeatable else "store",
                        default=[] if repeatable else None, metavar="NAME",
                        help=help + (" (repeatable)" if repeatable else ""))


def add_last_argument(parser: argparse.ArgumentParser, default: int, what: str) -> None:
    parser.add_argument("-l", "--last", type=int, default=default, help=f"how many {what} (default: {default})")


def params_from(args: argparse.Namespace) -> dict[str, str]:
    """`--param KEY=VALUE` pairs (split on the first `=`; the last one for a key wins)."""
    params = {}
    for pair in getattr(args, "param", []):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--param '{pair}' is not KEY=VALUE")
        params[key.strip()] = value
    return params


def config_from(args: argparse.Namespace) -> RivetConfig:
    """The config of `--config`. `-`, or a pipe such as /dev/stdin, is read once from standard input (kept in
    `args.config_text` for child processes); its relative paths and state store are in the working directory."""
    path = Path(args.config)
    if args.config == STDIN or (path.exists() and not path.resolve().is_file()):
        if getattr(args, "config_text", None) is None:
            if args.config == STDIN:
                stdin = getattr(sys.stdin, "buffer", None)
                data = stdin.read(MAX_CONFIG_BYTES + 1) if stdin else sys.stdin.read(MAX_CONFIG_BYTES + 1).encode()
            else:
                with path.open("rb") as stream:
                    data = stream.read(MAX_CONFIG_BYTES + 1)
            args.config_text = config_text(data, "<stdin>")
        args.config = STDIN
        return parse_config(args.config_text, file="<stdin>", params=params_from(args), base_dir=Path.cwd())
    return load_config(args.config, params_from(args))


def state_store(config: RivetConfig) -> StateStore | None:
    """The config's state store, or None before the first run made its file (reading must not create one)."""
    store = store_for(config)
    return store if store.exists() else None


def recorded(args, read) -> list[dict]:
    """What `read(store, export, last)` finds for `-e`/`-l` in the config's state store (nothing before a run)."""
    config = config_from(args)
    if args.export:
        named_export(config, args.export)
    store = state_store(config)
    return read(store, args.export, args.last) if store else []


def named_export(config: RivetConfig, name: str) -> ExportConfig:
    try:
        return config.export(name)
    except ConfigError:
        known = ", ".join(e.name for e in config.exports)
        raise CliError(f"export '{name}' not found in config {config.config_file} (exports: {known})") from None
