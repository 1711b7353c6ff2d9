"""The objective: signs that make G and D play the game, R1's value, and which phase trains what."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from digan.config import TrainingConfig, get_preset
from digan.data.procedural import Shapes
from digan.models import DiscriminatorConfig
from digan.training.loop import Trainer
from digan.training.losses import DiganLoss

R = 8  # frame size of the stand-ins


class FlatG(nn.Module):
    """Renders every frame as one learnable grey level."""

    z_dim = motion_dim = 4

    def __init__(self, level: float):
        super().__init__()
        self.level = nn.Parameter(torch.tensor(level))

    def prepare(self, z, z_motion, update_w_avg=False):
        return z

    def render(self, code, t, precision=torch.float32):
        return self.level.expand(*t.shape, 3, R, R)  # (B, T, 3, R, R)


class LinearD(nn.Module):
    """Both discriminators linear in their input: logit = <w, x> + b."""

    cfg = DiscriminatorConfig(resolution=R)

    def __init__(self, w_motion: torch.Tensor, w_image: torch.Tensor, bias: float = 0.0):
        super().__init__()
        self.w_motion, self.w_image = nn.Parameter(w_motion), nn.Parameter(w_image)
        self.bias = nn.Parameter(torch.tensor(bias))

    def motion(self, x):  # x (B, 7, R, R)
        return (x * self.w_motion).sum(dim=(1, 2, 3)) + self.bias

    def image(self, x):  # x (2B, 3, R, R)
        return (x * self.w_image).sum(dim=(1, 2, 3)) + self.bias


def brightness_d(scale: float = 1.0) -> LinearD:
    """Scores a frame by its mean level (the dt plane of the motion input is ignored): bright is real."""
    w_motion = torch.full((7, R, R), scale / (6 * R * R))
    w_motion[6] = 0
    return LinearD(w_motion, torch.full((3, R, R), scale / (3 * R * R)))


def draws(seed=0):
    return np.random.default_rng(seed), torch.Generator().manual_seed(seed)


CFG = TrainingConfig(diffaugment="", clip_frames=8, r1_gamma=2.0, d_reg_interval=4)
WHITE = torch.ones(5, 2, 3, R, R)  # real pairs
DT = torch.full((5,), 0.5)


def test_r1_equals_the_analytic_penalty_of_a_linear_discriminator():
    torch.manual_seed(0)
    D = LinearD(torch.randn(7, R, R), torch.randn(3, R, R))
    out = DiganLoss(None, D, CFG).r1_loss(WHITE, DT, draws()[1])
    # grad of <w, x> with respect to the frames is w, whatever x: the motion D sees both frames (channels 0-5),
    # the image D each frame alone; the dt plane (channel 6) is not data
    r1_motion = D.w_motion[:6].square().sum().item()
    r1_image = D.w_image.square().sum().item()
    assert out["r1_motion"].item() == pytest.approx(r1_motion, rel=1e-5)
    assert out["r1_image"].item() == pytest.approx(r1_image, rel=1e-5)
    assert out["loss"].item() == pytest.approx((r1_motion + r1_image) * 2.0 / 2 * 4, rel=1e-5)  # gamma/2, interval


def test_generator_loss_pushes_fakes_towards_what_D_calls_real():
    G, D = FlatG(-0.5), brightness_d(scale=3.0)
    out = DiganLoss(G, D, CFG).generator_loss(5, *draws())
    logit = torch.tensor(3.0 * -0.5)
    assert out["G_motion"].item() == pytest.approx(F.softplus(-logit).item())  # non-saturating: softplus(-D(G(z)))
    assert out["G_image"].item() == pytest.approx(F.softplus(-logit).item())
    out["loss"].backward()
    assert G.level.grad < 0  # descending brightens the fakes: D scores bright frames as real


def test_discriminator_loss_rewards_telling_real_from_fake():
    G = FlatG(-1.0)  # black fakes, white reals
    right, wrong = brightness_d(scale=2.0), brightness_d(scale=-2.0)
    loss_right = DiganLoss(G, right, CFG).discriminator_loss(WHITE, DT, *draws())
    loss_wrong = DiganLoss(G, wrong, CFG).discriminator_loss(WHITE, DT, *draws())
    expected = F.softplus(torch.tensor(-2.0)) + F.softplus(torch.tensor(-2.0))  # softplus(D(fake)) + softplus(-D(real))
    assert loss_right["D_motion"].item() == pytest.approx(expected.item())
    assert loss_right["D_image"].item() == pytest.approx(expected.item())
    assert loss_right["loss"] < loss_wrong["loss"]
    assert loss_right["real_motion_score"] > 0 > loss_right["fake_motion_score"]
    loss_right["loss"].backward()
    assert right.bias.grad.item() == pytest.approx(0.0, abs=1e-6)  # as many reals as fakes: no pull either way
    assert G.level.grad is None  # fakes are rendered without a graph: the D phase cannot train G


def test_each_phase_trains_only_its_network_and_skipped_phases_do_not_run(monkeypatch):
    trainer = Trainer(get_preset("tiny-32").replace_training(batch=4, d_reg_interval=2), Shapes(32, count=8))

    def grads(module):
        return torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).flatten() for p in module.parameters()])

    steps = []  # (phase's network, G's gradients, D's gradients) when each optimiser steps
    original_step = torch.optim.Adam.step

    def record(opt, *args, **kwargs):
        steps.append(("G" if opt is trainer.opt_G else "D", grads(trainer.G), grads(trainer.D)))
        return original_step(opt, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", record)
    r1_calls = []
    original_r1 = trainer.loss.r1_parts
    monkeypatch.setattr(trainer.loss, "r1_parts", lambda *a: r1_calls.append(trainer.step_index) or original_r1(*a))
    for _ in range(3):
        trainer.step()
    assert r1_calls == [0, 2]  # Dreg every d_reg_interval steps only
    assert [phase for phase, _, _ in steps] == ["G", "D", "D", "G", "D", "G", "D", "D"]  # Gmain, Dmain, Dreg, ...
    for (_, g_before, d_before), (phase, g, d) in zip(steps, steps[1:]):
        # between two optimiser steps only one phase's loss is backpropagated: the other network's gradients stay
        mine, other, other_before = (g, d, d_before) if phase == "G" else (d, g, g_before)
        assert torch.equal(other, other_before), phase
        assert mine.abs().sum() > 0, phase
