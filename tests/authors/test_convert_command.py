"""`digan convert`, then every command on the result: the authors' fixture renders their frames through the
command line, fine-tunes with `train --init`, and bad or hostile files are one line that leaves nothing behind."""

import json
import os
import subprocess

import numpy as np
import pytest
import torch
from authors_writer import Global, dump
from test_pickle_reader import Evil, marker

from digan.apps.explore import Explorer
from digan.checkpoint import load_snapshot
from digan.cli.main import main
from digan.data.io import read_video
from digan.sampling import RenderOptions, render_code

pytestmark = pytest.mark.usefixtures("one_thread")


def run(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def converted(fixtures, tmp_path_factory):
    out = tmp_path_factory.mktemp("convert") / "X"
    assert run("convert", fixtures / "snapshot-small.pkl", "--out", out) == 0
    return out


def test_convert_writes_a_run_every_ckpt_takes(converted, fixtures, capsys):
    G, meta = load_snapshot(converted)
    source = meta["source"]
    assert source["file"] == "snapshot-small.pkl" and len(source["sha256"]) == 64
    assert meta["resolution"] == 32 and meta["clip_frames"] == 16 and "training_set_kwargs" in source
    assert run("convert", fixtures / "snapshot-small.pkl", "--out", converted) == 2  # a run is there
    assert "--out already holds a run; give --force" in capsys.readouterr().err
    assert run("convert", fixtures / "snapshot-small.pkl", "--out", converted, "--force") == 0


def test_generate_and_explore_render_the_authors_frames(converted, fixtures, tmp_path):
    with np.load(fixtures / "frames-small.npz") as z:
        frames, zs, zm, t = z["frames"][0], z["z"], z["z_motion"], z["t"]  # psi 1: [video, time, rgb, row, col]
    G, meta = load_snapshot(converted)
    code = G.prepare(torch.from_numpy(zs), torch.from_numpy(zm))
    expected = np.round((np.clip(frames, -1, 1) + 1) * 127.5).astype(np.uint8).transpose(0, 1, 3, 4, 2)
    ours = np.concatenate(list(render_code(G, code, torch.from_numpy(t), RenderOptions())), axis=1)
    assert np.abs(ours.astype(int) - expected).max() <= 1  # the same frames, up to rounding at .5
    # the command and the explorer render seeds through the same code path
    assert (
        run(
            "generate",
            "--precision",
            "float32",  # the references below render in float32, whatever `auto` is here
            "--ckpt",
            converted,
            "--out",
            tmp_path,
            "--seeds",
            "2",
            "--t",
            "0,2,3.5",
            "--formats",
            "png",
            "--quiet",
        )
        == 0
    )
    explorer = Explorer(G, meta)
    for k, tk in enumerate((0.0, 2.0, 3.5)):
        shown = explorer.frames({"seed": ["2"], "t": [str(tk)]})[0].astype(int)
        written = read_video(tmp_path / "seed0002")[k].astype(int)
        # One frame (the explorer) and three at once (the command) are different matrix shapes, so the float
        # sums can differ in the last bit and flip a value's rounding: a few values by 1, never more.
        assert np.abs(shown - written).max() <= 1
        assert (shown != written).mean() < 0.01


def test_train_init_fine_tunes_the_converted_model(converted, tmp_path, capsys):
    args = [
        "train",
        "--init",
        converted,
        "--data",
        "sky",
        "--batch",
        "4",
        "--kimg",
        "0.004",
        "--snap-kimg",
        "0.004",
        "--out",
        tmp_path,
        "--workers",
        "0",
        "--quiet",
    ]
    assert run(*args) == 0
    run_dir = tmp_path / "sky-authors"  # the networks and recipe the weights were trained with
    options = json.loads((run_dir / "training_options.json").read_text())
    assert options["init"]["path"] == str(converted.resolve()) and options["init"]["networks"] == ["G", "G_ema", "D"]
    capsys.readouterr()
    assert run(*args, "--preset", "tiny-32") == 2  # networks of another size
    assert "preset tiny-32 does not fit the weights of" in capsys.readouterr().err


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "no such file"),
        (lambda p: p.mkdir() or p, "is a directory"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
        (lambda p: (p.write_bytes(bytes(range(1, 65))), p)[1], "not a pickle"),
        (lambda p: torch.save({"w": torch.zeros(2)}, p) or p, "a zip archive"),
        (lambda p: dump({"G": 1, "D": 2, "G_ema": 3}, p), "not a generator"),
        (lambda p: dump({"G": Evil(Global("training.networks", "Generator"))}, p), "refused global training.networks"),
    ],
    ids=["missing", "directory", "empty", "random", "torch-save", "other-dict", "stylegan2-ada-class"],
)
def test_bad_files_are_one_line_and_leave_nothing(tmp_path, capsys, make, message):
    path = make(tmp_path / "network-snapshot-000000.pkl")
    assert run("convert", path, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_file_whose_code_would_write_a_file_creates_nothing(tmp_path, capsys):
    made = marker()
    path = dump(
        {"G_ema": Evil(os.system, f"touch {made}"), "G": Evil(subprocess.Popen, ["touch", str(made)])},
        tmp_path / "network-snapshot-000000.pkl",
    )
    assert run("convert", path, "--out", tmp_path / "out") == 2
    assert "refused global" in capsys.readouterr().err
    assert not made.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["network-snapshot-000000.pkl"]


def test_sigterm_while_converting_leaves_the_old_run_and_no_temporary(
    converted, fixtures, tmp_path, monkeypatch, capsys
):
    """SIGTERM ends `convert` as Ctrl-C does (exit 143, one line); a run that a live train holds is never replaced."""
    import shutil
    import signal

    import digan.authors.convert as convert_module
    from digan.utils.lock import FolderLock

    out = tmp_path / "X"
    shutil.copytree(converted, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with FolderLock(out, "digan train"):  # as if a fine-tuning ran in it
        assert run("convert", fixtures / "snapshot-small.pkl", "--out", out, "--force") == 2
        assert f"in use by process {os.getpid()} (digan train)" in capsys.readouterr().err
    save_file = convert_module.save_file

    def then_sigterm(*args, **kwargs):
        save_file(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)

    guard = signal.signal(signal.SIGTERM, lambda *a: pytest.fail("digan convert installed no SIGTERM handler"))
    try:
        monkeypatch.setattr(convert_module, "save_file", then_sigterm)
        assert run("convert", fixtures / "snapshot-small.pkl", "--out", out, "--force") == 143
    finally:
        signal.signal(signal.SIGTERM, guard)
    assert capsys.readouterr().err.strip() == "digan: terminated"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["X"]
