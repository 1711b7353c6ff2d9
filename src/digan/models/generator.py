"""DIGAN's generator: latents -> the weights of an INR v(x, y, t) -> RGB.

The INR is INR-GAN's multi-scale per-pixel MLP (Skorokhodov et al. 2021)
whose layers are modulated by the content code w through factorized
multiplicative modulation, and whose spatial Fourier features get their phase
shifted by a motion code that depends on t (DIGAN Sec. 3.1, Eq. 2-3).

Everything that depends only on the latents (FMM weights, ToRGB styles,
Fourier frequencies and phases, the motion direction) is computed once per
video by `prepare`; `render` then evaluates any set of times at any size.
Every pixel of every frame is independent of the other frames, so rendering
in chunks, alone or in any order gives the same frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .layers import LRELU_GAIN, LRELU_SLOPE, EqualLinear

MAX_LAYERS = 64  # mapping and extra layers (the authors use 2 and 1): a crafted 2**70 would never finish building


@dataclass(frozen=True)
class GeneratorConfig:
    resolution: int = 128  # training frame size (square, power of two)
    input_resolution: int = 32  # coarsest feature grid; blocks up to this size run on it
    z_dim: int = 512  # content latent z_I
    motion_dim: int = 512  # motion latent z_M, used raw (not mapped)
    w_dim: int = 512  # mapped content code w
    mapping_layers: int = 2
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 32768  # block width at resolution r: min(channel_base / r, channel_max)
    channel_max: int = 512
    extra_layers: int = 1  # extra modulated layers in the last block (authors: {"128": 1})
    fmm_rank: int = 10  # rank r of A B in FMM
    fourier_features: int = 128  # predicted 2-D frequencies per scale; embedding = sin and cos
    spatial_sigma: float = math.sqrt(10)  # sigma_x = sigma_y (Sec. 4)
    fine_sigma: float | None = None  # sigma_x = sigma_y of the scales finer than the input grid; None: spatial_sigma
    temporal_sigma: float = 0.25  # sigma_t (Sec. 4)
    motion_slope: float = 0.01  # leaky-ReLU slope inside the motion path (authors' code)
    w_avg_beta: float = 0.995  # running mean of w, for truncation

    def __post_init__(self):
        for name in ("resolution", "input_resolution"):
            r = getattr(self, name)
            if r < 4 or r & (r - 1):
                raise ValueError(f"`{name}` must be a power of two >= 4, got {r}")
        if self.input_resolution > self.resolution:
            raise ValueError("`input_resolution` cannot exceed `resolution`")
        for name in (
            "z_dim",
            "motion_dim",
            "w_dim",
            "mapping_layers",
            "channel_base",
            "channel_max",
            "fmm_rank",
            "fourier_features",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be at least 1, got {getattr(self, name)}")
        if self.extra_layers < 0:
            raise ValueError(f"`extra_layers` must be 0 or more, got {self.extra_layers}")
        for name in ("mapping_layers", "extra_layers"):
            if getattr(self, name) > MAX_LAYERS:
                raise ValueError(f"`{name}` must be at most {MAX_LAYERS}, got {getattr(self, name)}")
        if self.width(self.resolution) < 1:
            raise ValueError(
                f"`channel_base` {self.channel_base} leaves the {self.resolution}x{self.resolution} "
                "block without channels: it must be at least `resolution`"
            )
        for name in (
            "spatial_sigma",
            "fine_sigma",
            "temporal_sigma",
            "mapping_lr_multiplier",
            "motion_slope",
            "w_avg_beta",
        ):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"`{name}` must be a finite number of 0 or more, got {value}")
        for name in ("motion_slope", "w_avg_beta"):  # a leaky-ReLU slope, a running mean's decay
            if not getattr(self, name) <= 1:
                raise ValueError(f"`{name}` must lie in [0, 1], got {getattr(self, name)}")

    def width(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def block_resolutions(self) -> list[int]:
        return [2**i for i in range(2, int(math.log2(self.resolution)) + 1)]

    def sigma(self, scale: int) -> float:
        """Spatial Fourier scale of embedding `scale` (0 = the input grid)."""
        return self.spatial_sigma if scale == 0 or self.fine_sigma is None else self.fine_sigma

    @property
    def scale_resolutions(self) -> list[int]:
        """Grids that get a fresh coordinate embedding: the input grid, then each finer block."""
        return [r for r in self.block_resolutions if r >= self.input_resolution]


GRID_MODES = ("nested", "scaled")


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """z_I -> w: a 2-layer MLP with learning-rate multiplier 0.01 (StyleGAN2), tracking mean w."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        dims = [cfg.z_dim] + [cfg.w_dim] * cfg.mapping_layers
        self.layers = nn.Sequential(
            *[
                EqualLinear(i, o, lr_multiplier=cfg.mapping_lr_multiplier, activation=True)
                for i, o in zip(dims[:-1], dims[1:])
            ]
        )
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))
        self.w_avg_beta = cfg.w_avg_beta

    def forward(self, z: torch.Tensor, psi: float = 1.0, update_w_avg: bool = False) -> torch.Tensor:
        w = self.layers(normalize_2nd_moment(z))
        if update_w_avg:
            self.w_avg.copy_(w.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        if psi != 1.0:  # truncation trick: pull w towards its mean
            w = self.w_avg.lerp(w, psi)
        return w


class FMMLinear(nn.Module):
    """Per-pixel linear layer with factorized multiplicative modulation (INR-GAN Sec. 3.2).

    W(w) = W_shared * (1 + A B / sqrt(r)), A: c_out x r and B: r x c_in from an
    affine map of w; each output row is normalised to unit norm (demodulation).
    """

    def __init__(self, in_features: int, out_features: int, w_dim: int, rank: int):
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.affine = EqualLinear(w_dim, (in_features + out_features) * rank)
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))

    def modulated_weight(self, w: torch.Tensor) -> torch.Tensor:
        """Per-video weights `[B, c_out, c_in]`."""
        ab = self.affine(w)
        left = ab[:, : self.out_features * self.rank].view(-1, self.out_features, self.rank)
        right = ab[:, self.out_features * self.rank :].view(-1, self.rank, self.in_features)
        weight = self.weight * (1 + left @ right / math.sqrt(self.rank))
        return weight * (weight.square().sum(dim=2, keepdim=True) + 1e-8).rsqrt()

    def apply_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """x `[B, N, c_in]` (all pixels of all frames of a video) -> `[B, N, c_out]`.

        lrelu's gain is folded into the weights (lrelu(y) * g = leaky_relu(g y) for g > 0), so the
        activation is one in-place pass over the output.
        """
        y = torch.baddbmm(self.bias.expand(x.shape[0], 1, -1) * LRELU_GAIN, x, weight.transpose(1, 2) * LRELU_GAIN)
        return F.leaky_relu_(y, LRELU_SLOPE)

    def apply_embedded(
        self,
        sc: torch.Tensor,
        theta: torch.Tensor,
        weight: torch.Tensor,
        coarse: torch.Tensor | None = None,
        cells: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The first layer of a scale, on [coarse features resized; the embedding of every frame] -> `[B, P*T, c_out]`.

        sc `[B, P, 2n]` and theta `[B, T, n]`: the embedding's parts (`CoordEmbedding`) at P pixels;
        coarse `[B, Pc*T, c_x]` (or None at the first scale) and `cells` `[P]`: which coarse pixel each pixel
        takes (nearest). Rows are (pixel, frame) pairs. Two identities keep the work down, each exact up to
        float rounding (tested against the plain formula):
        - a nearest resize copies pixels and the layer is per pixel, so W_x resize(x) = resize(W_x x):
          the coarse part runs on the smaller grid (a quarter of the pixels when the grid doubles) and
          nothing is concatenated;
        - W_e [sin(S + theta), cos(S + theta)] = W'(theta) [sin S, cos S] (`frame_weights`): the
          embedding's sin and cos run once per pixel, not once per pixel and frame, and phases stay float32.
        """
        B, P, two_n = sc.shape
        T = theta.shape[1]
        weight = weight * LRELU_GAIN
        c_x = weight.shape[2] - two_n
        bias = (self.bias * LRELU_GAIN).expand(B, 1, -1)  # (B, 1, c_out)
        per_frame = frame_weights(weight[:, :, c_x:], theta)  # (B, 2n, T*c_out)
        if coarse is None:
            y = torch.baddbmm(bias.repeat(1, 1, T), sc, per_frame)  # (B, P, T*c_out)
        else:
            Pc = coarse.shape[1] // T
            if Pc > P:  # rendering below the coarse grid's size: resize first
                coarse = coarse.view(B, Pc, -1).index_select(1, cells).view(B, P * T, c_x)
                cells = None
            y = torch.baddbmm(bias, coarse, weight[:, :, :c_x].transpose(1, 2))  # (B, Pc*T or P*T, c_out)
            y = y.view(B, -1, T * self.out_features)  # (B, Pc or P, T*c_out)
            if cells is not None:
                y = y.index_select(1, cells)  # (B, P, T*c_out)
            y = y.baddbmm_(sc.to(y.dtype), per_frame.to(y.dtype))
        return F.leaky_relu_(y.view(B, P * T, -1), LRELU_SLOPE)


def frame_weights(weight: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Weights `[B, c_out, 2n]` on [sin(S + theta), cos(S + theta)] -> `[B, 2n, T*c_out]` on [sin S, cos S], a block
    per frame: W_s sin(S + theta) + W_c cos(S + theta) = (W_s cos theta - W_c sin theta) sin S
    + (W_s sin theta + W_c cos theta) cos S, theta `[B, T, n]`, per channel."""
    B, c_out, two_n = weight.shape
    n = two_n // 2
    w_s, w_c = weight[:, None, :, :n], weight[:, None, :, n:]  # (B, 1, c_out, n)
    cos, sin = theta.cos()[:, :, None, :], theta.sin()[:, :, None, :]  # (B, T, 1, n)
    per_frame = torch.cat([w_s * cos - w_c * sin, w_s * sin + w_c * cos], dim=-1)  # (B, T, c_out, 2n)
    return per_frame.permute(0, 3, 1, 2).reshape(B, two_n, -1)  # (B, 2n, T*c_out)


class ToRGB(nn.Module):
    """Modulated 1x1 ToRGB of StyleGAN2: styles from w, no demodulation, linear output."""

    def __init__(self, in_features: int, w_dim: int):
        super().__init__()
        self.affine = EqualLinear(w_dim, in_features, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(3, in_features))
        self.bias = nn.Parameter(torch.zeros(3))
        self.style_gain = 1.0 / math.sqrt(in_features)

    def modulated_weight(self, w: torch.Tensor) -> torch.Tensor:
        return self.weight * (self.affine(w) * self.style_gain)[:, None, :]  # (B, 3, c_in)

    def apply_weight(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias.expand(x.shape[0], 1, -1), x, weight.transpose(1, 2))


class CoordEmbedding(nn.Module):
    """Spatial Fourier features with w-predicted frequencies, phase-shifted by motion (DIGAN Eq. 3).

    emb(p, t) = [sin(Omega p + b + f_M(a t)), cos(...)], Omega = sigma_xy * (freqs from w),
    a = sigma_t * Linear([w; z_M]). Time enters the generator only here.
    """

    def __init__(self, cfg: GeneratorConfig, spatial_sigma: float):
        super().__init__()
        n = cfg.fourier_features
        self.n = n
        self.xy_affine = EqualLinear(cfg.w_dim, 3 * n)  # n 2-D frequencies and n phases
        self.motion_affine = EqualLinear(cfg.w_dim + cfg.motion_dim, n)
        self.motion_mlp = nn.Sequential(EqualLinear(n, n, activation=True), EqualLinear(n, n))
        self.spatial_sigma, self.temporal_sigma = spatial_sigma, cfg.temporal_sigma
        self.motion_slope = cfg.motion_slope

    @property
    def channels(self) -> int:
        return 2 * self.n

    def prepare(self, w: torch.Tensor, z_motion: torch.Tensor) -> dict[str, torch.Tensor]:
        xy = self.xy_affine(w)
        return {
            "freqs": self.spatial_sigma * xy[:, : 2 * self.n].view(-1, self.n, 2),  # (B, n, 2)
            "phase": xy[:, 2 * self.n :],  # (B, n)
            "motion": self.motion_affine(torch.cat([w, z_motion], dim=1)),  # (B, n)
        }

    # The embedding comes in two parts: frame t's is [sin(S + theta_t), cos(S + theta_t)] with S the spatial
    # phases and theta_t the temporal ones (`FMMLinear.apply_embedded` combines them). Both in float32 under
    # mixed precision too: phases reach tens of radians, and bf16 keeps 8 bits of them.

    def spatial(self, code: dict[str, torch.Tensor], coords: torch.Tensor) -> torch.Tensor:
        """coords `[h, w, 2]` -> [sin S, cos S] `[B, h*w, 2n]`, S = Omega p + b's spatial part."""
        with torch.autocast(coords.device.type, enabled=False):
            spatial = torch.einsum("hwc,bnc->bhwn", coords.float(), code["freqs"]).flatten(1, 2)  # (B, h*w, n)
            return torch.cat([spatial.sin(), spatial.cos()], dim=-1)

    def temporal(self, code: dict[str, torch.Tensor], t: torch.Tensor) -> torch.Tensor:
        """t `[B, T]` -> theta `[B, T, n]`: the phase b plus the motion path f_M(a t)."""
        with torch.autocast(t.device.type, enabled=False):
            m = F.leaky_relu(
                code["motion"][:, None, :] * t.float()[:, :, None] * self.temporal_sigma, self.motion_slope
            )
            return code["phase"][:, None] + self.motion_mlp(m)  # (B, T, n)


def make_coords(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Top-left pixel corners `[h, w, 2]`: x = -1 + 2j/w rightwards, y = 1 - 2i/h upwards.

    Grids nest (the grid at size N is the even pixels of the grid at 2N), so
    renders at other sizes agree exactly with the training size (docs/conventions.md).
    """
    x = torch.arange(w, device=device, dtype=dtype) * (2.0 / w) - 1
    y = 1 - torch.arange(h, device=device, dtype=dtype) * (2.0 / h)
    return torch.stack(torch.broadcast_tensors(x[None, :], y[:, None]), dim=-1)


def nearest_cells(source: tuple[int, int], size: tuple[int, int], device=None) -> torch.Tensor:
    """For a nearest resize from `source` (h, w) to `size` (H, W): the flat source pixel `[H*W]` of each output pixel;
    output pixel (i, j) takes input cell (floor(i * h / H), floor(j * w / W))."""
    (h, w), (H, W) = source, size
    rows = torch.arange(H, device=device) * h // H
    cols = torch.arange(W, device=device) * w // W
    return (rows[:, None] * w + cols[None, :]).flatten()


@dataclass
class VideoCode:
    """What a video's INR is made of: everything that does not depend on t or on the size."""

    layers: list[torch.Tensor]
    rgb: list[torch.Tensor]
    embeddings: list[dict[str, torch.Tensor]] = field(default_factory=list)
    # Where renders without gradients keep [sin S, cos S] of each (scale, h, w): it does not depend on t.
    # `sampling.render_code` gives its copy of the code one for the chunks of frames of one render;
    # None (the default): computed at each call, so a code that lives long holds nothing per size.
    spatial: dict[tuple[int, int, int], torch.Tensor] | None = field(default=None, repr=False)

    @property
    def batch(self) -> int:
        return self.layers[0].shape[0]


class SynthesisNetwork(nn.Module):
    """The multi-scale INR: per-pixel FMM MLP with fresh coordinate embeddings at each new scale."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        self.embeddings = nn.ModuleList([CoordEmbedding(cfg, cfg.sigma(i)) for i in range(len(cfg.scale_resolutions))])
        emb = self.embeddings[0].channels
        self.layers = nn.ModuleList()
        self.torgb = nn.ModuleList()
        self.plan = []  # per block: (index of its scale, indices of its layers)
        in_ch = emb
        last = cfg.block_resolutions[-1]
        for res in cfg.block_resolutions:
            out_ch = cfg.width(res)
            new_scale = res > cfg.input_resolution
            scale = cfg.scale_resolutions.index(res) if new_scale else 0
            count = 1 if res == 4 else 2
            count += cfg.extra_layers if res == last else 0
            ids = []
            for k in range(count):
                c_in = in_ch + (emb if new_scale and k == 0 else 0)
                ids.append(len(self.layers))
                self.layers.append(FMMLinear(c_in, out_ch, cfg.w_dim, cfg.fmm_rank))
                in_ch = out_ch
            self.plan.append((scale, new_scale, ids))
            self.torgb.append(ToRGB(out_ch, cfg.w_dim))

    @property
    def num_ws(self) -> int:
        """Consumers of w, in the order of a per-layer code w+: modulated layers, ToRGBs, coordinate embeddings."""
        return len(self.layers) + len(self.torgb) + len(self.embeddings)

    def prepare(self, w: torch.Tensor, z_motion: torch.Tensor) -> VideoCode:
        """The INR of each video from w `[B, w_dim]`, or one w per consumer `[B, num_ws, w_dim]` (w+,
        Abdal et al. 2019, for inversion), and z_M `[B, motion_dim]`."""
        assert w.ndim in (2, 3) and z_motion.ndim == 2 and w.shape[0] == z_motion.shape[0], (w.shape, z_motion.shape)
        if w.ndim == 2:
            ws = [w] * self.num_ws
        else:
            assert w.shape[1] == self.num_ws, (w.shape, self.num_ws)
            ws = w.unbind(1)
        n_layers, n_rgb = len(self.layers), len(self.torgb)
        return VideoCode(
            layers=[layer.modulated_weight(v) for layer, v in zip(self.layers, ws[:n_layers])],
            rgb=[rgb.modulated_weight(v) for rgb, v in zip(self.torgb, ws[n_layers : n_layers + n_rgb])],
            embeddings=[emb.prepare(v, z_motion) for emb, v in zip(self.embeddings, ws[n_layers + n_rgb :])],
        )

    def grid_sizes(self, size: tuple[int, int], grids: str = "nested") -> list[tuple[int, int]]:
        """Feature grid of each scale for output size (H, W); the finest is always (H, W).

        nested: the coarser grids keep their training sizes, so the model stays the
          piecewise function it was trained as and every render agrees exactly with
          the training-size frames (docs/conventions.md); enlarged, coarse features
          show as blocks.
        scaled: every grid scales with the output (INR-GAN's multi-scale INR sampled
          more densely at every scale), so the coarse MLP is evaluated between its
          training coordinates too: smooth detail when enlarging, agreement with
          the training-size frames only approximate.
        """
        if grids not in GRID_MODES:
            raise ValueError(f"unknown grid mode '{grids}': expected one of {', '.join(GRID_MODES)}")
        R = self.cfg.resolution
        if grids == "nested":
            sizes = [(r, r) for r in self.cfg.scale_resolutions]
        else:
            sizes = [
                (max(1, round(r * size[0] / R)), max(1, round(r * size[1] / R))) for r in self.cfg.scale_resolutions
            ]
        sizes[-1] = size
        return sizes

    def forward(
        self,
        code: VideoCode,
        t: torch.Tensor,
        size: tuple[int, int],
        grids: str = "nested",
        coords: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """t `[B, T]` -> video `[B, T, 3, H, W]` at size (H, W).

        `coords` `[H, W, 2]` replaces `make_coords(H, W)` at the finest scale (the ONNX export takes the
        output grid as an input, `digan.apps.onnx`); the coarser scales keep their own grids.
        """
        B, T = t.shape
        assert B == code.batch, (t.shape, code.batch)
        assert coords is None or coords.shape[-1] == 2, coords.shape
        grids = self.grid_sizes(size, grids)
        finest = len(grids) - 1
        # Features are rows of (pixel, frame) pairs, `[B, h*w*T, C]`: one MLP over every pixel of every frame.
        flat = img = None
        hw = None
        for (scale, new_scale, ids), torgb, rgb_weight in zip(self.plan, self.torgb, code.rgb):
            if flat is None or new_scale:
                h, w = grids[scale]
                emb, emb_code = self.embeddings[scale], code.embeddings[scale]
                if coords is not None and scale == finest:
                    sc = emb.spatial(emb_code, coords)  # (B, h*w, 2n)
                elif code.spatial is not None and (scale, h, w) in code.spatial:
                    sc = code.spatial[(scale, h, w)]
                else:
                    sc = emb.spatial(emb_code, make_coords(h, w, device=t.device))
                    if code.spatial is not None and not torch.is_grad_enabled():
                        code.spatial[(scale, h, w)] = sc
                theta = emb.temporal(emb_code, t)  # (B, T, n)
                cells = None if hw is None or hw == (h, w) else nearest_cells(hw, (h, w), t.device)
                flat = self.layers[ids[0]].apply_embedded(sc, theta, code.layers[ids[0]], flat, cells)
                if img is not None and cells is not None:
                    img = img.index_select(1, cells)
                hw = (h, w)
                ids = ids[1:]
            for i in ids:
                flat = self.layers[i].apply_weight(flat, code.layers[i])
            rgb = torgb.apply_weight(flat, rgb_weight).view(B, h * w, T * 3).float()
            img = rgb if img is None else img + rgb  # skip architecture: sum of every block's RGB, in float32
        return img.view(B, h, w, T, 3).permute(0, 3, 4, 1, 2)  # (B, T, 3, H, W)


class Generator(nn.Module):
    """z_I, z_M, times -> video. No output tanh: values are clamped only when saved (authors' code)."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        self.mapping = MappingNetwork(cfg)
        self.synthesis = SynthesisNetwork(cfg)

    @property
    def z_dim(self) -> int:
        return self.cfg.z_dim

    @property
    def motion_dim(self) -> int:
        return self.cfg.motion_dim

    @property
    def resolution(self) -> int:
        return self.cfg.resolution

    def prepare(
        self, z: torch.Tensor, z_motion: torch.Tensor, psi: float = 1.0, update_w_avg: bool = False
    ) -> VideoCode:
        """The per-video INR; compute once, render as many frames as needed."""
        return self.synthesis.prepare(self.mapping(z, psi, update_w_avg), z_motion)

    def render(
        self,
        code: VideoCode,
        t: torch.Tensor,
        size: int | tuple[int, int] | None = None,
        grids: str = "nested",
        precision: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Frames `[B, T, 3, H, W]` of prepared videos at times `t [B, T]` (any reals; 1 = end of a training clip).

        `grids` ('nested' or 'scaled': how the coarser scales are sampled,
        `SynthesisNetwork.grid_sizes`) matters only at other sizes than the training one. `precision`
        is the arithmetic of the per-pixel MLP: bf16 runs it under autocast, while the embedding's
        phases, sin and cos, the per-frame weights and the sum of the RGB skips stay float32.
        """
        size = check_size(size, self.cfg)
        if t.ndim == 1:
            t = t[None].expand(code.batch, -1)
        if precision == torch.float32:  # no context: an autocast around the call stays in force
            return self.synthesis(code, t.float(), size, grids)
        with torch.autocast(t.device.type, dtype=precision):
            return self.synthesis(code, t.float(), size, grids)

    def forward(
        self,
        z: torch.Tensor,
        z_motion: torch.Tensor,
        t: torch.Tensor,
        size: int | tuple[int, int] | None = None,
        psi: float = 1.0,
        grids: str = "nested",
        precision: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        return self.render(self.prepare(z, z_motion, psi), t, size, grids, precision)


def check_size(size: int | tuple[int, int] | None, cfg: GeneratorConfig) -> tuple[int, int]:
    if size is None:
        return cfg.resolution, cfg.resolution
    if isinstance(size, int):
        size = (size, size)
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"`size` must be positive, got {h}x{w}")
    return h, w
