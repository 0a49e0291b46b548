"""Destinations: where committed files go (local disk, S3, GCS, stdout), and the IO managers that commit."""
from __future__ import annotations

from rivet_dagster.commit.destinations.base import Destination
from rivet_dagster.config.sections import DestinationConfig


def open_destination(config: DestinationConfig) -> Destination:
    if config.type == "s3":
        from rivet_dagster.commit.destinations.s3 import S3Destination
        return S3Destination(config)
    if config.type == "gcs":
        from rivet_dagster.commit.destinations.gcs import GCSDestination
        return GCSDestination(config)
    if config.type == "stdout":
        from rivet_dagster.commit.destinations.stdout import StdoutDestination
        return StdoutDestination()
    from rivet_dagster.commit.destinations.local import LocalDestination
    return LocalDestination(config)
