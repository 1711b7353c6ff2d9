"""The optimised INR render against a plain reference: the paper's formula, written out as directly as possible.

The library's render splits each new scale's first layer (the coarse part runs on the coarse grid),
folds lrelu's gain into the weights, gathers nearest resizes in one pass and keeps the embedding in
float32 under mixed precision. The reference concatenates, multiplies, activates and resizes in the
obvious order. Tolerance: float32 rounding, 1e-4 of the output's scale (about 1/80 of a uint8 level).
"""

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from digan.config import get_preset
from digan.models import Generator
from digan.models.generator import make_coords

TOLERANCE = 1e-4


def lrelu(x):
    return F.leaky_relu(x, 0.2) * math.sqrt(2)


def resize(x, size):
    """Nearest resize of [B, T, h, w, C], rows then columns."""
    h, w = x.shape[2:4]
    rows = torch.arange(size[0]) * h // size[0]
    cols = torch.arange(size[1]) * w // size[1]
    return x.index_select(2, rows).index_select(3, cols)


def embedding(emb, code, t, coords):
    m = F.leaky_relu(code["motion"][:, None, :] * t[:, :, None] * emb.temporal_sigma, emb.motion_slope)
    m = emb.motion_mlp(m)
    spatial = torch.einsum("hwc,bnc->bhwn", coords, code["freqs"])
    phase = spatial[:, None] + (code["phase"][:, None] + m)[:, :, None, None, :]
    return torch.cat([phase.sin(), phase.cos()], dim=-1)


def reference_render(G, code, t, size, grids="nested"):
    syn = G.synthesis
    B, T = t.shape
    sizes = syn.grid_sizes(size, grids)
    x = img = None
    for (scale, new_scale, ids), torgb, rgb_weight in zip(syn.plan, syn.torgb, code.rgb):
        if x is None or new_scale:
            h, w = sizes[scale]
            emb = embedding(syn.embeddings[scale], code.embeddings[scale], t, make_coords(h, w))
            if x is None:
                x = emb
            else:
                x = torch.cat([resize(x, (h, w)), emb], dim=-1)
                img = resize(img, (h, w))
        h, w = x.shape[2:4]
        flat = x.reshape(B, T * h * w, x.shape[-1])
        for i in ids:
            layer = syn.layers[i]
            flat = lrelu(flat @ code.layers[i].transpose(1, 2) + layer.bias)
        x = flat.view(B, T, h, w, -1)
        rgb = (flat @ rgb_weight.transpose(1, 2) + torgb.bias).view(B, T, h, w, 3)
        img = rgb if img is None else img + rgb
    return img.permute(0, 1, 4, 2, 3)


@pytest.mark.parametrize("size,grids", [(None, "nested"), ((48, 40), "nested"), ((80, 64), "scaled"), (8, "nested")])
@torch.no_grad()
def test_render_matches_the_reference(tiny_G, size, grids):
    torch.manual_seed(1)
    code = tiny_G.prepare(torch.randn(2, tiny_G.z_dim), torch.randn(2, tiny_G.motion_dim))
    t = torch.tensor([[0.0, 0.4, 3.0], [1.0, 0.1, -2.0]])
    hw = (tiny_G.resolution,) * 2 if size is None else ((size,) * 2 if isinstance(size, int) else size)
    fast = tiny_G.render(code, t, size, grids=grids)
    slow = reference_render(tiny_G, code, t, hw, grids)
    assert fast.shape == slow.shape
    assert (fast - slow).abs().max() <= TOLERANCE * slow.abs().max()
    assert code.spatial is None  # a code keeps nothing per size unless it is given a place for it ...
    code = dataclasses.replace(code, spatial={})
    first = tiny_G.render(code, t, size, grids=grids)
    assert code.spatial and torch.equal(first, fast)  # ... as render_code does for the chunks of one render,
    assert torch.equal(tiny_G.render(code, t, size, grids=grids), fast)  # which then render the same frames


def test_gradients_match_the_reference(tiny_G):
    torch.manual_seed(2)
    z, zm = torch.randn(2, tiny_G.z_dim), torch.randn(2, tiny_G.motion_dim)
    t = torch.tensor([[0.0, 0.5], [0.25, 1.0]])
    grads = []
    for render in (lambda code: tiny_G.render(code, t), lambda code: reference_render(tiny_G, code, t, (32, 32))):
        tiny_G.zero_grad()
        (render(tiny_G.prepare(z, zm)) ** 2).mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in tiny_G.parameters() if p.grad is not None]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-3, atol=1e-6 * grads[1].abs().max())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.mark.parametrize("preset", ["tiny-32", "small-64"])
def test_bf16_render_stays_above_40_db(preset):
    """The mixed-precision render (bf16 MLP; float32 phases, sin/cos and RGB sum) against float32, in uint8.

    Runs where bf16 is emulated too (slowly: this is a check of the numbers, not of the speed)."""
    from digan.sampling import RenderOptions, render_videos

    torch.manual_seed(0)
    G = Generator(get_preset(preset).generator).eval()
    t = torch.linspace(0, 2, 4)
    ref = render_videos(G, [0, 1], t)
    mixed = render_videos(G, [0, 1], t, RenderOptions(precision=torch.bfloat16))
    assert psnr(mixed, ref) >= 40
