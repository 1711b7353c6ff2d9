"""How close a fit is: PSNR and SSIM (Wang et al. 2004) of frames, and the loss a fit descends."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..data.clips import to_float_video

SSIM_WINDOW, SSIM_SIGMA = 11, 1.5  # Gaussian window of SSIM (Wang et al. 2004, Sec. III-C)
MAX_PSNR = 100.0  # the PSNR of identical frames, instead of infinity
PYRAMID_LEVELS = 4  # scales of the multi-scale MSE: 1, 1/2, 1/4, 1/8


def _gaussian_window(size: int, sigma: float, device, dtype) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-x.square() / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM (Wang et al. 2004, Eq. 13) of frames `[..., 3, H, W]` in [-1, 1] -> `[...]`.

    An 11x11 Gaussian window (sigma 1.5; smaller frames: the largest odd
    window that fits), valid positions only, C1 = (0.01)^2, C2 = (0.03)^2 on
    the [0, 1] scale; the mean over channels and positions.
    """
    assert x.shape == y.shape and x.ndim >= 3, (x.shape, y.shape)
    lead, (c, h, w) = x.shape[:-3], x.shape[-3:]
    x = (x.reshape(-1, c, h, w) + 1) / 2  # (n, C, H, W) on [0, 1]
    y = (y.reshape(-1, c, h, w) + 1) / 2
    k = min(SSIM_WINDOW, h, w)
    k -= 1 - k % 2
    window = _gaussian_window(k, SSIM_SIGMA, x.device, x.dtype)[None, None].expand(c, 1, k, k)

    def blur(a):
        return F.conv2d(a, window, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3)).reshape(lead)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of frames `[..., 3, H, W]` in [-1, 1] (peak-to-peak 2) -> `[...]`, at most MAX_PSNR."""
    mse = (x - y).square().mean(dim=(-3, -2, -1))
    return (10 * torch.log10(4 / mse.clamp_min(4 * 10 ** (-MAX_PSNR / 10)))).clamp_max(MAX_PSNR)


def frame_scores(real: np.ndarray, fake: np.ndarray) -> dict:
    """PSNR and SSIM of uint8 frames `[N, H, W, 3]` against each other: per frame and their means."""
    assert real.shape == fake.shape, (real.shape, fake.shape)
    x, y = to_float_video(real).double(), to_float_video(fake).double()
    p, s = psnr(x, y).tolist(), ssim(x, y).tolist()
    return {
        "psnr": [round(v, 3) for v in p],
        "psnr_mean": round(float(np.mean(p)), 3),
        "ssim": [round(v, 4) for v in s],
        "ssim_mean": round(float(np.mean(s)), 4),
    }


def fit_loss(fake: torch.Tensor, real: torch.Tensor, structure: float) -> torch.Tensor:
    """Per video, summed over frames: multi-scale MSE + structure * (1 - SSIM); fake `[B, T, 3, H, W]`,
    real `[1 or B, T, 3, H, W]` -> `[B]`.

    The multi-scale MSE is the mean of the squared errors at 1, 1/2, 1/4 and 1/8 of the size (average
    pooling): the coarse terms widen the basin of the Fourier features' frequencies and phases, which
    the full-size error alone leaves narrow.
    """
    real = real.expand_as(fake)
    # Videos are saved clamped to [-1, 1]: compare the clamped values, with the gradient passed straight
    # through the clamp, so a fake beyond a saturated real pixel costs nothing and any other one is pulled back.
    fake = fake + (fake.clamp(-1, 1) - fake).detach()
    b, t, c, h, w = fake.shape
    f, r = fake.reshape(b * t, c, h, w), real.reshape(b * t, c, h, w)
    levels = [2**k for k in range(PYRAMID_LEVELS) if 2**k <= min(h, w)]
    pixel = sum((F.avg_pool2d(f, k) - F.avg_pool2d(r, k)).square().mean(dim=(1, 2, 3)) for k in levels)
    loss = pixel.view(b, t) / len(levels)
    if structure:
        loss = loss + structure * (1 - ssim(fake, real))
    return loss.sum(dim=1)
