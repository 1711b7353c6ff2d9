"""The Kinetics-400 I3D of FVD (Carreira & Zisserman 2017), in plain PyTorch.

A port of the TF-Hub model "deepmind/i3d-kinetics-400/1": Inception-v1
inflated to 3D, TF "SAME" padding (the odd pixel of padding goes on the high
side; max pooling pads with -inf), batch norm with eps 1e-3 and no scale. The
output is the 400-d logits averaged over time, the feature FVD and KVD use
(shared/docs/evaluation.md, "The feature network").

Module names follow the TF scopes (Conv3d_1a_7x7, Mixed_3b, ...) with the
branch names b0, b1a, b1b, b2a, b2b, b3b of the widely shared PyTorch port, so
a VideoGPT/TATS `i3d_pretrained_400.pt` state dict loads with key renames only.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3  # Sonnet v1 batch norm default, used by the TF model

# Output channels of each Inception module: (b0, b1a, b1b, b2a, b2b, b3b), kinetics-i3d i3d.py.
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def same_padding(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[int]:
    """TF "SAME" padding of a [.., T, H, W] input as an F.pad list (W first, low then high per axis)."""
    pad = []
    for n, k, s in zip(reversed(size), reversed(kernel), reversed(stride)):
        out = -(-n // s)  # ceil(n / s)
        total = max((out - 1) * s + k - n, 0)
        pad += [total // 2, total - total // 2]  # TF puts the odd pixel on the high side
    return pad


def max_pool_same(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    """TF max pooling with "SAME" padding: padded cells are -inf, so they never win."""
    pad = same_padding(x.shape[-3:], kernel, stride)
    if pad[0::2] == pad[1::2] and all(p <= k // 2 for p, k in zip(pad[0::2], reversed(kernel))):
        return F.max_pool3d(x, kernel, stride, padding=tuple(reversed(pad[0::2])))  # torch pads with -inf too
    return F.max_pool3d(F.pad(x, pad, value=float("-inf")), kernel, stride)


class BatchNorm(nn.Module):
    """Inference batch norm without scale: (x - mean) / sqrt(var + eps) + bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (-1, 1, 1, 1)  # channels of [B, C, T, H, W]
        scale = torch.rsqrt(self.running_var + BN_EPS)
        return (x - self.running_mean.view(shape)) * scale.view(shape) + self.bias.view(shape)


class Unit3D(nn.Module):
    """Conv3d (no bias, TF SAME padding) + batch norm + ReLU; the logits layer has a bias and neither."""

    def __init__(self, c_in: int, c_out: int, kernel=(1, 1, 1), stride=(1, 1, 1), batch_norm=True, relu=True):
        super().__init__()
        self.kernel, self.stride, self.relu = tuple(kernel), tuple(stride), relu
        self.conv3d = nn.Conv3d(c_in, c_out, self.kernel, self.stride, bias=not batch_norm)
        self.bn = BatchNorm(c_out) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = same_padding(x.shape[-3:], self.kernel, self.stride)
        if pad[0::2] == pad[1::2]:  # symmetric: let the convolution pad, no copy
            x = F.conv3d(x, self.conv3d.weight, self.conv3d.bias, self.stride, tuple(reversed(pad[0::2])))
        else:
            x = self.conv3d(F.pad(x, pad))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x

    def fold_batch_norm(self) -> None:
        """Fold the (fixed) batch norm into the convolution's weight and bias: same function, one op."""
        if self.bn is None:
            return
        scale = torch.rsqrt(self.bn.running_var + BN_EPS)
        weight = self.conv3d.weight.detach() * scale.view(-1, 1, 1, 1, 1)
        bias = self.bn.bias - self.bn.running_mean * scale
        self.conv3d = nn.Conv3d(self.conv3d.in_channels, self.conv3d.out_channels, self.kernel, self.stride)
        self.conv3d.weight.data.copy_(weight)
        self.conv3d.bias.data.copy_(bias)
        self.bn = None


class InceptionModule(nn.Module):
    """Four branches on one input, concatenated on channels: 1x1; 1x1-3x3x3; 1x1-3x3x3; max-pool-1x1."""

    def __init__(self, c_in: int, c: tuple[int, ...]):
        super().__init__()
        self.b0 = Unit3D(c_in, c[0])
        self.b1a = Unit3D(c_in, c[1])
        self.b1b = Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a = Unit3D(c_in, c[3])
        self.b2b = Unit3D(c[3], c[4], (3, 3, 3))
        self.b3b = Unit3D(c_in, c[5])
        self.heads: Unit3D | None = None  # b0, b1a, b2a merged into one 1x1 conv by fuse()
        self.out_channels = c[0] + c[2] + c[4] + c[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.heads is None:
            y0, y1, y2 = self.b0(x), self.b1a(x), self.b2a(x)
        else:
            sizes = [self.b0.conv3d.out_channels, self.b1a.conv3d.out_channels, self.b2a.conv3d.out_channels]
            y0, y1, y2 = self.heads(x).split(sizes, dim=1)
        y3 = self.b3b(max_pool_same(x, (3, 3, 3), (1, 1, 1)))
        return torch.cat([y0, self.b1b(y1), self.b2b(y2), y3], dim=1)

    def fuse(self) -> None:
        """One 1x1 conv for the three 1x1 heads that read the module input (after folding batch norm)."""
        units = [self.b0, self.b1a, self.b2a]
        for u in units + [self.b1b, self.b2b, self.b3b]:
            u.fold_batch_norm()
        c_in = self.b0.conv3d.in_channels
        c_out = sum(u.conv3d.out_channels for u in units)
        self.heads = Unit3D(c_in, c_out, batch_norm=False)
        self.heads.conv3d.weight.data.copy_(torch.cat([u.conv3d.weight for u in units]))
        self.heads.conv3d.bias.data.copy_(torch.cat([u.conv3d.bias for u in units]))


class I3D(nn.Module):
    """Kinetics-400 I3D: clips `[B, T, 3, H, W]` in [-1, 1] -> logits `[B, 400]` averaged over time.

    The published features use 224x224 input; there the final pooling leaves
    a 1x1 space. T must be at least 9 so that the time axis survives the
    2-frame average pool.
    """

    num_classes = 400

    def __init__(self):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        c = 192
        for name, channels in MIXED.items():
            self.add_module(name, InceptionModule(c, channels))
            c = getattr(self, name).out_channels
        self.logits = Unit3D(c, self.num_classes, batch_norm=False, relu=False)
        self.channels_last = False  # set by fused(): NDHWC activations, faster convolutions on CPU

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 5 and x.shape[2] == 3, f"expected [B, T, 3, H, W], got {list(x.shape)}"
        assert x.shape[1] >= 9, f"I3D needs at least 9 frames, got {x.shape[1]}"
        x = x.transpose(1, 2)  # (B, 3, T, H, W)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        x = self.Conv3d_1a_7x7(x)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_2a_3x3
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x))
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))  # MaxPool3d_3a_3x3
        x = self.Mixed_3c(self.Mixed_3b(x))
        x = max_pool_same(x, (3, 3, 3), (2, 2, 2))  # MaxPool3d_4a_3x3
        for name in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
            x = getattr(self, name)(x)
        x = max_pool_same(x, (2, 2, 2), (2, 2, 2))  # MaxPool3d_5a_2x2
        x = self.Mixed_5c(self.Mixed_5b(x))
        x = F.avg_pool3d(x, (2, 7, 7), stride=1)  # VALID: (B, 1024, T', 1, 1) at 224x224
        x = self.logits(x)  # (B, 400, T', H', W')
        return x.mean(dim=(2, 3, 4))  # time average of the logits (space is 1x1 at 224x224)

    def fused(self) -> I3D:
        """A copy computing the same function faster: batch norm folded, 1x1 heads merged, channels last."""
        net = copy.deepcopy(self)
        for m in list(net.modules()):  # fuse() adds modules
            if isinstance(m, InceptionModule):
                m.fuse()
            elif isinstance(m, Unit3D):
                m.fold_batch_norm()
        net.channels_last = True
        return net.to(memory_format=torch.channels_last_3d).requires_grad_(False).eval()
