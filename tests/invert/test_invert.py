"""`digan invert` and `generate --fit`: fitting a tiny generator to a clip, the fit file, rendering a fit."""

import dataclasses
import json
import math
import os

import numpy as np
import pytest
import torch
from cli_helpers import cli_error
from process_helpers import finish, python, wait_ready

from digan.checkpoint import load_snapshot, save_snapshot
from digan.cli.main import main
from digan.config import get_preset
from digan.data import open_dataset
from digan.data.clips import to_float_video, to_uint8_video
from digan.data.io import read_video, write_video
from digan.invert import Fit, FitOptions, fit_clip, frame_scores, load_fit, psnr, read_clip, render_fit, save_fit, ssim
from digan.models import Generator
from digan.sampling.render import interpolation_code, prepare_videos, render_code, seed_motion, seed_w
from digan.timebase import clip_times

pytestmark = pytest.mark.usefixtures("one_thread")

CLIP_FRAMES = 8  # the test snapshot's training clip: frame k at t = k / 7


def make_snapshot(root, seed):
    preset = get_preset("tiny-32").replace_training(clip_frames=CLIP_FRAMES)
    torch.manual_seed(seed)
    G = Generator(preset.generator).eval().requires_grad_(False)
    save_snapshot(root, G, preset, 1000)
    return root, G


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """A tiny-32 snapshot with 8-frame training clips: (run dir, its generator)."""
    return make_snapshot(tmp_path_factory.mktemp("run"), 0)


@pytest.fixture(scope="module")
def shapes_clip():
    """Frames 0-3 of `shapes` video 0 at 32x32."""
    return open_dataset("shapes", 32).read(0, range(4))


def seed_fit(G, seed, frames=4, fps=8.0):
    """A fit holding the latents of a seed (no optimisation): what a perfect inversion of its video gives."""
    return Fit(
        w=seed_w(G, [seed]),
        z_motion=seed_motion(G, [seed]),
        t=clip_times(frames, CLIP_FRAMES),
        fps=fps,
        clip_frames=CLIP_FRAMES,
    )


def run_cli(*args):
    return main([str(a) for a in args])


# ---------------------------------------------------------------- the clip and the scores


def test_read_clip_from_a_dataset_a_file_and_a_folder(tmp_path, shapes_clip):
    clip = read_clip("shapes:0", 32, frames=3, start=1)
    assert np.array_equal(clip.frames, shapes_clip[1:4]) and clip.start == 1 and clip.fps is None
    big = np.repeat(np.repeat(shapes_clip, 2, axis=1), 2, axis=2)  # 64x64: resized to the model's 32x32
    write_video(tmp_path / "clip", big, fps=12)  # a PNG frame folder
    write_video(tmp_path / "clip.mp4", big, fps=12)
    folder = read_clip(tmp_path / "clip", 32)
    assert folder.frames.shape == (4, 32, 32, 3) and np.abs(folder.frames.astype(int) - shapes_clip).mean() < 2
    assert read_clip(tmp_path / "clip.mp4", 32, frames=2).fps == 12
    assert len(read_clip(tmp_path / "clip", 32, frames=16, exact=False).frames) == 4


def test_psnr_and_ssim():
    x = to_float_video(open_dataset("shapes", 32).read(1, range(2)))
    noisy = x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim(x, x), torch.ones(2)) and (psnr(x, x) == 100).all()
    assert (ssim(x, noisy) < 0.95).all() and torch.allclose(psnr(x, noisy), torch.full((2,), 26.0), atol=0.3)


# ---------------------------------------------------------------- fitting


def test_fit_lowers_the_loss_from_its_start_and_is_deterministic(tiny_G, shapes_clip):
    state = {k: v.clone() for k, v in tiny_G.state_dict().items()}
    options = FitOptions(steps=12, starts=2, candidates=4, tune_steps=2)
    a = fit_clip(tiny_G, shapes_clip, clip_frames=16, fps=8, options=options, progress=False)
    assert a.losses[-1] < 0.7 * a.start_loss and a.tune_losses[-1] < a.tune_losses[0]
    assert len(a.scores["psnr"]) == len(a.scores["ssim"]) == 4 and a.frames.shape == shapes_clip.shape
    b = fit_clip(tiny_G, shapes_clip, clip_frames=16, fps=8, options=options, progress=False)
    assert torch.equal(a.fit.w, b.fit.w) and torch.equal(a.fit.z_motion, b.fit.z_motion) and a.losses == b.losses
    assert all(torch.equal(a.fit.tuned[k], b.fit.tuned[k]) for k in a.fit.tuned)
    assert all(torch.equal(v, state[k]) for k, v in tiny_G.state_dict().items())  # tuning left G as it was


@pytest.fixture()
def plain_G(tiny_preset):
    """tiny-32's networks with the paper's Fourier scales scaled down plainly (8x8 input grid, sigma sqrt(10),
    temporal sigma 0.25): an untrained generator whose videos change slowly enough to be fitted in a test.
    The preset's own untrained generator (fine sigma sqrt(10) on a 32x32 grid, temporal sigma 1) draws
    high-frequency clips that change fast: the same fit reached only about 9 dB there."""
    cfg = dataclasses.replace(
        tiny_preset.generator, input_resolution=8, spatial_sigma=math.sqrt(10), fine_sigma=None, temporal_sigma=0.25
    )
    torch.manual_seed(0)
    return Generator(cfg).eval()


@pytest.mark.slow  # 300 steps of a fit
def test_fit_recovers_a_clip_the_generator_made_with_known_latents(plain_G):
    """The clip of seed 7 at t = 0..4/7, fitted on its even frames and scored on them and on the odd frames
    between them, which the fit never saw: the function is recovered, not only the frames.

    The latents alone get well above the mean w's video but not close (an untrained generator's videos are
    mostly saturated, and its landscape in w is rugged: about 16 dB); pivotal tuning then gets close.
    """
    tiny_G = plain_G
    t = clip_times(5, CLIP_FRAMES)
    with torch.no_grad():
        code = tiny_G.synthesis.prepare(seed_w(tiny_G, [7]), seed_motion(tiny_G, [7]))
        clip = to_uint8_video(tiny_G.render(code, t[None]))[0]
    options = FitOptions(steps=60, starts=2, candidates=8, tune_steps=100, tune_lr=6e-4)
    result = fit_clip(tiny_G, clip[::2], t=t[::2], clip_frames=CLIP_FRAMES, fps=8, options=options, progress=False)
    held_out = frame_scores(clip[1::2], render_fit(tiny_G, result.fit, t[1::2]))
    assert result.scores["psnr_mean"] > 22 and result.scores["ssim_mean"] > 0.95
    assert held_out["psnr_mean"] > 22 and held_out["ssim_mean"] > 0.95

    def latents_only(w, z_motion):
        fit = Fit(w=w, z_motion=z_motion, t=t, fps=8, clip_frames=CLIP_FRAMES)
        return frame_scores(clip, render_fit(tiny_G, fit, t))["psnr_mean"]

    mean_w = seed_w(tiny_G, range(1000)).mean(0, keepdim=True)
    assert latents_only(result.fit.w, result.fit.z_motion) > latents_only(mean_w, torch.zeros(1, 128)) + 6


# ---------------------------------------------------------------- the fit file


def test_fit_file_round_trips(tiny_G, shapes_clip, snapshot, tmp_path):
    run, G = snapshot
    _, meta = load_snapshot(run)
    options = FitOptions(steps=3, starts=2, candidates=2, wplus=True, tune_steps=1)
    result = fit_clip(G, shapes_clip, clip_frames=CLIP_FRAMES, fps=12.5, options=options, progress=False)
    path = save_fit(tmp_path / "fit", result.fit, meta, source={"video": "shapes:0"})
    assert path.name == "fit.json" and not [p for p in (tmp_path / "fit").iterdir() if p.name.startswith(".")]
    loaded = load_fit(tmp_path / "fit")
    assert loaded.w.shape == (1, G.synthesis.num_ws, G.cfg.w_dim) and torch.equal(loaded.w, result.fit.w)
    assert torch.equal(loaded.z_motion, result.fit.z_motion) and torch.equal(loaded.t, result.fit.t)
    assert loaded.tuned.keys() == G.synthesis.state_dict().keys()
    assert all(torch.equal(loaded.tuned[k], v) for k, v in result.fit.tuned.items())
    assert (loaded.fps, loaded.clip_frames, loaded.frames) == (12.5, CLIP_FRAMES, 4)
    assert loaded.meta["source"] == {"video": "shapes:0"} and loaded.meta["options"]["wplus"]
    assert np.array_equal(render_fit(G, loaded, loaded.t), result.frames)
    assert load_fit(path).meta["snapshot"] == load_fit(tmp_path / "fit" / "fit.safetensors").meta["snapshot"]


def test_invert_then_generate_fit_at_other_rates_and_sizes(snapshot, shapes_clip, tmp_path, capsys):
    run, G = snapshot
    write_video(tmp_path / "clip", shapes_clip, fps=8)
    assert (
        run_cli(
            "invert",
            "--ckpt",
            run,
            "--video",
            tmp_path / "clip",
            "--out",
            tmp_path / "fit",
            "--steps",
            3,
            "--starts",
            1,
            "--quiet",
        )
        == 0
    )
    line = json.loads(capsys.readouterr().out)
    assert line["frames"] == 4 and len(line["psnr"]) == 4 and line["steps"] == 3 and line["seconds"] > 0
    assert read_video(tmp_path / "fit" / "input-fit.mp4").shape == (4, 32, 32 + 2 + 32, 3)
    fit = load_fit(tmp_path / "fit")
    assert line["psnr_mean"] == fit.meta["scores"]["psnr_mean"]

    # twice the frame rate and twice the size: frame 2k is the fitted frame k, its even pixels the 32x32 frame
    assert (
        run_cli(
            "generate",
            "--precision",
            "float32",  # the references below render in float32, whatever `auto` is here
            "--fit",
            tmp_path / "fit",
            "--out",
            tmp_path / "x2",
            "--fps",
            16,
            "--size",
            64,
            "--formats",
            "png,mp4",
            "--compare",
            "--quiet",
        )
        == 0
    )
    assert "8 frames at 64x64, 16 fps" in capsys.readouterr().out
    video = read_video(tmp_path / "x2" / "fit")
    assert video.shape == (8, 64, 64, 3)
    assert np.abs(video[::2, ::2, ::2].astype(int) - render_fit(G, fit, fit.t)).max() <= 1
    assert read_video(tmp_path / "x2" / "fit-compare.mp4").shape[:3] == (8, 64 + 2, 64 + 2 + 64)
    # past the clip's end, in seconds at the clip's own rate
    assert (
        run_cli(
            "generate",
            "--fit",
            tmp_path / "fit",
            "--ckpt",
            run,
            "--out",
            tmp_path / "long",
            "--seconds",
            2,
            "--formats",
            "gif",
            "--quiet",
        )
        == 0
    )
    assert read_video(tmp_path / "long" / "fit.gif").shape == (16, 32, 32, 3)


def test_interpolate_between_fits(snapshot, tmp_path):
    run, G = snapshot
    _, meta = load_snapshot(run)
    for seed in (1, 2):
        save_fit(tmp_path / f"fit{seed}", seed_fit(G, seed), meta)
    t = clip_times(3, CLIP_FRAMES)
    code = interpolation_code(G, (seed_w(G, [1]), seed_motion(G, [1])), 2, torch.tensor([0.0, 1.0]), "both")
    ends = next(render_code(G, code, t))
    assert np.abs(ends.astype(int) - next(render_code(G, prepare_videos(G, [1, 2]), t))).max() <= 1
    assert (
        run_cli(
            "interpolate",
            "--precision",
            "float32",  # the references below render in float32, whatever `auto` is here
            "--fit",
            tmp_path / "fit1",
            "--fit",
            tmp_path / "fit2",
            "--out",
            tmp_path / "walk",
            "--steps",
            2,
            "--frames",
            3,
            "--formats",
            "png",
            "--quiet",
        )
        == 0
    )
    grid = read_video(tmp_path / "walk" / "interp-both-grid")
    assert grid.shape[0] == 3 and np.abs(grid[:, 2:34, 2:34].astype(int) - ends[0]).max() <= 1  # padded by 2


# ---------------------------------------------------------------- bad input


def test_bad_input_is_one_error_line(snapshot, shapes_clip, tmp_path, capsys):
    run, G = snapshot
    other, _ = make_snapshot(tmp_path / "other", 1)
    _, meta = load_snapshot(run)
    save_fit(tmp_path / "fit", seed_fit(G, 3), meta)
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all")
    write_video(tmp_path / "one", shapes_clip[:1], fps=8)
    invert = ["invert", "--ckpt", run, "--out", tmp_path / "out", "--steps", 1, "--quiet", "--video"]
    assert "not a readable video" in cli_error(capsys, *invert, tmp_path / "bad.mp4")
    assert "a fit needs at least 2" in cli_error(capsys, *invert, tmp_path / "one")
    assert "fewer than the 9 asked for" in cli_error(capsys, *invert, "shapes:0", "--start", 60, "--frames", 9)
    assert "holds 1024 videos" in cli_error(capsys, *invert, "shapes:5000")
    assert not (tmp_path / "out").exists()
    generate = ["generate", "--out", tmp_path / "gen", "--quiet", "--fit"]
    assert "weights differ" in cli_error(capsys, *generate, tmp_path / "fit", "--ckpt", other)
    assert "leave out --seeds" in cli_error(capsys, *generate, tmp_path / "fit", "--seeds", "1")
    assert "no such fit" in cli_error(capsys, *generate, tmp_path / "nothing")
    (tmp_path / "fit" / "fit.safetensors").write_bytes(b"garbage")
    assert "cannot read the fit" in cli_error(capsys, *generate, tmp_path / "fit")
    assert "required: --ckpt" in cli_error(capsys, "generate", "--out", tmp_path / "gen")
    assert not (tmp_path / "gen").exists()


def test_interpolate_refuses_tuned_fits(snapshot, tmp_path, capsys):
    run, G = snapshot
    _, meta = load_snapshot(run)
    tuned = seed_fit(G, 1)
    tuned.tuned = {k: v.clone() for k, v in G.synthesis.state_dict().items()}
    save_fit(tmp_path / "tuned", tuned, meta)
    save_fit(tmp_path / "plain", seed_fit(G, 2), meta)
    assert "was tuned" in cli_error(
        capsys, "interpolate", "--fit", tmp_path / "plain", "--fit", tmp_path / "tuned", "--out", tmp_path / "walk"
    )


# ---------------------------------------------------------------- fits of another type or absurd (issue 24, 9)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda k, v: v.half() if k == "w" else v, "fit.safetensors: w is torch.float16, not float32 (F32)"),
        (lambda k, v: v.double(), "fit.safetensors: t, w, z_motion are torch.float64, not float32 (F32)"),
        (lambda k, v: v * 1e6 if k == "w" else v, "fit.json: the fit renders values far outside [-1, 1]"),
    ],
)
def test_fits_of_another_type_or_absurd_latents_are_one_line(snapshot, tmp_path, capsys, change, message):
    """Before: float16 latents gave a traceback (Half and Float) and latents scaled 1e6 a saturated video."""
    from safetensors.torch import load_file, save_file

    run, G = snapshot
    _, meta = load_snapshot(run)
    save_fit(tmp_path / "fit", seed_fit(G, 1), meta)
    weights = tmp_path / "fit" / "fit.safetensors"
    save_file({k: change(k, v) for k, v in load_file(weights).items()}, weights)
    for command in (["generate"], ["interpolate", "--seeds", "0"]):
        assert message in cli_error(
            capsys, *command, "--fit", tmp_path / "fit", "--out", tmp_path / "out", "--frames", 2, "--quiet"
        )
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- a fit that diverges (issue 24, 8)


def test_invert_that_diverges_exits_3_and_saves_nothing(snapshot, tmp_path, capsys):
    """A real divergence: Adam's first step at lr 1e30 sends the latents to where the render is NaN. Before the
    check, invert exited 0, printed "loss_end": NaN and saved a fit that its own loader refuses."""
    run, _ = snapshot
    code = run_cli(
        "invert",
        "--ckpt",
        run,
        "--video",
        "shapes:3",
        "--out",
        tmp_path / "fit",
        "--steps",
        3,
        "--starts",
        2,
        "--lr",
        "1e30",
        "--quiet",
    )
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 3 and captured.out == "" and len(err) == 1
    assert (
        err[0] == "digan: error: the fit diverged at step 2 of 3 (its loss is NaN or infinite) and was not "
        "saved: try a smaller --lr"
    )
    assert not (tmp_path / "fit").exists()


@pytest.fixture()
def nan_for_start(monkeypatch):
    """The fit loss of start 0 (the mean w) is NaN at every step (not while the candidates are ranked); `starts`
    lists the starts whose loss is NaN."""
    from digan.invert import fit as fit_module

    original, calls, starts = fit_module.fit_loss, [], [0]

    def fit_loss(fake, target, structure):
        loss = original(fake, target, structure)
        calls.append(1)
        if len(calls) > 1 and len(loss) > 1:
            loss = loss.clone()
            loss[starts] = float("nan")
        return loss

    monkeypatch.setattr(fit_module, "fit_loss", fit_loss)
    return starts


def test_a_start_that_diverges_is_never_the_one_kept(tiny_G, shapes_clip, nan_for_start):
    """torch.argmin and min pick a NaN: the NaN start would be kept (and every loss logged NaN) without the
    guard, while the other starts fit well."""
    options = FitOptions(steps=4, starts=2, candidates=2, select=0.5)
    result = fit_clip(tiny_G, shapes_clip[:2], clip_frames=CLIP_FRAMES, fps=8, options=options, progress=False)
    assert all(math.isfinite(v) for v in result.losses)
    assert torch.isfinite(result.fit.w).all() and torch.isfinite(result.fit.z_motion).all()


def test_a_fit_that_diverges_in_every_start_stops_at_once(tiny_G, shapes_clip, nan_for_start):
    from digan.invert import FitDiverged

    nan_for_start[:] = [0, 1]
    with pytest.raises(FitDiverged, match="the fit diverged at step 1 of 50 "):
        fit_clip(
            tiny_G,
            shapes_clip[:2],
            clip_frames=CLIP_FRAMES,
            fps=8,
            progress=False,
            options=FitOptions(steps=50, starts=2, candidates=2),
        )


def test_a_fit_holding_nan_is_never_saved(tiny_G, snapshot, tmp_path):
    from digan.invert import FitDiverged

    run, G = snapshot
    _, meta = load_snapshot(run)
    fit = seed_fit(G, 1)
    fit.tuned = {k: v.clone() for k, v in G.synthesis.state_dict().items()}
    next(iter(fit.tuned.values()))[...] = float("inf")
    with pytest.raises(FitDiverged, match="the fit holds NaN or inf in synthesis."):
        save_fit(tmp_path / "fit", fit, meta)
    assert not (tmp_path / "fit").exists()


# ---------------------------------------------------------------- a fit folder is one whole fit, written by one process


def fit_files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_an_interrupted_refit_leaves_the_old_fit_or_none_never_a_mix(
    snapshot, shapes_clip, tmp_path, monkeypatch, capsys
):
    """Today the old fit.json stayed beside the new fit.safetensors, and `generate --fit` rendered it (exit 0)."""
    import digan.invert.fitfile as fitfile

    run, _ = snapshot
    write_video(tmp_path / "clip", shapes_clip, fps=8)
    invert = [
        "invert",
        "--ckpt",
        run,
        "--video",
        tmp_path / "clip",
        "--out",
        tmp_path / "fit",
        "--steps",
        2,
        "--starts",
        1,
        "--quiet",
    ]
    assert run_cli(*invert) == 0
    old = fit_files(tmp_path / "fit")

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:  # Ctrl-C while the new fit's JSON is written, after its weights
        m.setattr(fitfile.json, "dumps", ctrl_c)
        assert run_cli(*invert, "--seed", 1) == 130
    assert fit_files(tmp_path / "fit") == old  # the old fit, whole, preview included

    replace = os.replace

    def killed_after_the_first_rename(src, dst):
        replace(src, dst)
        raise SystemExit("killed")  # as far as the files go, SIGKILL here is the same

    with monkeypatch.context() as m:
        m.setattr(os, "replace", killed_after_the_first_rename)
        with pytest.raises(SystemExit):
            run_cli(*invert, "--seed", 1)
    capsys.readouterr()
    assert "no such fit" in cli_error(capsys, "generate", "--fit", tmp_path / "fit", "--out", tmp_path / "gen")
    assert run_cli(*invert, "--seed", 1) == 0 and fit_files(tmp_path / "fit").keys() == old.keys()


def test_a_second_invert_into_a_held_fit_folder_is_refused(snapshot, tmp_path, capsys):
    run, _ = snapshot
    (tmp_path / "fit").mkdir()
    holder = python(
        f"from digan.utils.lock import FolderLock; import time\n"
        f"FolderLock({str(tmp_path / 'fit')!r}, 'digan invert').acquire(); print('ready', flush=True)\n"
        "time.sleep(60)"
    )
    try:
        wait_ready(holder)
        line = cli_error(
            capsys, "invert", "--ckpt", run, "--video", "shapes:0", "--out", tmp_path / "fit", "--steps", 1, "--quiet"
        )
        assert f"fit: in use by process {holder.pid} (digan invert); wait for it to finish" in line
    finally:
        holder.kill()
        finish(holder)
    assert [p.name for p in (tmp_path / "fit").iterdir()] == [".digan.lock"]  # the holder's: nothing written
