"""Rendering videos from a generator: per-seed latents, any times, any size.

Seed k always gives the same video: its latents come from a generator seeded
by k alone (content and motion from separate streams), whatever the batch
it is rendered in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from .data.clips import to_uint8_video
from .models import Generator

CONTENT_STREAM, MOTION_STREAM = 0, 1


def seed_latents(seeds: Sequence[int], dim: int, stream: int) -> torch.Tensor:
    """`[N, dim]` standard normal latents, row i drawn from seed `seeds[i]` alone."""
    return torch.from_numpy(np.stack([
        np.random.default_rng([int(s), stream]).standard_normal(dim) for s in seeds
    ]).astype(np.float32))


def clip_times(frames: int, clip_frames: int) -> torch.Tensor:
    """Times of `frames` consecutive frames at the training frame rate: t_k = k / (clip_frames - 1)."""
    return torch.arange(frames, dtype=torch.float32) / max(clip_frames - 1, 1)


@torch.no_grad()
def render_chunks(G: Generator, seeds: Sequence[int], t: torch.Tensor, *, motion_seeds: Sequence[int] | None = None,
                  size: int | tuple[int, int] | None = None, psi: float = 1.0,
                  chunk: int = 16) -> Iterator[np.ndarray]:
    """Yield uint8 frames `[N, t_chunk, H, W, 3]` of the videos, `chunk` times at a time.

    The INR of each video is prepared once; each chunk renders only its times.
    """
    device = next(G.parameters()).device
    motion_seeds = seeds if motion_seeds is None else motion_seeds
    if len(motion_seeds) != len(seeds):
        raise ValueError("give one motion seed per content seed")
    z = seed_latents(seeds, G.z_dim, CONTENT_STREAM).to(device)
    z_motion = seed_latents(motion_seeds, G.motion_dim, MOTION_STREAM).to(device)
    code = G.prepare(z, z_motion, psi)
    t = torch.as_tensor(t, dtype=torch.float32, device=device).reshape(-1)
    for start in range(0, len(t), chunk):
        part = t[start:start + chunk][None].expand(len(seeds), -1)
        yield to_uint8_video(G.render(code, part, size))


def render_videos(G: Generator, seeds: Sequence[int], t: torch.Tensor, *, batch: int = 4, **kwargs) -> np.ndarray:
    """uint8 videos `[N, T, H, W, 3]` for `seeds` at times `t`, `batch` videos at a time."""
    videos = []
    motion_seeds = kwargs.pop("motion_seeds", None)
    for i in range(0, len(seeds), batch):
        ms = None if motion_seeds is None else motion_seeds[i:i + batch]
        videos.append(np.concatenate(list(render_chunks(G, seeds[i:i + batch], t, motion_seeds=ms, **kwargs)), axis=1))
    return np.concatenate(videos, axis=0)
