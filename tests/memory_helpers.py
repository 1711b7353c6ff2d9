"""Peak resident memory of the test process, for tests that bound what a render holds at once."""

import contextlib
import os
import re
import threading
import time
from pathlib import Path

from digan.utils.malloc import default_malloc, keep_freed_memory

HAS_PROC = Path("/proc/self/statm").exists()


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def glibc_default_malloc():
    """glibc's own malloc behaviour while measuring: the suite keeps freed memory (`utils.malloc`, conftest.py),
    and then a high-water mark depends on what earlier tests left in the heap, not only on `fn`."""
    default_malloc()
    try:
        yield
    finally:
        keep_freed_memory()


def peak_rss_while(fn) -> int:
    """Peak resident memory (bytes) while `fn` runs, with glibc's default malloc: the kernel's high-water
    mark, reset first, or where that is not allowed, RSS sampled every 2 ms."""
    with glibc_default_malloc():
        return _peak_rss_while(fn)


def _peak_rss_while(fn) -> int:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    else:
        fn()
        with open("/proc/self/status") as f:
            return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) * 1024
    peak, done = [rss()], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return peak[0]
