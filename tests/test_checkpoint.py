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


@pytest.mark.parametrize("change, message", [
    (lambda k, v: v * 10, "renders values far outside [-1, 1] (median |value|"),        # finite, absurd
    (lambda k, v: v * 1e20, "renders NaN or infinite values from finite weights"),     # overflows inside
    (lambda k, v: v * 0 if k.startswith("synthesis.torgb") else v, "renders 0 at every pixel of every video"),
])
def test_finite_but_absurd_weights_are_refused_before_a_render(snapshot_dir, tmp_path, capsys, change, message):
    """Absurd: a probe render (two videos, t = 0 and 1) that is NaN, mostly far outside [-1, 1], or one constant;
    before this check such snapshots wrote black or grey videos with exit code 0."""
    run, _, weights = copy_of(snapshot_dir, tmp_path)
    save_file({k: change(k, v) for k, v in load_file(weights).items()}, weights)
    line = cli_error(capsys, "generate", "--ckpt", run, "--out", tmp_path / "out", "--seeds", "0", "--frames", "2")
    assert message in line and "its weights are broken" in line and "use an earlier snapshot" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("dtype, shown", [(torch.float16, "F16"), (torch.float64, "F64"), (torch.bfloat16, "BF16")])
def test_weights_of_another_type_are_refused_not_cast(snapshot_dir, tmp_path, capsys, dtype, shown):
    run, _, weights = copy_of(snapshot_dir, tmp_path)
    state = load_file(weights)
    state["mapping.w_avg"] = state["mapping.w_avg"].to(dtype)
    save_file(state, weights)
    line = cli_error(capsys, "generate", "--ckpt", run, "--out", tmp_path / "out")
    assert f"1 of 69 weight tensors are {shown} (e.g. mapping.w_avg), not F32 (float32)" in line
    assert not (tmp_path / "out").exists()


def test_the_probe_passes_what_this_project_writes(snapshot_dir):
    """A new generator of every preset, and the 0.1.0 run (tests/test_old_files.py), are far from the bounds."""
    from digan.checkpoint import check_renders
    from digan.config import PRESETS

    for name in ("tiny-32", "small-64"):
        torch.manual_seed(1)
        check_renders(Generator(PRESETS[name].generator).eval(), name)  # no error
    load_snapshot(snapshot_dir)


def test_a_training_state_with_nan_or_inf_is_refused(tmp_path):
    from digan.checkpoint import load_state, save_state
    from digan.data.procedural import Shapes
    from digan.training.loop import Trainer

    trainer = Trainer(get_preset("tiny-32").replace_training(batch=2), Shapes(32, count=2))
    state = trainer.state_dict()
    save_state(tmp_path / "good.pt", state)
    assert load_state(tmp_path / "good.pt")["step"] == 0
    state["D"]["image.out.weight"] = torch.full_like(state["D"]["image.out.weight"], float("nan"))
    save_state(tmp_path / "nan.pt", state)
    with pytest.raises(CheckpointError, match=r"nan.pt: 1 tensor of this training state holds NaN or inf "
                                              r"\(e.g. D.image.out.weight\): the run diverged"):
        load_state(tmp_path / "nan.pt")
