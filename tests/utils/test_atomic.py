"""Atomic writes: the umask applies, temporary names are the library's own, stale ones go, renames go together."""

import os
import signal
import stat

import numpy as np
import pytest

from digan.utils.atomic import TEMP_NAME, atomic_write, deferred_signals, remove_stale_temps, temp_path
from digan.data.io import VideoSet, write_video


@pytest.fixture()
def umask():
    """Set the process umask for one test, and restore it."""
    saved = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_every_written_file_gets_the_users_umask(tmp_path, umask, mask, tiny_G, tiny_preset):
    from digan.checkpoint import save_snapshot, save_state
    from digan.data.store import _write_json

    umask(mask)
    expected = 0o666 & ~mask
    atomic_write(tmp_path / "text", lambda p: p.write_text("x"))
    save_snapshot(tmp_path, tiny_G, tiny_preset, 16)
    save_state(tmp_path / "training-state.pt", {"step": 1})
    _write_json(tmp_path / "shard.json", {"a": 1})
    write_video(tmp_path / "a.gif", np.zeros((2, 8, 8, 3), np.uint8))
    write_video(tmp_path / "a.mp4", np.zeros((2, 8, 8, 3), np.uint8))
    for path in tmp_path.iterdir():
        assert mode(path) == expected, (path.name, oct(mode(path)), oct(expected))


def test_atomic_write_replaces_a_file_written_with_other_permissions(tmp_path, umask):
    umask(0o022)

    def write(p):  # a writer that deletes and recreates its file, as some libraries do
        p.unlink()
        p.write_text("new")
        os.chmod(p, 0o600)

    atomic_write(tmp_path / "f", write)
    assert (tmp_path / "f").read_text() == "new" and mode(tmp_path / "f") == 0o644


def test_stale_temporaries_of_our_own_naming_are_removed_and_nothing_else(tmp_path):
    ours = [temp_path(tmp_path / "training-state.pt"), temp_path(tmp_path / "samples-0000000016.mp4")]
    for p in ours:
        p.write_bytes(b"partial")
    folder = temp_path(tmp_path / "seed0001")  # a PNG frame folder being written
    folder.mkdir()
    (folder / "frame00000.png").write_bytes(b"png")
    # the last two: the names of 0.1.0's temporary files and of files that are not ours (not removed)
    theirs = ["notes.tmp", ".hidden", "training-state.pt", ".x.tmp", ".a.toolongtag1.tmp", "b.abcd1234.tmp",
              ".seed0000.abcd1234.tmp.mp4", ".snapshot.json.k3_9zq1x.tmp"]
    for name in theirs:
        (tmp_path / name).write_bytes(b"keep")
    assert all(TEMP_NAME.match(p.name) for p in ours + [folder])
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == sorted(p.name for p in ours + [folder])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(theirs)


@pytest.fixture()
def default_ctrl_c():
    """Ctrl-C raises KeyboardInterrupt during the test, whatever handler earlier code left installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_signals_wait_until_the_renames_are_done(default_ctrl_c):
    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("renamed")  # still runs: the signal is held back until the block ends
    assert done == ["renamed"]


def test_signals_are_held_with_other_threads_running(default_ctrl_c):
    """A process-directed signal may land on any thread; it is still held until the block ends."""
    import threading

    stop = threading.Event()
    workers = [threading.Thread(target=stop.wait) for _ in range(4)]
    for w in workers:
        w.start()
    done = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with deferred_signals():
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(10_000):  # many bytecode boundaries at which a pending handler would run
                    pass
                done.append("renamed")
    finally:
        stop.set()
        for w in workers:
            w.join()
    assert done == ["renamed"]


def test_a_video_set_changes_all_its_files_or_none(tmp_path, monkeypatch):
    from digan.data.io import VideoWriter, read_video

    old = np.zeros((2, 8, 8, 3), np.uint8)
    with VideoSet() as files:
        for name in ("v.mp4", "v.gif", "v"):
            files.open(tmp_path / name).write(old)
    before = {p.name: read_video(p) for p in tmp_path.iterdir()}

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(VideoWriter, "_encode_gif", interrupted)  # Ctrl-C while the GIF is encoded, last of all
    with pytest.raises(KeyboardInterrupt):
        with VideoSet() as files:
            for name in ("v.mp4", "v.gif", "v"):
                files.open(tmp_path / name).write(np.full((3, 8, 8, 3), 200, np.uint8))
    after = {p.name: read_video(p) for p in tmp_path.iterdir()}
    assert before.keys() == after.keys() == {"v.mp4", "v.gif", "v"}
    assert all(np.array_equal(before[k], after[k]) for k in before)
