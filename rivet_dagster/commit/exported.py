"""What a downstream asset receives for an upstream export: the files its latest manifest(s) list, and a
pyarrow dataset over them wherever they are (local disk, S3, GCS)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rivet_dagster.commit.destinations.base import Destination

if TYPE_CHECKING:
    import pyarrow.dataset as ds


@dataclass(frozen=True)
class ExportedFiles:
    export_name: str
    manifests: list[dict]                 # the `_manifest.json` documents, oldest first
    destination: Destination = field(repr=False)

    @classmethod
    def read(cls, export_name: str, destination: Destination, manifest_uris: list[str]) -> ExportedFiles:
        names = [uri.rsplit("/", 1)[-1] for uri in manifest_uris]
        return cls(export_name, [json.loads(destination.read_bytes(name)) for name in names], destination)

    @property
    def uris(self) -> list[str]:
        return [f["uri"] for manifest in self.manifests for f in manifest["files"]]

    @property
    def rows(self) -> int:
        return sum(manifest["rows"] for manifest in self.manifests)

    def dataset(self) -> ds.Dataset:
        """Every committed file as one pyarrow dataset (for DuckDB, pandas, Polars ...)."""
        import pyarrow.dataset as ds  # imported here: it costs every export process ~50 MB of memory otherwise
        formats = {manifest["format"] for manifest in self.manifests} or {"parquet"}
        paths = [self.destination.arrow_path(f["name"]) for manifest in self.manifests for f in manifest["files"]]
        filesystem = paths[0][0] if paths else self.destination.arrow_filesystem()[0]
        return ds.dataset([path for _, path in paths], filesystem=filesystem, format=formats.pop())
