"""Snapshots that load but would render nonsense, or cannot fit, are refused in one line before anything is allocated."""

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import cli_error, files_under
from safetensors.torch import load_file, save_file

from digan.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    from_pretrained,
    load_snapshot,
    save_pretrained,
    save_snapshot,
)
from digan.cli.main import main
from digan.config import get_preset
from digan.models import Generator
from digan.sampling import render_videos


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


@pytest.mark.parametrize(
    "change, message",
    [
        ({"generator": {"channel_base": 10**12, "channel_max": 10**9}}, "PB of weights, more than the"),
        (
            {"generator": {"resolution": 2**30}, "resolution": 2**30},
            "(ValueError: channel_base 1024 leaves the 1073741824x1073741824 block without channels",
        ),
        (
            {"generator": {"z_dim": -3}},
            "not a valid snapshot description (ValueError: z_dim must be at least 1, got -3)",
        ),
        ({"generator": {"z_dim": 64}}, "weights do not match the snapshot's preset (1 of 69 tensors"),
        ({"resolution": 64}, "not a valid snapshot description (ValueError: resolution 64 is not the preset's 32)"),
        ({"clip_frames": "x"}, "clip_frames 'x' is not a whole number of at least 2"),
        ({"train_fps": -8}, "train_fps -8 is not a positive number"),
        ({"generator": {"resolution": "big"}}, "not a valid snapshot description"),
    ],
)
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
    meta["clip_frames"] = meta["preset"]["training"]["clip_frames"] = 10**12
    meta_path.write_text(json.dumps(meta))
    assert "frames fit (--frames, --seconds, --fps)" in cli_error(
        capsys, "generate", "--ckpt", run, "--out", tmp_path / "out"
    )


def test_a_good_snapshot_still_loads(snapshot_dir):
    G, meta = load_snapshot(snapshot_dir)
    assert meta["clip_frames"] == 8 and all(torch.isfinite(p).all() for p in G.parameters())
    with pytest.raises(CheckpointError, match="no such file"):
        load_snapshot(snapshot_dir / "missing")


# ---------------------------------------------------------------- format_version and model folders


def test_snapshots_record_their_format_version_and_a_newer_one_is_refused_in_one_line(snapshot_dir, tmp_path, capsys):
    run, meta_path, _ = copy_of(snapshot_dir, tmp_path)
    meta = json.loads(meta_path.read_text())
    assert meta["format_version"] == FORMAT_VERSION == 1
    del meta["format_version"]  # as 0.2.0 and before wrote them: version 1
    meta_path.write_text(json.dumps(meta))
    assert load_snapshot(run)[1]["clip_frames"] == 8
    meta["format_version"] = FORMAT_VERSION + 1
    meta["version"] = "9.0.0"
    meta_path.write_text(json.dumps(meta))
    line = cli_error(capsys, "generate", "--ckpt", run, "--out", tmp_path / "out")
    assert f"written by digan 9.0.0 in snapshot format {FORMAT_VERSION + 1}; digan" in line
    assert f"reads formats up to {FORMAT_VERSION}: upgrade digan" in line and not (tmp_path / "out").exists()
    for bad in ("2", 0, True):
        meta_path.write_text(json.dumps({**meta, "format_version": bad}))
        with pytest.raises(CheckpointError, match="format_version .* is not a whole number of at least 1"):
            load_snapshot(run)


@pytest.fixture()
def no_hub(monkeypatch):
    """huggingface_hub cannot be imported, as where `digan[hub]` is not installed."""
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)


def test_a_model_folder_round_trips_without_the_hub_package(snapshot_dir, tmp_path, no_hub):
    G, meta = load_snapshot(snapshot_dir)
    meta["train_fps"] = 12.5
    out = save_pretrained(G, meta, tmp_path / "model", card="# card\n")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    # the snapshot's own bytes: its SHA-256 is the model's
    assert (out / "model.safetensors").read_bytes() == Path(meta["path"]).read_bytes()
    config = json.loads((out / "config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION and "weights" not in config
    assert (config["clip_frames"], config["resolution"], config["clips_seen"], config["train_fps"]) == (
        8,
        32,
        1000,
        12.5,
    )
    assert "path" not in config
    t = torch.linspace(0, 2, 5)
    for ckpt in (out, out / "config.json", out / "model.safetensors", str(out)):
        G2, meta2 = from_pretrained(ckpt)
        assert np.array_equal(render_videos(G2, [0, 3], t), render_videos(G, [0, 3], t))
        assert meta2["path"] == str(out / "model.safetensors") and meta2["train_fps"] == 12.5
    with pytest.raises(
        CheckpointError,
        match="no such folder here; fetching it as a hub repository needs "
        r"huggingface_hub \(pip install 'digan\[hub\]'\)",
    ):
        from_pretrained("someone/some-model")
    with pytest.raises(ValueError, match="`G` is not the generator of `meta`'s preset"):
        save_pretrained(
            Generator(get_preset("tiny-32").generator), {"preset": get_preset("small-64").to_dict()}, tmp_path / "other"
        )


def test_every_ckpt_takes_a_model_folder(snapshot_dir, tmp_path, capsys):
    G, meta = load_snapshot(snapshot_dir)
    save_pretrained(G, meta, tmp_path / "model")
    argv = ["--seeds", "1", "--frames", "3", "--formats", "png", "--quiet"]
    assert main(["generate", "--ckpt", str(tmp_path / "model"), "--out", str(tmp_path / "a"), *argv]) == 0
    assert main(["generate", "--ckpt", str(snapshot_dir), "--out", str(tmp_path / "b"), *argv]) == 0
    assert files_under(tmp_path / "a") == files_under(tmp_path / "b")


@pytest.mark.parametrize(
    "config, message",
    [
        (None, "not a model: no snapshot in this directory or in the run directories inside it, and no config.json"),
        (
            {"model_type": "bert", "hidden_size": 768},
            "config.json: not a digan model (format None, not 'digan-snapshot')",
        ),
        ([1, 2], "config.json: not a digan model (a JSON list, not 'digan-snapshot')"),
        ("{not json", "config.json: not a valid snapshot description (JSONDecodeError"),
        (
            {"format": "digan-snapshot", "format_version": 7, "version": "3.1.0"},
            "written by digan 3.1.0 in snapshot format 7; digan",
        ),
    ],
)
def test_a_folder_that_is_not_a_model_is_one_line(tmp_path, capsys, no_hub, config, message):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a model")
    if config is not None:
        (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    with pytest.raises(CheckpointError, match=re.escape(message)):
        from_pretrained(folder)
    assert message in cli_error(capsys, "generate", "--ckpt", folder, "--out", tmp_path / "out")


def hub_cache(cache: Path, repo: str, files: dict[str, bytes]) -> str:
    """A repository as huggingface_hub's cache holds it after a download (refs/main -> snapshots/<commit>)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    for name, data in files.items():
        (root / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
        (root / "snapshots" / commit / name).write_bytes(data)
    return commit


def test_a_hub_repository_loads_from_the_cache_offline(snapshot_dir, tmp_path, monkeypatch):
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the suite sets HF_HUB_OFFLINE=1; made certain
    G, meta = load_snapshot(snapshot_dir)
    model = save_pretrained(G, meta, tmp_path / "model")
    files = {name: (model / name).read_bytes() for name in ("config.json", "model.safetensors")}
    commit = hub_cache(tmp_path / "cache", "someone/tiny-digan", files)
    G2, meta2 = from_pretrained("someone/tiny-digan", cache_dir=tmp_path / "cache")
    assert commit in meta2["path"] and meta2["clips_seen"] == 1000
    t = torch.tensor([0.0, 0.5, 1.5])
    assert np.array_equal(render_videos(G2, [2], t), render_videos(G, [2], t))
    with pytest.raises(
        CheckpointError,
        match=r"^someone/missing: no such folder here, and not fetched from the hub "
        r"\(LocalEntryNotFoundError: ",
    ):
        from_pretrained("someone/missing", cache_dir=tmp_path / "cache")
    hub_cache(tmp_path / "cache", "someone/not-digan", {"README.md": b"# a dataset\n"})
    with pytest.raises(CheckpointError, match="the hub repository holds no config.json: not a digan model"):
        from_pretrained("someone/not-digan", cache_dir=tmp_path / "cache")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda k, v: v * 10, "renders values far outside [-1, 1] (median |value|"),  # finite, absurd
        (lambda k, v: v * 1e20, "renders NaN or infinite values from finite weights"),  # overflows inside
        (lambda k, v: v * 0 if k.startswith("synthesis.torgb") else v, "renders 0 at every pixel of every video"),
    ],
)
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
    with pytest.raises(
        CheckpointError,
        match=r"nan.pt: 1 tensor of this training state holds NaN or inf "
        r"\(e.g. D.image.out.weight\): the run diverged",
    ):
        load_state(tmp_path / "nan.pt")


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


# ---------------------------------------------------------------- crafted snapshot JSON (issue 24, item 16)


def test_every_crafted_snapshot_description_is_one_line_or_a_usable_snapshot(snapshot_dir, tmp_path):
    """Every field of a real snapshot's JSON replaced by a string, a number of the wrong kind or size, null, a
    list, an object, NaN or nesting past the parser's depth, or removed: load_snapshot either refuses it with
    one CheckpointError line, or gives a snapshot whose metadata the commands can use (the time base, the
    gallery page, the explorer's /info)."""
    from json_mutations import mutations

    from digan.apps.explore import Explorer
    from digan.apps.gallery import render_page
    from digan.timebase import Timebase

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
        except Exception as e:  # what the test looks for
            tracebacks.append(f"{name}: {type(e).__name__}: {str(e)[:80]}")
    assert not tracebacks, tracebacks
    assert refused > 200 and loaded > 20  # both kinds of outcome happened


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("clips_seen", "12", "clips_seen '12' is not a whole number of 0 or more"),
        ("weights", 5, "weights 5 is not the name of a file beside it"),
        ("weights", "../../other-run/snapshot.safetensors", "is not the name of a file beside it"),
        ("train_fps", 1e300, "train_fps 1e+300 is not a positive number (frames per second, at most 10000)"),
        ("clip_frames", None, "clip_frames None is not a whole number of at least 2"),
        ("preset", None, "a preset is an object with a name"),
        ("resolution", True, "resolution True is not the preset's 32"),
    ],
)
def test_crafted_snapshot_fields_are_one_line_in_the_command(snapshot_dir, tmp_path, capsys, field, value, message):
    run, meta_path, _ = copy_of(snapshot_dir, tmp_path)
    meta = json.loads(meta_path.read_text())
    meta[field] = value
    meta_path.write_text(json.dumps(meta))
    line = cli_error(capsys, "generate", "--ckpt", run, "--out", tmp_path / "out", "--frames", "2")
    assert "not a valid snapshot description" in line and message in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("spatial_sigma", None, "generator.spatial_sigma is null"),
        ("z_dim", "16", "generator.z_dim is string 16, not an integer"),
        ("z_dim", True, "generator.z_dim is boolean True, not an integer"),
        ("extra_layers", 2**40, "extra_layers must be at most 64"),  # would never finish building
        ("motion_slope", 1e300, "motion_slope must lie in [0, 1]"),  # overflowed in leaky_relu
        ("fine_sigma", [1.0], "generator.fine_sigma is list, not a finite number"),
    ],
)
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
