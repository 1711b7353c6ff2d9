"""Building blocks shared by the generator and the discriminators.

All layers use the equalised learning rate of StyleGAN (Karras et al. 2018,
Sec. 4.1): parameters are stored at unit scale and multiplied by their He
constant at run time, so Adam treats every layer alike.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2  # every StyleGAN2 layer's activation: leaky ReLU 0.2 with gain sqrt(2)
LRELU_GAIN = math.sqrt(2.0)


class EqualLinear(nn.Module):
    """Fully connected layer with equalised learning rate and an optional lrelu."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias_init: float = 0.0,
        lr_multiplier: float = 1.0,
        activation: bool = False,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_multiplier))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.lr_multiplier = lr_multiplier
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Unlike EqualConv2d, the gain multiplies the output: these layers are small, and the generator's
        # mapping network and motion MLP then compute bit for bit what earlier versions did, so a snapshot
        # renders the frames it always rendered (tests/test_old_files.py).
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_multiplier)
        return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN if self.activation else x

    def extra_repr(self) -> str:
        out_f, in_f = self.weight.shape
        return f"{in_f} -> {out_f}, lr_multiplier={self.lr_multiplier}, activation={self.activation}"


def lowpass_filter() -> torch.Tensor:
    """The separable [1, 3, 3, 1] binomial filter of StyleGAN2, normalised to sum 1."""
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = torch.outer(f, f)
    return f / f.sum()


def blur(x: torch.Tensor, f: torch.Tensor, pad: int, stride: int = 1) -> torch.Tensor:
    """Depthwise 2D filtering with zero padding `pad` on every side (plain conv2d; its own padding, so no
    padded copy of `x` is made)."""
    c = x.shape[1]
    weight = f.to(x.dtype)[None, None].expand(c, 1, *f.shape)
    return F.conv2d(x, weight, stride=stride, padding=pad, groups=c)


class EqualConv2d(nn.Module):
    """Conv with equalised learning rate; `down=True` halves the size with a low-pass filter first.

    Down-sampling follows StyleGAN2 (anti-aliasing before striding): a 3x3 conv
    filters with [1,3,3,1] padded by 2 and then convolves with stride 2; a 1x1
    conv filters with stride 2 (padding 1) and then applies the 1x1 weights.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        bias: bool = True,
        activation: bool = True,
        down: bool = False,
        gain: float = 1.0,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.activation, self.down, self.gain = activation, down, gain
        self.kernel_size = kernel_size
        if down:
            self.register_buffer("filter", lowpass_filter(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The output gains are folded into the weights and bias, which are small, instead of multiplying the
        # activations: lrelu(y) g = leaky_relu(g y) for g > 0 and conv(x, w, b) g = conv(x, g w, g b), so the
        # activation is one pass, in place (a residual block's conv1 has g = sqrt(2) sqrt(1/2) = 1).
        g = self.gain * (LRELU_GAIN if self.activation else 1.0)
        w = self.weight * (self.weight_gain * g)
        b = self.bias * g if self.bias is not None and g != 1.0 else self.bias
        k = self.kernel_size
        if self.down and k == 1:
            x = F.conv2d(blur(x, self.filter, pad=1, stride=2), w, b)
        elif self.down:
            x = F.conv2d(blur(x, self.filter, pad=(k - 1) // 2 + 1), w, b, stride=2)
        else:
            x = F.conv2d(x, w, b, padding=k // 2)
        return F.leaky_relu_(x, LRELU_SLOPE) if self.activation else x
