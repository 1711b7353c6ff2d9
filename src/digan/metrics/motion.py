"""A motion check that needs no detector: how much and how fast the foreground moves.

FVD rates a set of clips as a whole and is slow to say *why* it is high; a
generator that paints the right colours but never moves them scores a middling
FVD. These statistics look at motion directly, for data where a static
background carries a few moving objects (`shapes`, `pendulum`, most of `sky`):

- background: the per-pixel median over the clip's frames (a moving object
  covers any one pixel for a minority of the frames);
- foreground: pixels whose largest channel differs from the background by more
  than `threshold`; its centroid gives the object's position in each frame;
- speed: the mean distance the centroid travels between consecutive frames,
  in pixels per frame (frames where the foreground is nearly empty are skipped);
- moving pixels: the share of pixels whose largest channel changes by more
  than `threshold` between consecutive frames;
- static clips: clips whose speed is below `still_speed` pixels a frame.

Every number is computed on uint8 clips `[N, T, H, W, 3]`, generated and real
alike, so the two sides are compared under one definition.
"""

from __future__ import annotations

import numpy as np

THRESHOLD = 0.1  # a change of more than a tenth of the full range counts (uint8: 25.5)
STILL_SPEED = 0.1  # pixels a frame below which a clip's foreground counts as still
MIN_PIXELS = 2  # fewer foreground pixels than this: no position in that frame


def _check(videos: np.ndarray) -> np.ndarray:
    videos = np.asarray(videos)
    if videos.dtype != np.uint8 or videos.ndim != 5 or videos.shape[-1] != 3 or videos.shape[1] < 2:
        raise ValueError(
            f"motion statistics need uint8 clips [N, T>=2, H, W, 3], got {videos.dtype} {list(videos.shape)}"
        )
    return videos


def foreground_positions(videos: np.ndarray, threshold: float = THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Centroids `[N, T, 2]` (x, y in pixels) of each frame's foreground, and whether each is defined `[N, T]`."""
    x = _check(videos).astype(np.float32) / 255.0  # (N, T, H, W, 3)
    background = np.median(x, axis=1, keepdims=True)  # (N, 1, H, W, 3)
    mask = np.abs(x - background).max(axis=-1) > threshold  # (N, T, H, W)
    h, w = mask.shape[2:]
    count = mask.sum(axis=(2, 3))  # (N, T)
    ys, xs = np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64)
    cx = (mask.sum(axis=2) * xs).sum(axis=-1) / np.maximum(count, 1)
    cy = (mask.sum(axis=3) * ys).sum(axis=-1) / np.maximum(count, 1)
    return np.stack([cx, cy], axis=-1), count >= MIN_PIXELS


def clip_speeds(videos: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Mean foreground speed of each clip `[N]`, pixels per frame (0 where no two consecutive frames have one)."""
    pos, ok = foreground_positions(videos, threshold)
    step = np.linalg.norm(np.diff(pos, axis=1), axis=-1)  # (N, T-1)
    both = ok[:, 1:] & ok[:, :-1]
    return np.where(both.any(axis=1), (step * both).sum(axis=1) / np.maximum(both.sum(axis=1), 1), 0.0)


def moving_pixel_share(videos: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Per clip `[N]`: the share of pixels that change by more than `threshold` between consecutive frames."""
    x = _check(videos).astype(np.float32) / 255.0
    change = np.abs(np.diff(x, axis=1)).max(axis=-1) > threshold  # (N, T-1, H, W)
    return change.mean(axis=(1, 2, 3))


def motion_statistics(videos: np.ndarray, threshold: float = THRESHOLD, still_speed: float = STILL_SPEED) -> dict:
    """The motion check of a set of clips: mean speed and moving-pixel share, their spread, and the still share."""
    speeds = clip_speeds(videos, threshold)
    moving = moving_pixel_share(videos, threshold)
    return {
        "clips": int(len(speeds)),
        "speed": float(speeds.mean()),  # pixels per frame
        "speed_median": float(np.median(speeds)),
        "moving_pixels": float(moving.mean()),  # share of pixels
        "still_clips": float((speeds < still_speed).mean()),
        "speeds": [round(float(s), 4) for s in speeds],
    }


def motion_ratios(fake: dict, real: dict) -> dict:
    """Generated over real for the two headline figures (1 is the data's own value)."""
    return {
        "speed_ratio": fake["speed"] / max(real["speed"], 1e-12),
        "moving_pixels_ratio": fake["moving_pixels"] / max(real["moving_pixels"], 1e-12),
    }
