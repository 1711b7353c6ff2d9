"""Locks that the kernel lets go of when their process dies (`flock`): one writer per folder, live temporaries.

`FolderLock` is what a command that owns a folder takes first (a run directory,
a prepared store, a fit folder): a second process meets `FolderInUse`, one line
naming the holder's PID. The lock file, `.digan.lock` in the folder, holds that
PID; it is removed when the lock is let go, and a file left by a killed process
locks nothing (the kernel released its lock), so the next command simply takes it.

The same kernel locks mark the library's temporary files as live
(`digan.utils.atomic`): a clean-up removes only temporaries that no process holds.
A forked child closes its copies of this process's locks at once, so a lock never
outlives the process that took it (a decoding worker left behind must not keep a
run directory locked).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from .files import missing_folders, remove_empty

LOCK_NAME = ".digan.lock"  # in the folder it locks; hidden, so no listing of videos or runs counts it

_held: set[int] = set()  # descriptors of the locks this process holds


def _close_inherited() -> None:
    for fd in _held:
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()


os.register_at_fork(after_in_child=_close_inherited)


class LockError(RuntimeError):
    """A folder cannot be held (another process has it, or no lock file can be made there); one line for the user."""


class FolderInUse(LockError):
    """Another process holds the folder; the message is one line meant for the user."""


def try_lock(fd: int) -> bool:
    """Take the exclusive lock of an open file or folder without waiting; False when another holder has it.

    On a file system without locks (some network and FUSE mounts) this takes nothing and says True: writing
    there works as before locks, without keeping two processes apart."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS):
            return True
        raise
    return True


def hold(fd: int) -> int:
    """Count `fd` (locked) among this process's locks: closed in forked children. Returns `fd`."""
    _held.add(fd)
    return fd


def let_go(fd: int) -> None:
    """Close a descriptor taken with `hold`, which releases its lock."""
    _held.discard(fd)
    os.close(fd)


def lock_holder(folder: str | os.PathLike) -> str:
    """The PID and what a folder's lock file says about its holder, as written by `FolderLock`."""
    try:
        lines = (Path(folder) / LOCK_NAME).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    pid = lines[0].strip() if lines and lines[0].strip().isdigit() else None
    what = lines[1].strip() if len(lines) > 1 and lines[1].strip() else None
    if pid is None:
        return "another process"
    return f"process {pid}" + (f" ({what})" if what else "")


def folder_entries(folder: str | os.PathLike) -> list[Path]:
    """What `folder` holds, but a lock file (left by a killed process, or held): whether it is empty to the user."""
    return [p for p in Path(folder).iterdir() if p.name != LOCK_NAME]


class FolderLock:
    """The exclusive right of this process to write in `folder`, created if missing.

        with FolderLock(run_dir, "digan train"):
            ...                               # no other process holds run_dir meanwhile

    `what` is recorded for the message a second process gets. A folder this lock
    created and that is still empty when it is let go is removed again: a command
    refused or stopped before writing anything leaves nothing behind.
    """

    def __init__(self, folder: str | os.PathLike, what: str = ""):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.what = what
        self.fd: int | None = None
        self.created: list[Path] = []  # the folders made for the lock, innermost first

    def acquire(self) -> "FolderLock":
        self.created = missing_folders(self.folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LockError(f"{self.folder}: cannot make the folder ({os.strerror(e.errno).lower()})") from None
        try:
            while True:
                try:  # never through a link: the lock file is this folder's own
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
                except OSError as e:
                    raise LockError(
                        f"{self.folder}: cannot hold it: {LOCK_NAME} cannot be made or opened there "
                        f"({os.strerror(e.errno).lower()})"
                    ) from None
                if not try_lock(fd):
                    os.close(fd)
                    raise FolderInUse(
                        f"{self.folder}: in use by {lock_holder(self.folder)}; wait for it to "
                        "finish or stop it (or choose another folder)"
                    )
                try:  # the holder before may have removed the file between our open and our lock: lock the new one
                    same = os.stat(self.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)
        except BaseException:
            self._remove_if_created()
            raise
        self.fd = hold(fd)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n{self.what}\n".encode())
        except OSError:  # a full disk: the lock holds all the same, a second process just cannot say whose it is
            pass
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # while still held: a process waiting on the old file sees it go
        finally:
            let_go(self.fd)
            self.fd = None
            self._remove_if_created()

    def _remove_if_created(self) -> None:
        remove_empty(self.created)
        self.created = []

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
