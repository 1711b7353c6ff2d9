"""Snapshots that load but would render nonsense, or cannot fit, are refused in one line before anything is allocated."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from cli_helpers import cli_error
from digan.checkpoint import CheckpointError, load_snapshot, save_snapshot
from digan.config import get_preset
from digan.models import Generator


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory):
    preset = get_preset("tiny-32").replace_training(clip_frames=8)
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("run")
    save_snapshot(run, Generator(preset.generator).eval(), preset, 1000)
    return run


def copy_of(snapshot_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(snapshot_dir, run)
    return run, next(run.glob("*.json")), next(run.glob("*.safetensors"))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(snapshot_dir, tmp_path, capsys, value):
    run, _, weights = copy_of(snapshot_dir, tmp_path)
    state = load_file(weights)
    state["synthesis.layers.0.weight"][0, 0] = value
    save_file(state, weights)
    line = cli_error(capsys, "generate", "--ckpt", run, "--out", tmp_path / "out")
    assert "1 of 69 weight tensors hold NaN or inf (e.g. synthesis.layers.0.weight)" in line
    assert "use an earlier one" in line and not (tmp_path / "out").exists()


@pytest.mark.parametrize("change, message", [
    ({"generator": {"channel_base": 10 ** 12, "channel_max": 10 ** 9}}, "PB of weights, more than the"),
    ({"generator": {"resolution": 2 ** 30}, "resolution": 2 ** 30},
     "(ValueError: channel_base 1024 leaves the 1073741824x1073741824 block without channels"),
    ({"generator": {"z_dim": -3}}, "not a valid snapshot description (ValueError: z_dim must be at least 1, got -3)"),
    ({"generator": {"z_dim": 64}}, "weights do not match the snapshot's preset (1 of 69 tensors"),
    ({"resolution": 64}, "not a valid snapshot description (ValueError: resolution 64 is not the preset's 32)"),
    ({"clip_frames": "x"}, "clip_frames 'x' is not a whole number of at least 2"),
    ({"train_fps": -8}, "train_fps -8 is not a positive number"),
    ({"generator": {"resolution": "big"}}, "not a valid snapshot description"),
])
def test_absurd_snapshot_descriptions_are_one_line(snapshot_dir, tmp_path, capsys, change, message):
    run, meta_path, _ = copy_of(snapshot_dir, tmp_path)
    meta = json.loads(meta_path.read_text())
    meta["preset"]["generator"].update(change.pop("generator", {}))
    meta.update(change)
    meta_path.write_text(json.dumps(meta))
    assert message in cli_error(capsys, "generate", "--ckpt", run, "--out", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_absurd_clip_length_is_refused_by_the_memory_check(snapshot_dir, tmp_path, capsys):
    run, meta_path, _ = copy_of(snapshot_dir, tmp_path)
    meta = json.loads(meta_path.read_text())
    meta["clip_frames"] = meta["preset"]["training"]["clip_frames"] = 10 ** 12
    meta_path.write_text(json.dumps(meta))
    assert "frames fit (--frames, --seconds, --fps)" in cli_error(capsys, "generate", "--ckpt", run,
                                                                  "--out", tmp_path / "out")


def test_a_good_snapshot_still_loads(snapshot_dir):
    G, meta = load_snapshot(snapshot_dir)
    assert meta["clip_frames"] == 8 and all(torch.isfinite(p).all() for p in G.parameters())
    with pytest.raises(CheckpointError, match="no such file"):
        load_snapshot(snapshot_dir / "missing")


def test_a_snapshot_written_again_is_never_one_writes_json_beside_anothers_weights(tmp_path, monkeypatch):
    """A resumed run writes its last snapshot again: an interruption must leave the old pair or none."""
    import os

    import digan.checkpoint as checkpoint

    preset = get_preset("tiny-32").replace_training(clip_frames=8)
    old, new = (Generator(preset.generator).eval() for _ in range(2))
    save_snapshot(tmp_path, old, preset, 1000)

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:  # Ctrl-C while the JSON is written, after the weights
        m.setattr(checkpoint.json, "dumps", ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            save_snapshot(tmp_path, new, preset, 1000)
    G, _ = load_snapshot(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), old.state_dict().values()))
    replace = os.replace

    def killed_after_the_first_rename(src, dst):
        replace(src, dst)
        raise SystemExit("killed")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", killed_after_the_first_rename)
        with pytest.raises(SystemExit):
            save_snapshot(tmp_path, new, preset, 1000)
    with pytest.raises(CheckpointError, match="no snapshot"):  # not the old JSON over the new weights
        load_snapshot(tmp_path)
