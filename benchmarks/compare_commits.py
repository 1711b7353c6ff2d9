"""Training steps of two commits, timed side by side: every before/after speed figure comes from one run of this.

    python benchmarks/compare_commits.py BEFORE [AFTER] [--preset tiny-32] [--batch 16] [--rounds 5] [--steps 40]
        [--precision-before float32] [--precision-after float32] [--part step|discriminators]

Each commit is checked out into a temporary folder (`git worktree`); the rounds alternate between them,
BEFORE, AFTER, BEFORE, ..., each in a fresh process that imports that checkout's `digan`, trains `--warmup`
steps and times `--steps` more (the same preset, batch, seed and threads for both). AFTER defaults to the
working tree as it is (uncommitted changes included). Printed: each commit's clips/s per round, their
medians, and AFTER over BEFORE. `--precision-after bf16` against `--precision-before float32` is what a
machine with native bf16 (AMX, recent GPUs) gains from `--precision auto`, which picks bf16 there. Alternating spreads the machine's slow and fast moments over both sides;
on a shared machine the spread of the rounds says how far to trust the ratio. `--part discriminators` times
only what Dmain asks of the two discriminators (forward and backward of both on a batch's fakes and reals
stacked: 2 x batch pairs, 4 x batch frames), a part small enough that its change is not lost in a whole
step's noise.
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

ROOT = Path(__file__).resolve().parents[1]

# Runs in the child, against the checkout's own src: the APIs it uses exist in every version of digan.
CHILD = r"""
import json, os, sys, time
sys.path.insert(0, os.path.join(sys.argv[1], "src"))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "3000")
try:  # as that version's digan command does (0.2.0 on: freed memory kept, digan.utils.malloc)
    from digan.utils.malloc import keep_freed_memory
    keep_freed_memory()
except ImportError:
    pass
import torch
torch.set_num_threads(int(sys.argv[5]))
from digan.config import get_preset
from digan.data.procedural import Shapes
try:
    from digan.training.loop import Trainer
except ImportError:  # 0.1: digan.training was a module
    from digan.training import Trainer
preset = get_preset(sys.argv[2]).replace_training(batch=int(sys.argv[3]))
precision = {"float32": torch.float32, "bf16": torch.bfloat16}[sys.argv[7]]
warmup, steps = int(sys.argv[4]), int(sys.argv[6])
if sys.argv[8] == "discriminators":
    from digan.models import DiganDiscriminators
    torch.manual_seed(0)
    D = DiganDiscriminators(preset.discriminator)
    B, R = preset.training.batch, preset.discriminator.resolution
    pairs, frames = torch.randn(2 * B, 7, R, R), torch.randn(4 * B, 3, R, R)
    def step():
        with torch.autocast("cpu", dtype=precision, enabled=precision != torch.float32):
            loss = D.motion(pairs).float().sum() + D.image(frames).float().sum()
        loss.backward()
        return {"loss": loss}
else:
    step = Trainer(preset, Shapes(preset.resolution, count=64), precision=precision).step
for _ in range(warmup):
    step()
start = time.perf_counter()
for _ in range(steps):
    stats = step()
float(next(iter(stats.values())))  # wait for the device
print(json.dumps({"clips_per_s": steps * preset.training.batch / (time.perf_counter() - start)}))
"""


def checkout(commit: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(into), commit], check=True)
    return into


def clips_per_s(tree: Path, args, precision: str) -> float:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(tree),
            args.preset,
            str(args.batch),
            str(args.warmup),
            str(args.threads),
            str(args.steps),
            precision,
            args.part,
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        env={**os.environ, "PYTHONPATH": ""},
    )
    if out.returncode:
        sys.exit(f"compare_commits: {tree} failed: {out.stderr.strip().splitlines()[-1] if out.stderr else ''}")
    return json.loads(out.stdout.strip().splitlines()[-1])["clips_per_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("before", help="the commit to compare against, e.g. main~3 or a hash")
    p.add_argument("after", nargs="?", help="the other commit (default: the working tree as it is)")
    p.add_argument("--preset", default="tiny-32")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=5, help="steps before the timed ones (default 5)")
    p.add_argument("--steps", type=int, default=40, help="timed steps a round (default 40)")
    p.add_argument("--rounds", type=int, default=5, help="rounds per commit, alternating (default 5)")
    p.add_argument(
        "--part",
        choices=["step", "discriminators"],
        default="step",
        help="a whole training step (default), or only Dmain's forward and backward of the discriminators",
    )
    for side in ("before", "after"):
        p.add_argument(f"--precision-{side}", choices=["float32", "bf16"], default="float32")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before": checkout(args.before, Path(tmp) / "before")}
        trees["after"] = checkout(args.after, Path(tmp) / "after") if args.after else ROOT
        try:
            rates = {name: [] for name in trees}
            for k in range(args.rounds):
                for name, tree in trees.items():
                    rates[name].append(clips_per_s(tree, args, getattr(args, f"precision_{name}")))
                    print(f"round {k + 1}: {name} {rates[name][-1]:.2f} clips/s", flush=True)
        finally:
            for name, tree in trees.items():
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    before, after = statistics.median(rates["before"]), statistics.median(rates["after"])
    label = args.after or "the working tree"
    print(
        f"{args.preset}, batch {args.batch}, {args.threads} threads, {args.steps} steps a round, {args.rounds} rounds"
        + (" (the discriminators' part of Dmain: clips of fakes and reals a second)" if args.part != "step" else "")
    )
    print(
        f"before ({args.before}, {args.precision_before}): median {before:.2f} clips/s (min {min(rates['before']):.2f}, "
        f"max {max(rates['before']):.2f})"
    )
    print(
        f"after ({label}, {args.precision_after}): median {after:.2f} clips/s (min {min(rates['after']):.2f}, max {max(rates['after']):.2f})"
    )
    print(f"after / before: {after / before:.2f}x")


if __name__ == "__main__":
    main()
