"""GPU figures: a paper-128 training step at batch 64 (whole, and in micro-batches), its peak memory, and
generation in frames/s.

    python benchmarks/gpu_speed.py [--device cuda] [--preset paper-128] [--batch 64] [--batch-gpu 8,16]

Both at --precision auto (bf16 where the GPU has it) and float32 (TF32 off), timed with the device
synchronised; the peak of allocated GPU memory is printed beside each step. On a CPU (--device cpu
--preset tiny-32 --batch 4) it runs as a smoke test.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from digan.config import get_preset  # noqa: E402
from digan.data.procedural import Shapes  # noqa: E402
from digan.models import Generator  # noqa: E402
from digan.sampling import RenderOptions, render_code  # noqa: E402
from digan.training.loop import Trainer  # noqa: E402
from digan.utils.runtime import precision_name, resolve_precision  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> float:
    """Mean seconds of `repeats` calls after two warm-up calls."""
    fn()
    fn()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / repeats


def step_figure(
    preset_name: str, batch: int, device: torch.device, dtype: torch.dtype, repeats: int, batch_gpu: int | None = None
) -> str:
    preset = get_preset(preset_name).replace_training(batch=batch)
    what = f"train step {preset_name}, batch {batch}" + (f" in micro-batches of {batch_gpu}" if batch_gpu else "")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer = None
    try:
        trainer = Trainer(preset, Shapes(preset.resolution, count=64), device, precision=dtype, batch_gpu=batch_gpu)
        seconds = timed(lambda: trainer.step()["G_image"].item(), device, repeats)
    except torch.OutOfMemoryError:
        return f"{what}, {precision_name(dtype)}: out of memory"
    finally:
        trainer = None
        if device.type == "cuda":
            torch.cuda.empty_cache()
    peak = f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB" if device.type == "cuda" else ""
    return f"{what}, {precision_name(dtype)}: {seconds:.3f} s, {batch / seconds:.0f} clips/s{peak}"


@torch.inference_mode()
def render_figure(
    preset_name: str, device: torch.device, dtype: torch.dtype, repeats: int, videos: int = 4, frames: int = 64
) -> str:
    torch.manual_seed(0)
    G = Generator(get_preset(preset_name).generator).eval().to(device)
    code = G.prepare(torch.randn(videos, G.z_dim, device=device), torch.randn(videos, G.motion_dim, device=device))
    t = torch.linspace(0, 4, frames)

    def render():
        for _ in render_code(G, code, t, RenderOptions(precision=dtype, chunk=16)):
            pass

    seconds = timed(render, device, repeats)
    return (
        f"generate {preset_name}, {videos} videos x {frames} frames at {G.resolution}x{G.resolution}, "
        f"{precision_name(dtype)}: {videos * frames / seconds:.0f} frames/s (uint8 on the host included)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--preset", default="paper-128")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-gpu", default="", help="also time the step in micro-batches of these sizes, e.g. 8,16")
    args = p.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # float32 means float32
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}", flush=True)
    dtypes = [resolve_precision("auto", device)]
    dtypes += [torch.float32] if dtypes[0] != torch.float32 else []
    for dtype in dtypes:
        print(step_figure(args.preset, args.batch, device, dtype, args.repeats), flush=True)
        for batch_gpu in (int(b) for b in args.batch_gpu.split(",") if b.strip()):
            print(step_figure(args.preset, args.batch, device, dtype, args.repeats, batch_gpu), flush=True)
    for dtype in dtypes:
        print(render_figure(args.preset, device, dtype, args.repeats), flush=True)


if __name__ == "__main__":
    main()
