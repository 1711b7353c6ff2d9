"""DiffAugment (Zhao et al. 2020) for frame pairs: one random draw per pair.

Both frames of a pair get the same brightness, saturation, contrast and
translation (DIGAN's diffaugment), so augmentation cannot create or destroy
motion between them. It is differentiable and applied to real and fake
inputs of both discriminators.

A draw is made for a whole batch (`draw`) and applied to it or to any subset
of its pairs (`Draw.apply`): a step split into micro-batches augments each
pair exactly as the whole batch would (`--batch-gpu`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import DIFFAUGMENT

TRANSLATION_RATIO = 0.125  # shifts of up to this fraction of the side, in whole pixels


def _uniform(batch: int, g: torch.Generator, device) -> torch.Tensor:
    return torch.rand(batch, 1, 1, 1, 1, generator=g, device=device)


def brightness(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    return x + (u - 0.5)


def saturation(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=2, keepdim=True)
    return (x - mean) * (u * 2) + mean


def contrast(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(2, 3, 4), keepdim=True)  # per frame
    return (x - mean) * (u + 0.5) + mean


def shift(x: torch.Tensor, ty: torch.Tensor, tx: torch.Tensor) -> torch.Tensor:
    """Shift each pair by (ty, tx) `[B, 1]` whole pixels; exposed pixels are zero."""
    b, t, c, h, w = x.shape
    # index into a 1-pixel zero border: anything shifted in from outside reads it
    rows = (torch.arange(h, device=x.device)[None] + ty + 1).clamp(0, h + 1)  # (B, H)
    cols = (torch.arange(w, device=x.device)[None] + tx + 1).clamp(0, w + 1)  # (B, W)
    padded = F.pad(x, [1, 1, 1, 1])  # (B, T, C, H+2, W+2)
    rows = rows[:, None, None, :, None].expand(b, t, c, h, w + 2)
    out = padded.gather(3, rows)
    cols = cols[:, None, None, None, :].expand(b, t, c, h, w)
    return out.gather(4, cols)


def translation(x: torch.Tensor, g: torch.Generator, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    """Shift each pair by an integer up to `ratio` of the side, drawn from `g`."""
    return shift(x, *_shifts(x.shape[0], x.shape[-2:], g, x.device, ratio))


def _shifts(batch: int, size, g: torch.Generator, device, ratio: float = TRANSLATION_RATIO):
    sy, sx = int(size[0] * ratio + 0.5), int(size[1] * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (batch, 1), generator=g, device=device)
    tx = torch.randint(-sx, sx + 1, (batch, 1), generator=g, device=device)
    return ty, tx


POLICIES = {"color": (brightness, saturation, contrast), "translation": (shift,)}
assert tuple(POLICIES) == DIFFAUGMENT


def parse_policy(policy: str) -> list[str]:
    names = [p for p in policy.replace(" ", "").split(",") if p]
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}: expected a comma list of {', '.join(POLICIES)}")
    return names


@dataclass
class Draw:
    """The random parameters of one augmentation of a batch: (function, its tensors with the batch first)."""

    steps: list[tuple]

    def apply(self, video: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """Augment `[b, T, 3, H, W]`: the pairs `index` of the drawn batch (None: all of them), in that order."""
        for fn, *params in self.steps:
            video = fn(video, *(p if index is None else p[index] for p in params))
        return video


def draw(policy: str, batch: int, size: tuple[int, int], g: torch.Generator, device) -> Draw:
    """One draw per pair for `batch` pairs of `size` frames, in the order `diff_augment` consumes `g`."""
    steps = []
    for name in parse_policy(policy):
        if name == "color":
            steps += [(fn, _uniform(batch, g, device)) for fn in POLICIES["color"]]
        else:
            steps.append((shift, *_shifts(batch, size, g, device)))
    return Draw(steps)


def diff_augment(video: torch.Tensor, policy: str, g: torch.Generator) -> torch.Tensor:
    """Augment `[B, T, 3, H, W]` with one draw per clip, shared by its T frames."""
    return draw(policy, video.shape[0], video.shape[-2:], g, video.device).apply(video)
