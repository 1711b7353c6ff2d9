"""Generator and training-step speed, each measured side by side with its baseline in one run.

1. Rendering: the library's path (FMM weights prepared once per video, frames rendered
   in chunks of about 2^17 pixels) against the authors' scheme, which repeats w per
   frame and recomputes every modulated weight for every frame (emulated by preparing
   the INR again for each frame). Almost all the cost is the per-pixel MLP, so expect
   a ratio near 1: preparing once saves work that is small next to rendering.
2. Training: a step's time with 16-frame clips against 128-frame clips. DIGAN renders
   and discriminates only two frames per clip, so the ratio should stay near 1.

    python benchmarks/generator_speed.py [--preset small-64] [--frames 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from digan.config import get_preset
from digan.data.procedural import Shapes
from digan.models import Generator
from digan.sampling import render_code
from digan.training import Trainer


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


@torch.inference_mode()
def render_speed(preset_name: str, frames: int, repeats: int) -> None:
    preset = get_preset(preset_name)
    G = Generator(preset.generator).eval()
    z, zm = torch.randn(1, G.z_dim), torch.randn(1, G.motion_dim)
    t = torch.linspace(0, 1, frames)[None]

    def once_per_video():
        for _ in render_code(G, G.prepare(z, zm), t):
            pass

    def once_per_frame():
        for k in range(frames):
            G.render(G.prepare(z, zm), t[:, k:k + 1])

    ours = best_of(once_per_video, repeats)
    baseline = best_of(once_per_frame, repeats)
    print(f"render {preset_name}, one {frames}-frame video: weights once per video {ours:.3f} s, "
          f"once per frame {baseline:.3f} s, ratio {baseline / ours:.2f}")


def step_speed(preset_name: str, repeats: int) -> None:
    times = {}
    for clip_frames in (16, 128):
        preset = get_preset(preset_name).replace_training(clip_frames=clip_frames)
        source = Shapes(preset.resolution, count=64, frames=clip_frames)
        trainer = Trainer(preset, source)
        times[clip_frames] = best_of(trainer.step, repeats)
    print(f"train step {preset_name}, batch {get_preset(preset_name).training.batch}: "
          f"16-frame clips {times[16]:.3f} s, 128-frame clips {times[128]:.3f} s, "
          f"ratio 128/16 = {times[128] / times[16]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small-64", help="preset to render (default small-64)")
    parser.add_argument("--step-preset", default="tiny-32", help="preset of the training-step test (default tiny-32)")
    parser.add_argument("--frames", type=int, default=16, help="frames per rendered video (default 16)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats; the best is reported (default 3)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    render_speed(args.preset, args.frames, args.repeats)
    step_speed(args.step_preset, args.repeats)


if __name__ == "__main__":
    main()
