"""The allocators of a process that runs exports, chosen when rivet_dagster is first imported; a setting the user
made in the environment wins. Both choices lower peak RSS at the same CPU (`benchmarks/bench_export.py`):

- Arrow: jemalloc on Linux. pyarrow's default, mimalloc, keeps a heap per thread that allocates, and an export has
  several (the read-ahead thread, a chunk run's workers): 30-100 MB more over both engines, full, chunked, row hash.
- glibc's malloc (the database drivers' and Python's): at most two arenas. glibc gives new threads arenas of
  their own, up to eight per core, and keeps what each arena held: a MariaDB chunk run, whose hundreds of
  connectorx reads each start new threads, peaked at 425-466 MB on 10M wide rows, 370-375 MB with two.
"""
import ctypes
import os
import sys

_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h
ARENAS = 2


def configure_allocators() -> None:
    """pyarrow reads `ARROW_DEFAULT_MEMORY_POOL` when first imported; in a process that imported it before
    rivet_dagster (a code location whose other modules use pyarrow or pandas), jemalloc is made the default pool
    from then on. glibc reads `MALLOC_ARENA_MAX` at start; arenas made before this call stay."""
    if sys.platform != "linux":
        return
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"  # pyarrow's Linux wheels have it
        if "pyarrow" in sys.modules:
            _default_pool_jemalloc(sys.modules["pyarrow"])
    if _glibc() and "MALLOC_ARENA_MAX" not in os.environ:
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, ARENAS)


def _default_pool_jemalloc(pyarrow) -> None:
    try:
        pyarrow.set_memory_pool(pyarrow.jemalloc_memory_pool())
    except NotImplementedError:  # a pyarrow built without it
        pass


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (ValueError, OSError):  # musl (Alpine) has no such name
        return False
