"""Up-front memory estimates: refuse work that cannot fit, with one line that says what would.

The estimates are deliberately simple: bytes = (pixels, frames or videos) x
(what each holds), with the per-pixel figures measured on CPU with
`tests/memory_helpers.py` and rounded up:

- rendering holds about 4 float32 per pixel and per channel of the finest
  scale (its width plus the 2n Fourier features: 128 for tiny-32, 512 for
  paper-128); RENDER_FLOATS = 5 leaves a margin.
- a training step (G, both discriminators, forward and backward, R1) holds
  about 12-15 float32 per pixel and channel, over batch x 2 frames; with freed
  memory kept for the next step (`utils.malloc`) the heap holds about 16% more
  than that at its peak (fragmentation: `small-64`, benchmarks/malloc_keep.py);
  TRAIN_FLOATS = 19. Weights, their gradients, Adam's two moments (and
  G_ema) add PARAM_COPIES float32 per parameter.
- a frame held as uint8 costs H x W x 3 bytes; a GIF keeps every frame and
  Pillow copies them when it encodes: 2 copies.
- a worker process (data loading, `prepare`) costs WORKER_BYTES of its own
  (measured: a training loader's worker holds 27 MB idle, about 1 GB after 60
  batches of 64 pairs at 128x128), plus what it decodes.

They bound what is held at once, not what a run costs in time. A part is
checked against the memory of the device it lives on: `available(device)`
(free GPU memory, or the host's MemAvailable).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

FLOAT = 4  # bytes of a float32
RENDER_FLOATS = 5  # float32 held per pixel and per channel of the finest scale while rendering
TRAIN_FLOATS = 19  # the same for a training step, per frame of a pair (kept memory included)
PARAM_COPIES_G = 5  # weights, gradients, Adam m and v, G_ema
PARAM_COPIES_D = 4  # weights, gradients, Adam m and v
TIME_BYTES = 32  # a time t held while computing it: float64 seconds, t and the float32 copy
GIF_COPIES = 2  # frames a GIF collects, and Pillow's copy of them
WORKER_BYTES = 2**28  # a worker process of its own (forked): its private memory grows to a few hundred MB
FRAME_COPIES = 4  # a frame being resized and written: the decoded frame, Pillow's image and resize, the bytes
PREFETCH = 2  # batches a data-loading worker holds ahead (torch's DataLoader prefetch_factor)


class MemoryLimit(ValueError):
    """Work that would not fit in memory; the message is one line that says what would."""


def available(device: str = "cpu") -> int | None:
    """Bytes free on `device`: GPU memory for CUDA, the host's available memory otherwise (None: unknown)."""
    if str(device).startswith("cuda"):
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def size_text(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


@dataclass
class Part:
    """What one part of a job holds at once, and which of the job's quantities it grows with (the first one
    that can shrink enough is what the refusal suggests)."""

    name: str
    bytes: float
    grows_with: tuple[str, ...] = ()
    on_device: bool = True  # on the compute device (else in host memory)
    note: str = ""  # said after the suggestion


def _pools(parts: list[Part], device: str) -> dict[str, list[Part]]:
    pools: dict[str, list[Part]] = {}
    for p in parts:
        pools.setdefault(device if p.on_device else "cpu", []).append(p)
    return pools


def _over(parts: list[Part], device: str, room: Callable[[str], int | None]) -> tuple[str, list[Part]] | None:
    """The first memory (device or host) whose parts add up to more than its room, else None."""
    for pool, members in _pools(parts, device).items():
        free = room(pool)
        if free is not None and sum(p.bytes for p in members) > free:
            return pool, members
    return None


def _largest(ok: Callable[[int], bool], high: int) -> int:
    """The largest n in 1..high with ok(n) (ok is monotone: true up to some n), 0 when ok(1) is false."""
    if high < 1 or not ok(1):
        return 0
    low = 1
    while low < high:
        mid = (low + high + 1) // 2
        if ok(mid):
            low = mid
        else:
            high = mid - 1
    return low


def check(
    what: str,
    build: Callable[..., list[Part]],
    now: dict[str, int],
    hints: dict[str, Callable[[int], str]],
    device: str = "cpu",
    free: Callable[[str], int | None] | None = None,
) -> None:
    """Raise MemoryLimit when `build(**now)`'s parts on one memory add up to more than is free there.

    The message names the largest part and what would fit: the largest value
    of the first quantity in its `grows_with` (`now` gives the current ones)
    for which the whole job fits, said by `hints[quantity](value)`.
    """
    free = free or available
    rooms: dict[str, int | None] = {}

    def room(pool: str) -> int | None:
        if pool not in rooms:
            rooms[pool] = free(pool)
        return rooms[pool]

    over = _over(build(**now), device, room)
    if over is None:
        return
    pool, members = over
    worst = max(members, key=lambda p: p.bytes)
    hint = ""
    for quantity in worst.grows_with:
        if now.get(quantity, 0) > 1:
            n = _largest(lambda v: _over(build(**{**now, quantity: v}), device, room) is None, now[quantity] - 1)
            if n:
                hint = hints[quantity](n)
                break
    hint = hint or "it does not fit at any size: free some memory or use a smaller model"
    where = "GPU memory" if pool.startswith("cuda") else "memory"
    raise MemoryLimit(
        f"{what} would hold about {size_text(sum(p.bytes for p in members))} of {where} at once "
        f"({worst.name}: {size_text(worst.bytes)}), but {size_text(room(pool))} is free: "
        f"{hint}{worst.note}"
    )


# ---------------------------------------------------------------- what networks hold


def finest_channels(cfg) -> int:
    """Channels per pixel at the finest scale of a generator config: its width plus the Fourier features."""
    return cfg.width(cfg.resolution) + 2 * cfg.fourier_features


def render_pixel_bytes(cfg) -> int:
    return RENDER_FLOATS * FLOAT * finest_channels(cfg)


def train_pixel_bytes(cfg) -> int:
    return TRAIN_FLOATS * FLOAT * finest_channels(cfg)


def code_bytes(G) -> int:
    """Bytes of one video's prepared INR (`VideoCode`): its modulated weights, styles and embedding codes."""
    synthesis = G.synthesis
    floats = sum(layer.in_features * layer.out_features for layer in synthesis.layers)
    floats += sum(rgb.weight.numel() for rgb in synthesis.torgb)
    floats += sum(4 * emb.n for emb in synthesis.embeddings)  # freqs (n x 2), phase, motion
    return floats * FLOAT
