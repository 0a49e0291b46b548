"""Arrow's allocator in a process that runs exports: jemalloc on Linux. Its default, mimalloc, keeps a heap per
thread that allocates, and an export has several (the read-ahead thread, a chunk run's workers): over the benchmark
matrix (`benchmarks/bench_export.py`, both engines, full, chunked and row hash) jemalloc's peak RSS is 30-100 MB
lower at the same CPU."""
import os
import sys


def prefer_jemalloc() -> None:
    """Called before pyarrow is first imported, which is when it reads `ARROW_DEFAULT_MEMORY_POOL`: a value the
    user set wins, as does a pyarrow imported before rivet_dagster."""
    if sys.platform == "linux":  # pyarrow's Linux wheels are built with jemalloc
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
