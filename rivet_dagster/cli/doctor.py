"""`doctor`: can this config run here? Parses it, connects to the source, proves each destination writable and
opens the state store for writing.

Unlike Rivet's doctor, a failed check makes the exit code 1, and the write probe is removed again.
"""
from __future__ import annotations

import argparse

import sqlalchemy as sa

from rivet_dagster.cli.common import config_flags, config_from
from rivet_dagster.commit.destinations import open_destination
from rivet_dagster.commit.destinations.retry import DestinationError
from rivet_dagster.config import ConfigError, DestinationConfig, RivetConfig
from rivet_dagster.errors import first_line
from rivet_dagster.source.engines import SourceDatabase
from rivet_dagster.source.errors import SourceError
from rivet_dagster.state.store import StateStoreError, store_for

PROBE_NAME = ".rivet_doctor_probe"


def register(subparsers) -> None:
    parser = subparsers.add_parser("doctor", parents=[config_flags()],
                                   help="check the config, the source connection and each destination",
                                   description="Parse the config, connect to the source (SELECT 1) and write, "
                                               f"check and remove a probe object ({PROBE_NAME}) at every "
                                               "destination, open the state store for writing. Exit 1 if any "
                                               "check fails.")
    parser.set_defaults(handler=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
    except ConfigError as exc:
        print(f"[FAIL] Config error: {exc}")
        print("Some checks failed.")
        return 1
    print("[OK]  Config parsed successfully")
    results = [check_source(config)] + [check_destination(d) for d in unique_destinations(config)] + [
        check_state(config)]
    print("All checks passed." if all(results) else "Some checks failed.")
    return 0 if all(results) else 1


def check_source(config: RivetConfig) -> bool:
    source = SourceDatabase(config.source, config.base_dir)
    try:
        with source.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1").scalar()
    except SourceError as exc:
        print(f"[FAIL] Source error: {exc}")
        return False
    except sa.exc.DBAPIError as exc:
        print(f"[FAIL] Source {source_problem(exc.orig)}: {source.failure('cannot connect to', exc.orig)}")
        return False
    print(f"[OK]  Source auth ({source.display_url})")
    return True


def source_problem(exc: BaseException) -> str:
    """Rivet's classes of source failure, told from the driver's message."""
    text = first_line(exc).lower()
    if any(word in text for word in ("password", "access denied", "authentication", "role", "permission")):
        return "auth error"
    if any(word in text for word in ("refused", "timed out", "timeout", "could not translate", "can't connect",
                                     "unknown host", "no route")):
        return "connectivity error"
    return "error"


def check_state(config: RivetConfig) -> bool:
    """A shared store is opened for writing (and migrated); a state file no run has made yet is left unmade."""
    store = store_for(config)
    try:
        if not store.exists():
            print(f"[OK]  State store {store.location} (made by the first run)")
            return True
        store.check()
    except StateStoreError as exc:
        print(f"[FAIL] State store error: {first_line(exc)}")
        return False
    print(f"[OK]  State store {store.location}")
    return True


def unique_destinations(config: RivetConfig) -> list[DestinationConfig]:
    return list(dict.fromkeys(export.destination for export in config.exports))


def check_destination(config: DestinationConfig) -> bool:
    """Write a probe, see it, remove it: the same calls a commit makes, so credentials and permissions are real."""
    destination = open_destination(config)
    if not destination.keeps_files:
        print(f"[OK]  Destination {destination.describe()}")
        return True
    try:
        destination.preflight()
        destination.write_bytes(PROBE_NAME, b"ok")
        try:
            if not destination.exists(PROBE_NAME):
                raise DestinationError(f"the probe {PROBE_NAME} was written but cannot be found")
        finally:
            destination.remove(PROBE_NAME)
    except Exception as exc:
        print(f"[FAIL] Destination {destination.describe()} -- error: {first_line(exc)}")
        return False
    print(f"[OK]  Destination {destination.describe()}")
    return True
