"""Training clips/s of one preset at several batch sizes or variants, measured alternately in one process.

    .venv/bin/python benchmarks/batch_cost.py [--preset tiny-32] [--batches 16,8] [--threads 2] [--seconds 15]
    .venv/bin/python benchmarks/batch_cost.py --batches 16 --variant "discriminator.channel_base=256 discriminator.channel_max=64"

The quality study compares recipes at equal clips seen (kimg); a smaller batch can learn more per
clip yet cost more per clip. This prints each batch size's clips/s and its rate over the first
one, so a study's kimg can be turned into wall time. `--variant` adds the preset with `digan study
--set`-style overrides (space-separated), at the first batch size, to compare a recipe change's cost.
Rounds alternate (16, 8, 16, 8, ...) so a change in the machine's load falls on every entry alike;
the best round of each is kept.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from digan.utils.malloc import keep_freed_memory  # noqa: E402
from digan.utils.omp import wait_politely  # noqa: E402

wait_politely()  # as the digan command does, before torch loads
keep_freed_memory()  # as the digan command does

import torch  # noqa: E402

from digan.config import get_preset  # noqa: E402
from digan.data.procedural import Shapes  # noqa: E402
from digan.training.loop import Trainer  # noqa: E402


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
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="'SECTION.FIELD=VALUE ...'",
        help="also time the preset with these overrides, at the first batch size (repeatable)",
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    entries = {f"batch {b:3d}": (b, (f"training.batch={b}",)) for b in batches}
    entries |= {
        f"batch {batches[0]:3d} {v}": (batches[0], (f"training.batch={batches[0]}", *v.split())) for v in args.variant
    }
    trainers = {}
    for name, (b, sets) in entries.items():
        preset = get_preset(args.preset).override(sets)
        trainers[name] = Trainer(preset, Shapes(preset.resolution, count=64))
        trainers[name].step()  # warm-up, includes the first R1 step
    best = {name: 0.0 for name in entries}
    print(
        f"{args.preset}, {args.threads} threads, {args.seconds:g} s a round; load average "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}",
        flush=True,
    )
    for r in range(args.rounds):
        for name, (b, _) in entries.items():
            best[name] = max(best[name], clips_per_s(trainers[name], b, args.seconds))
    ref_name = next(iter(entries))
    for name in entries:
        print(
            f"{name}: {best[name]:6.2f} clips/s   {best[name] / best[ref_name]:.2f}x {ref_name.split()[0]} "
            f"{batches[0]}'s rate",
            flush=True,
        )


if __name__ == "__main__":
    main()
