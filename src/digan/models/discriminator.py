"""DIGAN's two discriminators: StyleGAN2 residual networks (Karras et al. 2020, Fig. 7b).

The image D scores single frames (3 channels). The motion D scores a pair of
frames and their time gap as one 2D image of 7 channels, [frame t1, frame t2,
dt plane] (DIGAN Sec. 3.2), so its cost does not depend on the clip length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .layers import EqualConv2d, EqualLinear


@dataclass(frozen=True)
class DiscriminatorConfig:
    resolution: int = 128  # input frame size (square, power of two >= 8)
    channel_base: int = 32768  # width at resolution r: min(channel_base / r, channel_max)
    channel_max: int = 512
    mbstd_group: int = 4  # minibatch standard deviation group size
    mbstd_channels: int = 1

    def __post_init__(self):
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise ValueError(f"`resolution` must be a power of two >= 8, got {self.resolution}")
        for name in ("channel_max", "mbstd_group", "mbstd_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1, got {getattr(self, name)}")
        if self.width(self.resolution) < 1:
            raise ValueError(
                f"`channel_base` {self.channel_base} leaves the {self.resolution}x{self.resolution} "
                "block without channels: it must be at least `resolution`"
            )
        if self.width(4) % self.mbstd_channels:
            raise ValueError(
                f"`mbstd_channels` {self.mbstd_channels} must divide the last block's {self.width(4)} channels"
            )

    def width(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)


class ResidualBlock(nn.Module):
    """conv 3x3, conv 3x3 with 2x down-sampling, plus a 1x1 down-sampled skip; sum scaled by sqrt(1/2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        gain = math.sqrt(0.5)
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, down=True, gain=gain)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, activation=False, down=True, gain=gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.conv1(self.conv0(x))


def stddev_group(batch: int, group: int) -> int:
    """The group size minibatch_stddev uses for `batch` samples: the largest divisor of it not above `group`."""
    return max(d for d in range(1, min(group, batch) + 1) if batch % d == 0)


def stack_apart(a: torch.Tensor, b: torch.Tensor, group: int) -> torch.Tensor | None:
    """`a` and `b` (n samples each) as one batch of 2n that the discriminator scores as it would score each alone:
    their minibatch-stddev groups stay the same sets and never mix a with b. None where the group size of 2n
    differs from that of n (then they must be scored apart). `unstack` splits the logits back."""
    n = a.shape[0]
    g = stddev_group(n, group)
    if b.shape[0] != n or stddev_group(2 * n, group) != g:
        return None
    # (G, M) grids side by side: the groups of the batch of 2n are the columns, a's then b's
    return torch.cat([a.reshape(g, n // g, *a.shape[1:]), b.reshape(g, n // g, *b.shape[1:])], dim=1).flatten(0, 1)


def unstack(logits: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits `[2n]` of `stack_apart(a, b)` as (a's `[n]`, b's `[n]`)."""
    g = stddev_group(logits.shape[0] // 2, group)
    grid = logits.reshape(g, 2, -1)  # (G, a or b, M)
    return grid[:, 0].flatten(), grid[:, 1].flatten()


def minibatch_stddev(x: torch.Tensor, group: int, channels: int) -> torch.Tensor:
    """Append the std of features across groups of samples (StyleGAN2 epilogue).

    Sample n is grouped with n + k * (N / G), as in StyleGAN2; G falls back to
    the largest divisor of the batch not above `group`.
    """
    n, c, h, w = x.shape
    g = stddev_group(n, group)
    y = x.reshape(g, n // g, channels, c // channels, h, w)  # (G, M, F, c, H, W)
    y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()  # (M, F, c, H, W)
    y = y.mean(dim=(2, 3, 4))  # (M, F)
    y = y.reshape(-1, channels, 1, 1).repeat(g, 1, h, w)  # (N, F, H, W)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator for `in_channels`-channel images -> one logit each."""

    def __init__(self, cfg: DiscriminatorConfig, in_channels: int):
        super().__init__()
        self.cfg, self.in_channels = cfg, in_channels
        res = cfg.resolution
        self.from_rgb = EqualConv2d(in_channels, cfg.width(res), 1)
        self.blocks = nn.Sequential(
            *[ResidualBlock(cfg.width(r), cfg.width(r // 2)) for r in (2**i for i in range(int(math.log2(res)), 2, -1))]
        )
        c4 = cfg.width(4)
        self.conv = EqualConv2d(c4 + cfg.mbstd_channels, c4, 3)
        self.fc = EqualLinear(c4 * 16, c4, activation=True)
        self.out = EqualLinear(c4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.cfg.resolution
        assert x.ndim == 4 and x.shape[1:] == (self.in_channels, r, r), x.shape
        # Channels-last activations: oneDNN's and cuDNN's convolutions skip their layout reorders (docs/speed.md).
        x = self.blocks(self.from_rgb(x.contiguous(memory_format=torch.channels_last)))
        x = minibatch_stddev(x, self.cfg.mbstd_group, self.cfg.mbstd_channels)
        x = self.conv(x).flatten(1)
        return self.out(self.fc(x)).squeeze(1)


def motion_input(pair: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
    """pair `[B, 2, 3, H, W]` and dt `[B]` -> motion-D input `[B, 7, H, W]` with a constant dt plane."""
    b, two, c, h, w = pair.shape
    assert two == 2 and c == 3 and dt.shape == (b,), (pair.shape, dt.shape)
    plane = dt.to(pair.dtype)[:, None, None, None].expand(b, 1, h, w)
    return torch.cat([pair.reshape(b, 6, h, w), plane], dim=1)


class DiganDiscriminators(nn.Module):
    """The image D and the motion D, no shared weights (DIGAN Sec. 3.2)."""

    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.cfg = cfg
        self.image = Discriminator(cfg, 3)
        self.motion = Discriminator(cfg, 7)
