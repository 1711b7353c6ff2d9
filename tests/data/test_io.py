import io

import numpy as np
import pytest

from digan.data import DataError, list_videos, make_grid, natural_key, read_video, write_video
from digan.data.io import VideoWriter, read_frame


def moving_bar(t=8, h=24, w=32, seed=0):
    """A white bar moving right over a smooth background: distinct frames that survive lossy codecs."""
    rng = np.random.default_rng(seed)
    base = np.linspace(40, 200, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    base = base * rng.uniform(0.5, 1.0, 3)
    v = np.repeat(base[None], t, axis=0)
    for k in range(t):
        x = (2 * k) % w
        v[k, :, x : x + 4] = 255
    return v.astype(np.uint8)


def test_natural_key_orders_numbers_by_value():
    names = ["frame10.png", "frame2.png", "frame1.png", "Frame3.png", "frame002.png"]
    assert sorted(names, key=natural_key) == ["frame1.png", "frame002.png", "frame2.png", "Frame3.png", "frame10.png"]


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ""])
def test_write_read_round_trip(tmp_path, suffix):
    v = moving_bar()
    path = write_video(tmp_path / f"clip{suffix}", v, fps=8)
    back = read_video(path)
    assert back.dtype == np.uint8 and back.shape == v.shape
    err = np.abs(back.astype(int) - v).mean()
    assert err < {".mp4": 6, ".gif": 6, "": 0.01}[suffix]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_mp4_pads_odd_sizes_and_is_h264_yuv420p(tmp_path):
    import av

    path = write_video(tmp_path / "odd.mp4", moving_bar(h=23, w=31))
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
        assert (s.codec_context.width, s.codec_context.height) == (32, 24)


def test_read_max_frames(tmp_path):
    path = write_video(tmp_path / "v.mp4", moving_bar(t=12))
    assert read_video(path, max_frames=5).shape[0] == 5
    assert read_video(write_video(tmp_path / "f/", moving_bar(t=12)), max_frames=3).shape[0] == 3


def test_atomic_write_failure_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        write_video(tmp_path / "x.mp4", np.zeros((0, 8, 8, 3), np.uint8))
    bad = moving_bar().astype(np.float32)
    with pytest.raises(ValueError):
        write_video(tmp_path / "x.gif", bad)
    assert list(tmp_path.iterdir()) == []


def test_frame_folder_converts_gray_and_rgba(tmp_path):
    from PIL import Image

    d = tmp_path / "vid"
    d.mkdir()
    Image.fromarray(np.full((8, 8), 100, np.uint8), "L").save(d / "frame1.png")
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    Image.fromarray(rgba, "RGBA").save(d / "frame2.png")
    Image.fromarray(np.full((8, 8, 3), 50, np.uint8)).save(d / "frame10.jpg")
    v = read_video(d)
    assert v.shape == (3, 8, 8, 3)
    assert (v[0] == 100).all() and (v[1, ..., 0] == 200).all() and (v[1, ..., 1] == 0).all()
    assert abs(int(v[2].mean()) - 50) <= 2  # frame10 comes last


def test_list_videos_finds_files_and_frame_folders(tmp_path):
    write_video(tmp_path / "a" / "clip10.mp4", moving_bar())
    write_video(tmp_path / "a" / "clip2.gif", moving_bar())
    write_video(tmp_path / "frames" / "v1/", moving_bar(t=2))
    (tmp_path / "notes.txt").write_text("x")
    found = [p.relative_to(tmp_path).as_posix() for p in list_videos(tmp_path)]
    assert found == ["a/clip2.gif", "a/clip10.mp4", "frames/v1"]


@pytest.mark.parametrize("content", [b"", b"this is not a video at all" * 10])
def test_read_bad_files_raise_data_error(tmp_path, content):
    p = tmp_path / "bad.mp4"
    p.write_bytes(content)
    with pytest.raises(DataError, match="bad.mp4"):
        read_video(p)


def test_read_truncated_video_raises_or_keeps_head(tmp_path):
    p = write_video(tmp_path / "v.mp4", moving_bar(t=16))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    try:
        v = read_video(p)
    except DataError as e:
        assert "v.mp4" in str(e) and "\n" not in str(e)
    else:
        assert 1 <= len(v) <= 16


def test_read_differing_frame_sizes_is_a_data_error(tmp_path):
    from PIL import Image

    d = tmp_path / "v"
    d.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(d / "0.png")
    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(d / "1.png")
    with pytest.raises(DataError, match="frame 1"):
        read_video(d)


def test_make_grid_layout():
    vids = np.stack([np.full((2, 4, 5, 3), 10 * (k + 1), np.uint8) for k in range(5)])
    g = make_grid(vids, cols=3, pad=1)
    assert g.shape == (2, 2 * 4 + 3, 3 * 5 + 4, 3)
    assert (g[:, 1:5, 1:6] == 10).all() and (g[:, 6:10, 7:12] == 50).all()
    assert (g[:, 6:10, 13:18] == 0).all() and (g[:, 0] == 0).all()
    assert make_grid(vids).shape[1:3] == (2 * 4 + 3 * 2, 3 * 5 + 4 * 2)


def test_sixteen_bit_and_palette_frames(tmp_path):
    from PIL import Image

    d = tmp_path / "v"
    d.mkdir()
    Image.fromarray(np.full((6, 6), 65535 // 2, np.uint16)).save(d / "a0.png")
    Image.fromarray(np.full((6, 6, 3), 200, np.uint8)).convert("P", palette=Image.Palette.ADAPTIVE).save(d / "a1.png")
    v = read_video(d)
    assert v.shape == (2, 6, 6, 3) and abs(int(v[0, 0, 0, 0]) - 127) <= 1 and (v[1] == 200).all()


def test_writer_leaves_nothing_when_interrupted(tmp_path):
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "v.mp4", fps=8) as writer:
            writer.write(frames)
            raise RuntimeError("killed")
    with VideoWriter(tmp_path / "frames", fps=8) as writer:
        writer.write(frames)
        writer.write(frames[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
    assert len(list((tmp_path / "frames").iterdir())) == 4


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ""])
def test_streaming_in_chunks_writes_what_write_video_writes(tmp_path, suffix):
    v = moving_bar(t=10)
    whole = write_video(tmp_path / f"whole{suffix}", v, fps=12)
    with VideoWriter(tmp_path / f"chunks{suffix}", fps=12) as writer:
        for part in (v[:3], v[3:4], v[4:]):
            writer.write(part)
    if suffix:
        assert writer.path.read_bytes() == whole.read_bytes()  # the same encoder, settings and frames
    else:
        assert sorted(p.name for p in writer.path.iterdir()) == sorted(p.name for p in whole.iterdir())
        np.testing.assert_array_equal(read_video(writer.path), v)


def test_one_frame_reader_for_paths_and_file_objects(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((5, 7), 90, np.uint8), "L").save(tmp_path / "gray.png")
    data = (tmp_path / "gray.png").read_bytes()
    from_path, from_bytes = read_frame(tmp_path / "gray.png"), read_frame(io.BytesIO(data))
    assert from_path.shape == (5, 7, 3) and (from_path == 90).all()
    np.testing.assert_array_equal(from_bytes, from_path)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"^unreadable frame bad.png \("):
        read_frame(tmp_path / "bad.png")
    with pytest.raises(DataError, match=r"^unreadable frame 3.png \("):
        read_frame(io.BytesIO(b"not a png"), "3.png")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "0.png").write_bytes(b"x")
    with pytest.raises(DataError, match=r"folder: unreadable frame 0.png"):  # a frame folder names itself too
        read_video(tmp_path / "folder")


# ---------------------------------------------------------------- which files count (issue 24, item 6)


def two_videos(root):
    write_video(root / "a.mp4", moving_bar())
    write_video(root / "clips" / "b" / "", moving_bar(seed=1))  # a frame folder one level down
    return root


def relative(root, found):
    return [p.relative_to(root).as_posix() for p in found]


def test_a_symbolic_link_loop_adds_nothing(tmp_path):
    """A link back to the root is searched once: 2 videos stay 2 (os.walk's followlinks made them 82)."""
    root = two_videos(tmp_path / "set")
    (root / "loop").symlink_to(root, target_is_directory=True)
    assert relative(root, list_videos(root)) == ["a.mp4", "clips/b"]


def test_a_second_link_to_a_folder_adds_nothing_and_the_path_without_links_is_kept(tmp_path):
    root = two_videos(tmp_path / "set")
    (root / "again").symlink_to(root / "clips", target_is_directory=True)  # sorts before clips/
    assert relative(root, list_videos(root)) == ["a.mp4", "clips/b"]
    (root / "clips" / "up").symlink_to("..", target_is_directory=True)  # and a loop through it
    assert relative(root, list_videos(root)) == ["a.mp4", "clips/b"]


def test_a_second_link_to_a_video_counts_once_and_a_dangling_one_is_listed(tmp_path):
    root = two_videos(tmp_path / "set")
    (root / "z-link.mp4").symlink_to(root / "a.mp4")
    (root / "gone.mp4").symlink_to(tmp_path / "missing.mp4")  # listed, so that reading it says what is wrong
    assert relative(root, list_videos(root)) == ["a.mp4", "clips/b", "gone.mp4"]


def test_sub_folders_are_searched_only_when_asked(tmp_path):
    root = two_videos(tmp_path / "set")
    write_video(root / "c" / "", moving_bar(seed=2))  # a frame folder directly inside: one video
    assert relative(root, list_videos(root, recursive=False)) == ["a.mp4", "c"]
    assert relative(root, list_videos(root, recursive=True)) == ["a.mp4", "c", "clips/b"]


def test_a_deep_tree_is_searched_without_recursion(tmp_path):
    import sys

    deep = tmp_path / "set" / "/".join(["d"] * 300)
    deep.mkdir(parents=True)
    write_video(deep / "v.gif", moving_bar(t=2))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(250)  # a tree deeper than the limit: os.walk recursed once per level
    try:
        found = list_videos(tmp_path / "set")
    finally:
        sys.setrecursionlimit(limit)
    assert len(found) == 1


def test_a_fifo_named_like_a_video_is_not_a_video(tmp_path):
    """Opening it to read blocks until a writer comes: `prepare` and `train` hung on one for ever."""
    import os

    root = two_videos(tmp_path / "set")
    os.mkfifo(root / "seed0009.mp4")
    assert relative(root, list_videos(root)) == ["a.mp4", "clips/b"]
