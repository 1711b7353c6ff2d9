import json
import os
import signal

import numpy as np
import pytest
from cli_helpers import cli_error
from data_helpers import clip, frame_folder, write_avi
from process_helpers import alive, children, digan, finish, kill_all, needs_proc, temporaries, wait_until

from digan.cli.main import main
from digan.data import ClipSpec, DataError, PairBatches, open_dataset
from digan.data import store as store_mod
from digan.data.store import prepare


def same_videos(a, b):
    assert [a.video_name(i) for i in range(len(a))] == [b.video_name(i) for i in range(len(b))]
    for i in range(len(a)):
        ids = list(range(a.num_frames(i)))
        assert b.num_frames(i) == len(ids)
        np.testing.assert_array_equal(a.read(i, ids), b.read(i, ids))


@pytest.mark.parametrize("layout", ["video_folder", "frames_root", "ucf_root"])
def test_store_and_raw_folder_give_the_same_clips(layout, request, tmp_path):
    src = request.getfixturevalue(layout)
    stored = prepare(src, tmp_path / "store", 16, progress=False)
    raw = open_dataset(src, 16)
    same_videos(raw, open_dataset(tmp_path / "store", 16))
    spec = ClipSpec(frames=8, stride=1)
    for i in (0, 5):
        x, dt = PairBatches(raw, spec, batch=6, seed=2)[i]
        y, dt2 = PairBatches(stored, spec, batch=6, seed=2)[i]
        assert (x == y).all() and (dt == dt2).all()


def test_store_resolution_must_match(video_folder, tmp_path):
    prepare(video_folder, tmp_path / "s", 16, progress=False)
    with pytest.raises(DataError, match="prepared at 16x16, not 32x32"):
        open_dataset(tmp_path / "s", 32)
    with pytest.raises(DataError, match="other settings"):
        prepare(video_folder, tmp_path / "s", 32, progress=False)


def test_prepare_resumes_after_an_interruption(frames_root, tmp_path, monkeypatch):
    for k in range(4):
        frame_folder(frames_root / "more" / f"m{k}", clip(9, seed=10 + k))
    dest = tmp_path / "store"
    real = store_mod._prepare_shard
    calls = []

    def dies_on_third(dest_, k, *a):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(k)
        return real(dest_, k, *a)

    monkeypatch.setattr(store_mod, "_prepare_shard", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        prepare(frames_root, dest, 12, progress=False)
    assert not (dest / "index.json").exists()
    with pytest.raises(DataError, match="unfinished store"):
        open_dataset(dest, 12)
    done = list(calls)
    calls.clear()
    monkeypatch.setattr(store_mod, "_prepare_shard", lambda *a: calls.append(a[1]) or real(*a))
    resumed = prepare(frames_root, dest, 12, progress=False)
    assert sorted(calls) == [k for k in range(6) if k not in done]  # finished shards are kept
    same_videos(open_dataset(frames_root, 12), resumed)
    assert not list(dest.glob(".*"))  # no temporary files left


def test_prepare_skips_bad_videos_and_records_them(tmp_path, capsys):
    src = tmp_path / "src"
    write_avi(src / "ok.avi", clip(10))
    (src / "zero.mp4").write_bytes(b"")
    (src / "junk.webm").write_bytes(b"\x00\x01junk" * 100)
    s = prepare(src, tmp_path / "dest", 8, progress=False)
    assert len(s) == 1 and s.video_name(0) == "ok.avi"
    index = json.loads((tmp_path / "dest" / "index.json").read_text())
    assert sorted(x["name"] for x in index["skipped"]) == ["junk.webm", "zero.mp4"]
    err = capsys.readouterr().err
    assert "skipping zero.mp4: empty file" in err and "1 videos used, 2 skipped" in err


def test_prepare_fps_matches_raw_fps(tmp_path):
    write_avi(tmp_path / "v" / "a.avi", clip(20), fps=20)
    s = prepare(tmp_path / "v", tmp_path / "s", 8, fps=8, progress=False)
    assert s.num_frames(0) == 8
    same_videos(open_dataset(tmp_path / "v", 8, fps=8), s)


def cli(*argv):
    return main(list(argv))


def test_cli_prepare_with_workers(video_folder, tmp_path, capsys):
    assert cli("prepare", str(video_folder), str(tmp_path / "s"), "--size", "16", "--workers", "2", "--quiet") == 0
    assert "3 videos, 31 frames at 16x16" in capsys.readouterr().out
    same_videos(open_dataset(video_folder, 16), open_dataset(tmp_path / "s", 16))
    assert cli("prepare", str(video_folder), str(tmp_path / "s"), "--size", "16", "--quiet") == 0  # done already


def test_cli_prepare_errors_are_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("prepare", str(empty), str(tmp_path / "s"), "--size", "16") == 2
    assert cli("prepare", str(tmp_path / "nothing"), str(tmp_path / "s"), "--size", "16") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("digan: error: ") for line in err)
    assert not (tmp_path / "s" / "index.json").exists()


def test_truncated_video_keeps_its_readable_frames(tmp_path, capsys):
    data = write_avi(tmp_path / "full.avi", clip(30, h=64, w=64)).read_bytes()
    src = tmp_path / "src"
    src.mkdir()
    (src / "cut.avi").write_bytes(data[: int(len(data) * 0.9)])  # the last frames are cut off
    raw = open_dataset(src, 8)
    stored = prepare(src, tmp_path / "dest", 8, progress=False)
    full = open_dataset(tmp_path / "full.avi", 8)
    n = stored.num_frames(0)
    assert 1 <= n < 30 and raw.num_frames(0) >= n
    np.testing.assert_array_equal(stored.read(0, range(n)), full.read(0, range(n)))
    np.testing.assert_array_equal(raw.read(0, range(n)), stored.read(0, range(n)))
    assert "cut.avi: only" in capsys.readouterr().err


def test_sources_survive_pickling_for_loader_workers(video_folder, tmp_path):
    import pickle

    stored = prepare(video_folder, tmp_path / "s", 16, progress=False)
    raw = open_dataset(video_folder, 16)
    stored.read(0, [0]), raw.read(0, [0])  # open maps and fill caches before pickling
    for source in (stored, raw, open_dataset(tmp_path / "s", 16, frames_per_video=4)):
        copy = pickle.loads(pickle.dumps(source))
        np.testing.assert_array_equal(copy.read(1, [0, 3]), source.read(1, [0, 3]))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fps", "-1"], "argument --fps: must be positive"),
        (["--fps", "nan"], "argument --fps: must be a finite number"),
        (["--size", "2"], "argument --size: must be at least 4"),
        (["--workers", "0"], "argument --workers/-j: must be positive"),
    ],
)
def test_prepare_checks_options_before_touching_the_destination(video_folder, tmp_path, capsys, args, message):
    from cli_helpers import cli_error

    base = ["--size", "16"] if "--size" not in args else []
    assert message in cli_error(capsys, "prepare", video_folder, tmp_path / "s", *base, *args)
    assert not (tmp_path / "s").exists()
    with pytest.raises(DataError, match="fps must be a positive number"):
        prepare(video_folder, tmp_path / "s", 16, fps=float("nan"), progress=False)
    assert not (tmp_path / "s").exists()


def test_a_prepare_that_writes_no_store_leaves_nothing_to_block_the_next(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "broken.mp4").write_bytes(b"not a video at all")
    assert cli("prepare", str(src), str(tmp_path / "s"), "--size", "16", "--quiet") == 2
    assert "no store written" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "s").exists()
    write_avi(src / "good.avi", clip(6, h=16, w=16))
    assert cli("prepare", str(src), str(tmp_path / "s"), "--size", "16", "--fps", "4", "--quiet") == 0


# ---------------------------------------------------------------- one prepare per store, workers that end with it


def many_videos(root, n=16):
    for k in range(n):
        frame_folder(root / f"v{k:02d}", clip(4, h=8, w=8, seed=k))
    return root


@needs_proc
def test_a_second_prepare_is_refused_and_sigterm_stops_the_first_and_its_workers(tmp_path, capsys):
    """SIGTERM: one line, exit 143, no worker left, no temporary; the same command then finishes the store."""
    src, dest = many_videos(tmp_path / "src"), tmp_path / "store"
    first = digan(
        "prepare", src, dest, "--size", 8, "--workers", 2, "--quiet", slow="digan.data.store:stream_video", slow_s=0.5
    )
    workers = []
    try:
        wait_until(lambda: len(children(first.pid)) >= 2, what="two workers")
        workers = children(first.pid)
        assert f"in use by process {first.pid} (digan prepare)" in cli_error(
            capsys, "prepare", src, dest, "--size", 8, "--quiet"
        )
        first.send_signal(signal.SIGTERM)
        code, _, err = finish(first)
        assert code == 143, err
        wait_until(lambda: not any(alive(pid) for pid in workers), timeout=10, what="the workers to end")
    finally:
        first.kill()
        kill_all(workers)
    assert err.strip().splitlines()[-1] == f"terminated: run the same command again to resume into {dest}"
    assert temporaries(dest) == [] and not (dest / "index.json").exists()
    store = prepare(src, dest, 8, progress=False)
    assert len(store) == 16 and temporaries(dest) == []


@needs_proc
def test_workers_end_when_prepare_is_killed_and_the_store_resumes(tmp_path):
    """SIGKILL cannot be handled: the workers notice their parent's end themselves (they blocked forever)."""
    src, dest = many_videos(tmp_path / "src"), tmp_path / "store"
    first = digan(
        "prepare", src, dest, "--size", 8, "--workers", 2, "--quiet", slow="digan.data.store:stream_video", slow_s=0.5
    )
    workers = []
    try:
        wait_until(lambda: len(children(first.pid)) >= 2, what="two workers")
        workers = children(first.pid)
        first.kill()
        finish(first)
        wait_until(lambda: not any(alive(pid) for pid in workers), timeout=10, what="the orphaned workers to end")
    finally:
        kill_all(workers)
    store = prepare(src, dest, 8, progress=False)  # the lock file the kill left locks nothing
    assert len(store) == 16 and temporaries(dest) == [] and not (dest / ".digan.lock").exists()


def test_a_shard_rewritten_never_keeps_the_old_json_beside_the_new_frames(video_folder, tmp_path, monkeypatch):
    from digan.data.base import Report
    from digan.data.folders import find_entries

    dest = tmp_path / "store"
    prepare(video_folder, dest, 8, progress=False)
    entries, _ = find_entries(video_folder, "train+test", 1, Report("videos"))
    replace = os.replace

    def killed_after_the_frames(src, dst):
        replace(src, dst)
        raise SystemExit("killed")

    monkeypatch.setattr(os, "replace", killed_after_the_frames)
    with pytest.raises(SystemExit):
        store_mod._prepare_shard(str(dest), 0, entries[:1], 8, None)  # other inputs than shard 0 had
    monkeypatch.setattr(os, "replace", replace)
    assert (dest / "shard-00000.bin").exists() and not (dest / "shard-00000.json").exists()
    assert store_mod._shard_done(dest, 0, entries[:1], 8) is None  # redone by the next prepare


def test_a_finished_store_is_read_without_its_lock(video_folder, tmp_path, capsys):
    """`prepare` again on a finished store only reads it: no lock needed (another prepare may hold it, or the
    store may sit on read-only media)."""
    from digan.utils.lock import FolderLock

    dest = tmp_path / "store"
    prepare(video_folder, dest, 8, progress=False)
    with FolderLock(dest, "digan prepare"):
        assert len(prepare(video_folder, dest, 8, progress=False)) == 3
    assert "already prepared" in capsys.readouterr().err


def test_a_killed_worker_is_one_line_and_the_store_resumes(tmp_path, monkeypatch, capsys):
    src, dest = many_videos(tmp_path / "src", 4), tmp_path / "store"

    def killed(*args):
        os._exit(9)  # as the kernel's OOM killer would end it

    monkeypatch.setattr(store_mod, "probe", killed)  # called in the worker (fork keeps the patch)
    line = cli_error(capsys, "prepare", src, dest, "--size", 8, "--workers", 2, "--quiet")
    assert line == (
        f"digan: error: {dest}: a decoding worker was killed (out of memory?); run the same command "
        "again to resume, with fewer --workers"
    )
    monkeypatch.undo()
    assert len(prepare(src, dest, 8, progress=False)) == 4


# ---------------------------------------------------------------- issue 24, item 4: what prepare holds


def test_prepare_size_is_checked_against_memory_before_the_destination(video_folder, tmp_path, capsys):
    """--size 100000 made every worker resize frames of 30 GB; now one line says what fits, nothing is written."""
    from cli_helpers import cli_error

    line = cli_error(capsys, "prepare", video_folder, tmp_path / "s", "--size", "100000")
    assert "preparing 100000x100000 frames would hold about" in line and "frames of at most" in line
    assert "fit (--size)" in line and not (tmp_path / "s").exists()


def test_prepare_workers_are_capped_at_the_cores_and_said_so(video_folder, tmp_path, capsys, monkeypatch):
    import digan.data.store as store
    from digan.utils import runtime

    monkeypatch.setattr(runtime, "available_cores", lambda: 2)
    pools = []
    real = store.ProcessPoolExecutor

    def recorded(workers, **kwargs):
        pools.append(workers)
        return real(workers, **kwargs)

    monkeypatch.setattr(store, "ProcessPoolExecutor", recorded)
    assert cli("prepare", str(video_folder), str(tmp_path / "s"), "--size", "16", "--workers", "100000", "--quiet") == 0
    assert pools == [2]  # 3 shards to do, 2 cores: not min(100000, 3)
    assert "prepare: 100000 workers asked for, but this process may use 2 cores: using 2" in capsys.readouterr().err
    same_videos(open_dataset(video_folder, 16), open_dataset(tmp_path / "s", 16))


def test_prepare_workers_are_capped_by_free_memory(video_folder, tmp_path, capsys, monkeypatch):
    from digan.utils import memory, runtime

    monkeypatch.setattr(runtime, "available_cores", lambda: 64)
    monkeypatch.setattr(runtime, "available", lambda device="cpu": 2 * memory.WORKER_BYTES + 2**20)
    prepare(video_folder, tmp_path / "s", 16, workers=16, progress=False)
    err = capsys.readouterr().err
    assert "16 workers asked for, but free memory" in err and "holds about 2 at 256.0 MB each: using 2" in err


def test_stream_video_gives_decode_video_s_frames_one_at_a_time(video_folder, frames_root):
    """What prepare writes (one frame held at a time) is what a raw folder reads, repeated frames included."""
    from digan.data.base import Report
    from digan.data.folders import decode_video, find_entries, stream_video

    for root in (video_folder, frames_root):
        for entry in find_entries(root, "train+test", 1, Report("x"))[0]:
            ids = np.array([0, 0, 1, 3, 3, 3, 5])  # an fps above the source's repeats frames
            frames = list(stream_video(entry, 16, ids))
            assert len(frames) == len(ids) and all(f.shape == (16, 16, 3) for f in frames)
            np.testing.assert_array_equal(np.stack(frames), decode_video(entry, 16, ids))


@pytest.mark.parametrize("command", ["prepare", "open"])
def test_a_frame_rate_that_would_explode_the_resampling_is_refused(video_folder, tmp_path, command):
    """--fps 1e300 asked resample_ids for 10^300 frames of each video."""
    with pytest.raises(DataError, match="at most 10000, got 1e"):
        if command == "prepare":
            prepare(video_folder, tmp_path / "s", 16, fps=1e300, progress=False)
        else:
            open_dataset(video_folder, 16, fps=1e300)
    assert not (tmp_path / "s").exists()


def test_a_crafted_store_index_is_one_line(video_folder, tmp_path):
    from json_mutations import DEEP

    prepare(video_folder, tmp_path / "s", 16, progress=False)
    (tmp_path / "s" / "index.json").write_text(DEEP)
    with pytest.raises(DataError, match=r"index.json: unreadable \(nested too deeply\)"):
        open_dataset(tmp_path / "s", 16)
