import numpy as np
import pytest
from data_helpers import clip, frame_folder, write_avi, zip_dir

from digan.data import ClipSpec, DataError, PairBatches, open_dataset
from digan.data.folders import resample_ids, resize_crop


def names(source):
    return [source.video_name(i) for i in range(len(source))]


def test_folder_of_video_files(video_folder, capsys):
    s = open_dataset(video_folder, 16)
    assert names(s) == ["a/v1.mp4", "a/v10.avi", "b/v2.gif"]
    assert [s.num_frames(i) for i in range(3)] == [12, 10, 9]
    f = s.read(1, [0, 9, 3])
    assert f.shape == (3, 16, 16, 3) and f.dtype == np.uint8
    assert "3 videos used, 0 skipped" in capsys.readouterr().err


def test_frame_folders_natural_order(frames_root):
    s = open_dataset(frames_root, 20)
    assert names(s) == ["train/vid2", "train/vid10"]
    assert s.num_frames(0) == 11
    # frame10 must come after frame9, not after frame1: the bar moves right 3 px a frame.
    expected = np.stack([resize_crop(f, 20) for f in clip(11, seed=4)])
    np.testing.assert_array_equal(s.read(0, range(11)), expected)


@pytest.mark.parametrize("layout", ["videos", "frames"])
def test_zip_gives_the_same_frames(layout, video_folder, frames_root, tmp_path):
    root = video_folder if layout == "videos" else frames_root
    z = zip_dir(root, tmp_path / f"{layout}.zip")
    a, b = open_dataset(root, 16), open_dataset(z, 16)
    assert names(a) == names(b) and len(a) >= 2
    for i in range(len(a)):
        ids = list(range(a.num_frames(i)))
        np.testing.assert_array_equal(a.read(i, ids), b.read(i, ids))


@pytest.mark.parametrize(
    "split, expected",
    [
        ("train", ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "HandstandPushups/v_HandstandPushups_g09_c02.avi"]),
        ("test", ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "HandstandPushups/v_HandstandPushups_g01_c01.avi"]),
        (
            "train+test",
            [
                "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
                "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
                "HandstandPushups/v_HandstandPushups_g01_c01.avi",
                "HandstandPushups/v_HandstandPushups_g09_c02.avi",
            ],
        ),
    ],
)
def test_ucf101_splits(ucf_root, split, expected, capsys):
    s = open_dataset(ucf_root, 8, split=split)
    assert s.name == "ucf101" and names(s) == expected
    err = capsys.readouterr().err
    assert ("skipping ApplyEyeMakeup/v_ApplyEyeMakeup_g99_c01.avi: listed in testlist01.txt but not found" in err) == (
        "test" in split
    )


def test_ucf101_in_zip_and_bad_split(ucf_root, tmp_path):
    z = zip_dir(ucf_root, tmp_path / "ucf.zip")
    assert len(open_dataset(z, 8, split="train", quiet=True)) == 2
    with pytest.raises(DataError, match="unknown split 'val'"):
        open_dataset(ucf_root, 8, split="val")


def test_bad_inputs_are_skipped_with_one_line_each(tmp_path, capsys):
    from PIL import Image

    root = tmp_path / "mixed"
    write_avi(root / "good.avi", clip(10))
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mkv").write_text("hello, not a video\n" * 20)
    trunc = root / "truncated.mp4"
    from digan.data import write_video

    data = write_video(tmp_path / "full.mp4", clip(30, h=64, w=64)).read_bytes()
    trunc.write_bytes(data[: len(data) // 3])
    frame_folder(root / "gray", clip(6)[..., :1].repeat(3, -1))
    gray = root / "gray8"
    gray.mkdir()
    for k in range(5):
        Image.fromarray(np.full((10, 14), 30 * k, np.uint8), "L").save(gray / f"{k}.png")
    rgba = root / "rgba"
    rgba.mkdir()
    for k in range(5):
        a = np.zeros((10, 14, 4), np.uint8)
        a[..., 1], a[..., 3] = 40 * k, 255
        Image.fromarray(a, "RGBA").save(rgba / f"{k}.png")
    sizes = root / "sizes"
    sizes.mkdir()
    for k, (h, w) in enumerate([(10, 14), (20, 20), (9, 31)]):
        Image.fromarray(np.full((h, w, 3), 80, np.uint8)).save(sizes / f"f{k}.png")
    badframe = root / "badframe"
    badframe.mkdir()
    (badframe / "0.png").write_bytes(b"not a png")
    s = open_dataset(root, 8)
    err = capsys.readouterr().err
    used = set(names(s))
    assert {"good.avi", "gray", "gray8", "rgba", "sizes"} <= used
    assert {"empty.mp4", "text.mkv", "badframe"}.isdisjoint(used)
    assert "skipping empty.mp4: empty file" in err
    assert "skipping text.mkv: not a readable video" in err
    assert "skipping badframe: unreadable frame 0.png" in err
    assert f"mixed: {len(used)} videos used, {9 - len(used)} skipped" in err
    assert "Traceback" not in err and all(len(line) < 300 for line in err.splitlines())
    g = s.read(names(s).index("gray8"), [3])
    assert (g == 90).all()  # grayscale to RGB
    r = s.read(names(s).index("rgba"), [2])
    assert (r[..., 1] == 80).all() and (r[..., 0] == 0).all()
    z = s.read(names(s).index("sizes"), [0, 1, 2])
    assert z.shape == (3, 8, 8, 3) and (np.abs(z.astype(int) - 80) <= 1).all()
    if "truncated.mp4" in used:  # kept with its readable head
        i = names(s).index("truncated.mp4")
        assert s.read(i, range(s.num_frames(i))).shape[1:] == (8, 8, 3)


def test_short_videos_are_reported_and_an_empty_dataset_is_an_error(tmp_path, capsys):
    root = tmp_path / "short"
    frame_folder(root / "long", clip(20))
    frame_folder(root / "short", clip(5))
    s = open_dataset(root, 8)
    capsys.readouterr()
    PairBatches(s, ClipSpec(16), batch=2)[0]
    err = capsys.readouterr().err
    assert "short: 5 frames, shorter than a clip (16 frames at stride 1)" in err
    assert "1 videos used, 1 skipped" in err
    with pytest.raises(DataError, match="no video has the 31 frames"):
        PairBatches(s, ClipSpec(16, stride=2), batch=2)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no videos found"):
        open_dataset(empty, 8)
    (empty / "x.mp4").write_bytes(b"")
    with pytest.raises(DataError, match="none of the 1 videos"):
        open_dataset(empty, 8)


def test_resample_ids():
    assert resample_ids(10, 25.0, None).tolist() == list(range(10))
    assert resample_ids(10, 25.0, 12.5).tolist() == [0, 2, 4, 6, 8]
    assert resample_ids(4, 10.0, 20.0).tolist() == [0, 1, 1, 2, 2, 3, 3]  # nearest in time, halves up


def test_fps_resampling_of_a_raw_folder(tmp_path):
    write_avi(tmp_path / "v" / "a.avi", clip(20), fps=20)
    full = open_dataset(tmp_path / "v", 8)
    half = open_dataset(tmp_path / "v", 8, fps=10)
    assert half.num_frames(0) == 10
    np.testing.assert_array_equal(half.read(0, [3]), full.read(0, [6]))


def test_chunks_of_frames_per_video(frames_root):
    s = open_dataset(frames_root, 8, frames_per_video=4)
    assert len(s) == 11 // 4 + 13 // 4 and all(s.num_frames(i) == 4 for i in range(len(s)))
    whole = open_dataset(frames_root, 8)
    np.testing.assert_array_equal(s.read(1, [0, 3]), whole.read(0, [4, 7]))


def test_videos_too_long_for_the_cache_decode_only_what_is_asked(video_folder):
    cached = open_dataset(video_folder, 16)
    streamed = open_dataset(video_folder, 16, cache_mb=0)
    for i in range(len(cached)):
        ids = [cached.num_frames(i) - 1, 0, 3, 3]
        np.testing.assert_array_equal(streamed.read(i, ids), cached.read(i, ids))
    assert not streamed._cache


def test_a_symbolic_link_loop_in_a_dataset_is_searched_once(video_folder, tmp_path, capsys):
    """`prepare` and `train` read folders through `list_videos` too: a link back to the root adds no video."""
    (video_folder / "a" / "loop").symlink_to(video_folder, target_is_directory=True)
    assert names(open_dataset(video_folder, 16)) == ["a/v1.mp4", "a/v10.avi", "b/v2.gif"]
