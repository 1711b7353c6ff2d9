"""How a process ends when it is asked to: SIGTERM like Ctrl-C, and worker processes that never outlive their parent.

`digan` turns SIGTERM into `Terminated`, a KeyboardInterrupt raised in the main
thread: every clean-up written for Ctrl-C (a temporary file removed, a video
writer aborted, a pool of workers stopped) runs for SIGTERM too, and the
command ends with one line and exit code 143 (128 + SIGTERM) instead of 130.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

from .malloc import default_malloc

PR_SET_PDEATHSIG = 1  # prctl(2) on Linux: the signal this process gets when its parent ends
PARENT_POLL_S = 1.0  # elsewhere: how often a worker looks whether its parent is still there


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises `Terminated` in the main thread (elsewhere this is a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if previous is not None:  # None: a handler set outside Python, which cannot be put back
            signal.signal(signal.SIGTERM, previous)


def exit_code(interrupt: BaseException) -> int:
    """The exit status of a command stopped by `interrupt`: 143 for SIGTERM, 130 for Ctrl-C."""
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


def interruption(signum: int | None) -> KeyboardInterrupt:
    """The exception that goes on with a stop a callee handled itself (a training stopped after its step):
    `Terminated` for SIGTERM, KeyboardInterrupt for Ctrl-C."""
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def start_worker(parent: int) -> None:
    """The start of a pool's worker process (`initializer`, `initargs=(os.getpid(),)`): Ctrl-C is its parent's
    to handle, SIGTERM ends it, and so does its parent's end (`die_with_parent`). Its memory goes back to
    the kernel as glibc returns it (`utils.malloc`): a worker that trains keeps it again itself."""
    default_malloc()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(parent)


def stop_workers(pool) -> None:
    """End a ProcessPoolExecutor's workers now, mid-task (on Ctrl-C, SIGTERM or a failed task): the pool itself
    would wait for every task it was given. What they were writing is left to `remove_stale_temps`."""
    for process in list(pool._processes.values()):  # no public way to stop running tasks before Python 3.14
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def die_with_parent(parent: int) -> None:
    """In a worker process: end as soon as `parent` (its parent's PID) does, even when the parent was killed
    with SIGKILL and could not stop it. Linux: the kernel sends SIGKILL (prctl PR_SET_PDEATHSIG); elsewhere a
    thread looks every PARENT_POLL_S. A worker whose parent is already gone ends at once. (Linux watches the
    parent's thread that forked the worker: start workers from the main thread, as ProcessPoolExecutor does.)"""
    if sys.platform.startswith("linux"):
        armed = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    else:
        armed = False
    if os.getppid() != parent:
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)
