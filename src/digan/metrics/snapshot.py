"""Adapters from a DIGAN generator to the `generate(seeds, frames)` callable the metrics take.

Kept apart from evaluation.py so that the metric API never imports the networks:
these functions import `digan.sampling.render` / `digan.checkpoint` only when called.
"""

from __future__ import annotations

import os

import numpy as np

from .evaluation import Generate, quick_fvd
from .features import I3DFeatures


def generator_callable(G, clip_frames: int, batch: int = 8, psi: float = 1.0) -> Generate:
    """uint8 `[N, frames, H, W, 3]`: videos of `seeds` (same seeds as `digan generate`), frame k at t = k / (clip_frames - 1)."""
    from ..sampling.render import render_videos
    from ..timebase import clip_times

    def generate(seeds: list[int], frames: int) -> np.ndarray:
        return render_videos(G, list(seeds), clip_times(frames, clip_frames), batch=batch, psi=psi)

    return generate


def snapshot_generator(ckpt: str | os.PathLike, device: str = "cpu", batch: int = 8) -> tuple[Generate, dict]:
    """The generate callable of a snapshot and what to record about it: {"snapshot", "resolution", "clip_frames"}."""
    from ..checkpoint import load_snapshot

    G, meta = load_snapshot(ckpt, device)
    info = {"snapshot": meta.get("path", str(ckpt)), "kimg": meta.get("clips_seen", 0) / 1000,
            "resolution": meta.get("resolution"), "clip_frames": meta.get("clip_frames", 16)}
    return generator_callable(G, info["clip_frames"], batch), info


def training_fvd(source, preset, n_clips: int, device: str = "cpu", frames: int = 16, seed: int = 0):
    """`fvd(G) -> {"fvd<n>_<frames>f": .., "kvd<n>_<frames>f": ..}` for the training loop's snapshots.

    Real clips are read at the training clip stride, so both sides have the frame rate G learnt.
    """
    if n_clips < 2:  # checked before I3D loads, not at the first snapshot
        raise ValueError(f"a periodic FVD needs at least 2 clips a side, got {n_clips}")
    features = I3DFeatures(device=device)
    clip_frames, stride = preset.training.clip_frames, preset.training.clip_stride

    def fvd(G) -> dict:
        r = quick_fvd(generator_callable(G, clip_frames), source, n_clips, frames, seed, features, stride)
        return {r["metric"]: r["fvd"], r["metric"].replace("fvd", "kvd", 1): r["kvd"]}

    return fvd
