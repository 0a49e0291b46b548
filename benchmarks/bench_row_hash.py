"""Row hash throughput: vectorised (rivet_dagster) vs the value-by-value reference, both versions, on a 20-column
batch shaped like the benchmark's `wide` table (ints, text with NULLs, floats, a timestamp, a decimal); checks
that both give the same values. `python benchmarks/bench_row_hash.py [--rows N]` (default 100,000)."""
import decimal
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parents[1]))
from rivet_dagster.staging.meta_columns import row_hashes
from rivet_dagster_tests.staging.test_meta_columns import reference_row_hashes, reference_row_hashes_v2

n = int(sys.argv[sys.argv.index("--rows") + 1]) if "--rows" in sys.argv else 100_000
rng = np.random.default_rng(1)
cols = {f"i{i}": pa.array(rng.integers(0, 10**9, n)) for i in range(8)}
cols |= {f"s{i}": pa.array([None if x % 11 == 0 else f"value-{x}" for x in rng.integers(0, 10**6, n)]) for i in range(6)}
cols |= {f"f{i}": pa.array(rng.random(n)) for i in range(4)}
cols["at"] = pa.array(np.datetime64("2024-01-01", "us") + np.arange(n).astype("timedelta64[s]"), pa.timestamp("us", tz="UTC"))
cols["amount"] = pa.array([decimal.Decimal(int(x)) / 100 for x in rng.integers(0, 10**8, n)], pa.decimal128(12, 2))
batch = pa.record_batch(cols)
REFERENCES = {1: reference_row_hashes, 2: reference_row_hashes_v2}


def seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


for version, reference in REFERENCES.items():
    new = min(seconds(lambda: row_hashes(batch, version)) for _ in range(3))
    old = seconds(lambda: reference(batch))
    assert row_hashes(batch, version).to_pylist() == reference(batch)
    print(f"version {version}: {n:,} rows x 20 columns: vectorised {n / new:,.0f} rows/s, value by value "
          f"{n / old:,.0f} rows/s ({old / new:.1f}x)")
