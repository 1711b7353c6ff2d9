"""Built-in procedural video datasets: any size, any length, no download.

Each video is a pure function of (seed, video index) and each frame of its
time, so `read` renders only the requested frames, analytically, with numpy.
Edges are antialiased by a one-pixel coverage ramp on signed distances, so a
dataset at resolution 2R is the same scene as at R, only sharper.

- `shapes`: one to three shapes move at constant speed and bounce off the
  walls. Motion is piecewise linear with reflections: the simplest dynamics a
  video GAN must get right (speed constant, no shape change, no flicker).
- `sky`: clouds drift with a constant wind over a static silhouette (hills,
  trees). Content (the silhouette, sky colour) and motion (the clouds) are
  separate, the split DIGAN's content/motion latents are meant to learn
  (Sec. 3.1); a sample whose silhouette moves has mixed them.
- `pendulum`: a pendulum swings with a period of 24 to 48 frames. Its motion
  is periodic and accelerates, so a 16-frame clip shows under one swing; the
  period is known, so extrapolating past the training clip (t > 1, Sec. 4.3
  of the paper) can be checked against the true next swing.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from .base import DataError, VideoSource


def _coverage(signed_distance: np.ndarray, pixel: float) -> np.ndarray:
    """Fraction of a pixel inside a shape from its signed distance (negative inside), in [0, 1]."""
    return np.clip(0.5 - signed_distance / pixel, 0.0, 1.0)


def _bounce(p0: np.ndarray, v: np.ndarray, t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Position at times t of a point moving at constant speed v that reflects off [lo, hi]."""
    span = hi - lo
    s = (p0 - lo + v * t) / span  # position in units of the free span
    tri = 1.0 - np.abs(np.mod(s, 2.0) - 1.0)  # triangle wave: 0 -> 1 -> 0 at the walls
    return lo + span * tri


class ProceduralSource(VideoSource):
    """A procedural dataset: `count` videos of `frames` frames at `resolution`, from `seed`."""

    name = "procedural"

    def __init__(self, resolution: int, count: int = 1024, frames: int = 64, seed: int = 0):
        if resolution < 4 or count < 1 or frames < 1:
            raise DataError(f"{self.name}: needs resolution >= 4, count >= 1 and frames >= 1")
        self.resolution, self.count, self.frames, self.seed = int(resolution), int(count), int(frames), int(seed)
        r = self.resolution
        c = (np.arange(r, dtype=np.float32) + 0.5) / r  # pixel centres in (0, 1), y down
        self.y, self.x = np.meshgrid(c, c, indexing="ij")  # [R, R] each
        self.pixel = 1.0 / r

    def __len__(self) -> int:
        return self.count

    def num_frames(self, index: int) -> int:
        return self.frames

    def video_name(self, index: int) -> str:
        return f"{self.name}/{index:06d}"

    def params(self, index: int) -> np.random.Generator:
        if not 0 <= index < self.count:
            raise IndexError(f"{self.name}: video {index} out of range [0, {self.count})")
        return np.random.default_rng([self.seed, zlib.crc32(self.name.encode()), index])

    def read(self, index: int, frame_ids: Sequence[int]) -> np.ndarray:
        ids = np.asarray(frame_ids, dtype=np.int64).reshape(-1)
        if len(ids) and (ids.min() < 0 or ids.max() >= self.frames):
            raise IndexError(f"{self.name}: frame ids must lie in [0, {self.frames})")
        scene = self.scene(self.params(index))
        out = np.empty((len(ids), self.resolution, self.resolution, 3), np.uint8)
        for k, t in enumerate(ids):
            out[k] = np.clip(np.rint(self.render(scene, float(t)) * 255.0), 0, 255).astype(np.uint8)
        return out

    def scene(self, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def render(self, scene: dict, t: float) -> np.ndarray:
        """Frame at time t (in frames) as float `[R, R, 3]` in [0, 1]."""
        raise NotImplementedError


class Shapes(ProceduralSource):
    name = "shapes"

    def scene(self, rng):
        n = int(rng.integers(1, 4))
        size = rng.uniform(0.08, 0.18, n)  # half-size (radius) as a fraction of the frame
        angle = rng.uniform(0, 2 * np.pi, n)
        speed = rng.uniform(0.01, 0.035, n)  # frame widths per frame
        lo, hi = size, 1.0 - size
        hue = rng.uniform(0, 1, n)
        background = rng.uniform(0.05, 0.35, 3) * np.array([1.0, 1.0, 1.0])
        return dict(
            kind=rng.integers(0, 3, n),  # 0 disc, 1 square, 2 diamond
            size=size,
            lo=lo,
            hi=hi,
            p0=np.stack([rng.uniform(lo, hi), rng.uniform(lo, hi)], 1),
            v=np.stack([speed * np.cos(angle), speed * np.sin(angle)], 1),
            colour=np.stack([_hue(h) for h in hue]) * 0.7 + 0.3,
            background=background,
            gradient=rng.uniform(-0.15, 0.15),
        )

    def render(self, s, t):
        img = np.empty((self.resolution, self.resolution, 3), np.float32)
        img[:] = s["background"]
        img += (s["gradient"] * (self.y - 0.5))[..., None]
        for j in range(len(s["size"])):
            cx = _bounce(s["p0"][j, 0], s["v"][j, 0], t, s["lo"][j], s["hi"][j])
            cy = _bounce(s["p0"][j, 1], s["v"][j, 1], t, s["lo"][j], s["hi"][j])
            dx, dy, r = self.x - cx, self.y - cy, s["size"][j]
            if s["kind"][j] == 0:
                d = np.sqrt(dx * dx + dy * dy) - r
            elif s["kind"][j] == 1:
                d = np.maximum(np.abs(dx), np.abs(dy)) - r * 0.85
            else:
                d = (np.abs(dx) + np.abs(dy) - r * 1.2) / np.sqrt(2.0)
            a = _coverage(d, self.pixel)[..., None]
            img = img * (1 - a) + s["colour"][j] * a
        return img


class Sky(ProceduralSource):
    name = "sky"

    def scene(self, rng):
        modes = 10
        # Integer wave numbers make the cloud field periodic on the unit square, so it drifts forever.
        kx = rng.integers(-4, 5, modes)
        ky = rng.integers(-3, 4, modes)
        kx[(kx == 0) & (ky == 0)] = 1
        amp = rng.uniform(0.5, 1.0, modes) / np.sqrt(kx**2 + ky**2)
        wind = rng.uniform(0.004, 0.012) * np.array([rng.choice([-1.0, 1.0]), rng.uniform(-0.3, 0.3)])
        dusk = rng.uniform(0, 1)
        top = (1 - dusk) * np.array([0.20, 0.45, 0.85]) + dusk * np.array([0.25, 0.20, 0.50])
        bottom = (1 - dusk) * np.array([0.65, 0.80, 0.95]) + dusk * np.array([0.95, 0.55, 0.35])
        hills = rng.integers(1, 7, 4)
        return dict(
            kx=kx,
            ky=ky,
            amp=amp,
            phase=rng.uniform(0, 2 * np.pi, modes),
            wind=wind,
            cover=rng.uniform(-0.1, 0.35),
            top=top,
            bottom=bottom,
            ridge=rng.uniform(0.65, 0.85),
            hill_f=hills,
            hill_a=rng.uniform(0.01, 0.05, 4),
            hill_p=rng.uniform(0, 2 * np.pi, 4),
            trees=rng.uniform(0.05, 0.95, int(rng.integers(0, 5))),
            tree_h=rng.uniform(0.10, 0.22),
            ground=rng.uniform(0.02, 0.12, 3),
        )

    def render(self, s, t):
        x, y = self.x, self.y
        img = s["top"] * (1 - y[..., None]) + s["bottom"] * y[..., None]
        u, v = x - s["wind"][0] * t, y - s["wind"][1] * t
        field = np.zeros_like(x)
        for kx, ky, a, p in zip(s["kx"], s["ky"], s["amp"], s["phase"]):
            field += a * np.cos(2 * np.pi * (kx * u + ky * v) + p)
        field = field / np.sqrt(np.sum(s["amp"] ** 2) / 2)  # unit variance
        cloud = np.clip((field - 0.3 + s["cover"] * 2) / 1.2, 0, 1)
        cloud = cloud * cloud * (3 - 2 * cloud)  # smoothstep: soft cloud edges
        shade = 0.85 + 0.15 * np.clip(field - 0.5, 0, 1)
        img = img * (1 - cloud[..., None]) + (shade * cloud)[..., None] * np.array([1.0, 1.0, 1.0])
        # The static foreground: a ridge line plus a few trees, all independent of t.
        ridge = s["ridge"] + sum(
            a * np.sin(2 * np.pi * f * x + p) for f, a, p in zip(s["hill_f"], s["hill_a"], s["hill_p"])
        )
        d = ridge - y
        for tx in s["trees"]:
            # A triangle crown on the ridge: distance below the crown's slanted edges.
            crown = s["ridge"] - s["tree_h"] + 2.2 * np.abs(x - tx)
            d = np.minimum(d, crown - y)
        a = _coverage(d, self.pixel)[..., None]
        return img * (1 - a) + s["ground"] * a


class Pendulum(ProceduralSource):
    name = "pendulum"

    def scene(self, rng):
        pivot = np.array([rng.uniform(0.35, 0.65), rng.uniform(0.08, 0.2)])
        length, bob = rng.uniform(0.45, 0.65), rng.uniform(0.06, 0.09)
        room = (min(pivot[0], 1 - pivot[0]) - bob - 0.02) / length  # keep the bob inside the frame
        return dict(
            pivot=pivot,
            length=length,
            amplitude=min(rng.uniform(0.35, 1.0), float(np.arcsin(room))),  # radians
            period=rng.uniform(24, 48),  # frames
            phase=rng.uniform(0, 2 * np.pi),
            bob=bob,
            colour=_hue(rng.uniform(0, 1)) * 0.7 + 0.3,
            background=rng.uniform(0.6, 0.9) * np.array([1.0, 1.0, 1.0]) - rng.uniform(0, 0.15, 3),
        )

    def render(self, s, t):
        # Small-angle pendulum: theta(t) = A cos(2 pi t / P + phi); the bob accelerates towards the bottom.
        theta = s["amplitude"] * np.cos(2 * np.pi * t / s["period"] + s["phase"])
        px, py = s["pivot"]
        bx, by = px + s["length"] * np.sin(theta), py + s["length"] * np.cos(theta)
        img = np.empty((self.resolution, self.resolution, 3), np.float32)
        img[:] = s["background"]
        # The rod: distance to the segment pivot -> bob.
        ex, ey = bx - px, by - py
        h = np.clip(((self.x - px) * ex + (self.y - py) * ey) / (ex * ex + ey * ey), 0, 1)
        rod = np.hypot(self.x - px - h * ex, self.y - py - h * ey) - 0.008
        a = _coverage(rod, self.pixel)[..., None]
        img = img * (1 - a) + 0.15 * a
        bob = np.hypot(self.x - bx, self.y - by) - s["bob"]
        a = _coverage(bob, self.pixel)[..., None]
        img = img * (1 - a) + s["colour"] * a
        pin = np.hypot(self.x - px, self.y - py) - 0.015
        a = _coverage(pin, self.pixel)[..., None]
        return img * (1 - a) + 0.1 * a


def _hue(h: float) -> np.ndarray:
    """A saturated RGB colour in [0, 1] at hue h in [0, 1)."""
    return np.clip(np.abs(np.mod(h * 6 + np.array([0.0, 4.0, 2.0]), 6) - 3) - 1, 0, 1)


PROCEDURAL = {"shapes": Shapes, "sky": Sky, "pendulum": Pendulum}
