"""Peak resident memory of the test process, for tests that bound what a render holds at once."""

import os
import re
import threading
import time
from pathlib import Path

HAS_PROC = Path("/proc/self/statm").exists()


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_while(fn) -> int:
    """Peak resident memory (bytes) while `fn` runs: the kernel's high-water mark, reset first,
    or where that is not allowed, RSS sampled every 2 ms."""
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
