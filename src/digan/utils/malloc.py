"""How freed memory is kept: glibc's malloc holds on to what a training step frees, for the next step.

glibc serves an allocation above its mmap threshold (at most 32 MiB on 64-bit Linux) with a fresh mapping
and unmaps it when it is freed, and it hands the heap's free top back to the kernel. PyTorch's CPU
allocator caches nothing, so every activation that large is mapped again at every step, and the kernel
zero-fills each of its pages on first touch: hundreds of thousands of page faults a `small-64` step. With
no mappings for blocks (M_MMAP_MAX 0) and no trimming (M_TRIM_THRESHOLD -1), the heap keeps the pages and
the next step reuses them (docs/speed.md, "Freed memory kept"; benchmarks/malloc_keep.py). The cost: the
process holds its peak until it ends, plus some fragmentation.

The `digan` command, the tests and the benchmarks call `keep_freed_memory()` at start; a library user who
trains in a process of their own can call it too. Workers that decode data put glibc's behaviour back
(`default_malloc`): they free what they hand over, and a held peak there would multiply by the workers.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # mallopt(3) parameters, from glibc's malloc.h
M_MMAP_MAX = -4
GLIBC_DEFAULT_MMAP_MAX = 65536
GLIBC_DEFAULT_TRIM_THRESHOLD = 128 * 1024
USER_SETTINGS = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")


def _mallopt():
    """glibc's mallopt, None elsewhere (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    if not hasattr(libc, "gnu_get_libc_version"):  # musl's mallopt does nothing
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


def _user_chose(environ) -> bool:
    return any(name in environ for name in USER_SETTINGS) or "glibc.malloc" in environ.get("GLIBC_TUNABLES", "")


def keep_freed_memory(environ=os.environ) -> bool:
    """Keep freed memory in this process's heap instead of returning it to the kernel, unless the user set
    glibc's malloc variables or DIGAN_KEEP_MEMORY=0. Returns whether it applied (glibc on Linux)."""
    mallopt = _mallopt()
    if mallopt is None or _user_chose(environ) or environ.get("DIGAN_KEEP_MEMORY") == "0":
        return False
    return bool(mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, -1))


def default_malloc(environ=os.environ) -> bool:
    """glibc's own mappings and trimming again (in a worker process forked from one that kept its memory)."""
    mallopt = _mallopt()
    if mallopt is None or _user_chose(environ):
        return False
    return bool(mallopt(M_MMAP_MAX, GLIBC_DEFAULT_MMAP_MAX) and mallopt(M_TRIM_THRESHOLD, GLIBC_DEFAULT_TRIM_THRESHOLD))
