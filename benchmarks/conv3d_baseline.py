"""A conventional video discriminator for the clip-length comparison: 3D convolutions over the whole clip.

DIGAN's discriminators see two frames of a clip and their time gap, so a training step costs the
same for 16- and 128-frame clips. A 3D-convolution discriminator (TGAN, MoCoGAN, StyleGAN-V's
ancestors) sees every frame, so its cost grows with the clip. This is the smallest such baseline
of about DIGAN's discriminator's size at the same resolution: a from-RGB 1x1x1 convolution, then per
block a 3x3x3 convolution and a 3x3x3 convolution that halves time, height and width, then the mean
over the time that is left and a linear logit. Its "step" is its own training step on real and fake
clips (forward, backward, Adam): no generator, so the growth it shows is a lower bound for a whole
conventional GAN step, whose generator would render every frame too.

    python benchmarks/conv3d_baseline.py [--preset tiny-32]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from torch import nn


class VideoDiscriminator3D(nn.Module):
    """Clips `[B, T, 3, H, W]` -> logits `[B]`; widths follow a DIGAN discriminator config's."""

    def __init__(self, cfg):
        super().__init__()
        res = cfg.resolution
        resolutions = [2**i for i in range(int(math.log2(res)), 2, -1)]  # R, R/2, ..., 8
        self.from_rgb = nn.Conv3d(3, cfg.width(res), 1)
        self.blocks = nn.ModuleList()
        for r in resolutions:
            c_in, c_out = cfg.width(r), cfg.width(r // 2)
            self.blocks.append(
                nn.ModuleList([nn.Conv3d(c_in, c_in, 3, padding=1), nn.Conv3d(c_in, c_out, 3, stride=2, padding=1)])
            )
        self.out = nn.Linear(cfg.width(4) * 16, 1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.from_rgb(clips.transpose(1, 2)), 0.2)  # (B, C, T, H, W)
        for conv, down in self.blocks:
            x = F.leaky_relu(down(F.leaky_relu(conv(x), 0.2)), 0.2)
        return self.out(x.mean(dim=2).flatten(1)).squeeze(1)  # the mean over time: any clip length


def baseline_step(D: VideoDiscriminator3D, opt: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor):
    """One non-saturating logistic D step on whole clips."""
    opt.zero_grad(set_to_none=True)
    loss = F.softplus(D(fake)).mean() + F.softplus(-D(real)).mean()
    loss.backward()
    opt.step()


def step_time(cfg, frames: int, batch: int, repeats: int) -> float:
    """Best seconds of a baseline step on `batch` real and `batch` fake clips of `frames` frames."""
    torch.manual_seed(0)
    D = VideoDiscriminator3D(cfg)
    opt = torch.optim.Adam(D.parameters(), lr=0.002, betas=(0.0, 0.99))
    shape = (batch, frames, 3, cfg.resolution, cfg.resolution)
    real, fake = torch.rand(shape) * 2 - 1, torch.rand(shape) * 2 - 1
    baseline_step(D, opt, real, fake)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        baseline_step(D, opt, real, fake)
        times.append(time.perf_counter() - start)
    return min(times)


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def main() -> None:
    from digan.config import get_preset
    from digan.models import DiganDiscriminators

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny-32", help="resolution, widths and batch of this preset")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    preset = get_preset(args.preset)
    cfg, batch = preset.discriminator, preset.training.batch
    times = {f: step_time(cfg, f, batch, args.repeats) for f in (16, 128)}
    print(
        f"3D-conv D ({parameters(VideoDiscriminator3D(cfg)) / 1e6:.2f}M parameters; DIGAN's two Ds "
        f"{parameters(DiganDiscriminators(cfg)) / 1e6:.2f}M), batch {batch}: 16 frames {times[16]:.3f} s, "
        f"128 frames {times[128]:.3f} s, ratio 128/16 = {times[128] / times[16]:.2f}"
    )


if __name__ == "__main__":
    main()
