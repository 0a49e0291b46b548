"""Uniqueness in bounded memory: values spill to hash buckets on disk; each bucket is checked exactly."""
import numpy as np
import pyarrow as pa

from rivet_dagster.checks.uniqueness import BUCKETS, UniquenessSpill, bucket_of


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
