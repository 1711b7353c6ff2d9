"""How frames are rendered, as one value: built once (from the command line or by a Python caller) and passed whole."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from ..models.generator import GRID_MODES

# Pixels rendered at once by every renderer (videos x frames x H x W): one 128x128 frame, whose activations
# stay below glibc's mmap threshold and near the L3 cache (docs/speed.md, "Rendering").
CHUNK_PIXELS = 2**14
PRECISIONS = {"float32": torch.float32, "bf16": torch.bfloat16}
# Truncation psi beyond this pushes w as far again from the mean w as the model ever saw it: at psi 1e30 every
# value renders NaN and the video is black. `digan explore` takes the same range.
MAX_PSI = 2.0


@dataclass(frozen=True)
class RenderOptions:
    """Everything about a render that is not which video or which times.

    size       (H, W) of the frames, or one int for a square; None: the model's training size
    grids      'nested' or 'scaled': how sizes other than the training one sample the coarser scales
               (`SynthesisNetwork.grid_sizes`)
    psi        truncation: w is pulled towards the mean w by this factor (1: none)
    precision  arithmetic of the per-pixel MLP: torch.float32 or torch.bfloat16 (`Generator.render`)
    batch      videos rendered at once
    chunk      frames rendered at once per video; None: about CHUNK_PIXELS pixels a step
    """

    size: tuple[int, int] | None = None
    grids: str = "nested"
    psi: float = 1.0
    precision: torch.dtype = torch.float32
    batch: int = 4
    chunk: int | None = None

    def __post_init__(self):
        if isinstance(self.size, int):
            object.__setattr__(self, "size", (self.size, self.size))
        if self.size is not None:
            h, w = (int(s) for s in self.size)
            if h < 1 or w < 1:
                raise ValueError(f"`size` must be positive, got {h}x{w}")
            object.__setattr__(self, "size", (h, w))
        if not (math.isfinite(self.psi) and abs(self.psi) <= MAX_PSI):
            raise ValueError(
                f"`psi` must be from {-MAX_PSI:g} to {MAX_PSI:g} (1: no truncation, 0: the mean w), got {self.psi:g}"
            )
        if self.grids not in GRID_MODES:
            raise ValueError(f"unknown `grids` '{self.grids}': expected one of {', '.join(GRID_MODES)}")
        if self.precision not in PRECISIONS.values():
            raise ValueError(f"`precision` must be torch.float32 or torch.bfloat16, got {self.precision}")
        if self.batch < 1:
            raise ValueError(f"`batch` must be at least 1, got {self.batch}")
        if self.chunk is not None and self.chunk < 1:
            raise ValueError(f"`chunk` must be at least 1, got {self.chunk}")

    def replace(self, **changes) -> "RenderOptions":
        return dataclasses.replace(self, **changes)

    def frame_size(self, resolution: int) -> tuple[int, int]:
        """(H, W) of the frames for a model trained at `resolution`."""
        return self.size or (resolution, resolution)

    def frames_per_step(self, videos: int, resolution: int) -> int:
        """Frames of each of `videos` videos rendered at once: `chunk`, else about CHUNK_PIXELS pixels a step."""
        return self.chunk or frames_per_chunk(videos, self.frame_size(resolution))


def frames_per_chunk(videos: int, size: tuple[int, int], pixels: int = CHUNK_PIXELS) -> int:
    """Frames rendered at once so that `videos` x frames x H x W stays near `pixels` (at least 1)."""
    return max(1, pixels // max(1, videos * size[0] * size[1]))
