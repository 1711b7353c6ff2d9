"""Converted networks compute what the authors' networks computed: frames and logits of the fixture."""

import numpy as np
import pytest
import torch
from authors_helpers import tiny_networks
from authors_writer import dump, snapshot_records, write_snapshot

from digan.authors import AuthorsSnapshotError, fold_pixel_grid, read_snapshot
from digan.models import Generator, motion_input


@pytest.fixture(scope="module")
def frames(fixtures):
    return dict(np.load(fixtures / "frames-small.npz"))


def render(G, frames, psi):
    z, z_motion, t = (torch.from_numpy(frames[k]) for k in ("z", "z_motion", "t"))
    with torch.no_grad():
        return G(z, z_motion, t[None].expand(len(z), -1), psi=psi)  # (video, time, rgb, row, column)


@pytest.mark.parametrize("psi_index", [0, 1])
def test_the_converted_generator_renders_the_authors_frames(authors_small, frames, psi_index, one_thread):
    psi = float(frames["truncation_psi"][psi_index])
    assert list(frames["t"][-2:]) == [2.0, 3.5]  # extrapolation past the clip is part of the comparison
    video = render(authors_small.generator(), frames, psi)
    expected = torch.from_numpy(frames["frames"][psi_index])
    assert video.shape == expected.shape == (3, 18, 3, 32, 32)
    assert (video - expected).abs().max() < 1e-4  # measured: 6.0e-6 (psi 1), 2.1e-6 (psi 0.5)
    w = authors_small.generator().mapping(torch.from_numpy(frames["z"]), psi)
    assert (w - torch.from_numpy(frames["w"][psi_index])).abs().max() < 1e-5


def test_without_the_pixel_grid_fold_the_frames_are_a_row_off(authors_small, frames, one_thread):
    state = dict(authors_small.G_ema)
    fold_pixel_grid(state, authors_small.preset.generator, sign=+1.0)  # undo it: the authors' weights on our grid
    G = Generator(authors_small.preset.generator)
    G.load_state_dict(state)
    assert (render(G.eval(), frames, 1.0) - torch.from_numpy(frames["frames"][0])).abs().max() > 0.1


def test_the_fold_is_their_y_shift_of_each_scale(authors_small):
    """Folded, each scale's phase is b - (2/S) Omega_y with frequencies unchanged: their coordinates at ours."""
    cfg = authors_small.preset.generator
    folded = authors_small.G_ema
    theirs = dict(folded)
    fold_pixel_grid(theirs, cfg, sign=+1.0)
    G, H = Generator(cfg).eval(), Generator(cfg).eval()
    G.load_state_dict(folded)
    H.load_state_dict(theirs)
    w = torch.randn(2, cfg.w_dim)
    z_motion = torch.randn(2, cfg.motion_dim)
    for s, size in enumerate(cfg.scale_resolutions):
        ours, raw = G.synthesis.embeddings[s].prepare(w, z_motion), H.synthesis.embeddings[s].prepare(w, z_motion)
        assert torch.equal(ours["freqs"], raw["freqs"]) and torch.equal(ours["motion"], raw["motion"])
        torch.testing.assert_close(ours["phase"], raw["phase"] - 2 / size * raw["freqs"][..., 1], atol=2e-5, rtol=0)


def test_the_converted_discriminators_give_the_authors_logits(authors_small, fixtures, one_thread):
    ref = np.load(fixtures / "d-logits-small.npz")
    pair, dt = torch.from_numpy(ref["frames"]), torch.from_numpy(ref["dt"])
    D = authors_small.discriminators()
    x = motion_input(pair, dt)
    assert torch.equal(x, torch.from_numpy(ref["motion_input"]))  # same channel order and dt plane
    with torch.no_grad():
        # the image D gets frames as training feeds them (losses.py): row 2k + j = pair k, frame j, as theirs
        motion, image = D.motion(x), D.image(pair.flatten(0, 1))
    assert (motion - torch.from_numpy(ref["motion_logits"][:, 0])).abs().max() < 1e-5  # measured 2.4e-7
    assert (image - torch.from_numpy(ref["image_logits"][:, 0])).abs().max() < 1e-5  # measured 7.2e-7


def test_the_fixture_converts_every_tensor(authors_small):
    g = authors_small.G_ema
    assert sum(v.numel() for k, v in g.items() if k != "mapping.w_avg") == 1_186_900  # the README's G size
    assert set(authors_small.G) == set(g)
    assert not torch.equal(authors_small.G["mapping.layers.0.weight"], g["mapping.layers.0.weight"])  # G is not G_ema
    assert torch.equal(authors_small.G["mapping.w_avg"], g["mapping.w_avg"])  # their EMA copies buffers


def test_our_weights_survive_the_round_trip(tmp_path, tiny_preset_authors):
    G, D = tiny_networks(tiny_preset_authors, seed=1)
    G_other, _ = tiny_networks(tiny_preset_authors, seed=2)
    snapshot = read_snapshot(write_snapshot(tmp_path / "rt.pkl", tiny_preset_authors, G, D, G=G_other))
    assert snapshot.preset.generator == tiny_preset_authors.generator
    for ours, theirs in ((G, snapshot.G_ema), (G_other, snapshot.G), (D, snapshot.D)):
        assert set(ours) == set(theirs)
        for k in ours:  # xy_affine goes through their grid and back: float rounding only
            torch.testing.assert_close(theirs[k], ours[k], atol=1e-6 if "xy_affine" in k else 0, rtol=0)


def module_of(record, path):
    for name in path.split("."):
        record = record.state["_modules"][name]
    return record


@pytest.mark.parametrize(
    "change, named",
    [
        (
            lambda r: module_of(r["G_ema"], "mapping.fc0").state["_parameters"].update(extra=torch.zeros(3)),
            "1 tensors this project's networks have no place for, e.g. mapping.fc0.extra [3]",
        ),
        (
            lambda r: (
                module_of(r["G_ema"], "synthesis.b16.conv0").state["_buffers"].update(noise_const=torch.zeros(16, 16))
            ),
            "e.g. synthesis.b16.conv0.noise_const",
        ),
        (
            lambda r: module_of(r["D"], "videoD.b4.fc").state["_parameters"].pop("bias"),
            "D has no tensor videoD.b4.fc.bias (this project's motion.fc.bias)",
        ),
        (
            lambda r: (
                module_of(r["G_ema"], "synthesis.b32.torgb").state["_parameters"].update(weight=torch.zeros(3, 5))
            ),
            "G_ema.synthesis.b32.torgb.weight has shape [3, 5]; this project's synthesis.torgb.3.weight needs",
        ),
        (
            lambda r: module_of(r["D"], "imageD.b16").state["_buffers"].update(resample_filter=torch.ones(4, 4)),
            "D.imageD.b16.resample_filter is not the [1, 3, 3, 1] resampling filter",
        ),
        (
            lambda r: module_of(r["D"], "imageD.b4.out").state.update(activation="lrelu"),
            "D.imageD.b4.out.activation is 'lrelu': this project's image.out is linear",
        ),
        (
            lambda r: module_of(r["G_ema"], "mapping.fc1").state.update(bias_gain=1),
            "G_ema.mapping: its layers have different learning-rate multipliers",
        ),
        (lambda r: module_of(r["D"], "videoD.b8.skip").state.update(down=1), "D.videoD.b8.skip.down is 1"),
    ],
    ids=["extra-param", "noise-buffer", "missing", "shape", "filter", "activation", "lr-multiplier", "down"],
)
def test_every_tensor_and_layer_has_exactly_one_place(tmp_path, tiny_preset_authors, change, named):
    G, D = tiny_networks(tiny_preset_authors)
    records = snapshot_records(tiny_preset_authors, G, D)
    change(records)
    with pytest.raises(AuthorsSnapshotError) as e:
        read_snapshot(dump(records, tmp_path / "odd.pkl"))
    assert named in str(e.value) and "\n" not in str(e.value)
