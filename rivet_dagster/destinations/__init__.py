"""Destinations: where committed files go (local disk, S3, GCS, stdout), and the IO managers that commit."""
from __future__ import annotations

from ..config.models import DestinationConfig
from .base import Destination


def open_destination(config: DestinationConfig) -> Destination:
    if config.type == "s3":
        from .s3 import S3Destination
        return S3Destination(config)
    if config.type == "gcs":
        from .gcs import GCSDestination
        return GCSDestination(config)
    if config.type == "stdout":
        from .stdout import StdoutDestination
        return StdoutDestination()
    from .local import LocalDestination
    return LocalDestination(config)
