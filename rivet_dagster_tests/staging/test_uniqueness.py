"""Uniqueness in bounded memory: values spill to hash buckets on disk; each bucket is checked exactly, and a
bucket too big to read at once is split again by the hash's next bits."""
import numpy as np
import pyarrow as pa

from rivet_dagster.staging import uniqueness
from rivet_dagster.staging.uniqueness import BUCKETS, UniquenessSpill, bucket_of


def test_duplicates_are_found_across_batches_and_nulls_never_collide(tmp_path):
    spill = UniquenessSpill("id", tmp_path)
    for start in range(0, 300_000, 100_000):
        spill.add(pa.array(np.arange(start, start + 100_000)))
    spill.add(pa.array([7, 299_999, None, None]))
    duplicated, example = spill.duplicates()
    assert duplicated == 2 and example in (7, 299_999)
    assert not any(path.exists() for path in spill.paths)             # the spill is removed after the check


def test_text_values_spread_over_every_bucket_and_equal_values_share_one():
    values = pa.array([f"customer-{i}@example.com" for i in range(50_000)] + ["", "a", "a"])
    buckets = bucket_of(values)
    assert np.bincount(buckets, minlength=BUCKETS).min() > 50_000 / BUCKETS / 3   # no bucket holds most values
    assert buckets[-1] == buckets[-2]
    assert (bucket_of(pa.array([1, 2, 3])) == bucket_of(pa.array(["1", "2", "3"]))).all()


def test_a_bucket_over_the_size_bound_is_split_again_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(uniqueness, "BUCKET_BYTES", 8192)
    read_sizes = []
    count_repeated = uniqueness._count_repeated

    def counted(path):
        read_sizes.append(path.stat().st_size)
        return count_repeated(path)

    monkeypatch.setattr(uniqueness, "_count_repeated", counted)
    spill = UniquenessSpill("id", tmp_path)
    for start in range(0, 300_000, 50_000):
        spill.add(pa.array(np.arange(start, start + 50_000)))
    spill.add(pa.array([123_456, 42]))
    duplicated, example = spill.duplicates()
    assert duplicated == 2 and example in (42, 123_456)
    assert len(read_sizes) > BUCKETS and max(read_sizes) <= 8192     # split: nothing bigger was ever read whole
    assert spill.paths == []


def test_each_level_takes_other_bits_of_the_hash():
    values = pa.array(np.arange(100_000))
    same_first = bucket_of(values) == 5
    assert len(set(bucket_of(values.filter(pa.array(same_first)), level=1))) == BUCKETS
