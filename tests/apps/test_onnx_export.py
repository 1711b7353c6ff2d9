"""`digan export`: the ONNX file renders what PyTorch renders, at other sizes and past t = 1."""

import numpy as np
import pytest
import torch

from digan.checkpoint import load_snapshot, save_snapshot
from digan.cli.main import main
from digan.models import Generator
from digan.models.generator import make_coords
from digan.sampling import RenderOptions, render_video
from digan.sampling.render import CONTENT_STREAM, MOTION_STREAM, seed_latents

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install -e '.[export]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[export]')")

# float32 through a different runtime: the same ops in another order, so agreement to rounding, not bits.
ATOL = 1e-4  # on frames in [-1, 1]
UINT8_LEVELS = 1  # after the same clamp and rounding as render_video


@pytest.fixture(scope="module")
def exported_file(tmp_path_factory, tiny_preset):
    """One `digan export` for the module (capturing the graph takes about 15 s): tiny_G's weights, a file."""
    folder = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)  # as conftest's tiny_G, which the tests compare with
    G = Generator(tiny_preset.generator).eval()
    save_snapshot(folder / "run", G, tiny_preset, 16)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["export", "--ckpt", str(folder / "run"), "--out", str(folder / "g.onnx")]) == 0
    finally:
        torch.set_num_threads(threads)
    assert [p.name for p in folder.iterdir() if p.is_file()] == ["g.onnx"]  # the weights are inside, no .data file
    return folder / "g.onnx"


@pytest.fixture()
def exported(exported_file, tiny_G, one_thread):
    G, _ = load_snapshot(exported_file.parent / "run")
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), tiny_G.state_dict().values(), strict=True))
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(exported_file), options, providers=["CPUExecutionProvider"])


def run(session, z, z_motion, t, size, psi=1.0):
    return session.run(
        None,
        {
            "z": z.numpy(),
            "z_motion": z_motion.numpy(),
            "t": t.numpy(),
            "coords": make_coords(*size).numpy(),
            "psi": np.array(psi, np.float32),
        },
    )[0]


@pytest.mark.slow  # exporting the graph takes 10 to 20 s
@pytest.mark.parametrize("size", [(32, 32), (64, 48)])
def test_onnx_matches_torch_at_two_sizes_and_past_t1(exported, tiny_G, size):
    z, zm = seed_latents([3, 5], tiny_G.z_dim, CONTENT_STREAM), seed_latents([3, 5], tiny_G.motion_dim, MOTION_STREAM)
    t = torch.tensor([[0.0, 0.5, 1.0, 2.5], [1.7, 0.2, 3.0, 0.0]])  # per-video times, several past the clip
    frames = run(exported, z, zm, t, size, psi=0.7)
    with torch.no_grad():
        expected = tiny_G(z, zm, t, size=size, psi=0.7).numpy()
    assert frames.shape == (2, 4, 3, *size)
    np.testing.assert_allclose(frames, expected, atol=ATOL, rtol=0)
    assert np.abs(frames[0, 0] - frames[0, 3]).max() > 1e-3  # time changes the frame: the test can fail


@pytest.mark.slow  # exporting the graph takes 10 to 20 s
def test_onnx_frames_match_render_video(exported, tiny_G):
    t = torch.tensor([0.0, 1.5])
    z, zm = seed_latents([7], tiny_G.z_dim, CONTENT_STREAM), seed_latents([7], tiny_G.motion_dim, MOTION_STREAM)
    frames = run(exported, z, zm, t[None], (40, 40))[0]
    as_uint8 = ((np.clip(frames, -1, 1) + 1) * 127.5).round().transpose(0, 2, 3, 1)  # [T, H, W, 3]
    expected = render_video(tiny_G, 7, t, RenderOptions(size=40)).astype(np.float64)
    assert np.abs(as_uint8 - expected).max() <= UINT8_LEVELS


def test_file_is_the_opset_asked_for_and_older_ones_are_refused(exported_file, tiny_G, tmp_path):
    from digan.apps.onnx import OPSET, export_onnx

    opsets = onnx.load(str(exported_file)).opset_import
    assert [o.version for o in opsets if o.domain == ""] == [OPSET]
    with pytest.raises(ValueError, match=f"opset {OPSET} or later"):  # the exporter cannot write it; never pretend
        export_onnx(tiny_G, tmp_path / "old.onnx", opset=OPSET - 1)
    assert not list(tmp_path.iterdir())


def test_export_without_snapshot_is_one_line_error(tmp_path, capsys):
    assert main(["export", "--ckpt", str(tmp_path / "missing"), "--out", str(tmp_path / "g.onnx")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "g.onnx").exists()


@pytest.mark.slow  # exporting the graph takes 10 to 20 s
def test_docs_example_renders_with_onnxruntime_alone(exported, exported_file, monkeypatch, tiny_G):
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "showing.md"
    code = re.search(r"```python\n(# digan-example: onnx\n.*?)```", doc.read_text(), re.S).group(1)
    assert "import torch" not in code and "digan" not in code.split("\n", 1)[1]
    monkeypatch.chdir(exported_file.parent)  # where the fixture wrote g.onnx
    scope = {}
    exec(compile(code, str(doc), "exec"), scope)
    video = scope["video"]
    assert video.shape == (31, 128, 128, 3) and video.dtype == np.uint8
    t = torch.from_numpy(scope["t"][0])
    expected = render_video(tiny_G, 3, t[[0, 20]], RenderOptions(size=128)).astype(np.int16)
    assert np.abs(video[[0, 20]].astype(np.int16) - expected).max() <= UINT8_LEVELS  # seed 3, as digan generate


def test_export_without_onnx_says_which_extra(tmp_path, tiny_G, tiny_preset, monkeypatch, capsys):
    import sys

    save_snapshot(tmp_path / "run", tiny_G, tiny_preset, 16)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    assert main(["export", "--ckpt", str(tmp_path / "run"), "--out", str(tmp_path / "g.onnx")]) == 2
    assert "pip install -e '.[export]'" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*tmp"))


# ---------------------------------------------------------------- the opset said is the opset written (issue 24, 11)


def test_an_opset_the_exporter_cannot_write_is_one_line_before_anything_runs(tmp_path, tiny_G, tiny_preset, capsys):
    """Before: `--opset 99999` logged a converter traceback, wrote opset 18 and said "opset 99999"."""
    from cli_helpers import cli_error

    save_snapshot(tmp_path / "run", tiny_G, tiny_preset, 16)
    newest = onnx.defs.onnx_opset_version()
    for opset in (newest + 1, 99999):
        line = cli_error(capsys, "export", "--ckpt", tmp_path / "run", "--out", tmp_path / "g.onnx", "--opset", opset)
        assert f"--opset {opset}: the exporter writes opset 18 to {newest} (the newest that the installed onnx" in line
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*"))


def fake_exporter(writes):
    """torch.onnx.export as a stand-in that writes a one-node model of opset `writes(asked)` at once."""
    from onnx import TensorProto, helper

    def export(model, args, f, *, opset_version, **kwargs):
        x = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])
        y = helper.make_tensor_value_info("frames", TensorProto.FLOAT, [1])
        graph = helper.make_graph([helper.make_node("Identity", ["z"], ["frames"])], "g", [x], [y])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", writes(opset_version))]), f)

    return export


def test_the_opset_printed_is_read_back_from_the_file(tmp_path, tiny_G, tiny_preset, capsys, monkeypatch):
    save_snapshot(tmp_path / "run", tiny_G, tiny_preset, 16)
    monkeypatch.setattr(torch.onnx, "export", fake_exporter(lambda asked: asked))
    assert main(["export", "--ckpt", str(tmp_path / "run"), "--out", str(tmp_path / "g.onnx"), "--opset", "21"]) == 0
    assert "as ONNX (opset 21, read back from the file;" in capsys.readouterr().out


def test_a_file_of_another_opset_than_asked_is_refused_and_not_written(
    tmp_path, tiny_G, tiny_preset, capsys, monkeypatch
):
    """A conversion that fails leaves the exporter's own opset 18 in the file: refused, nothing under the name."""
    from cli_helpers import cli_error

    save_snapshot(tmp_path / "run", tiny_G, tiny_preset, 16)
    monkeypatch.setattr(torch.onnx, "export", fake_exporter(lambda asked: 18))
    line = cli_error(capsys, "export", "--ckpt", tmp_path / "run", "--out", tmp_path / "g.onnx", "--opset", 21)
    assert "--opset 21: the exporter could not convert this graph to it and wrote opset 18; nothing was written" in line
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*"))
