"""`digan generate` and `digan interpolate` end to end on a tiny random snapshot."""

import numpy as np
import pytest
import torch

from digan.checkpoint import save_snapshot
from digan.cli.main import main
from digan.config import get_preset
from digan.data.io import read_video
from digan.models import Generator
from digan.sampling import RenderOptions, render_video
from digan.timebase import Timebase

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """A tiny-32 snapshot with 8-frame training clips; returns (run dir, its generator)."""
    preset = get_preset("tiny-32").replace_training(clip_frames=8)
    torch.manual_seed(0)
    G = Generator(preset.generator).eval().requires_grad_(False)
    run = tmp_path_factory.mktemp("run")
    save_snapshot(run, G, preset, 1000)
    return run, G


def run_cli(*args):
    return main([str(a) for a in args])


def assert_close(a, b, level):
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < level


def test_generate_length_rate_size_and_formats(snapshot, tmp_path, capsys):
    run, G = snapshot
    code = run_cli(
        "generate",
        "--precision",
        "float32",  # the references below render in float32, whatever `auto` is here
        "--ckpt",
        run,
        "--out",
        tmp_path,
        "--seeds",
        "2,5",
        "--seconds",
        "1.5",
        "--fps",
        "4",
        "--size",
        "48x64",
        "--formats",
        "mp4,png",
        "--compare",
        "--quiet",
    )
    assert code == 0
    assert "6 frames at 48x64, 4 fps" in capsys.readouterr().out  # 1.5 s at 4 fps
    t = Timebase(8, 8).times(frames=6, fps=4)  # t_k = k * 8 / (4 * 7)
    png = read_video(tmp_path / "seed0005")
    assert png.shape == (6, 48, 64, 3)
    assert_close(png, render_video(G, 5, t, RenderOptions(size=(48, 64))), 0.01)
    assert read_video(tmp_path / "seed0002.mp4").shape == (6, 48, 64, 3)
    assert read_video(tmp_path / "grid.mp4").shape[0] == 6
    compare = read_video(tmp_path / "seed0002-compare.mp4")
    assert compare.shape[0] == 6 and compare.shape[2] == 64 + 2 + 64


@pytest.mark.parametrize("size, mp4", [("33x17", "34x18"), ("32x17", "32x18")])
def test_an_odd_size_is_kept_by_png_and_gif_and_said_where_mp4_pads_it(snapshot, tmp_path, capsys, size, mp4):
    """H.264 in yuv420p needs even sizes: the mp4 is padded (the last row or column repeated) and the printed
    line says so, where it used to state the size asked for (issue 24, 10)."""
    run, G = snapshot
    assert (
        run_cli(
            "generate",
            "--ckpt",
            run,
            "--out",
            tmp_path,
            "--seeds",
            "1",
            "--frames",
            "2",
            "--size",
            size,
            "--formats",
            "mp4,gif,png",
            "--quiet",
        )
        == 0
    )
    (h, w), (H, W) = (tuple(map(int, s.split("x"))) for s in (size, mp4))
    assert f"2 frames at {size} (the mp4 files {mp4}: H.264 pads to even sizes" in capsys.readouterr().out
    png, mp4_frames = read_video(tmp_path / "seed0001"), read_video(tmp_path / "seed0001.mp4")
    assert png.shape == read_video(tmp_path / "seed0001.gif").shape == (2, h, w, 3)
    assert mp4_frames.shape == (2, H, W, 3)
    assert_close(mp4_frames[:, :h, :w], png, 10)  # the same frames (H.264 halves the colour resolution of noise)
    assert (
        run_cli(
            "generate",
            "--ckpt",
            run,
            "--out",
            tmp_path / "png",
            "--seeds",
            "1",
            "--frames",
            "2",
            "--size",
            size,
            "--formats",
            "png",
            "--quiet",
        )
        == 0
    )
    assert "the mp4 files" not in capsys.readouterr().out  # no mp4, nothing to say


def test_generate_random_access_matches_the_sequential_video(snapshot, tmp_path):
    run, G = snapshot
    assert (
        run_cli(
            "generate",
            "--ckpt",
            run,
            "--out",
            tmp_path / "seq",
            "--seeds",
            "1",
            "--frames",
            "8",
            "--formats",
            "png",
            "--quiet",
        )
        == 0
    )
    assert (
        run_cli(
            "generate",
            "--ckpt",
            run,
            "--out",
            tmp_path / "rand",
            "--seeds",
            "1",
            "--at",
            "0.75,0,0.5",
            "--formats",
            "png",
            "--quiet",
        )
        == 0
    )
    sequential, random = read_video(tmp_path / "seq" / "seed0001"), read_video(tmp_path / "rand" / "seed0001")
    assert not (tmp_path / "seq" / "grid").exists()  # a single video gets no grid
    assert_close(random, sequential[[6, 0, 4]], 0.01)  # 0.75 s is frame 6 at 8 fps
    assert np.abs(sequential[0].astype(int) - sequential[6]).mean() > 1


def test_generate_motion_seeds_share_the_first_frame(snapshot, tmp_path):
    run, _ = snapshot
    assert (
        run_cli(
            "generate",
            "--ckpt",
            run,
            "--out",
            tmp_path,
            "--seeds",
            "3",
            "--motion-seeds",
            "0-2",
            "--frames",
            "5",
            "--formats",
            "png",
            "--quiet",
        )
        == 0
    )
    videos = [read_video(tmp_path / f"seed0003-motion{m:04d}") for m in range(3)]
    for v in videos[1:]:
        assert_close(v[0], videos[0][0], 0.01)
        assert np.abs(v[-1].astype(int) - videos[0][-1]).mean() > 1
    assert (tmp_path / "grid").is_dir()


def test_interpolate_writes_grid_and_video_whose_ends_are_the_seeds(snapshot, tmp_path, capsys):
    run, G = snapshot
    assert (
        run_cli(
            "interpolate",
            "--precision",
            "float32",  # the references below render in float32, whatever `auto` is here
            "--ckpt",
            run,
            "--out",
            tmp_path,
            "--seeds",
            "0,4,7",
            "--mode",
            "both",
            "--steps",
            "3",
            "--frames",
            "4",
            "--formats",
            "png",
            "--quiet",
        )
        == 0
    )
    grid = read_video(tmp_path / "interp-both-grid")
    assert grid.shape == (4, 2 + 2 * (32 + 2), 2 + 3 * (32 + 2), 3)  # 2 pairs x 3 steps
    t = Timebase(8, 8).times(frames=4)
    assert_close(grid[:, 2:34, 2:34], render_video(G, 0, t), 0.01)  # first cell: seed 0
    assert_close(grid[:, 2:34, -34:-2], render_video(G, 4, t), 0.01)  # end of row 1: seed 4
    video = read_video(tmp_path / "interp-both-video")
    assert video.shape == (8, 32, 32, 3)  # 4 frames per pair
    assert_close(video[0], render_video(G, 0, t[:1])[0], 0.01)
    assert_close(video[-1], render_video(G, 7, t[-1:])[0], 0.01)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--formats", "webm"], "unknown --formats webm: use one or more of mp4, gif, png"),
        (["--frames", "4", "--seconds", "2"], "give only one of --frames / --seconds"),
        (["--size", "0x4"], "cannot read size"),
        (["--at", "1,x"], "cannot read --at"),
        (["--seeds", "a-b"], "cannot read seeds"),
    ],
)
def test_generate_bad_input_is_one_line(snapshot, tmp_path, capsys, args, message):
    run, _ = snapshot
    assert run_cli("generate", "--ckpt", run, "--out", tmp_path, "--quiet", *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_interpolate_bad_input_and_missing_snapshot(tmp_path, snapshot, capsys):
    run, _ = snapshot
    assert run_cli("interpolate", "--ckpt", run, "--out", tmp_path, "--seeds", "3") == 2
    assert "two seeds" in capsys.readouterr().err
    assert run_cli("generate", "--ckpt", tmp_path / "nothing", "--out", tmp_path) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["generate", "interpolate"])
def test_help_explains_time(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0
    text = capsys.readouterr().out
    assert "t_k = k * R / (F * (C - 1))" in text and "--size" in text and "--psi" in text


@pytest.mark.parametrize("option", ["--seeds", "--motion-seeds"])
def test_a_huge_seed_range_is_one_line_before_it_is_expanded(snapshot, tmp_path, capsys, option):
    """0-99999999999 was expanded into a list of 10^11 seeds first: a MemoryError, or the OOM killer."""
    run, _ = snapshot
    assert run_cli("generate", "--ckpt", run, "--out", tmp_path, "--quiet", option, "0-99999999999") == 2
    err = capsys.readouterr().err.strip()
    assert "seeds '0-99999999999' are 100,000,000,000 videos, more than 1,000,000 in one command" in err
    assert len(err.splitlines()) == 1 and not any(tmp_path.iterdir())


@pytest.mark.parametrize("option", ["--fps", "--train-fps"])
def test_a_frame_rate_past_what_encoders_take_is_one_line(snapshot, tmp_path, capsys, option):
    """--fps 1e300 overflowed in the MP4 writer with a traceback."""
    run, _ = snapshot
    assert run_cli("generate", "--ckpt", run, "--out", tmp_path, "--quiet", "--frames", "2", option, "1e300") == 2
    err = capsys.readouterr().err.strip()
    assert f"{option} must be at most 10000 frames per second, got 1e+300" in err and len(err.splitlines()) == 1
