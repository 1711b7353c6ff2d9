"""convert_snapshot writes a run directory that the library reads, all at once or not at all."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from authors_helpers import tiny_networks
from authors_writer import TensorCall, dump, snapshot_records
from safetensors import safe_open

import digan.authors.convert as convert_module
from digan.authors import AuthorsSnapshotError, convert_snapshot, load_init, read_snapshot
from digan.checkpoint import STATE_NAME, load_snapshot, save_snapshot
from digan.config import Preset
from digan.models import Generator
from digan.timebase import Timebase
from digan.utils.atomic import OutputError


def test_the_fixture_converts_to_a_run_that_renders_the_authors_frames(fixtures, authors_small, tmp_path, one_thread):
    pkl = fixtures / "snapshot-small.pkl"
    meta_path = convert_snapshot(pkl, tmp_path / "run")
    assert meta_path.parent == tmp_path / "run" and sorted(os.listdir(tmp_path)) == ["run"]
    G, meta = load_snapshot(tmp_path / "run")
    source = meta["source"]
    assert source["file"] == "snapshot-small.pkl" and source["kimg"] is None
    assert source["sha256"] == hashlib.sha256(pkl.read_bytes()).hexdigest()
    assert source["training_set_kwargs"]["path"] == "data/digan-authors-fixture/SKY_tiny"
    assert source["generator_kwargs"]["cfg"]["input"]["coord_fuser_cfg"] == "${coords}"  # as recorded
    assert Preset.from_dict(meta["preset"]) == authors_small.preset and meta["resolution"] == 32
    assert meta["clip_frames"] == 16 and "train_fps" not in meta  # the file records no frame rate
    assert Timebase.from_meta(meta).clip_frames == 16
    frames = np.load(fixtures / "frames-small.npz")
    z, z_motion, t = (torch.from_numpy(frames[k]) for k in ("z", "z_motion", "t"))
    with torch.no_grad():
        video = G(z, z_motion, t[None].expand(3, -1))
    assert (video - torch.from_numpy(frames["frames"][0])).abs().max() < 1e-4


def test_the_init_file_holds_all_three_networks(fixtures, authors_small, tmp_path):
    convert_snapshot(fixtures / "snapshot-small.pkl", tmp_path / "run")
    with safe_open(str(tmp_path / "run" / "init.safetensors"), "pt") as f:
        prefixes = {k.split(".")[0] for k in f.keys()}
    assert prefixes == {"G", "D", "G_ema"}
    preset, states = load_init(tmp_path / "run")
    assert preset == authors_small.preset
    init = json.loads((tmp_path / "run" / "init.json").read_text())
    assert init["source"]["sha256"] == authors_small.sha256
    for net in ("G", "D", "G_ema"):
        ours = getattr(authors_small, net)
        assert set(states[net]) == set(ours) and all(torch.equal(states[net][k], ours[k]) for k in ours)


def test_the_snapshot_is_named_by_the_clips_its_file_name_gives(tiny_snapshot, tmp_path):
    path, preset, G, _ = tiny_snapshot  # network-snapshot-000120.pkl: 120 kimg
    meta_path = convert_snapshot(path, tmp_path / "run")
    assert meta_path.name == "snapshot-0000120000.json"
    loaded, meta = load_snapshot(meta_path)
    assert meta["clips_seen"] == 120_000 and meta["source"]["kimg"] == 120
    assert all(torch.allclose(loaded.state_dict()[k], G[k], rtol=0, atol=1e-6) for k in G)


def test_a_run_is_replaced_only_with_force(tiny_snapshot, tmp_path):
    path, preset, G, _ = tiny_snapshot
    run = tmp_path / "run"
    old = Generator(preset.generator)
    save_snapshot(run, old, preset, 5)
    with pytest.raises(AuthorsSnapshotError, match="`out` already holds a run; give `force` to replace it"):
        convert_snapshot(path, run)
    assert sorted(p.name for p in run.iterdir()) == ["snapshot-0000000005.json", "snapshot-0000000005.safetensors"]
    (run / "snapshot-0000000005.json").unlink()
    (run / STATE_NAME).write_bytes(b"state")  # a training state alone is a run too
    with pytest.raises(AuthorsSnapshotError, match="already holds a run"):
        convert_snapshot(path, run)
    convert_snapshot(path, run, force=True)
    assert sorted(p.name for p in run.iterdir()) == [
        "init.json",
        "init.safetensors",
        "snapshot-0000120000.json",
        "snapshot-0000120000.safetensors",
    ]
    assert sorted(os.listdir(tmp_path)) == ["network-snapshot-000120.pkl", "run"]  # no temporary names left


def test_a_folder_of_other_files_is_never_replaced(tiny_snapshot, tmp_path):
    path = tiny_snapshot[0]
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"jpg")
    with pytest.raises(AuthorsSnapshotError, match="holds files that are not a run"):
        convert_snapshot(path, folder, force=True)
    assert os.listdir(folder) == ["cat.jpg"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert convert_snapshot(path, empty).parent == empty


def test_a_failure_leaves_nothing_and_keeps_the_old_run(tiny_snapshot, tmp_path, monkeypatch):
    path, preset, _, _ = tiny_snapshot
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(AuthorsSnapshotError, match="truncated"):
        convert_snapshot(broken, tmp_path / "new")
    assert not (tmp_path / "new").exists()

    run = tmp_path / "run"
    save_snapshot(run, Generator(preset.generator), preset, 5)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(convert_module, "save_file", full_disk)
    for out, force in ((tmp_path / "new", False), (run, True)):
        with pytest.raises(OutputError, match=f"^{out}/init.safetensors: cannot write \\(no space left on device\\)$"):
            convert_snapshot(path, out, force=force)  # the file named where it was to go, not its temporary
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in run.iterdir()) == ["snapshot-0000000005.json", "snapshot-0000000005.safetensors"]
    assert sorted(os.listdir(tmp_path)) == ["broken.pkl", "network-snapshot-000120.pkl", "run"]


def test_out_dir_that_is_a_file_is_refused(tiny_snapshot, tmp_path):
    (tmp_path / "x").write_text("")
    with pytest.raises(AuthorsSnapshotError, match="`out` is a file"):
        convert_snapshot(tiny_snapshot[0], tmp_path / "x")


def test_networks_of_a_snapshot(tiny_snapshot):
    path, preset, G, D = tiny_snapshot
    snapshot = read_snapshot(path)
    assert not snapshot.generator().training and snapshot.discriminators().cfg == preset.discriminator
    with pytest.raises(ValueError, match="which must be 'G_ema' or 'G'"):
        snapshot.generator("D")


def test_the_old_run_is_back_when_the_new_one_cannot_be_moved_in(tiny_snapshot, tmp_path, monkeypatch):
    path, preset, _, _ = tiny_snapshot
    run = tmp_path / "run"
    save_snapshot(run, Generator(preset.generator), preset, 5)
    replace = os.replace

    def failing(source, target):
        if (Path(source) / "init.json").exists():  # the converted run, on its way in
            raise OSError(5, "Input/output error")
        return replace(source, target)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(OutputError, match="input/output error"):
        convert_snapshot(path, run, force=True)
    assert sorted(p.name for p in run.iterdir()) == ["snapshot-0000000005.json", "snapshot-0000000005.safetensors"]
    assert sorted(os.listdir(tmp_path)) == ["network-snapshot-000120.pkl", "run"]


def test_tensors_sharing_a_storage_convert_and_the_hash_covers_the_whole_file(tmp_path, tiny_preset_authors):
    """Weight and bias as overlapping views of one storage (legal in a pickle) become tensors of their own:
    safetensors refuses to write tensors that share memory."""
    G, D = tiny_networks(tiny_preset_authors)
    records = snapshot_records(tiny_preset_authors, G, D)
    weight, bias = G["mapping.layers.0.weight"], G["mapping.layers.0.bias"]
    fc0 = records["G_ema"].state["_modules"]["mapping"].state["_modules"]["fc0"].state["_parameters"]
    fc0["weight"] = TensorCall(weight)
    fc0["bias"] = TensorCall(weight, size=bias.shape, stride=(1,))  # the weight's first row
    fc0["bias"].storage = fc0["weight"].storage  # one storage record, memoized: the reader sees one storage
    pkl = dump(records, tmp_path / "network-snapshot-000001.pkl")
    with open(pkl, "ab") as f:
        f.write(b"bytes after the pickle's end")
    convert_snapshot(pkl, tmp_path / "run")
    _, states = load_init(tmp_path / "run")
    assert torch.equal(states["G_ema"]["mapping.layers.0.bias"], weight[0, : bias.numel()])
    assert (
        json.loads((tmp_path / "run" / "init.json").read_text())["source"]["sha256"]
        == hashlib.sha256(pkl.read_bytes()).hexdigest()
    )


def test_a_converted_model_shares_with_a_card_that_names_its_file(tiny_snapshot, tmp_path, one_thread):
    from digan.apps.share import share
    from digan.checkpoint import from_pretrained

    path, preset, _, _ = tiny_snapshot
    convert_snapshot(path, tmp_path / "run")
    shared = share(tmp_path / "run", tmp_path / "model", seeds=[0])
    card = (tmp_path / "model" / "README.md").read_text()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert f"`network-snapshot-000120.pkl` (SHA-256 `{digest}`, 120 kimg by its name)" in card
    assert "training time | not recorded in the authors' file" in card and shared.scores == []
    G, meta = from_pretrained(tmp_path / "model")
    assert meta["source"]["sha256"] == digest and Preset.from_dict(meta["preset"]).generator == preset.generator
    G_run, _ = load_snapshot(tmp_path / "run")
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), G_run.state_dict().values()))
