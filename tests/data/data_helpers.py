"""Small inputs the data tests write themselves: videos (PyAV), frame folders (Pillow), zips."""

import zipfile
from pathlib import Path

import numpy as np


def clip(t=12, h=20, w=28, seed=0):
    """A bright bar sweeping over a coloured gradient: distinct frames that survive lossy codecs."""
    rng = np.random.default_rng(seed)
    base = np.linspace(30, 190, w, dtype=np.float32)[None, :, None] * rng.uniform(0.4, 1.0, 3)
    v = np.repeat(np.broadcast_to(base, (h, w, 3))[None], t, axis=0).copy()
    for k in range(t):
        v[k, :, (3 * k) % w : (3 * k) % w + 4] = 250
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
