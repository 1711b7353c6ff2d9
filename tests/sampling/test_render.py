"""Sampling: what an implicit video generator can render, checked on a tiny random generator."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from memory_helpers import HAS_PROC, peak_rss_while

from digan.checkpoint import save_snapshot
from digan.data.io import read_video
from digan.sampling.options import CHUNK_PIXELS, RenderOptions, frames_per_chunk
from digan.sampling.render import (
    interpolate_videos,
    morph_video,
    motion_variations,
    prepare_videos,
    render_code,
    render_video,
    render_videos,
    slerp,
)
from digan.timebase import Timebase, clip_times

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_thread")


def assert_same_frames(a: np.ndarray, b: np.ndarray):
    """Equal up to float rounding in differently-shaped matmuls: at most 1 level, on very few values."""
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())


def assert_different(a: np.ndarray, b: np.ndarray):
    assert np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() > 1.0


# ---------------------------------------------------------------- non-autoregressive rendering


def test_chunked_equals_whole(tiny_G):
    t = clip_times(9, 16)
    whole = render_videos(tiny_G, [0, 1], t, RenderOptions(chunk=9))
    chunked = render_videos(tiny_G, [0, 1], t, RenderOptions(chunk=2))
    assert whole.shape == (2, 9, 32, 32, 3)
    assert_same_frames(chunked, whole)
    code = prepare_videos(tiny_G, [0])
    assert [c.shape[1] for c in render_code(tiny_G, code, t, RenderOptions(chunk=4))] == [4, 4, 1]


def test_random_access_equals_sequential(tiny_G):
    t = clip_times(8, 8)
    sequential = render_video(tiny_G, 5, t)
    order = [6, 0, 3, 3, 7]  # any order, repeats, a subset
    assert_same_frames(render_video(tiny_G, 5, t[order]), sequential[order])
    assert_same_frames(render_video(tiny_G, 5, t[4:5]), sequential[4:5])  # one frame alone
    assert_different(sequential[0], sequential[7])  # the video moves, so the order matters


def test_training_frames_at_training_size_are_nested_in_larger_and_denser_renders(tiny_G):
    tb = Timebase(clip_frames=8, train_fps=8)
    train = render_video(tiny_G, 2, tb.times())  # 8 frames, 32x32
    dense = render_video(
        tiny_G, 2, tb.times(frames=22, fps=24), RenderOptions(size=64)
    )  # 3x the frame rate, 2x the size
    assert dense.shape == (22, 64, 64, 3)
    assert_same_frames(dense[::3, ::2, ::2], train)  # every 3rd frame, even pixels: the training frames
    big = render_video(tiny_G, 2, tb.times()[:2], RenderOptions(size=(128, 96)))  # 4x, non-square
    assert_same_frames(big[:, ::4, ::3], train[:2])
    small = render_video(tiny_G, 2, tb.times()[:2], RenderOptions(size=16))  # below the training size
    assert small.shape == (2, 16, 16, 3)


def test_extrapolation_keeps_moving_beyond_the_training_clip(tiny_G):
    t = Timebase(clip_frames=8).times(seconds=4)  # 4x the training length
    video = render_video(tiny_G, 1, t)
    assert len(video) == 32 and t[-1] > 4
    assert_different(video[7], video[-1])  # frame at t = 1 vs t = 31/7


# ---------------------------------------------------------------- seeds


def test_seed_gives_the_same_video_whatever_the_batch(tiny_G):
    t = clip_times(3, 16)
    seeds = [4, 0, 9, 2, 7]
    together = render_videos(tiny_G, seeds, t, RenderOptions(batch=5))
    alone = render_videos(tiny_G, seeds, t, RenderOptions(batch=1))
    reordered = render_videos(tiny_G, seeds[::-1], t, RenderOptions(batch=2))[::-1]
    assert_same_frames(alone, together)
    assert_same_frames(reordered, together)
    assert_different(together[0], together[1])


def test_motion_seeds_share_the_first_frame_and_then_diverge(tiny_G):
    t = clip_times(6, 6)
    videos = motion_variations(tiny_G, 3, [0, 1, 2], t)
    assert videos.shape[:2] == (3, 6)
    for v in videos[1:]:
        assert_same_frames(v[:1], videos[0, :1])
        assert_different(v[-1], videos[0, -1])
    assert_same_frames(motion_variations(tiny_G, 3, [3], t)[0], render_video(tiny_G, 3, t))


def test_truncation_psi_zero_gives_the_mean_content(tiny_G):
    tiny_G.mapping.w_avg.normal_()
    t = clip_times(2, 8)
    mean = render_videos(tiny_G, [0, 1], t, RenderOptions(psi=0.0), motion_seeds=[5, 5])
    assert_same_frames(mean[0], mean[1])
    assert_different(*render_videos(tiny_G, [0, 1], t, RenderOptions(psi=1.0), motion_seeds=[5, 5]))


# ---------------------------------------------------------------- interpolation


@pytest.mark.parametrize("mode", ["content", "motion", "both"])
def test_interpolation_endpoints_are_the_endpoints_own_videos(tiny_G, mode):
    t = clip_times(4, 4)
    path = interpolate_videos(tiny_G, 1, 6, t, steps=3, mode=mode)
    assert path.shape == (3, 4, 32, 32, 3)
    end = {"content": dict(seed=6, motion_seed=1), "motion": dict(seed=1, motion_seed=6), "both": dict(seed=6)}[mode]
    assert_same_frames(path[0], render_video(tiny_G, 1, t))
    assert_same_frames(path[-1], render_video(tiny_G, end.pop("seed"), t, **end))
    assert_different(path[1], path[0])
    assert_different(path[1], path[-1])


def test_morph_video_starts_at_a_and_ends_at_b(tiny_G):
    t = clip_times(5, 5)
    frames = np.concatenate(list(morph_video(tiny_G, 2, 8, t, RenderOptions(chunk=2), mode="both")))
    assert frames.shape == (5, 32, 32, 3)
    assert_same_frames(frames[:1], render_video(tiny_G, 2, t[:1]))
    assert_same_frames(frames[-1:], render_video(tiny_G, 8, t[-1:]))


def test_slerp_is_exact_at_the_ends_and_keeps_the_norm():
    a, b = torch.randn(2, 1, 512).unbind(0)
    alpha = torch.tensor([0.0, 0.5, 1.0])
    path = slerp(a.expand(3, -1), b.expand(3, -1), alpha)
    assert torch.equal(path[0], a[0]) and torch.equal(path[2], b[0])
    assert path[1].norm().item() == pytest.approx((a.norm().item() + b.norm().item()) / 2, rel=0.05)


# ---------------------------------------------------------------- memory


def test_default_chunk_bounds_pixels_per_step():
    assert frames_per_chunk(1, (128, 128)) == 1
    assert frames_per_chunk(4, (32, 32)) == 4
    assert frames_per_chunk(1, (1024, 1024)) == 1


@pytest.mark.skipif(not HAS_PROC, reason="needs /proc to read memory")
def test_large_renders_stay_within_the_pixel_budget(tiny_G, monkeypatch):
    # A stand-in render with the real output shape: at 1024x1024 the network itself would need GBs per frame.
    pixels = []

    def shaped_render(code, t, size=None, grids="nested", precision=torch.float32):
        h, w = size or (32, 32)
        pixels.append(t.numel() * h * w)
        return torch.full((*t.shape, 3, h, w), 0.5)

    monkeypatch.setattr(tiny_G, "render", shaped_render)
    t = clip_times(16, 16)
    whole = 4 * 16 * 3 * 1024 * 1024 * 4  # the 16 frames of 4 videos as float32: 805 MB, the old default chunk
    before = peak_rss_while(lambda: None)
    code = prepare_videos(tiny_G, [0, 1, 2, 3])
    peak = peak_rss_while(lambda: [None for _ in render_code(tiny_G, code, t, RenderOptions(size=1024))])
    assert max(pixels) == 4 * 1024 * 1024  # one frame per video at once: the budget's floor at this size
    assert peak - before < whole / 2, (before, peak)  # measured: about 240 MB, and 2.4 GB with the old default
    pixels.clear()
    render_videos(
        tiny_G, [0, 1, 2, 3], t, RenderOptions(size=64)
    )  # at smaller sizes, as many frames as the budget allows
    assert max(pixels) <= CHUNK_PIXELS and len(pixels) == -(-16 // frames_per_chunk(4, (64, 64)))


def test_grid_mode_is_a_call_argument_not_model_state(tiny_G):
    t = clip_times(2, 8)
    nested = render_video(tiny_G, 1, t, RenderOptions(size=64))
    assert_different(render_video(tiny_G, 1, t, RenderOptions(size=64, grids="scaled")), nested)
    assert np.array_equal(render_video(tiny_G, 1, t, RenderOptions(size=64)), nested)  # nothing left behind
    assert not hasattr(tiny_G, "grids") and not hasattr(tiny_G, "mlp_dtype")


def test_precision_is_a_call_argument_not_model_state(tiny_G):
    t = clip_times(2, 8)
    bf16 = render_video(tiny_G, 1, t, RenderOptions(precision=torch.bfloat16))
    float32 = render_video(tiny_G, 1, t)
    assert np.abs(bf16.astype(int) - float32).max() > 0  # bf16 arithmetic rounds differently
    assert np.array_equal(render_video(tiny_G, 1, t), float32)  # and left nothing behind


def test_render_options_are_checked_when_built():
    for bad, message in [
        (dict(size=0), "`size` must be positive"),
        (dict(grids="x"), "unknown `grids`"),
        (dict(batch=0), "`batch` must be at least 1"),
        (dict(chunk=0), "`chunk`"),
        (dict(precision=torch.float16), "`precision` must be"),
    ]:
        with pytest.raises(ValueError, match=message):
            RenderOptions(**bad)
    assert RenderOptions(size=48).size == (48, 48) and RenderOptions().frame_size(32) == (32, 32)


# ---------------------------------------------------------------- the documented example


def documented_example() -> str:
    for doc in (ROOT / "README.md", ROOT / "docs" / "sampling.md"):
        if doc.exists():
            found = re.search(r"```python\n(# digan-example: render\n.*?)```", doc.read_text(), re.S)
            if found:
                return found.group(1)
    pytest.fail("no ```python block starting with '# digan-example: render' in README.md or docs/sampling.md")


def test_documented_python_example_runs(tiny_G, tiny_preset, tmp_path, monkeypatch):
    save_snapshot(tmp_path / "runs" / "demo" / "run", tiny_G, tiny_preset, 1000)
    monkeypatch.chdir(tmp_path)
    code = documented_example()
    assert len(code.strip().splitlines()) <= 14
    exec(compile(code, "example", "exec"), {})
    video = read_video(tmp_path / "seed3-64f-2x.mp4")
    assert video.shape == (64, 64, 64, 3)
