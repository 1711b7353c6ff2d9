"""DiffAugment on frame pairs: one draw per pair, shared by its frames, and differentiable."""

import pytest
import torch

from digan.training.augment import diff_augment, parse_policy, translation


def pairs_of_equal_frames(n=8, size=16, seed=0):
    """`[n, 2, 3, size, size]`: every pair's two frames are the same picture, every pair another one."""
    frame = torch.rand(n, 1, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return frame.expand(-1, 2, -1, -1, -1).clone()


@pytest.mark.parametrize("policy", ["color", "translation", "color,translation"])
def test_both_frames_of_a_pair_get_the_same_draw(policy):
    x = pairs_of_equal_frames()
    out = diff_augment(x, policy, torch.Generator().manual_seed(1))
    assert torch.equal(out[:, 0], out[:, 1])  # no motion created between the frames
    assert not torch.allclose(out, x)  # the augmentation did something
    same = diff_augment(x, policy, torch.Generator().manual_seed(1))
    assert torch.equal(out, same)  # drawn from the generator only


def test_pairs_get_different_draws():
    x = torch.full((8, 2, 3, 8, 8), 0.25)  # the same flat grey for every pair
    out = diff_augment(x, "color", torch.Generator().manual_seed(2))
    levels = out[:, 0].mean(dim=(1, 2, 3))
    assert len(torch.unique(levels)) == 8


def test_translation_shifts_by_whole_pixels_and_fills_with_zero():
    x = torch.ones(64, 2, 3, 8, 8)
    out = translation(x, torch.Generator().manual_seed(3))
    assert set(torch.unique(out).tolist()) <= {0.0, 1.0}
    exposed = (out == 0).all(dim=2)  # (B, 2, H, W)
    assert torch.equal(exposed[:, 0], exposed[:, 1])
    assert exposed.any() and not exposed.all()


def test_gradients_flow_through_every_policy():
    x = pairs_of_equal_frames().requires_grad_(True)
    diff_augment(x, "color,translation", torch.Generator().manual_seed(4)).square().sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad != 0).float().mean() > 0.5


def test_unknown_policy_is_an_error():
    assert parse_policy(" color, translation ") == ["color", "translation"]
    with pytest.raises(ValueError, match="cutout"):
        parse_policy("color,cutout")
