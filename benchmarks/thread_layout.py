"""Two cores, two layouts: one training process with 2 threads against torchrun with 2 processes of 1 thread.

    python benchmarks/thread_layout.py [--preset tiny-32] [--kimg 3] [--rounds 3] [--precision float32]

Each round trains a fresh run of `--kimg` kimg on `shapes` in each layout, one after the other (alternating
which goes first), snapshots every kimg, and reads `clips_per_s` from the run's metrics.jsonl: the first
interval (start-up, the first steps) is left out. Both layouts train the same preset and batch; the two
processes each take half of every batch (torchrun, gloo) and average their gradients. Printed: each layout's
clips/s per round, the medians and their ratio. The machine must be otherwise idle for the ratio to mean much.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent


def layouts(args, out: Path) -> dict[str, tuple[list[str], dict]]:
    train = [
        "train",
        "--data",
        "shapes",
        "--preset",
        args.preset,
        "--kimg",
        str(args.kimg),
        "--snap-kimg",
        "1",
        "--precision",
        args.precision,
        "--quiet",
        "--threads",
    ]
    return {
        "1 process x 2 threads": ([str(BIN / "digan"), *train, "2", "--out", str(out / "threads")], {}),
        "2 processes x 1 thread": (
            [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2", "-m", "digan", *train, "1"]
            + ["--out", str(out / "processes")],
            {"OMP_NUM_THREADS": "1"},
        ),
    }


def clips_per_s(command: list[str], env: dict, out: Path) -> float:
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=3600)
    if done.returncode:
        sys.exit(f"thread_layout: {' '.join(command[:3])}... failed: {done.stderr.strip()[-400:]}")
    (metrics,) = out.glob("*/metrics.jsonl")
    rates = [json.loads(line)["clips_per_s"] for line in metrics.read_text().splitlines()][1:]
    if not rates:
        sys.exit("thread_layout: --kimg must be at least 2 (the first kimg is left out)")
    return statistics.mean(rates)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="tiny-32")
    p.add_argument("--kimg", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--precision", choices=["float32", "bf16"], default="float32")
    args = p.parse_args()
    rates: dict[str, list[float]] = {}
    for k in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            runs = list(layouts(args, Path(tmp)).items())
            for name, (command, env) in runs if k % 2 == 0 else runs[::-1]:
                out = Path(command[command.index("--out") + 1])
                rates.setdefault(name, []).append(clips_per_s(command, env, out))
                print(f"round {k + 1}: {name}: {rates[name][-1]:.1f} clips/s", flush=True)
    print(f"{args.preset}, {args.kimg} kimg a run, {args.precision}, {args.rounds} rounds")
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name, r in rates.items():
        print(f"{name}: median {medians[name]:.1f} clips/s (min {min(r):.1f}, max {max(r):.1f})")
    one, two = medians.values()
    print(f"2 processes / 1 process: {two / one:.2f}x")


if __name__ == "__main__":
    main()
