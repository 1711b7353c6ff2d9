"""One process at a time in a folder: refused with the holder's PID, free again when the holder dies however it dies."""

import os
import signal

import pytest
from process_helpers import finish, needs_proc, python, wait_ready

from digan.utils.lock import LOCK_NAME, FolderInUse, FolderLock, folder_entries

HOLD = """
import os, sys, time
from digan.utils.lock import FolderLock
FolderLock(sys.argv[1] if len(sys.argv) > 1 else {folder!r}, "digan test").acquire()
child = os.fork() if {fork} else None
if child == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1), os.dup2(null, 2)  # the test reads its parent's output to the end
    time.sleep(60)
    os._exit(0)
print("ready", child or os.getpid(), flush=True)
time.sleep(60)
"""


def hold(folder, fork=False):
    """Another process that holds `folder` (and, with `fork`, has a forked child that outlives it)."""
    process = python(HOLD.format(folder=str(folder), fork=fork))
    return process, int(wait_ready(process))


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path):
    process, pid = hold(tmp_path / "run")
    try:
        with pytest.raises(FolderInUse) as e:
            FolderLock(tmp_path / "run", "digan train").acquire()
        assert str(e.value) == (
            f"{tmp_path / 'run'}: in use by process {pid} (digan test); wait for it to finish "
            "or stop it (or choose another folder)"
        )
    finally:
        process.kill()
        finish(process)


def test_a_lock_left_by_a_killed_process_is_free_and_taken_over(tmp_path):
    process, pid = hold(tmp_path)
    os.kill(pid, signal.SIGKILL)
    finish(process)
    assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(pid)  # the file stays; the kernel dropped the lock
    assert folder_entries(tmp_path) == []  # and the folder still counts as empty
    with FolderLock(tmp_path, "digan train") as lock:
        assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\ndigan train\n"
        with pytest.raises(FolderInUse, match=f"process {os.getpid()} \\(digan train\\)"):
            FolderLock(tmp_path).acquire()  # not re-entrant: a second lock of the same process is refused too
        assert lock.fd is not None
    assert not (tmp_path / LOCK_NAME).exists()


@needs_proc
def test_a_forked_child_does_not_keep_its_parents_lock(tmp_path):
    """Workers forked while a folder is held (decoders, a pool) must not hold it once their parent is gone."""
    process = python(HOLD.format(folder=str(tmp_path), fork=True))
    child = int(wait_ready(process))
    try:
        process.kill()
        finish(process)
        assert os.path.exists(f"/proc/{child}")  # the child lives on ...
        FolderLock(tmp_path).acquire().release()  # ... and holds nothing
    finally:
        os.kill(child, signal.SIGKILL)


def test_a_folder_the_lock_made_goes_when_nothing_was_written_in_it(tmp_path):
    with FolderLock(tmp_path / "a" / "new"):  # `a` made for it too: both go
        assert (tmp_path / "a" / "new").is_dir()
    assert not (tmp_path / "a").exists()
    (tmp_path / "b").mkdir()
    with FolderLock(tmp_path / "b" / "new"):  # `b` was there before: it stays
        pass
    assert (tmp_path / "b").is_dir() and not (tmp_path / "b" / "new").exists()
    with FolderLock(tmp_path / "kept"):
        (tmp_path / "kept" / "snapshot.json").write_text("{}")
    assert os.listdir(tmp_path / "kept") == ["snapshot.json"]
    with pytest.raises(RuntimeError):
        with FolderLock(tmp_path / "refused"):
            raise RuntimeError("a command refused after taking its folder")
    assert not (tmp_path / "refused").exists()


def test_a_lock_file_that_is_a_link_or_a_folder_is_one_line_not_followed(tmp_path):
    from digan.utils.lock import LockError

    (tmp_path / "elsewhere").write_text("not a lock")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK_NAME).symlink_to(tmp_path / "elsewhere")
    (tmp_path / "store" / LOCK_NAME).mkdir(parents=True)
    for folder in ("run", "store"):
        with pytest.raises(
            LockError, match=f"^{tmp_path / folder}: cannot hold it: {LOCK_NAME} cannot be made or opened there \\("
        ):
            FolderLock(tmp_path / folder).acquire()
    assert (tmp_path / "elsewhere").read_text() == "not a lock"


def test_a_file_system_without_locks_still_takes_writes(tmp_path, monkeypatch):
    """Some network and FUSE mounts have no flock: writing there works as before, unguarded."""
    import errno

    import digan.utils.lock as lock
    from digan.utils.atomic import atomic_write

    def unsupported(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(lock.fcntl, "flock", unsupported)
    with FolderLock(tmp_path / "run"):
        atomic_write(tmp_path / "run" / "a.json", lambda p: p.write_text("{}"))
    assert os.listdir(tmp_path / "run") == ["a.json"]
