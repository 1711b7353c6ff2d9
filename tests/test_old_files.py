"""Files of earlier versions load and render the frames they rendered: those digan 0.1.0 wrote
(tests/fixtures/v0.1.0, made by 0.1.0's own commands) also resume after the 0.2.0 restructuring; those of
snapshot format 1 (tests/fixtures/format-1: a snapshot and a model folder with its card) load as they were
written. A change of the snapshot format adds its own fixture and keeps these."""

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from digan.checkpoint import from_pretrained, load_snapshot
from digan.cli.main import main
from digan.invert import load_fit, load_fit_snapshot, render_fit
from digan.sampling import render_videos
from digan.utils.files import sha256_file

OLD = Path(__file__).resolve().parent / "fixtures" / "v0.1.0"
FORMAT_1 = Path(__file__).resolve().parent / "fixtures" / "format-1"
SETS = [
    "generator.z_dim=16",
    "generator.motion_dim=16",
    "generator.w_dim=16",
    "generator.channel_base=256",
    "generator.channel_max=16",
    "generator.fourier_features=8",
    "discriminator.channel_base=64",
    "discriminator.channel_max=16",
]

pytestmark = pytest.mark.usefixtures("one_thread")


def assert_same_frames(actual: np.ndarray, expected: np.ndarray) -> None:
    """uint8 frames as rendered then, up to the last rounding: another CPU's kernels (oneDNN picks them by the
    instruction set) sum in another order, so a value at a .5 boundary may round the other way (on an AMD EPYC,
    2 or 3 of 24,576 values by one). A changed model or render moves thousands of values, by more."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype == np.uint8
    diff = np.abs(actual.astype(int) - expected.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), int((diff > 0).sum()))


@pytest.fixture(scope="module")
def renders():
    with np.load(OLD / "renders.npz") as z:
        return {k: z[k] for k in z.files}


def test_an_old_snapshot_loads_and_renders_what_it_rendered(renders):
    G, meta = load_snapshot(OLD / "run")
    assert meta["version"] == "0.1.0" and meta["clips_seen"] == 8
    assert "format_version" not in meta  # read as version 1
    videos = render_videos(G, list(renders["seeds"]), torch.from_numpy(renders["t"]))
    assert_same_frames(videos, renders["videos"])


@pytest.mark.parametrize("name", ["fit", "fit-tuned"])
def test_old_fits_load_and_render_what_they_rendered(renders, name):
    fit = load_fit(OLD / name)
    G, _ = load_fit_snapshot(fit, OLD / "run")  # the path the fit records is where 0.1.0 wrote it
    assert_same_frames(render_fit(G, fit, torch.from_numpy(renders["t"])), renders[name.replace("-", "_")])


def test_an_old_run_resumes_with_the_same_options(tmp_path, capsys):
    shutil.copytree(OLD / "run", tmp_path / "runs" / "shapes-tiny-32")
    argv = [
        "train",
        "--data",
        "shapes",
        "--preset",
        "tiny-32",
        "--batch",
        "4",
        "--kimg",
        "0.012",
        "--snap-kimg",
        "0.004",
        "--out",
        str(tmp_path / "runs"),
        "--workers",
        "0",
        "--quiet",
    ]
    assert main(argv + [a for s in SETS for a in ("--set", s)]) == 0
    assert "resuming from 0.008 kimg" in capsys.readouterr().err
    G, meta = load_snapshot(tmp_path / "runs" / "shapes-tiny-32")
    assert meta["clips_seen"] == 12 and meta["version"] != "0.1.0"


@pytest.mark.parametrize("ckpt", ["run", "model"])
def test_format_1_files_load_and_render_what_they_rendered(renders, ckpt, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # a model folder needs no hub package
    G, meta = from_pretrained(FORMAT_1 / ckpt)
    assert meta["format_version"] == 1 and meta["version"] == "0.2.0" and meta["clips_seen"] == 8
    videos = render_videos(G, list(renders["seeds"]), torch.from_numpy(renders["t"]))
    assert_same_frames(videos, renders["videos"])  # the weights are 0.1.0's (fixtures/format-1/README.md)


def test_the_format_1_card_names_its_weights_and_run():
    card = (FORMAT_1 / "model" / "README.md").read_text()
    assert f"SHA-256 `{sha256_file(FORMAT_1 / 'model' / 'model.safetensors')}`" in card
    assert "| kimg | 0.008 |" in card and "| device | cpu, 1 thread |" in card and "No scores:" in card
