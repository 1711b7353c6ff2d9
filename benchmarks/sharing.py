"""Sharing the cores: training speed beside a second torch process, over training alone, in one run.

    .venv/bin/python benchmarks/sharing.py [--seconds 15] [--threads 2] [--no-spin]

Each side is a separate process, as `digan train` and `digan generate` would be:
- training: `tiny-32` steps (batch 16) for --seconds after a warm-up step; clips/s;
- the render beside it: paper-128 frames in a loop, as `digan generate` renders them.
Both use --threads threads (default 2, the target machine's cores). The measurements:
1. training alone, with the wait policy `digan` sets (a short spin, then sleep: `digan.utils.runtime`);
2. training beside the render, same policy: the ratio 2/1 is the figure (target >= 0.35; sharing
   two cores fairly between two processes gives 0.5);
3. both again under libgomp's default (threads spin 300,000 rounds before they sleep; GOMP_SPINCOUNT
   makes it explicit), which is what every torch process did before: alone it shows what the short
   spin costs, beside the render the cause of the old 30x slowdown;
4. both again with threads that sleep at once (OMP_WAIT_POLICY=PASSIVE, no spin): the choice before
   the short spin.
Other processes on the machine count as well: the load average is printed beside each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from digan.utils.omp import wait_politely  # noqa: E402  (imports no torch)

LIBGOMP_DEFAULT_SPIN = "300000"


def child_train(threads: int, seconds: float) -> None:
    import torch
    from batch_cost import clips_per_s  # the same timed loop

    from digan.config import get_preset
    from digan.data.procedural import Shapes
    from digan.training.loop import Trainer

    torch.set_num_threads(threads)
    preset = get_preset("tiny-32")
    trainer = Trainer(preset, Shapes(preset.resolution, count=64))
    trainer.step()  # warm-up, includes the first R1 step
    print(json.dumps({"clips_per_s": clips_per_s(trainer, preset.training.batch, seconds)}), flush=True)


def child_render(threads: int) -> None:
    import torch

    from digan.config import get_preset
    from digan.models import Generator
    from digan.sampling.render import render_code

    torch.set_num_threads(threads)
    G = Generator(get_preset("paper-128").generator).eval()
    with torch.inference_mode():
        code = G.prepare(torch.randn(1, G.z_dim), torch.randn(1, G.motion_dim))
        while True:  # until the parent stops it
            for _ in render_code(G, code, torch.linspace(0, 1, 16)):
                pass


def environment(policy: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    if policy == "digan":
        wait_politely(env)
    elif policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    else:
        env["GOMP_SPINCOUNT"] = LIBGOMP_DEFAULT_SPIN
    return env


def training_rate(policy: str, threads: int, seconds: float, beside_render: bool) -> float:
    env = environment(policy)
    me = [sys.executable, __file__, "--threads", str(threads), "--seconds", str(seconds)]
    render = subprocess.Popen(me + ["--child", "render"], env=env) if beside_render else None
    try:
        out = subprocess.run(me + ["--child", "train"], env=env, capture_output=True, text=True, check=True).stdout
    finally:
        if render is not None:
            render.terminate()
            render.wait()
    return json.loads(out.strip().splitlines()[-1])["clips_per_s"]


def load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=15.0, help="timed training per measurement (default 15)")
    p.add_argument("--threads", type=int, default=2, help="threads of each process (default 2)")
    p.add_argument("--no-spin", action="store_true", help="skip measurements 3 and 4 (other wait policies)")
    p.add_argument("--child", choices=["train", "render"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child == "train":
        return child_train(args.threads, args.seconds)
    if args.child == "render":
        return child_render(args.threads)

    print(f"{os.cpu_count()} cores visible; each process {args.threads} threads; load average {load()}")
    alone = training_rate("digan", args.threads, args.seconds, beside_render=False)
    print(f"tiny-32 training alone:                  {alone:6.2f} clips/s   (load {load()})", flush=True)
    shared = training_rate("digan", args.threads, args.seconds, beside_render=True)
    print(f"beside a paper-128 render:               {shared:6.2f} clips/s   (load {load()})", flush=True)
    print(f"sharing: beside a render / alone = {shared / alone:.2f}   target >= 0.35 (fair share 0.5)", flush=True)
    if not args.no_spin:
        for policy, name in (("spin", "libgomp's default spin"), ("passive", "sleeping at once (PASSIVE)")):
            other_alone = training_rate(policy, args.threads, args.seconds, beside_render=False)
            print(
                f"alone, {name + ':':32s} {other_alone:6.2f} clips/s   (load {load()}): "
                f"{other_alone / alone:.2f}x the rate with digan's short spin",
                flush=True,
            )
            other = training_rate(policy, args.threads, args.seconds, beside_render=True)
            print(
                f"beside a render, {name + ':':24s} {other:6.2f} clips/s   (load {load()}): "
                f"{other / other_alone:.2f} of alone; digan's short spin runs {shared / other:.2f}x this rate",
                flush=True,
            )


if __name__ == "__main__":
    main()
