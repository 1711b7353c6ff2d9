import math

import pytest
import torch

from digan.config import get_preset
from digan.models import Generator
from digan.models.generator import FMMLinear, make_coords


def count(module):
    return sum(p.numel() for p in module.parameters())


def latents(G, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, G.z_dim, generator=g), torch.randn(n, G.motion_dim, generator=g)


def test_paper_128_parameter_counts():
    preset = get_preset("paper-128")
    with torch.device("meta"):
        G = Generator(preset.generator)
        from digan.models import DiganDiscriminators

        D = DiganDiscriminators(preset.discriminator)
    assert count(G) == 63_538_706
    assert count(G.mapping) == 525_312
    assert count(G.synthesis) == 63_013_394
    assert count(D.motion) == 28_390_145
    assert count(D.image) == 28_389_121
    # 12 modulated layers: 7 at 32x32, 2 at 64x64, 3 at 128x128 (method.md)
    assert [layer.weight.shape[1] for layer in G.synthesis.layers] == [256] + [512] * 6 + [768, 512, 768, 256, 256]


@pytest.mark.parametrize("T,size", [(1, None), (3, 32), (5, (16, 48)), (2, 20)])
def test_output_shapes(tiny_G, T, size):
    z, zm = latents(tiny_G, 2)
    t = torch.tensor([[0.0, 0.5, 1.0, 2.5, -0.3][:T]] * 2)
    with torch.no_grad():
        video = tiny_G(z, zm, t, size=size)
    h, w = (32, 32) if size is None else ((size, size) if isinstance(size, int) else size)
    assert video.shape == (2, T, 3, h, w)
    assert torch.isfinite(video).all()


def test_gradients_reach_every_parameter(tiny_G):
    tiny_G.train()
    z, zm = latents(tiny_G, 2)
    t = torch.tensor([[0.2, 0.9], [0.4, 1.0]])
    tiny_G(z, zm, t).square().mean().backward()
    missing = [n for n, p in tiny_G.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_module_apply_reaches_every_layer(tiny_preset):
    """`G.apply(fn)`, PyTorch's idiom for a custom initialisation, visits every module (a layer's own `apply`
    method once shadowed nn.Module.apply and made it raise)."""
    G = Generator(tiny_preset.generator)
    seen = []
    G.apply(seen.append)
    assert len(seen) == len(list(G.modules()))
    assert any(isinstance(m, FMMLinear) for m in seen)


def test_same_latents_same_video(tiny_preset):
    videos = []
    for _ in range(2):
        torch.manual_seed(3)
        G = Generator(tiny_preset.generator)
        z, zm = latents(G, 1, seed=7)
        with torch.no_grad():
            videos.append(G(z, zm, torch.linspace(0, 1, 4)[None]))
    assert torch.equal(videos[0], videos[1])


def test_frame_alone_equals_frame_in_clip(tiny_G):
    z, zm = latents(tiny_G, 2)
    t = torch.tensor([[0.0, 0.3, 0.7, 1.4], [0.1, 0.2, 0.5, 3.0]])
    with torch.no_grad():
        code = tiny_G.prepare(z, zm)
        clip = tiny_G.render(code, t)
        alone = tiny_G.render(code, t[:, 2:3])
        reversed_order = tiny_G.render(code, t.flip(1))
    torch.testing.assert_close(alone[:, 0], clip[:, 2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(reversed_order.flip(1), clip, atol=1e-5, rtol=1e-5)


def test_motion_latent_changes_frames_after_t0_only(tiny_G):
    z, zm = latents(tiny_G, 1)
    zm2 = torch.randn_like(zm)
    t = torch.tensor([[0.0, 0.5, 1.0]])
    with torch.no_grad():
        a, b = tiny_G(z, zm, t), tiny_G(z, zm2, t)
    assert torch.equal(a[:, 0], b[:, 0])  # the shared first frame (DIGAN Sec. 4.3, diverse motions)
    assert (a[:, 1:] - b[:, 1:]).abs().amax() > 1e-3


def test_latent_work_is_done_once_per_video(tiny_G, monkeypatch):
    calls = []
    original = FMMLinear.modulated_weight
    monkeypatch.setattr(FMMLinear, "modulated_weight", lambda self, w: calls.append(1) or original(self, w))
    z, zm = latents(tiny_G, 1)
    with torch.no_grad():
        code = tiny_G.prepare(z, zm)
        for start in range(0, 8, 2):  # four chunks of frames
            tiny_G.render(code, torch.arange(start, start + 2)[None] / 7)
    assert len(calls) == len(tiny_G.synthesis.layers)


def test_other_sizes_agree_with_training_size(tiny_G):
    """Grids nest: the 2x render read at its even pixels is the 1x render, and the 1/2x render is the 1x render's even pixels."""
    z, zm = latents(tiny_G, 1)
    t = torch.tensor([[0.0, 0.6]])
    with torch.no_grad():
        code = tiny_G.prepare(z, zm)
        base = tiny_G.render(code, t)
        double = tiny_G.render(code, t, size=64)
        half = tiny_G.render(code, t, size=16)
    torch.testing.assert_close(double[..., ::2, ::2], base, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(half, base[..., ::2, ::2], atol=1e-5, rtol=1e-5)
    assert (double[..., 1::2, 1::2] - base).abs().amax() > 1e-4  # the extra pixels are new, not copies


def test_coordinates_follow_the_convention():
    c = make_coords(4, 8)
    assert c.shape == (4, 8, 2)
    assert c[0, 0].tolist() == [-1.0, 1.0]  # top-left corner: x = -1, y = 1
    assert math.isclose(c[0, 1, 0].item(), -1 + 2 / 8) and math.isclose(c[1, 0, 1].item(), 1 - 2 / 4)
    torch.testing.assert_close(make_coords(8, 16)[::2, ::2], c)


def test_scaled_grids_enlarge_every_scale(tiny_G):
    z, zm = latents(tiny_G, 1)
    t = torch.tensor([[0.4]])
    with torch.no_grad():
        code = tiny_G.prepare(z, zm)
        base = tiny_G.render(code, t)
        torch.testing.assert_close(tiny_G.render(code, t, grids="scaled"), base)  # same at the training size
        nested = tiny_G.render(code, t, size=128)
        scaled = tiny_G.render(code, t, size=128, grids="scaled")
    assert tiny_G.synthesis.grid_sizes((128, 128), "scaled") == [(64, 64), (128, 128)]  # tiny-32: input grid 16x16
    assert tiny_G.synthesis.grid_sizes((128, 128), "nested") == [(16, 16), (128, 128)]
    assert scaled.shape == nested.shape == (1, 1, 3, 128, 128)
    assert (scaled - nested).abs().amax() > 1e-3
    with pytest.raises(ValueError, match="grid mode"):
        tiny_G.render(code, t, grids="smooth")


def test_per_layer_codes_repeating_one_w_make_the_same_video(tiny_G):
    """w+ (one w per consumer, for inversion) with every row the same w is the plain code; rows act separately."""
    z, zm = latents(tiny_G, 2)
    t = torch.tensor([[0.0, 0.5]] * 2)
    with torch.no_grad():
        w = tiny_G.mapping(z)
        wplus = w[:, None].expand(-1, tiny_G.synthesis.num_ws, -1).clone()
        torch.testing.assert_close(
            tiny_G.render(tiny_G.synthesis.prepare(wplus, zm), t), tiny_G.render(tiny_G.synthesis.prepare(w, zm), t)
        )
        plain = tiny_G.render(tiny_G.synthesis.prepare(w, zm), t)
        wplus[:, -1] = w.flip(0)  # another w for the last coordinate embedding only
        assert (tiny_G.render(tiny_G.synthesis.prepare(wplus, zm), t) - plain).abs().amax() > 1e-3
    synthesis = tiny_G.synthesis
    assert synthesis.num_ws == len(synthesis.layers) + len(synthesis.torgb) + len(synthesis.embeddings)
