"""Rendering videos from a generator: per-seed latents, any times, any size.

DIGAN's generator outputs a continuous function v(x, y, t) (DIGAN Sec. 3.1), so
a video is not a fixed stack of frames: it can be rendered at any frame rate
and length (time interpolation and extrapolation), at any size (space
interpolation and extrapolation), frame by frame in any order, and in chunks
whose memory does not grow with the video's length.

Seed k always gives the same video: its latents come from a generator seeded
by k alone (content and motion from separate streams), whatever the batch
it is rendered in.

Time is clip time t (`digan.timebase`): a training clip spans t in [0, 1].
How a render is done (size, grids, psi, precision, batch, chunk) is one
`RenderOptions` value. Writing what is rendered to files is `digan.sampling.files`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from ..config import MAX_SEED  # noqa: F401  (the largest seed of a render, as of a training)
from ..data.clips import to_uint8_video
from ..models import Generator, VideoCode
from ..timebase import clip_times
from .options import RenderOptions

CONTENT_STREAM, MOTION_STREAM = 0, 1
# A point of an interpolation: a seed, or latents as they are: (w `[1, w_dim]` or w+ `[1, num_ws, w_dim]`,
# z_M `[1, motion_dim]`), e.g. a fit's (`digan.invert`).
Point = int | tuple[torch.Tensor, torch.Tensor]
INTERPOLATION_MODES = ("content", "motion", "both")
DEFAULT = RenderOptions()


# ---------------------------------------------------------------- latents and codes


def seed_latents(seeds: Sequence[int], dim: int, stream: int) -> torch.Tensor:
    """`[N, dim]` standard normal latents, row i drawn from seed `seeds[i]` alone."""
    return torch.from_numpy(
        np.stack([np.random.default_rng([int(s), stream]).standard_normal(dim) for s in seeds]).astype(np.float32)
    )


def device_of(G: Generator) -> torch.device:
    """The device G's weights are on (where its renders run)."""
    return next(G.parameters()).device


def seed_w(G: Generator, seeds: Sequence[int], psi: float = 1.0) -> torch.Tensor:
    """Content codes w `[N, w_dim]` of content seeds (truncated towards the mean w by `psi`)."""
    return G.mapping(seed_latents(seeds, G.z_dim, CONTENT_STREAM).to(device_of(G)), psi)


def seed_motion(G: Generator, seeds: Sequence[int]) -> torch.Tensor:
    """Motion latents z_M `[N, motion_dim]` of motion seeds."""
    return seed_latents(seeds, G.motion_dim, MOTION_STREAM).to(device_of(G))


@torch.no_grad()
def prepare_videos(
    G: Generator, seeds: Sequence[int], motion_seeds: Sequence[int] | None = None, psi: float = 1.0
) -> VideoCode:
    """The INRs of videos (content seed i with motion seed i; motion = content seed by default)."""
    motion_seeds = seeds if motion_seeds is None else motion_seeds
    if len(motion_seeds) != len(seeds):
        raise ValueError("give one of `motion_seeds` per content seed")
    return G.synthesis.prepare(seed_w(G, seeds, psi), seed_motion(G, motion_seeds))


@torch.no_grad()
def render_code(
    G: Generator, code: VideoCode, t: torch.Tensor, options: RenderOptions = DEFAULT
) -> Iterator[np.ndarray]:
    """Yield uint8 `[B, t_chunk, H, W, 3]` of prepared videos, `options.chunk` times at a time.

    `t` is `[T]` (the same times for every video) or `[B, T]`; any reals, in
    any order: every frame depends only on its own t, so the frames are the
    same however the times are split or ordered (non-autoregressive).
    """
    device = code.layers[0].device
    t = torch.as_tensor(t, dtype=torch.float32, device=device)
    if t.ndim == 1:
        t = t[None].expand(code.batch, -1)
    assert t.ndim == 2 and t.shape[0] == code.batch, (t.shape, code.batch)
    chunk = options.frames_per_step(code.batch, G.resolution)
    code = dataclasses.replace(code, spatial={})  # the chunks share the spatial sin and cos (`VideoCode.spatial`)
    for start in range(0, t.shape[1], chunk):
        yield to_uint8_video(
            G.render(code, t[:, start : start + chunk], options.size, options.grids, options.precision)
        )


def render_videos(
    G: Generator,
    seeds: Sequence[int],
    t: torch.Tensor,
    options: RenderOptions = DEFAULT,
    *,
    motion_seeds: Sequence[int] | None = None,
) -> np.ndarray:
    """uint8 videos `[N, T, H, W, 3]` for `seeds` at times `t`, `options.batch` videos at a time."""
    t = torch.as_tensor(t).reshape(-1)
    videos = []
    for i in range(0, len(seeds), options.batch):
        part = slice(i, i + options.batch)
        code = prepare_videos(G, seeds[part], None if motion_seeds is None else motion_seeds[part], options.psi)
        videos.append(np.concatenate(list(render_code(G, code, t, options)), axis=1))
    return np.concatenate(videos, axis=0)


def render_video(
    G: Generator, seed: int, t: torch.Tensor, options: RenderOptions = DEFAULT, *, motion_seed: int | None = None
) -> np.ndarray:
    """One video, uint8 `[T, H, W, 3]`: content `seed`, motion `motion_seed` (default `seed`), times `t`."""
    return render_videos(G, [seed], t, options, motion_seeds=None if motion_seed is None else [motion_seed])[0]


def motion_variations(
    G: Generator, seed: int, motion_seeds: Sequence[int], t: torch.Tensor, options: RenderOptions = DEFAULT
) -> np.ndarray:
    """uint8 `[M, T, H, W, 3]`: one content seed with M motion seeds.

    At t = 0 the motion code a * t is zero (DIGAN Eq. 3), so every variation
    starts from the same first frame and moves differently from there.
    """
    return render_videos(G, [seed] * len(motion_seeds), t, options, motion_seeds=list(motion_seeds))


def clip_renderer(
    G: Generator, clip_frames: int, options: RenderOptions = DEFAULT
) -> Callable[[list[int], int], np.ndarray]:
    """`generate(seeds, frames)` -> uint8 `[N, frames, H, W, 3]`, frame k at t = k / (clip_frames - 1): the callable
    that `digan.metrics` scores (the same seeds as `digan generate`)."""

    def generate(seeds: list[int], frames: int) -> np.ndarray:
        return render_videos(G, list(seeds), clip_times(frames, clip_frames), options)

    return generate


# ---------------------------------------------------------------- interpolation


def point_latents(G: Generator, points: Sequence[Point], psi: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """w `[n, w_dim]` (or `[n, num_ws, w_dim]` when a point is w+: the others' w repeated per layer) and
    z_M `[n, motion_dim]` of seeds (w truncated by `psi`) and latents (taken as they are)."""
    seeds = [p for p in points if not isinstance(p, tuple)]
    seed_ws = iter(seed_w(G, seeds, psi)) if seeds else None
    seed_ms = iter(seed_motion(G, seeds)) if seeds else None
    device = device_of(G)
    ws, ms = [], []
    for p in points:
        if isinstance(p, tuple):
            ws.append(p[0].to(device)[0])
            ms.append(p[1].to(device)[0])
        else:
            ws.append(next(seed_ws))
            ms.append(next(seed_ms))
    if any(w.ndim == 2 for w in ws):
        ws = [w if w.ndim == 2 else w[None].expand(G.synthesis.num_ws, -1) for w in ws]
    return torch.stack(ws), torch.stack(ms)


def slerp(a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of rows `[N, D]` (keeps the norm of Gaussian latents); exact at alpha 0 and 1."""
    alpha = alpha[:, None]
    cos = (a * b).sum(1, keepdim=True) / (a.norm(dim=1, keepdim=True) * b.norm(dim=1, keepdim=True))
    omega = cos.clamp(-1, 1).acos()
    sin = omega.sin()
    near = sin.abs() < 1e-6  # (anti)parallel latents: fall back to a straight line
    safe = torch.where(near, torch.ones_like(sin), sin)
    curved = ((1 - alpha) * omega).sin() / safe * a + (alpha * omega).sin() / safe * b
    return torch.where(near, torch.lerp(a, b, alpha), curved)


@torch.no_grad()
def interpolation_code(
    G: Generator,
    seed_a: Point,
    seed_b: Point,
    alphas: torch.Tensor,
    mode: str = "both",
    *,
    base_seed: Point | None = None,
    psi: float = 1.0,
) -> VideoCode:
    """INRs along the path from seed_a (alpha 0) to seed_b (alpha 1), one video per alpha.

    `content` moves w in a straight line (the mapped space that sets the INR
    weights) and keeps the motion latent of `base_seed`; `motion` moves z_M on
    the sphere (slerp) and keeps the content of `base_seed`; `both` moves both.
    `base_seed` defaults to seed_a. Any of them may be latents instead of a
    seed (`Point`), e.g. fits of real clips.
    """
    if mode not in INTERPOLATION_MODES:
        raise ValueError(f"unknown interpolation `mode` '{mode}': expected one of {', '.join(INTERPOLATION_MODES)}")
    base = seed_a if base_seed is None else base_seed
    alphas = torch.as_tensor(alphas, dtype=torch.float32, device=device_of(G)).reshape(-1)
    n = len(alphas)
    if mode == "motion":
        w = point_latents(G, [base], psi)[0]
        w = w.expand(n, *w.shape[1:])
    else:
        w_a, w_b = point_latents(G, [seed_a, seed_b], psi)[0].chunk(2)
        shape = (n, *w_a.shape[1:])
        w = torch.lerp(w_a.expand(shape), w_b.expand(shape), alphas.view(n, *[1] * (w_a.ndim - 1)))
    if mode == "content":
        z_motion = point_latents(G, [base], psi)[1].expand(n, -1)
    else:
        m_a, m_b = point_latents(G, [seed_a, seed_b], psi)[1].chunk(2)
        z_motion = slerp(m_a.expand(n, -1), m_b.expand(n, -1), alphas)
    return G.synthesis.prepare(w.contiguous(), z_motion.contiguous())


def interpolation_codes(
    G: Generator,
    points: Sequence[Point],
    *,
    steps: int = 8,
    mode: str = "both",
    psi: float = 1.0,
    base_seed: Point | None = None,
    batch: int = 4,
) -> list[VideoCode]:
    """INRs of `steps` evenly spaced points (ends included) from each point to the next, `batch` videos a code.

    `base_seed` (the point whose motion a `content` walk keeps, or whose content
    a `motion` walk keeps) defaults to the first point.
    """
    if steps < 2:
        raise ValueError(f"interpolation needs at least 2 `steps`, got {steps}")
    if len(points) < 2:
        raise ValueError("interpolation needs at least two points (seeds or fits)")
    base = points[0] if base_seed is None else base_seed
    alphas = torch.linspace(0, 1, steps)
    return [
        interpolation_code(G, a, b, alphas[i : i + batch], mode, base_seed=base, psi=psi)
        for a, b in zip(points[:-1], points[1:])
        for i in range(0, steps, batch)
    ]


def interpolate_videos(
    G: Generator,
    seed_a: Point,
    seed_b: Point,
    t: torch.Tensor,
    options: RenderOptions = DEFAULT,
    *,
    steps: int = 8,
    mode: str = "both",
    base_seed: Point | None = None,
) -> np.ndarray:
    """uint8 `[steps, T, H, W, 3]`: whole videos at `steps` evenly spaced points from seed_a to seed_b."""
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    codes = interpolation_codes(
        G, [seed_a, seed_b], steps=steps, mode=mode, psi=options.psi, base_seed=base_seed, batch=options.batch
    )
    return np.concatenate([np.concatenate(list(render_code(G, code, t, options)), axis=1) for code in codes])


def morph_video(
    G: Generator,
    seed_a: Point,
    seed_b: Point,
    t: torch.Tensor,
    options: RenderOptions = DEFAULT,
    *,
    mode: str = "both",
    base_seed: Point | None = None,
) -> Iterator[np.ndarray]:
    """Yield uint8 `[f, H, W, 3]` chunks of one video that goes from seed_a to seed_b while time plays.

    Frame k is the video at alpha_k = k / (T - 1) on the path, at time t[k]:
    the first frame is seed_a's frame at t[0], the last seed_b's at t[-1].
    Pass a constant `t` to morph a still instant.
    """
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    alphas = torch.linspace(0, 1, len(t)) if len(t) > 1 else torch.zeros(1)
    chunk = options.frames_per_step(1, G.resolution)
    one_frame = options.replace(chunk=1)
    for i in range(0, len(t), chunk):
        code = interpolation_code(G, seed_a, seed_b, alphas[i : i + chunk], mode, base_seed=base_seed, psi=options.psi)
        frames = next(render_code(G, code, t[i : i + chunk, None], one_frame))  # (b, 1, H, W, 3)
        yield frames[:, 0]
