"""Memory of a long render: peak resident memory while `digan.sampling.render.generate` streams an MP4.

Renders one video of each length in --frames (shortest first, in one process)
through the same path as `digan generate` (prepare once, render chunk by
chunk, encode each chunk, let it go) and reports, per length, the wall time,
frames per second and the peak resident set size during that render (the
kernel's high-water mark, reset before each render). If the
render kept its frames, the peak would grow by H*W*3 bytes per frame (uint8)
or 4x that (float); streaming keeps it flat.

    .venv/bin/python benchmarks/long_render_memory.py                      # tiny-32 at 128x128: 100, 1000, 10000 frames
    .venv/bin/python benchmarks/long_render_memory.py --frames 100,1000 --ckpt runs/demo/run

A random tiny-32 generator is used unless --ckpt is given: the cost of a
frame does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from digan.checkpoint import load_snapshot
from digan.config import get_preset
from digan.models import Generator
from digan.sampling import RenderOptions, VideoRequest, generate
from digan.sampling.options import frames_per_chunk
from digan.timebase import TimeRequest


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def kernel_peak() -> int:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) * 1024


def peak_rss_during(fn, every: float = 0.005) -> tuple[int, float, str]:
    """(peak resident bytes while fn runs, seconds fn took, how the peak was measured).

    The kernel's own high-water mark (reset first) is exact; where it cannot be
    reset, RSS is sampled every `every` seconds (which can miss short peaks).
    """
    exact = reset_peak()
    peak, done = [rss()], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(every)

    thread = threading.Thread(target=sample, daemon=True)
    if not exact:
        thread.start()
    start = time.perf_counter()
    try:
        fn()
    finally:
        seconds = time.perf_counter() - start
        done.set()
        if not exact:
            thread.join()
    return (kernel_peak(), seconds, "VmHWM") if exact else (peak[0], seconds, f"sampled every {every * 1000:g} ms")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", default="100,1000,10000", help="video lengths, shortest first (default 100,1000,10000)")
    p.add_argument("--size", type=int, default=128, help="output size (default 128)")
    p.add_argument("--ckpt", help="snapshot or run directory (default: a random tiny-32 generator)")
    p.add_argument("--chunk", type=int, help="frames rendered at once (default: sampling's CHUNK_PIXELS rule)")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    p.add_argument("--out", help="where the videos go (default: a temporary directory, removed)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.ckpt:
        G, meta = load_snapshot(args.ckpt)
    else:
        torch.manual_seed(0)
        preset = get_preset("tiny-32")
        G = Generator(preset.generator).eval().requires_grad_(False)
        meta = {"clip_frames": preset.training.clip_frames}
    size = (args.size, args.size)
    chunk = args.chunk or frames_per_chunk(1, size)
    lengths = sorted(int(n) for n in args.frames.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)

        def render(n):
            request = VideoRequest(
                seeds=(0,), times=TimeRequest(frames=n), render=RenderOptions(size=size, chunk=chunk)
            )
            generate(G, meta, out / f"{n}", request, progress=False)

        render(chunk)  # warm up: allocator, encoder, thread pools
        baseline = rss()
        print(
            json.dumps(
                {
                    "size": args.size,
                    "chunk": chunk,
                    "threads": args.threads,
                    "cpus": os.cpu_count(),
                    "torch": torch.__version__,
                    "baseline_rss_mb": round(baseline / 2**20, 1),
                }
            ),
            flush=True,
        )
        for n in lengths:
            peak, seconds, how = peak_rss_during(lambda: render(n))
            file_mb = (out / f"{n}" / "seed0000.mp4").stat().st_size / 2**20
            print(
                json.dumps(
                    {
                        "frames": n,
                        "seconds": round(seconds, 1),
                        "frames_per_s": round(n / seconds, 1),
                        "peak_rss_mb": round(peak / 2**20, 1),
                        "peak_above_baseline_mb": round((peak - baseline) / 2**20, 1),
                        "frames_as_uint8_mb": round(n * args.size**2 * 3 / 2**20, 1),
                        "mp4_mb": round(file_mb, 2),
                        "peak_from": how,
                    }
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
