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


# ---------------------------------------------------------------- crafted snapshot JSON (issue 24, item 16)

def test_every_crafted_snapshot_description_is_one_line_or_a_usable_snapshot(snapshot_dir, tmp_path):
    """Every field of a real snapshot's JSON replaced by a string, a number of the wrong kind or size, null, a
    list, an object, NaN or nesting past the parser's depth, or removed: load_snapshot either refuses it with
    one CheckpointError line, or gives a snapshot whose metadata the commands can use (the time base, the
    gallery page, the explorer's /info)."""
    from digan.apps.explore import Explorer
    from digan.apps.gallery import render_page
    from digan.timebase import Timebase

    from json_mutations import mutations

    run, meta_path, _ = copy_of(snapshot_dir, tmp_path)
    original = json.loads(meta_path.read_text())
    tracebacks, refused, loaded = [], 0, 0
    for name, text in mutations(original):
        meta_path.write_text(text)
        try:
            G, meta = load_snapshot(run)
            Timebase.from_meta(meta).times()
            render_page(meta, [])
            json.dumps(Explorer(G, meta).info())
            loaded += 1
        except CheckpointError as e:
            assert "\n" not in str(e) and str(run) in str(e), (name, str(e))  # one line naming the file
            refused += 1
        except Exception as e:  # noqa: BLE001: what the test looks for
            tracebacks.append(f"{name}: {type(e).__name__}: {str(e)[:80]}")
    assert not tracebacks, tracebacks
    assert refused > 200 and loaded > 20  # both kinds of outcome happened


@pytest.mark.parametrize("field, value, message", [
    ("clips_seen", "12", "clips_seen '12' is not a whole number of 0 or more"),
    ("weights", 5, "weights 5 is not the name of a file beside it"),
    ("weights", "../../other-run/snapshot.safetensors", "is not the name of a file beside it"),
    ("train_fps", 1e300, "train_fps 1e+300 is not a positive number (frames per second, at most 10000)"),
    ("clip_frames", None, "clip_frames None is not a whole number of at least 2"),
    ("preset", None, "a preset is an object with a name"),
    ("resolution", True, "resolution True is not the preset's 32"),
])
def test_crafted_snapshot_fields_are_one_line_in_the_command(snapshot_dir, tmp_path, capsys, field, value,
                                                              message):
    run, meta_path, _ = copy_of(snapshot_dir, tmp_path)
    meta = json.loads(meta_path.read_text())
    meta[field] = value
    meta_path.write_text(json.dumps(meta))
    line = cli_error(capsys, "generate", "--ckpt", run, "--out", tmp_path / "out", "--frames", "2")
    assert "not a valid snapshot description" in line and message in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("field, value, message", [
    ("spatial_sigma", None, "generator.spatial_sigma is null"),
    ("z_dim", "16", "generator.z_dim is string 16, not an integer"),
    ("z_dim", True, "generator.z_dim is boolean True, not an integer"),
    ("extra_layers", 2 ** 40, "extra_layers must be at most 64"),        # would never finish building
    ("motion_slope", 1e300, "motion_slope must lie in [0, 1]"),          # overflowed in leaky_relu
    ("fine_sigma", [1.0], "generator.fine_sigma is list, not a finite number"),
])
def test_crafted_preset_fields_are_named(snapshot_dir, tmp_path, capsys, field, value, message):
    run, meta_path, _ = copy_of(snapshot_dir, tmp_path)
    meta = json.loads(meta_path.read_text())
    meta["preset"]["generator"][field] = value
    meta_path.write_text(json.dumps(meta).replace("1e+300", "1e300"))
    line = cli_error(capsys, "generate", "--ckpt", run, "--out", tmp_path / "out", "--frames", "2")
    assert message in line, line


def test_a_snapshot_description_nested_past_the_parser_is_one_line(snapshot_dir, tmp_path, capsys):
    from json_mutations import DEEP

    run, meta_path, _ = copy_of(snapshot_dir, tmp_path)
    meta_path.write_text(meta_path.read_text()[:-1] + f', "data": {DEEP}}}')
    assert "(ValueError: nested too deeply)" in cli_error(capsys, "generate", "--ckpt", run, "--out", tmp_path / "o")
