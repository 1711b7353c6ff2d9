"""DiffAugment (Zhao et al. 2020) for frame pairs: one random draw per pair.

Both frames of a pair get the same brightness, saturation, contrast and
translation (DIGAN's diffaugment), so augmentation cannot create or destroy
motion between them. It is differentiable and applied to real and fake
inputs of both discriminators.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import DIFFAUGMENT


def brightness(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    b = torch.rand(x.shape[0], 1, 1, 1, 1, generator=g, device=x.device) - 0.5
    return x + b


def saturation(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    s = torch.rand(x.shape[0], 1, 1, 1, 1, generator=g, device=x.device) * 2
    mean = x.mean(dim=2, keepdim=True)
    return (x - mean) * s + mean


def contrast(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    c = torch.rand(x.shape[0], 1, 1, 1, 1, generator=g, device=x.device) + 0.5
    mean = x.mean(dim=(2, 3, 4), keepdim=True)  # per frame
    return (x - mean) * c + mean


def translation(x: torch.Tensor, g: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift by an integer up to `ratio` of the side; exposed pixels are zero."""
    b, t, c, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (b, 1), generator=g, device=x.device)
    tx = torch.randint(-sx, sx + 1, (b, 1), generator=g, device=x.device)
    # index into a 1-pixel zero border: anything shifted in from outside reads it
    rows = (torch.arange(h, device=x.device)[None] + ty + 1).clamp(0, h + 1)  # (B, H)
    cols = (torch.arange(w, device=x.device)[None] + tx + 1).clamp(0, w + 1)  # (B, W)
    padded = F.pad(x, [1, 1, 1, 1])                                            # (B, T, C, H+2, W+2)
    rows = rows[:, None, None, :, None].expand(b, t, c, h, w + 2)
    out = padded.gather(3, rows)
    cols = cols[:, None, None, None, :].expand(b, t, c, h, w)
    return out.gather(4, cols)


POLICIES = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
}
assert tuple(POLICIES) == DIFFAUGMENT


def parse_policy(policy: str) -> list[str]:
    names = [p for p in policy.replace(" ", "").split(",") if p]
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}: expected a comma list of {', '.join(POLICIES)}")
    return names


def diff_augment(video: torch.Tensor, policy: str, g: torch.Generator) -> torch.Tensor:
    """Augment `[B, T, 3, H, W]` with one draw per clip, shared by its T frames."""
    for name in parse_policy(policy):
        for fn in POLICIES[name]:
            video = fn(video, g)
    return video
