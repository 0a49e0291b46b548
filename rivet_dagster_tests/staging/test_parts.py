"""Part rotation and the two file formats."""
import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rivet_dagster.staging.parts import PartWriter

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string())])


def batch(start: int, rows: int) -> pa.RecordBatch:
    return pa.record_batch([pa.array(range(start, start + rows)), pa.array([f"name-{i:06d}" * 4
                                                                             for i in range(start, start + rows)])],
                           schema=SCHEMA)


def test_parts_rotate_between_batches_and_every_row_is_in_exactly_one_part(tmp_path):
    writer = PartWriter(tmp_path, "t", "parquet", SCHEMA, max_file_size=20 << 10)
    for i in range(10):
        writer.write(batch(i * 2000, 2000))
    parts = writer.close()
    assert len(parts) >= 2
    ids = [i for part in parts for i in pq.read_table(part.path)["id"].to_pylist()]
    assert sorted(ids) == list(range(20_000)) and len(ids) == len(set(ids))
    assert [p.rows for p in parts] == [pq.ParquetFile(p.path).metadata.num_rows for p in parts]
    assert all(p.bytes == p.path.stat().st_size and len(p.sha256) == 64 for p in parts)
    assert [p.path.name for p in parts] == [f"t_part{i}.parquet" for i in range(len(parts))]


def test_without_max_file_size_one_file_holds_everything_in_bounded_row_groups(tmp_path):
    writer = PartWriter(tmp_path, "t", "parquet", SCHEMA, compression="zstd", compression_level=7)
    for i in range(5):
        writer.write(batch(i * 1000, 1000))
    [part] = writer.close()
    meta = pq.ParquetFile(part.path).metadata
    assert (meta.num_rows, meta.row_group(0).column(0).compression) == (5000, "ZSTD")


@pytest.mark.parametrize("codec", ["snappy", "gzip", "lz4", "none"])
def test_the_configured_codec_is_used(tmp_path, codec):
    writer = PartWriter(tmp_path, "t", "parquet", SCHEMA, compression=codec)
    writer.write(batch(0, 10))
    [part] = writer.close()
    expected = {"none": "UNCOMPRESSED", "lz4": "LZ4"}.get(codec, codec.upper())
    assert pq.ParquetFile(part.path).metadata.row_group(0).column(0).compression == expected


def test_zero_rows_produce_no_file(tmp_path):
    writer = PartWriter(tmp_path, "t", "csv", SCHEMA)
    writer.write(batch(0, 0))
    assert writer.close() == [] and list(tmp_path.iterdir()) == []


def test_abandon_removes_every_staged_part(tmp_path):
    writer = PartWriter(tmp_path, "t", "parquet", SCHEMA, max_file_size=1)
    writer.write(batch(0, 100))
    writer.write(batch(100, 100))
    writer.abandon()
    assert list(tmp_path.iterdir()) == []


def test_csv_follows_rfc_4180(tmp_path):
    schema = pa.schema([("s", pa.string()), ("n", pa.int32()), ("b", pa.bool_()), ("bin", pa.binary()),
                        ("ts", pa.timestamp("us")), ("tz", pa.timestamp("us", tz="UTC")),
                        ("d", pa.decimal128(5, 2))])
    rows = pa.record_batch([
        pa.array(["plain", "", None, 'say "hi", ok', "two\nlines"]),
        pa.array([1, None, -3, 0, 5], pa.int32()),
        pa.array([True, False, None, True, False]),
        pa.array([b"\x00\xff", b"", None, b"A", b"\x10"]),
        pa.array([dt.datetime(1969, 12, 31, 23, 59, 59, 999999), None, dt.datetime(9999, 12, 31), None, None],
                 pa.timestamp("us")),
        pa.array([dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), None, None, None, None],
                 pa.timestamp("us", tz="UTC")),
        pa.array([Decimal("1.00"), None, None, None, None], pa.decimal128(5, 2)),
    ], schema=schema)
    writer = PartWriter(tmp_path, "t", "csv", schema)
    writer.write(rows)
    [part] = writer.close()
    assert part.path.read_text().splitlines() == [
        '"s","n","b","bin","ts","tz","d"',
        '"plain",1,true,"00ff","1969-12-31T23:59:59.999999","2024-01-02T03:04:05.000000Z",1.00',
        '"",,false,"",,,',
        ',-3,,,"9999-12-31T00:00:00.000000",,',
        '"say ""hi"", ok",0,true,"41",,,',
        '"two', 'lines",5,false,"10",,,',
    ]


def test_csv_refuses_nested_columns_with_advice(tmp_path):
    schema = pa.schema([("tags", pa.list_(pa.string()))])
    with pytest.raises(ValueError, match="column 'tags' .* CSV cannot hold; use format: parquet"):
        PartWriter(tmp_path, "t", "csv", schema).write(pa.record_batch([pa.array([["a"]])], schema=schema))


def test_only_text_and_binary_columns_are_dictionary_encoded(tmp_path):
    """Numbers and timestamps are mostly distinct: a dictionary per column chunk would only be filled and
    abandoned (larger files, more memory); text repeats (codes, statuses) and keeps its dictionary."""
    schema = pa.schema([("id", pa.int64()), ("status", pa.string()), ("blob", pa.binary()),
                        ("at", pa.timestamp("us", tz="UTC")), ("amount", pa.decimal128(12, 2))])
    written = pa.record_batch([pa.array(range(1000)), pa.array(["paid", "open"] * 500),
                               pa.array([b"\x00", b"\x01"] * 500),
                               pa.array(range(1000), pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                               pa.array([Decimal(i) / 100 for i in range(1000)], pa.decimal128(12, 2))],
                              schema=schema)
    writer = PartWriter(tmp_path, "t", "parquet", schema)
    writer.write(written)
    [part] = writer.close()
    row_group = pq.ParquetFile(part.path).metadata.row_group(0)
    dictionary = {row_group.column(c).path_in_schema: "RLE_DICTIONARY" in row_group.column(c).encodings
                  for c in range(row_group.num_columns)}
    assert dictionary == {"id": False, "status": True, "blob": True, "at": False, "amount": False}
    assert pq.read_table(part.path).to_batches()[0].equals(written)
