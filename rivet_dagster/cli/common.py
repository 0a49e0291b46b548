"""What several verbs share: the config, the state store beside it, and the export a `--export` names."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..build import STATE_FILE
from ..config import ExportConfig, RivetConfig, load_config
from ..state.store import StateStore


class CliError(RuntimeError):
    """A problem the operator can fix, reported as one line."""


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default="rivet.yaml", help="the rivet.yaml (default: ./rivet.yaml)")


def add_param_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a value for ${KEY} in the config and queries (repeatable)")


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
    return load_config(args.config, params_from(args))


def state_path(config: RivetConfig) -> Path:
    return config.base_dir / STATE_FILE


def state_store(config: RivetConfig) -> StateStore | None:
    """The config's state store, or None before its first run (reading must not create an empty one)."""
    path = state_path(config)
    return StateStore(path=str(path)) if path.exists() else None


def named_export(config: RivetConfig, name: str) -> ExportConfig:
    try:
        return config.export(name)
    except KeyError:
        known = ", ".join(e.name for e in config.exports)
        raise CliError(f"export '{name}' is not in {config.config_file} (exports: {known})") from None
