"""Clip features: resizing to the detector's input, batched I3D inference, sharding over processes.

Clips enter as uint8 `[N, T, H, W, 3]` (the metric border, docs/conventions.md)
and leave as float32 features `[N, 400]`. Work is cut into batches of fixed
global clip indices and a process takes every world-th batch, so each clip is
computed in the same batch whatever the number of processes: one process or
several give the same features, bit for bit on the same hardware.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..utils.memory import FLOAT, Part
from .weights import load_i3d

DETECTOR_SIZE = 224
RESIZE_MODES = ("stretch", "short_side_crop")
FEATURE_DIM = 400  # the I3D's logits
I3D_FRAME_BYTES = 6 * 2**20  # the I3D's activations per input frame at 224x224, float32 (measured: 4.7 MB)


def features_memory(batch: int, frames: int, pixels: int) -> tuple:
    """What computing features holds at once, as `(build, now, hints)` for `digan.utils.memory.check`: a batch
    of `frames`-frame clips as read (uint8, `pixels` a frame), the same batch on the device as float32 and
    resized to 224x224, and the detector's activations over it."""

    def build(batch: int) -> list[Part]:
        per_frame = pixels * 3 * (1 + FLOAT) + DETECTOR_SIZE**2 * 3 * FLOAT + I3D_FRAME_BYTES
        return [
            Part("a batch of clips as read", batch * frames * pixels * 3, ("batch",), on_device=False),
            Part("a batch through the detector", batch * frames * per_frame, ("batch",)),
        ]

    return build, {"batch": batch}, {"batch": lambda n: f"use `batch` {n} or less"}


def resize_clips(
    clips: np.ndarray | Sequence[np.ndarray],
    mode: str = "stretch",
    size: int = DETECTOR_SIZE,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """uint8 `[N, T, H, W, 3]` (or a list of `[T, H, W, 3]` of any sizes) -> float `[N, T, 3, size, size]` in [-1, 1].

    "stretch": to size x size ignoring aspect (StyleGAN-V, TF-GAN FVD).
    "short_side_crop": short side to `size`, then the centre square (DIGAN paper).
    Bilinear, half-pixel centres, no antialiasing, as the references' resize ops.
    """
    if isinstance(clips, (list, tuple)):
        return torch.cat([resize_clips(c[None], mode, size, device) for c in clips])
    clips = np.asarray(clips)
    assert clips.dtype == np.uint8 and clips.ndim == 5 and clips.shape[-1] == 3, (
        f"expected uint8 [N, T, H, W, 3], got {clips.dtype} {list(clips.shape)}"
    )
    assert mode in RESIZE_MODES, f"resize mode {mode!r} not in {RESIZE_MODES}"
    n, t, h, w, _ = clips.shape
    x = torch.from_numpy(np.ascontiguousarray(clips)).to(device)  # uint8 crosses to the GPU: 4x fewer bytes
    x = x.reshape(n * t, h, w, 3).permute(0, 3, 1, 2).float()
    if mode == "stretch":
        target = (size, size)
    else:
        scale = size / min(h, w)
        target = (max(size, round(h * scale)), max(size, round(w * scale)))
    if (h, w) != target:
        x = F.interpolate(x, size=target, mode="bilinear", align_corners=False, antialias=False)
    top, left = (target[0] - size) // 2, (target[1] - size) // 2
    x = x[:, :, top : top + size, left : left + size]
    return (x / 127.5 - 1).reshape(n, t, 3, size, size)  # (N, T, 3, size, size)


@contextlib.contextmanager
def exact_float32():
    """TF32 off for convolutions and matmuls on GPU (it changes FVD); restored afterwards."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class I3DFeatures:
    """The Kinetics-400 I3D as a feature function: uint8 clips -> float32 logits `[N, 400]`."""

    dim = 400

    def __init__(self, weights: str | None = None, device: str | torch.device | None = None, batch: int = 8):
        net, self.detector = load_i3d(weights)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net = net.fused().to(self.device)
        self.batch = batch

    def __call__(self, clips: np.ndarray, resize: str = "stretch") -> np.ndarray:
        out = []
        with torch.inference_mode(), exact_float32():
            for i in range(0, len(clips), self.batch):
                x = resize_clips(clips[i : i + self.batch], resize, device=self.device)
                out.append(self.net(x).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


FeatureFn = Callable[..., np.ndarray]  # (uint8 clips [N, T, H, W, 3], resize=...) -> [N, D]


def process_group() -> tuple[int, int]:
    """(rank, world size) of torch.distributed when it is initialised, else (0, 1)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def my_batches(n: int, batch: int, rank: int, world: int) -> list[range]:
    """The global index ranges `[b * batch, (b + 1) * batch)` this process computes: b = rank, rank + world, ..."""
    return [range(b * batch, min(n, (b + 1) * batch)) for b in range(rank, math.ceil(n / batch), world)]


def extract_shard(
    n: int,
    load: Callable[[Sequence[int]], np.ndarray],
    features: FeatureFn,
    rank: int = 0,
    world: int = 1,
    resize: str = "stretch",
    batch: int = 16,
    progress: str | None = None,
) -> dict[int, np.ndarray]:
    """This process's share of the features of clips 0..n-1: {first index of a batch: features [k, D]}.

    `load(indices)` returns those clips as uint8 `[k, T, H, W, 3]`.
    """
    parts = {}
    for r in _progress(my_batches(n, batch, rank, world), progress, rank):
        parts[r.start] = np.asarray(features(load(list(r)), resize=resize), dtype=np.float32)
    return parts


def merge_shards(shards: Sequence[dict[int, np.ndarray]]) -> np.ndarray:
    """All features in index order from the shards of every process."""
    parts = {k: v for s in shards for k, v in s.items()}
    return np.concatenate([parts[k] for k in sorted(parts)])


def extract(
    n: int,
    load: Callable[[Sequence[int]], np.ndarray],
    features: FeatureFn,
    resize: str = "stretch",
    batch: int = 16,
    progress: str | None = None,
) -> np.ndarray:
    """Features `[n, D]` of clips 0..n-1, shared among the processes of torch.distributed when it runs."""
    rank, world = process_group()
    shard = extract_shard(n, load, features, rank, world, resize, batch, progress)
    if world == 1:
        return merge_shards([shard])
    everything = [None] * world
    torch.distributed.all_gather_object(everything, shard)
    return merge_shards(everything)


def _progress(batches: list[range], desc: str | None, rank: int) -> Iterator[range]:
    if desc is None or rank != 0:
        yield from batches
        return

    with tqdm(
        total=sum(len(r) for r in batches), desc=desc, unit="clip", file=sys.stderr, leave=False, dynamic_ncols=True
    ) as bar:
        for r in batches:
            yield r
            bar.update(len(r))
