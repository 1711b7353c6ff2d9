"""Atomic writes: the umask applies, temporary names are the library's own, stale ones go, renames go together."""

import errno
import os
import re
import signal
import stat
from pathlib import Path

import numpy as np
import pytest

from digan.data.io import VideoSet, write_video
from digan.utils.atomic import (
    TEMP_NAME,
    atomic_folder,
    atomic_save_array,
    atomic_write,
    deferred_signals,
    output_folder,
    remove_stale_temps,
    temp_path,
)


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
    theirs = [
        "notes.tmp",
        ".hidden",
        "training-state.pt",
        ".x.tmp",
        ".a.toolongtag1.tmp",
        "b.abcd1234.tmp",
        ".seed0000.abcd1234.tmp.mp4",
        ".snapshot.json.k3_9zq1x.tmp",
    ]
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


# ---------------------------------------------------------------- one rule for every output path


def special_files(tmp_path):
    """A symbolic link to a file (and its target), a dangling link, a FIFO and a socket, in `tmp_path`."""
    import socket

    (tmp_path / "target").write_bytes(b"the target's own bytes")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "socket"))
    sock.close()
    return {
        "link": "a symbolic link",
        "dangling": "a symbolic link",
        "fifo": "a FIFO (named pipe)",
        "socket": "a socket",
    }


def kinds(tmp_path):
    return {p.name: stat.S_IFMT(os.lstat(p).st_mode) for p in tmp_path.iterdir()}


def test_the_output_rule_names_what_is_in_the_way(tmp_path):
    from digan.utils.atomic import OutputError, check_output

    for name, kind in special_files(tmp_path).items():
        with pytest.raises(OutputError, match=f"^{tmp_path / name}: is {re.escape(kind)}, not a regular file: "):
            check_output(tmp_path / name)
    with pytest.raises(OutputError, match="^/dev/null: is a character device, not a regular file"):
        check_output("/dev/null")  # only looked at: a test must never write to a device
    (tmp_path / "folder").mkdir()
    with pytest.raises(OutputError, match="is a folder, not a regular file"):
        check_output(tmp_path / "folder")
    with pytest.raises(OutputError, match="is a regular file, not a folder"):
        check_output(tmp_path / "target", folder=True)
    with pytest.raises(OutputError, match="is a symbolic link, not a folder"):
        (tmp_path / "folder-link").symlink_to(tmp_path / "folder")
        check_output(tmp_path / "folder-link", folder=True)
    assert check_output(tmp_path / "target") == tmp_path / "target"
    assert check_output(tmp_path / "new") == tmp_path / "new" and check_output(tmp_path / "folder", folder=True)


def test_no_writer_replaces_a_link_a_fifo_or_a_socket(tmp_path):
    """Today's writers turned each of these into a regular file (and left a link's target with its old bytes)."""
    from digan.checkpoint import save_state
    from digan.data.io import VideoWriter

    names = special_files(tmp_path)
    before = kinds(tmp_path)
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    for name in names:
        for write in (
            lambda p: atomic_write(p, lambda tmp: tmp.write_text("new")),
            lambda p: save_state(p, {"step": 1}),
            lambda p: atomic_save_array(p, np.zeros(3)),
            lambda p: write_video(p, frames),
        ):
            with pytest.raises(OSError, match=f"^{tmp_path / name}: is "):  # digan.utils.atomic.OutputError
                write(tmp_path / name)
        for suffix in (".mp4", ".gif"):  # a video's own path in the way
            (tmp_path / f"v{suffix}").symlink_to(tmp_path / "target")
            with pytest.raises(OSError, match="is a symbolic link"):
                VideoWriter(tmp_path / f"v{suffix}")
            (tmp_path / f"v{suffix}").unlink()
    assert kinds(tmp_path) == before
    assert (tmp_path / "target").read_bytes() == b"the target's own bytes"
    assert not [p for p in tmp_path.iterdir() if TEMP_NAME.match(p.name)]


def test_a_frame_folder_replaces_only_a_folder(tmp_path):
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "mine.txt").write_text("keep")
    (tmp_path / "frames").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "file").write_text("a file, not a folder")
    for name in ("frames", "file"):
        with pytest.raises(OSError, match="not a folder"):
            write_video(tmp_path / name, frames)  # no suffix: a PNG frame folder
    assert (tmp_path / "frames").is_symlink() and os.listdir(tmp_path / "elsewhere") == ["mine.txt"]
    assert (tmp_path / "file").read_text() == "a file, not a folder"
    write_video(tmp_path / "real", frames)
    write_video(tmp_path / "real", frames[:1])  # a real folder is replaced whole
    assert os.listdir(tmp_path / "real") == ["frame00000.png"]


def test_appending_refuses_a_fifo_instead_of_blocking(tmp_path):
    from digan.utils.atomic import OutputError, appending

    os.mkfifo(tmp_path / "log.jsonl")
    with pytest.raises(OutputError, match="is a FIFO"):
        with appending(tmp_path / "log.jsonl") as f:
            f.write("{}\n")
    with appending(tmp_path / "new.jsonl") as f:
        f.write("{}\n")
    assert (tmp_path / "new.jsonl").read_text() == "{}\n"


# ---------------------------------------------------------------- a full disk


def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_line_naming_the_file_and_leaves_no_temporary(tmp_path):
    (tmp_path / "state.pt").write_bytes(b"the last good state")
    with pytest.raises(OSError) as e:  # digan.utils.atomic.OutputError
        atomic_write(tmp_path / "state.pt", full_disk)
    assert str(e.value) == f"{tmp_path / 'state.pt'}: cannot write (no space left on device)"
    assert e.value.errno == errno.ENOSPC
    assert os.listdir(tmp_path) == ["state.pt"] and (tmp_path / "state.pt").read_bytes() == b"the last good state"


def test_writers_that_hide_the_reason_are_told_by_the_free_space_left(tmp_path, monkeypatch):
    """torch.save says 'unexpected pos', np.save 'N requested and M written': a full file system says why."""
    import digan.utils.atomic as atomic
    from digan.checkpoint import save_state

    def torch_save_on_a_full_disk(obj, f):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")

    monkeypatch.setattr("torch.save", torch_save_on_a_full_disk)
    with pytest.raises(RuntimeError, match="unexpected pos"):  # a disk with room: the error is not the disk's
        save_state(tmp_path / "training-state.pt", {"step": 1})
    real = os.statvfs(tmp_path)
    monkeypatch.setattr(
        atomic.os,
        "statvfs",
        lambda path: os.statvfs_result(
            (real.f_bsize, real.f_frsize, real.f_blocks, 0, 0, real.f_files, real.f_ffree, real.f_favail, 0, 255)
        ),
    )
    with pytest.raises(OSError, match="training-state.pt: cannot write \\(no space left on device\\)$"):
        save_state(tmp_path / "training-state.pt", {"step": 1})
    assert os.listdir(tmp_path) == []


def test_a_video_that_fills_the_disk_leaves_no_temporary(tmp_path, monkeypatch):
    from digan.data.io import VideoWriter

    frames = np.zeros((2, 8, 8, 3), np.uint8)
    monkeypatch.setattr(VideoWriter, "_encode_gif", full_disk)  # the GIF is encoded at the end, in `close`
    for name in ("v.gif", "frames"):
        if name == "frames":
            monkeypatch.setattr("PIL.Image.Image.save", full_disk)
        with pytest.raises(OSError, match=f"{name}: cannot write \\(no space left on device\\)"):
            write_video(tmp_path / name, frames)
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- files that change together


def test_a_group_killed_among_its_renames_leaves_no_marker_beside_other_files(tmp_path, monkeypatch):
    """The marker (a JSON that vouches for its weights) goes first and comes back last."""
    from digan.utils.atomic import FileGroup

    def write_pair(text):
        with FileGroup(marker=tmp_path / "fit.json") as files:
            files.write(tmp_path / "fit.safetensors", lambda p: p.write_text(text))
            files.write(tmp_path / "fit.json", lambda p: p.write_text(text))

    write_pair("old")
    replace = os.replace

    def killed_after_the_first_rename(src, dst):
        replace(src, dst)
        raise SystemExit("killed")  # as far as the files on disk go, a kill here is the same

    monkeypatch.setattr(os, "replace", killed_after_the_first_rename)
    with pytest.raises(SystemExit):
        write_pair("new")
    monkeypatch.setattr(os, "replace", replace)
    assert (tmp_path / "fit.safetensors").read_text() == "new" and not (tmp_path / "fit.json").exists()
    write_pair("newer")
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {"fit.json": "newer", "fit.safetensors": "newer"}


def test_a_group_with_one_path_in_the_way_changes_nothing(tmp_path):
    from digan.utils.atomic import FileGroup, OutputError

    (tmp_path / "a.json").write_text("old")
    (tmp_path / "b.json").write_text("old")
    with pytest.raises(OutputError, match="b.json: is a symbolic link"):
        with FileGroup() as files:
            files.write(tmp_path / "a.json", lambda p: p.write_text("new"))
            files.write(tmp_path / "b.json", lambda p: p.write_text("new"))
            (tmp_path / "b.json").unlink()
            (tmp_path / "b.json").symlink_to(tmp_path / "c.json")  # appears while the group is written
    assert (tmp_path / "a.json").read_text() == "old" and not (tmp_path / "c.json").exists()
    assert not [p for p in tmp_path.iterdir() if TEMP_NAME.match(p.name)]


# ---------------------------------------------------------------- stale temporaries: only what no live process holds

WRITER = """
import sys, time
from digan.utils.atomic import atomic_write
def write(tmp):
    tmp.write_bytes(b"partial")
    print("ready", tmp, flush=True)
    time.sleep(60)
atomic_write(sys.argv[1], write)
"""


def test_a_clean_up_removes_only_temporaries_that_no_live_process_holds(tmp_path):
    """Today the second `digan train`'s start-up clean-up deleted the first one's live temporary."""
    import subprocess
    import sys

    from process_helpers import finish, wait_ready

    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "training-state.pt")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        live = Path(wait_ready(process))
        dead = temp_path(tmp_path / "snapshot.json")
        dead.write_bytes(b"left by a killed write")
        assert remove_stale_temps(tmp_path) == [dead]
        assert live.read_bytes() == b"partial"
    finally:
        process.kill()
        finish(process)
    assert remove_stale_temps(tmp_path) == [live]  # its writer is gone now
    assert os.listdir(tmp_path) == []


def test_a_folder_written_whole_first_removes_what_a_killed_write_of_it_left(tmp_path):
    """A `convert --force` killed with SIGKILL left its temporary folder (the converted weights) beside `out`."""
    left = temp_path(tmp_path / "run")
    left.mkdir()
    (left / "init.safetensors").write_bytes(b"weights of a killed convert")
    other = temp_path(tmp_path / "elsewhere")  # another output's temporary: not this write's to judge
    other.mkdir()
    atomic_folder(tmp_path / "run", lambda folder: (folder / "snapshot.json").write_text("{}"))
    assert sorted(os.listdir(tmp_path)) == sorted(["run", other.name])
    assert os.listdir(tmp_path / "run") == ["snapshot.json"]


def test_an_output_folder_of_a_failed_job_is_removed_with_the_parents_it_made(tmp_path):
    (tmp_path / "kept").mkdir()
    with pytest.raises(KeyboardInterrupt), output_folder(tmp_path / "a" / "b" / "out") as out:
        assert out.is_dir()
        raise KeyboardInterrupt  # refused or stopped before anything was written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]
    with pytest.raises(ValueError), output_folder(tmp_path / "kept" / "out") as out:
        (out / "result.json").write_text("{}")  # something written: kept, and so is the folder that was there
        raise ValueError
    assert (tmp_path / "kept" / "out" / "result.json").exists()
    with output_folder(tmp_path / "ok") as out:  # a job that ends well keeps its folder, empty or not
        pass
    assert out.is_dir()
