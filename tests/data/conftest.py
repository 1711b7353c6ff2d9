"""Small fixtures the data tests write themselves: videos (PyAV), frame folders (Pillow), zips, UCF trees."""

import zipfile
from pathlib import Path

import numpy as np
import pytest

from digan.data import write_video


def clip(t=12, h=20, w=28, seed=0):
    """A bright bar sweeping over a coloured gradient: distinct frames that survive lossy codecs."""
    rng = np.random.default_rng(seed)
    base = np.linspace(30, 190, w, dtype=np.float32)[None, :, None] * rng.uniform(0.4, 1.0, 3)
    v = np.repeat(np.broadcast_to(base, (h, w, 3))[None], t, axis=0).copy()
    for k in range(t):
        v[k, :, (3 * k) % w:(3 * k) % w + 4] = 250
    return v.astype(np.uint8)


def write_avi(path: Path, video: np.ndarray, fps=25) -> Path:
    """An MPEG-4 Part 2 .avi, the UCF-101 format."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="avi") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
        s.options = {"qscale": "2"}
        for f in video:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return path


def frame_folder(path: Path, video: np.ndarray, fmt="png", start=0):
    from PIL import Image

    path.mkdir(parents=True, exist_ok=True)
    for k, f in enumerate(video):
        Image.fromarray(f).save(path / f"frame{k + start}.{fmt}")  # unpadded: natural order matters
    return path


def zip_dir(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as z:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(src).as_posix())
    return dest


@pytest.fixture
def video_folder(tmp_path):
    root = tmp_path / "videos"
    write_video(root / "a" / "v1.mp4", clip(12, seed=1))
    write_avi(root / "a" / "v10.avi", clip(10, seed=2))
    write_video(root / "b" / "v2.gif", clip(9, seed=3))
    return root


@pytest.fixture
def frames_root(tmp_path):
    root = tmp_path / "frames"
    frame_folder(root / "train" / "vid2", clip(11, seed=4))
    frame_folder(root / "train" / "vid10", clip(13, seed=5), fmt="jpg")
    return root


@pytest.fixture
def ucf_root(tmp_path):
    root = tmp_path / "UCF-101"
    names = {"ApplyEyeMakeup": ["g01_c01", "g08_c01"], "HandstandPushups": ["g01_c01", "g09_c02"]}
    k = 0
    for cls, ids in names.items():
        for i in ids:
            write_avi(root / cls / f"v_{cls}_{i}.avi", clip(8, h=12, w=16, seed=k))
            k += 1
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    # The real lists spell one class 'HandStandPushups' while its folder is 'HandstandPushups'.
    (lists / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nHandStandPushups/v_HandStandPushups_g09_c02.avi 37\r\n")
    (lists / "testlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\nHandStandPushups/v_HandStandPushups_g01_c01.avi\n"
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g99_c01.avi\n")
    return root
