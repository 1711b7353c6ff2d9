"""Rendering and training speed against the machine's own float32 matmul peak, each figure beside its target.

    python benchmarks/generator_speed.py [--repeats 3] [--quick]

Peak: the best rate of a 4096x512 @ 512x512 float32 matmul at the same thread count, measured
in this run around each timed figure (other processes on the machine lower it and the figures alike).

1. Rendering a paper-128 16-frame 128x128 video from prepared weights (`render_code`), default
   path (--precision auto: bf16 where native, else float32) and float32 path. Effective rate = the
   multiply-adds of the plain formulation (every layer on its own grid, every new scale's first
   layer on the concatenated input) over the time; the library skips some of that work (the coarse
   half of each new scale's first layer runs on the coarse grid), so the effective rate can exceed
   the rate of the matmuls it runs, which is printed too. Then bf16 against float32 in PSNR.
2. Training steps of tiny-32 and small-64 (batch 16): seconds, the matmul/convolution FLOPs the step
   runs (torch's FlopCounterMode) over time and peak, and the speed-up over the step before issue #12.
3. Clip length: a tiny-32 step with 128-frame clips over 16-frame clips, beside a conventional
   3D-convolution discriminator's step on the same clips (benchmarks/conv3d_baseline.py).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from digan.utils.malloc import keep_freed_memory  # noqa: E402
from digan.utils.omp import wait_politely  # noqa: E402

wait_politely()  # as the digan command does, before torch loads
keep_freed_memory()  # as the digan command does

import numpy as np  # noqa: E402
import torch  # noqa: E402
from conv3d_baseline import step_time as conv3d_step_time  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from digan.config import get_preset  # noqa: E402
from digan.data.procedural import Shapes  # noqa: E402
from digan.models import Generator  # noqa: E402
from digan.sampling import RenderOptions, render_code  # noqa: E402
from digan.training.loop import Trainer  # noqa: E402
from digan.utils.runtime import precision_name, resolve_precision  # noqa: E402

# Before issue #12, on the project's 2-core machine, idle (README's speed table of that time).
STEP_BEFORE = {"tiny-32": 0.41, "small-64": 6.65}
# The widths those steps had where a preset changed since (tiny-32 halved in docs/study.md round 5):
# the speed-up over #12 is timed on them, the preset as it is beside it.
WIDTHS_BEFORE = {
    "tiny-32": (
        "generator.channel_base=2048",
        "generator.channel_max=128",
        "discriminator.channel_base=512",
        "discriminator.channel_max=128",
    )
}


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_peak(repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of the best of `repeats` rounds of 10 4096x512 @ 512x512 matmuls in `dtype` (float32 by default)."""
    a, b = torch.randn(4096, 512, dtype=dtype), torch.randn(512, 512, dtype=dtype)
    return 10 * 2 * 4096 * 512 * 512 / best_of(lambda: [a @ b for _ in range(10)], repeats)


def reference_flops(G: Generator, frames: int) -> int:
    """Multiply-adds x 2 of the plain INR over `frames` frames at the training size: each layer on its grid."""
    cfg, syn = G.cfg, G.synthesis
    flops = 0
    for (scale, _, ids), torgb in zip(syn.plan, syn.torgb):
        pixels = cfg.scale_resolutions[scale] ** 2
        flops += sum(2 * pixels * syn.layers[i].in_features * syn.layers[i].out_features for i in ids)
        flops += 2 * pixels * torgb.weight.shape[1] * 3
    return flops * frames


def counted_flops(fn) -> int:
    """FLOPs of the matmuls and convolutions `fn` runs (the in-place baddbmm_ counted like baddbmm)."""

    def baddbmm_flops(input_shape, a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
        return 2 * a_shape[0] * a_shape[1] * a_shape[2] * b_shape[2]

    with FlopCounterMode(display=False, custom_mapping={torch.ops.aten.baddbmm_: baddbmm_flops}) as counter:
        fn()
    return counter.get_total_flops()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def line(what: str, figure: str, target: str) -> None:
    print(f"{what:52s} | {figure:58s} | {target}", flush=True)


@torch.inference_mode()
def render_figures(repeats: int, frames: int) -> None:
    torch.manual_seed(0)
    G = Generator(get_preset("paper-128").generator).eval()
    code = G.prepare(torch.randn(1, G.z_dim), torch.randn(1, G.motion_dim))
    t = torch.linspace(0, 1, frames)

    def render():
        for _ in render_code(G, code, t, RenderOptions(precision=dtype)):
            pass

    work = reference_flops(G, frames)
    executed = counted_flops(render)
    auto = resolve_precision("auto", "cpu")
    for name, dtype in [("default (auto: " + precision_name(auto) + ")", auto)] + (
        [("float32", torch.float32)] if auto != torch.float32 else []
    ):
        peak = matmul_peak()
        seconds = best_of(render, repeats)
        peak = max(peak, matmul_peak())
        share = work / seconds / peak
        line(
            f"render paper-128, {frames}x128x128, {name}",
            f"{seconds:.2f} s, {work / seconds / 1e9:.0f} GFLOP/s effective = {share:.0%} of peak "
            f"({peak / 1e9:.0f}); matmuls {executed / seconds / 1e9:.0f} GFLOP/s",
            ">= 90% (default), >= 60% (float32)" if dtype == auto else ">= 60%",
        )
    if auto == torch.float32:
        line("render paper-128, float32 path", "the default path here (no native bf16)", ">= 60%")
    dtype = auto
    z, zm = torch.randn(1, G.z_dim), torch.randn(1, G.motion_dim)

    def once_per_frame():  # the authors' scheme, emulated: every modulated weight recomputed for every frame
        for k in range(frames):
            G.render(G.prepare(z, zm), t[k : k + 1], precision=auto)

    per_frame = best_of(once_per_frame, max(1, repeats - 1))
    line(
        "render paper-128, the authors' weights-per-frame scheme",
        f"{per_frame:.2f} s, {per_frame / seconds:.2f}x the time of weights once per video",
        "(no target)",
    )

    short = torch.linspace(0, 2, 4)
    ref = np.concatenate(list(render_code(G, code, short)), axis=1)
    mixed = np.concatenate(list(render_code(G, code, short, RenderOptions(precision=torch.bfloat16))), axis=1)
    line("render bf16 vs float32 (paper-128, untrained, 4 frames)", f"{psnr(mixed, ref):.1f} dB PSNR", ">= 40 dB")


def step_figures(repeats: int, presets: list[str]) -> None:
    for name in presets:
        # (label, overrides, compare with the step before #12): the widths #12 measured carry the comparison
        runs = (
            [(" at its widths of #12", WIDTHS_BEFORE[name], True), ("", (), False)]
            if name in WIDTHS_BEFORE
            else [("", (), True)]
        )
        for label, sets, compare in runs:
            preset = get_preset(name).override(sets)
            trainer = Trainer(preset, Shapes(preset.resolution, count=64))
            trainer.step()  # warm-up: the first step includes R1; the next ones, timed, do not (best of)
            flops = counted_flops(trainer.step)
            peak = matmul_peak()
            seconds = best_of(trainer.step, repeats)
            peak = max(peak, matmul_peak())
            rate = f"{flops / seconds / 1e9:.0f} GFLOP/s = {flops / seconds / peak:.0%} of peak"
            before = (
                f", {STEP_BEFORE[name] / seconds:.2f}x the step before #12 ({STEP_BEFORE[name]} s)" if compare else ""
            )
            line(
                f"train step {name}{label}, batch {preset.training.batch}, float32",
                f"{seconds:.3f} s{before}; {rate}",
                ">= 1.7x (with native bf16)" if compare else "(no target)",
            )


def clip_length_figures(repeats: int) -> None:
    preset_name = "tiny-32"
    times = {}
    for clip_frames in (16, 128):
        preset = get_preset(preset_name).replace_training(clip_frames=clip_frames)
        trainer = Trainer(preset, Shapes(preset.resolution, count=64, frames=clip_frames))
        times[clip_frames] = best_of(trainer.step, repeats)
    line(
        f"train step {preset_name}, 128-frame / 16-frame clips",
        f"{times[128] / times[16]:.2f} ({times[128]:.3f} s vs {times[16]:.3f} s)",
        "<= 1.1",
    )
    preset = get_preset(preset_name)
    base = {f: conv3d_step_time(preset.discriminator, f, preset.training.batch, max(1, repeats - 1)) for f in (16, 128)}
    line(
        "3D-conv D baseline step, 128-frame / 16-frame clips",
        f"{base[128] / base[16]:.2f} ({base[128]:.3f} s vs {base[16]:.3f} s)",
        "grows with length (no target)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is reported (default 3)")
    parser.add_argument("--frames", type=int, default=16, help="frames of the rendered video (default 16)")
    parser.add_argument("--quick", action="store_true", help="tiny-32 step only (skip small-64)")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, native bf16: "
        f"{'yes' if resolve_precision('auto', 'cpu') == torch.bfloat16 else 'no'}"
    )
    line("what", "figure", "target")
    render_figures(args.repeats, args.frames)
    step_figures(args.repeats, ["tiny-32"] if args.quick else ["tiny-32", "small-64"])
    clip_length_figures(args.repeats)
    line("GPU (benchmarks/gpu_check.sh)", "not measured: no GPU on this machine", "runs within 8 min")


if __name__ == "__main__":
    main()
