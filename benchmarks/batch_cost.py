"""Training clips/s of one preset at several batch sizes, measured alternately in one process.

    .venv/bin/python benchmarks/batch_cost.py [--preset tiny-32] [--batches 16,8] [--threads 2] [--seconds 15]

The quality study compares recipes at equal clips seen (kimg); a smaller batch can learn more per
clip yet cost more per clip. This prints each batch size's clips/s and its rate over the first
one, so a study's kimg can be turned into wall time. Rounds alternate (16, 8, 16, 8, ...) so a
change in the machine's load falls on every batch size alike; the best round of each is kept.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from digan.runtime import wait_politely  # noqa: E402

wait_politely()  # as the digan command does, before torch loads

import torch  # noqa: E402

from digan.config import get_preset  # noqa: E402
from digan.data.procedural import Shapes  # noqa: E402
from digan.training import Trainer  # noqa: E402


def clips_per_s(trainer: Trainer, batch: int, seconds: float) -> float:
    steps, start = 0, time.perf_counter()
    while steps < 3 or time.perf_counter() - start < seconds:
        trainer.step()
        steps += 1
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="tiny-32", help="named configuration (default tiny-32)")
    p.add_argument("--batches", default="16,8", help="batch sizes, comma-separated; the first is the reference")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2, the target machine's cores)")
    p.add_argument("--seconds", type=float, default=15.0, help="timed training per round (default 15)")
    p.add_argument("--rounds", type=int, default=2, help="rounds per batch size (default 2)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    trainers = {}
    for b in batches:
        preset = get_preset(args.preset).override((f"training.batch={b}",))
        trainers[b] = Trainer(preset, Shapes(preset.resolution, count=64))
        trainers[b].step()  # warm-up, includes the first R1 step
    best = {b: 0.0 for b in batches}
    print(f"{args.preset}, {args.threads} threads, {args.seconds:g} s a round; load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}", flush=True)
    for r in range(args.rounds):
        for b in batches:
            best[b] = max(best[b], clips_per_s(trainers[b], b, args.seconds))
    ref = best[batches[0]]
    for b in batches:
        print(f"batch {b:3d}: {best[b]:6.2f} clips/s   {best[b] / ref:.2f}x batch {batches[0]}'s rate", flush=True)


if __name__ == "__main__":
    main()
