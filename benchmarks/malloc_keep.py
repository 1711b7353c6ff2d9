"""Training steps with freed memory kept (`digan.utils.malloc.keep_freed_memory`, what the `digan` command does)
against glibc's default, side by side.

    python benchmarks/malloc_keep.py [--preset small-64] [--batch 16] [--steps 4] [--rounds 3]

Each round runs one fresh process each way (alternating which goes first): it trains 2 warm-up steps, then
times `--steps` steps and counts their page faults (minor faults: pages the kernel maps and zero-fills).
Printed per process: seconds a step, faults a step, peak resident memory; then the medians and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from digan.utils.malloc import keep_freed_memory
from digan.utils.omp import wait_politely
wait_politely()
kept = keep_freed_memory() if sys.argv[2] == "kept" else False
import torch
torch.set_num_threads(int(sys.argv[6]))
from digan.config import get_preset
from digan.data.procedural import Shapes
from digan.training.loop import Trainer
preset = get_preset(sys.argv[3]).replace_training(batch=int(sys.argv[4]))
trainer = Trainer(preset, Shapes(preset.resolution, count=64))
for _ in range(2):
    trainer.step()
steps = int(sys.argv[5])
usage = resource.getrusage(resource.RUSAGE_SELF)
start = time.perf_counter()
for _ in range(steps):
    trainer.step()
seconds = (time.perf_counter() - start) / steps
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"kept": kept, "s": seconds, "faults": (after.ru_minflt - usage.ru_minflt) / steps,
                  "peak_mib": after.ru_maxrss / 1024}))
"""


def measure(way: str, args) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(SRC), way, args.preset, str(args.batch), str(args.steps), str(args.threads)],
        capture_output=True,
        text=True,
        timeout=3600,
        env={k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")},
    )
    if out.returncode:
        sys.exit(f"malloc_keep: the {way} process failed: {out.stderr.strip()[-400:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="small-64")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    results: dict[str, list[dict]] = {"default": [], "kept": []}
    for k in range(args.rounds):
        for way in ("default", "kept") if k % 2 == 0 else ("kept", "default"):
            r = measure(way, args)
            if way == "kept" and not r["kept"]:
                sys.exit("malloc_keep: keep_freed_memory did not apply here (not glibc, or MALLOC_* set)")
            results[way].append(r)
            print(
                f"round {k + 1}: {way}: {r['s']:.3f} s a step, {r['faults']:,.0f} page faults a step, "
                f"peak {r['peak_mib']:,.0f} MiB",
                flush=True,
            )
    print(
        f"{args.preset}, batch {args.batch}, {args.threads} threads, {args.steps} steps a round, {args.rounds} rounds"
    )
    median = {way: statistics.median(r["s"] for r in rs) for way, rs in results.items()}
    for way, rs in results.items():
        peak = statistics.median(r["peak_mib"] for r in rs)
        print(f"{way}: median {median[way]:.3f} s a step, peak {peak:,.0f} MiB")
    print(f"kept / default: {median['default'] / median['kept']:.2f}x the steps a second")


if __name__ == "__main__":
    main()
