"""`validate`: re-read what the latest materialization committed at the destination and compare it with its
manifest. Every file: present, and the size written. Parquet: the row count in its footer. CSV (no footer):
the rows and the sha256 of the whole object."""
from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from rivet_dagster.commit.exported import ExportedFiles


def validate(exported: ExportedFiles) -> tuple[list[str], dict]:
    """(mismatches, figures) over every file the manifests list."""
    mismatches, files, rows = [], 0, 0
    for manifest in exported.manifests:
        for entry in manifest["files"]:
            files += 1
            filesystem, path = exported.destination.arrow_path(entry["name"])
            info = filesystem.get_file_info(path)
            if info.type == pafs.FileType.NotFound:
                mismatches.append(f"{entry['uri']}: missing")
                continue
            if info.size != entry["bytes"]:
                mismatches.append(f"{entry['uri']}: {info.size} bytes, the manifest says {entry['bytes']}")
                continue
            if manifest["format"] == "parquet":
                with filesystem.open_input_file(path) as handle:
                    found = pq.ParquetFile(handle).metadata.num_rows
            else:
                found, digest = _csv_rows_and_sha256(filesystem, path)
                if digest != entry["sha256"]:
                    mismatches.append(f"{entry['uri']}: sha256 {digest[:12]}…, the manifest says "
                                      f"{entry['sha256'][:12]}…")
            rows += found
            if found != entry["rows"]:
                mismatches.append(f"{entry['uri']}: {found} rows, the manifest says {entry['rows']}")
    return mismatches, {"files_checked": files, "rows_read": rows, "rows_in_manifests": exported.rows}


def _csv_rows_and_sha256(filesystem: pafs.FileSystem, path: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    with filesystem.open_input_stream(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    with filesystem.open_input_stream(path) as handle:
        header = pv.open_csv(handle).schema.names
    text = pv.ConvertOptions(column_types={name: pa.string() for name in header})  # counting needs no type guesses
    with filesystem.open_input_stream(path) as handle:
        rows = sum(batch.num_rows for batch in pv.open_csv(handle, convert_options=text))
    return rows, digest.hexdigest()
