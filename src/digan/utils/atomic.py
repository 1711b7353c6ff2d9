"""Writes that never leave a half-written file: write to a temporary name beside the target, then rename.

Every temporary name of the library is `.<name>.<8 random characters>.tmp`
beside its target (`temp_path`), written with the user's umask like any other
file. A kill before the rename leaves such a file behind; `remove_stale_temps`
deletes the ones in a folder the library owns (a run directory, a store) when
a command starts there again.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")

TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")  # `.<name>.<8 hex digits>.tmp`, as `temp_path` names them


def temp_path(path: str | os.PathLike) -> Path:
    """A fresh temporary name beside `path`: `.<name>.<8 hex digits>.tmp`."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)`, then rename tmp_path to `path` (same directory, so the rename is atomic).

    A failure or a kill before the rename leaves `path` as it was. The file
    gets the permissions of any new file (0666 less the umask), whatever
    `write` does to the temporary one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = temp_path(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as to open()
        except FileExistsError:
            continue
        break
    try:
        mode = os.fstat(fd).st_mode & 0o777
        os.close(fd)
        write(tmp)
        os.chmod(tmp, mode)  # a writer that replaced the file may have created it with other permissions
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_folder(path: str | os.PathLike, write: Callable[[Path], T]) -> T:
    """Call `write(tmp_folder)`, then put tmp_folder in the place of the folder `path` (replacing one there).

    A failure or a kill before the swap leaves `path` as it was; the old folder is
    moved aside before the new one is renamed in, and back if that rename fails.
    Returns what `write` returns.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    tmp.mkdir()
    try:
        result = write(tmp)
        with deferred_signals():  # the old folder goes only once the new one is in place
            old = None
            if path.exists():
                old = temp_path(path)
                path.rename(old)
            try:
                tmp.rename(path)
            except BaseException:
                if old is not None:
                    old.rename(path)
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def atomic_save_array(path: str | os.PathLike, array) -> Path:
    """`np.save` through `atomic_write`, to exactly `path` (np.save given a name would append .npy to it)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array)

    return atomic_write(path, write)


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete temporary files and folders of the library's own naming (TEMP_NAME) directly in `folder`.

    For the start of a command that owns `folder`: whatever such a name holds
    then was left by a killed write. Other files are never touched.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not TEMP_NAME.match(entry.name):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextlib.contextmanager
def deferred_signals():
    """Hold Ctrl-C and SIGTERM back while a few renames that belong together run; delivered right after.

    The handlers are swapped for ones that only take note, not the signal mask: a
    process-directed signal goes to any thread that does not block it (PyTorch's
    worker threads included), so blocking it in the main thread alone would not hold it.
    Only the main thread can set handlers; elsewhere this is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: held.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: a handler set outside Python, which cannot be put back
                signal.signal(sig, handler)
        if held:
            signal.raise_signal(held[0])  # now, to the handler the caller had
