"""Writes that never leave a half-written file, a mix of two writes, or anything but a regular file replaced.

Every output goes through this module, under one rule for the path it ends at
(`check_output`): a file is written only where nothing is or where a regular
file is, and a folder (a PNG frame folder) only where nothing is or a real
folder is. A symbolic link, a FIFO, a device or a socket at that path is
refused with one line (`OutputError`) before any work, and checked again just
before the rename, so a write never turns a device into a file or a link into
a copy of its target. Folders above the path may be links: they are followed.

Every temporary name of the library is `.<name>.<8 random characters>.tmp`
beside its target (`temp_path`), created by `Temporary`, written with the
user's umask like any other file, and held by a kernel lock (`digan.utils.lock`)
while its process lives. A kill before the rename leaves such a file behind;
`remove_stale_temps` deletes the ones in a folder that no live process holds.

Files that belong together (a snapshot's weights and JSON, a fit's files, the
formats of one video) change together through `FileGroup`. A write that the
disk refuses (full, over quota, read-only, no permission) is one line naming
the file (`OutputError`), and leaves no temporary behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import signal
import stat
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

from .files import missing_folders, remove_empty
from .lock import hold, let_go, try_lock

T = TypeVar("T")

TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")  # `.<name>.<8 hex digits>.tmp`, as `temp_path` names them
FULL_BELOW = 1 << 20  # a write that fails with less free space than this on its file system failed for want of space
DISK_ERRORS = {  # errors of the file system, not of the data or of the code: said in one line
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "input/output error",
}


class OutputError(OSError):
    """An output cannot be written where it was asked for; the message is one line meant for the user."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.errno = code

    def __str__(self) -> str:
        return self.args[0]


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISREG, "a regular file"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def check_output(path: str | os.PathLike, folder: bool = False) -> Path:
    """The rule for every path the library writes to: nothing there, or a regular file (a real folder when
    `folder`), never a symbolic link, FIFO, device or socket, which an atomic rename would replace. Returns
    `path`; OutputError names it otherwise."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return path
    except NotADirectoryError:
        raise OutputError(f"{path}: cannot write (a folder above it is a file)", errno.ENOTDIR) from None
    if stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode):
        return path
    wanted = "folder" if folder else "regular file"
    raise OutputError(
        f"{path}: is {_kind(mode)}, not a {wanted}: outputs go only to {wanted}s or new paths (remove "
        "it or choose another path)",
        errno.EEXIST,
    )


def disk_failure(error: BaseException, path: str | os.PathLike) -> str | None:
    """Why the disk refused a write of `path` that raised `error` ('no space left on device', ...), or None when
    the error is not the disk's. Call it before the temporary file is removed: some writers (torch.save, np.save)
    say only that a write fell short, and a file system still (nearly) full then says why."""
    if isinstance(error, OSError) and error.errno in DISK_ERRORS:
        return DISK_ERRORS[error.errno]
    if not isinstance(error, Exception):
        return None
    if "No space left on device" in str(error) or "os error 28" in str(error):  # safetensors' wording
        return DISK_ERRORS[errno.ENOSPC]
    if not isinstance(error, (OSError, RuntimeError)):  # what writers raise for a short write (np.save, torch.save)
        return None
    try:
        vfs = os.statvfs(Path(path).parent)
    except OSError:
        return None
    if vfs.f_bavail * vfs.f_frsize < FULL_BELOW or (vfs.f_files and vfs.f_favail == 0):
        return DISK_ERRORS[errno.ENOSPC]
    return None


@contextlib.contextmanager
def disk_errors(path: str | os.PathLike):
    """Turn an error of the disk while writing `path` into a one-line OutputError that names it."""
    try:
        yield
    except OutputError:
        raise
    except Exception as e:
        reason = disk_failure(e, path)
        if reason is None:
            raise
        code = e.errno if isinstance(e, OSError) and e.errno in DISK_ERRORS else errno.ENOSPC
        raise OutputError(f"{path}: cannot write ({reason})", code) from e


@contextlib.contextmanager
def output_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Create the folder `path` (and the folders above it that are missing) for a job that writes into it;
    when the job fails or is stopped, the folders it created and left empty are removed again, so a refused
    job leaves nothing behind. Folders that were there before are kept whatever happens."""
    path = Path(path)
    made = missing_folders(path)
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        remove_empty(made)
        raise


def temp_path(path: str | os.PathLike) -> Path:
    """A fresh temporary name beside `path`: `.<name>.<8 hex digits>.tmp`."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


class Temporary:
    """A new temporary file (or, with `folder`, folder) beside `path`, created at once and held by this process
    until it is moved to `path` (`commit`) or removed (`abort`); `path` is checked (`check_output`) first.

    The file gets the permissions of any new file (0666 less the umask), whatever
    a writer does to it. Also a member of a `FileGroup` (`finish`, `check`, `commit`, `abort`).
    """

    def __init__(self, path: str | os.PathLike, folder: bool = False):
        self.path, self.folder = check_output(path, folder), folder
        with disk_errors(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while True:
                tmp = temp_path(self.path)
                try:
                    if folder:
                        os.mkdir(tmp)
                        fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                    else:  # the umask applies, as to open()
                        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
                except FileExistsError:
                    continue
                break
        try_lock(fd)  # a name this process just made: nobody else holds it
        self.tmp, self.fd = tmp, hold(fd)
        self.mode = stat.S_IMODE(os.fstat(fd).st_mode)

    def finish(self) -> None:
        """Nothing left to write (the group protocol: a video writer encodes here)."""

    def check(self) -> None:
        check_output(self.path, self.folder)

    def commit(self) -> Path:
        """Move the temporary into place (a folder is swapped with the old one, which goes); returns `path`."""
        self.check()  # again: the path may have changed while the work ran
        with disk_errors(self.path):
            if self.folder and self.path.is_dir():
                old = temp_path(self.path)
                with deferred_signals():  # the old folder goes only once the new one is in place
                    os.replace(self.path, old)
                    try:
                        os.replace(self.tmp, self.path)
                    except BaseException:
                        os.replace(old, self.path)
                        raise
                shutil.rmtree(old, ignore_errors=True)
            else:
                if not self.folder:
                    os.chmod(self.tmp, self.mode)  # a writer that replaced the file may have created it otherwise
                os.replace(self.tmp, self.path)
        self._let_go()
        return self.path

    def abort(self) -> None:
        """Remove the temporary (safe to call twice, or after `commit`)."""
        if self.fd is None:
            return
        if self.folder:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.tmp.unlink(missing_ok=True)
        self._let_go()

    def _let_go(self) -> None:
        if self.fd is not None:
            let_go(self.fd)
            self.fd = None


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)`, then rename tmp_path to `path` (same directory, so the rename is atomic).

    A failure, Ctrl-C or SIGTERM before the rename leaves `path` as it was and
    removes the temporary file; a kill leaves it to `remove_stale_temps`.
    `path` must follow `check_output`'s rule; a disk that refuses the write is
    an OutputError naming `path`.
    """
    temp = Temporary(path)
    try:
        with disk_errors(temp.path):
            write(temp.tmp)
        temp.commit()
    except BaseException:
        temp.abort()
        raise
    return temp.path


def atomic_folder(path: str | os.PathLike, write: Callable[[Path], T]) -> T:
    """Call `write(tmp_folder)`, then put the folder in the place of `path` (swapped with a folder there, which
    goes); returns what `write` returns. A failure, Ctrl-C or SIGTERM leaves `path` as it was.

    A temporary folder of `path`'s name that no live process holds was left by a killed write (a `convert` or
    `share` stopped with SIGKILL: it can hold gigabytes) and is removed first."""
    path = Path(path)
    remove_stale_temps(path.parent, name=path.name)
    temp = Temporary(path, folder=True)
    try:
        with disk_errors(temp.path):
            result = write(temp.tmp)
        temp.commit()
    except OutputError as e:  # a full disk: said of where the files were to go, not of the temporary folder
        temp.abort()
        raise OutputError(str(e).replace(str(temp.tmp), str(temp.path), 1), e.errno) from e.__cause__
    except BaseException:
        temp.abort()
        raise
    return result


def atomic_save_array(path: str | os.PathLike, array) -> Path:
    """`np.save` through `atomic_write`, to exactly `path` (np.save given a name would append .npy to it)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array)

    return atomic_write(path, write)


@contextlib.contextmanager
def appending(path: str | os.PathLike):
    """An open text file that lines are appended to (`path` follows `check_output`'s rule; disk errors are one line)."""
    path = check_output(path)
    with disk_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            yield f


class FileGroup:
    """Files that change together: every one of them, or (after an error, Ctrl-C or SIGTERM) none.

        with FileGroup(marker=out / "fit.json") as files:
            files.write(out / "fit.safetensors", lambda tmp: save_file(tensors, str(tmp)))  # to a temporary, now
            files.add(writer)              # anything with path, finish, check, commit, abort (a VideoWriter)
            files.write(out / "fit.json", lambda tmp: tmp.write_text(text))

    Leaving the block finishes every member (a video's encoding, the slow part),
    checks every final path, then moves all of them into place with Ctrl-C and
    SIGTERM held back for those few renames. `marker` is the member that says
    the group is whole (a JSON beside its weights): it is removed before the
    first rename and put in place after the last, so even a process killed
    among the renames leaves no marker, and no reader takes two writes' files
    for one.
    """

    def __init__(self, marker: str | os.PathLike | None = None):
        self.members: list = []
        self.marker = Path(marker) if marker is not None else None

    def write(self, path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
        """Write `path`'s new content to a temporary now (`write(tmp_path)`); it moves into place with the group.
        Returns the temporary's path."""
        temp = self.add(Temporary(path))
        with disk_errors(temp.path):
            write(temp.tmp)
        return temp.tmp

    def add(self, member):
        self.members.append(member)
        return member

    @property
    def paths(self) -> list[Path]:
        return [m.path for m in self.members]

    def abort(self) -> None:
        for m in self.members:
            m.abort()

    def __enter__(self) -> "FileGroup":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            for m in self.members:
                m.finish()
            for m in self.members:
                m.check()
        except BaseException:
            self.abort()
            raise
        last = sorted(self.members, key=lambda m: self.marker is not None and m.path == self.marker)
        with deferred_signals():
            try:
                if self.marker is not None:
                    with disk_errors(self.marker):
                        self.marker.unlink(missing_ok=True)
                for m in last:
                    m.commit()
            except BaseException:
                self.abort()
                raise


def remove_stale_temps(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Delete temporary files and folders of the library's own naming (TEMP_NAME) directly in `folder` that no
    live process holds (a writer holds its temporary until it is renamed); only those of `name` when given.

    For the start of a command that writes in `folder`: what such a name holds
    then, unheld, was left by a killed write. Other files are never touched.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not TEMP_NAME.match(entry.name) or (name is not None and not entry.name.startswith(f".{name}.")):
            continue
        path = Path(entry.path)
        try:  # held while deleted, so that no writer can take it meanwhile
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            fd = None  # gone, or a symbolic link of our naming: nothing holds it
        try:
            if fd is not None and not try_lock(fd):
                continue  # being written by a live process
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
        finally:
            if fd is not None:
                os.close(fd)
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
    previous = {
        sig: signal.signal(sig, lambda signum, frame: held.append(signum)) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: a handler set outside Python, which cannot be put back
                signal.signal(sig, handler)
        if held:
            signal.raise_signal(held[0])  # now, to the handler the caller had
