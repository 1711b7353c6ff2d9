import pytest
import torch

from digan.config import get_preset
from digan.models import DiganDiscriminators, DiscriminatorConfig, motion_input
from digan.models.discriminator import minibatch_stddev


@pytest.fixture()
def tiny_D():
    torch.manual_seed(0)
    return DiganDiscriminators(get_preset("tiny-32").discriminator)


@pytest.mark.parametrize("batch", [1, 3, 4, 8])
def test_logit_per_input(tiny_D, batch):
    x = torch.randn(batch, 3, 32, 32)
    assert tiny_D.image(x).shape == (batch,)
    assert tiny_D.motion(torch.randn(batch, 7, 32, 32)).shape == (batch,)


def test_motion_input_layout():
    pair = torch.randn(2, 2, 3, 8, 8)
    dt = torch.tensor([0.25, 0.8])
    x = motion_input(pair, dt)
    assert x.shape == (2, 7, 8, 8)
    assert torch.equal(x[:, :3], pair[:, 0]) and torch.equal(x[:, 3:6], pair[:, 1])
    assert torch.equal(x[:, 6], dt[:, None, None].expand(2, 8, 8))


def test_motion_d_sees_dt(tiny_D):
    pair = torch.randn(4, 2, 3, 32, 32)
    a = tiny_D.motion(motion_input(pair, torch.zeros(4)))
    b = tiny_D.motion(motion_input(pair, torch.ones(4)))
    assert (a - b).abs().amax() > 1e-6


def test_minibatch_stddev_groups():
    x = torch.zeros(8, 4, 2, 2)
    x[1::2] = 1.0  # groups pair sample n with n + 4 (stride N/G): 0 with 4, 1 with 5 ...
    y = minibatch_stddev(x, group=2, channels=1)
    assert y.shape == (8, 5, 2, 2)
    assert torch.allclose(y[:, 4], torch.full((8, 2, 2), 1e-4))  # identical partners: sqrt(1e-8)
    x[4:] += 2.0  # now partners differ by 2: std 1
    assert torch.allclose(minibatch_stddev(x, group=2, channels=1)[:, 4], torch.ones(8, 2, 2))


def test_gradients_reach_every_parameter(tiny_D):
    x = torch.randn(4, 7, 32, 32)
    (tiny_D.motion(x).sum() + tiny_D.image(x[:, :3]).sum()).backward()
    assert [n for n, p in tiny_D.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


@pytest.mark.parametrize("n, stacked", [(8, True), (4, True), (12, True), (2, False), (6, False), (5, False)])
def test_fakes_and_reals_scored_together_score_as_alone(n, stacked):
    from digan.models import stack_apart, unstack

    torch.manual_seed(0)
    D = DiganDiscriminators(DiscriminatorConfig(resolution=16, channel_base=128, channel_max=32)).image
    a, b = torch.randn(n, 3, 16, 16), torch.randn(n, 3, 16, 16) * 5 + 3  # reals far from fakes
    both = stack_apart(a, b, D.cfg.mbstd_group)
    assert (both is not None) == stacked  # only where the groups of 2n are those of n
    if both is not None:
        with torch.no_grad():
            got_a, got_b = unstack(D(both), D.cfg.mbstd_group)
            torch.testing.assert_close(got_a, D(a), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(got_b, D(b), rtol=1e-5, atol=1e-5)
            mixed = D(torch.cat([a, b]))  # plain concatenation: groups of fakes and reals mix
            assert not torch.allclose(mixed[:n], D(a), rtol=1e-3, atol=1e-3)


def plain_conv(layer, x):
    """EqualConv2d as StyleGAN2 writes it: pad, blur, convolve, then lrelu times sqrt(2) and the block's gain."""
    import math

    import torch.nn.functional as F

    w, b, k = layer.weight * layer.weight_gain, layer.bias, layer.kernel_size
    if layer.down:
        pad = 1 if k == 1 else (k - 1) // 2 + 1
        c = x.shape[1]
        f = layer.filter[None, None].expand(c, 1, 4, 4)
        x = F.conv2d(F.pad(x, [pad] * 4), f, stride=2 if k == 1 else 1, groups=c)
        x = F.conv2d(x, w, b, stride=1 if k == 1 else 2)
    else:
        x = F.conv2d(x, w, b, padding=k // 2)
    if layer.activation:
        x = F.leaky_relu(x, 0.2) * math.sqrt(2)
    return x * layer.gain


@pytest.mark.parametrize("name", ["from_rgb", "blocks.0.conv0", "blocks.0.conv1", "blocks.0.skip", "conv"])
def test_gains_folded_into_the_weights_give_the_plain_layer(tiny_D, name):
    # the layer multiplies its small weights by its gains instead of its activations (docs/speed.md)
    layer = tiny_D.motion.get_submodule(name)
    torch.manual_seed(0)
    x = torch.randn(4, layer.weight.shape[1], 16, 16, requires_grad=True)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # a bias that is not zero
    ours, plain = layer(x), plain_conv(layer, x)
    g = torch.randn_like(ours)
    grads = torch.autograd.grad(ours, [x, *layer.parameters()], g)
    expected = torch.autograd.grad(plain, [x, *layer.parameters()], g)
    for a, e in zip((ours, *grads), (plain, *expected)):  # equal up to float rounding, relative to the scale
        assert (a - e).abs().max() <= 1e-5 * e.abs().max()
