"""Where a training step's time goes: by phase (Gmain, Dmain, Dreg, EMA) and by operator (torch.profiler).

    python benchmarks/profile_step.py [--preset tiny-32] [--batch 16] [--steps 16] [--threads 2] [--shapes | --ops | --peak]

The phases are timed with the step's own structure (`Trainer.step`'s three `descend` calls and the EMA),
the operators by torch.profiler over the same steps (self CPU time, the 20 largest). Steps alternate
R1 steps and plain ones as training does (every d_reg_interval-th step has Dreg). `--shapes`: a row per
operator and input shapes. `--ops`: instead of the profiler, each operator the step dispatches (backward
included) timed around its own call, summed by operator: how many operators a step runs and which kinds
hold its time, without the profiler's per-operator cost folded into the operators' own times. `--peak`: the
FLOP rate of the discriminators' part of Dmain (forward and backward of both on a batch's fakes and reals,
FLOPs from torch's FlopCounterMode) beside the float32 matmul peak measured in the same run: how near the
convolutions run to what the cores can do.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from digan.utils.malloc import keep_freed_memory  # noqa: E402
from digan.utils.omp import wait_politely  # noqa: E402

wait_politely()
keep_freed_memory()  # as the digan command does

import torch  # noqa: E402
from generator_speed import matmul_peak  # noqa: E402
from torch.profiler import ProfilerActivity, profile, record_function  # noqa: E402

from digan.config import get_preset  # noqa: E402
from digan.data.procedural import Shapes  # noqa: E402
from digan.training.loop import Trainer  # noqa: E402


def phased(trainer: Trainer) -> dict[str, float]:
    """Wrap the trainer's phases so that each records its wall time (and a profiler range)."""
    seconds: dict[str, float] = defaultdict(float)
    names = iter(())

    original_descend, original_ema = trainer.descend, trainer.update_ema

    def descend(module, opt, parts, stats, also=()):
        name = next(names)
        start = time.perf_counter()
        with record_function(name):
            original_descend(module, opt, parts, stats, also)
        seconds[name] += time.perf_counter() - start

    def update_ema():
        start = time.perf_counter()
        with record_function("EMA"):
            original_ema()
        seconds["EMA"] += time.perf_counter() - start

    def step():
        nonlocal names
        names = iter(("Gmain", "Dmain", "Dreg"))
        start = time.perf_counter()
        out = original_step()
        seconds["step"] += time.perf_counter() - start
        return out

    original_step = trainer.step
    trainer.descend, trainer.update_ema, trainer.step = descend, update_ema, step
    return seconds


def timed_operators(trainer: Trainer, steps: int, rows: int) -> None:
    """Print each ATen operator's share of `steps` steps, timed around its own call (a dispatch mode)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    calls: dict[str, list] = defaultdict(lambda: [0, 0.0])

    class Timed(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            start = time.perf_counter()
            out = func(*args, **(kwargs or {}))
            record = calls[str(func.overloadpacket)]
            record[0] += 1
            record[1] += time.perf_counter() - start
            return out

    start = time.perf_counter()
    with Timed():
        for _ in range(steps):
            trainer.step()
    wall = (time.perf_counter() - start) / steps
    inside = sum(seconds for _, seconds in calls.values()) / steps
    count = sum(n for n, _ in calls.values()) // steps
    print(f"{count} operators a step; {inside:.3f} s a step inside them ({wall:.3f} s a step timed this way)")
    for name, (n, seconds) in sorted(calls.items(), key=lambda item: -item[1][1])[:rows]:
        print(f"  {name:32s} {n // steps:5d} a step {seconds / steps * 1e3:8.2f} ms {seconds / steps / inside:6.1%}")


def discriminators_at_peak(preset, steps: int) -> None:
    """Print the discriminators' Dmain FLOP rate and the matmul peak (`generator_speed.matmul_peak`), both here."""
    from torch.utils.flop_counter import FlopCounterMode

    from digan.models import DiganDiscriminators

    torch.manual_seed(0)
    D = DiganDiscriminators(preset.discriminator)
    B, R = preset.training.batch, preset.discriminator.resolution
    pairs, frames = torch.randn(2 * B, 7, R, R), torch.randn(4 * B, 3, R, R)

    def dmain():
        (D.motion(pairs).sum() + D.image(frames).sum()).backward()

    with FlopCounterMode(display=False) as counter:
        dmain()
    start = time.perf_counter()
    for _ in range(steps):
        dmain()
    rate = counter.get_total_flops() * steps / (time.perf_counter() - start)
    peak, bf16 = matmul_peak(), matmul_peak(dtype=torch.bfloat16)
    print(
        f"discriminators, Dmain forward and backward: {rate / 1e9:.0f} GFLOP/s; float32 matmul peak "
        f"{peak / 1e9:.0f} GFLOP/s; {rate / peak:.0%} of it (bf16 matmuls: {bf16 / 1e9:.0f} GFLOP/s, "
        f"{bf16 / peak:.1f}x float32's)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="tiny-32")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rows", type=int, default=20)
    p.add_argument("--shapes", action="store_true", help="one row per operator and input shapes")
    p.add_argument("--ops", action="store_true", help="time each operator around its call, not with the profiler")
    p.add_argument("--peak", action="store_true", help="the discriminators' FLOP rate against the matmul peak")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    preset = get_preset(args.preset).replace_training(batch=args.batch)
    if args.peak:
        discriminators_at_peak(preset, args.steps)
        return
    trainer = Trainer(preset, Shapes(preset.resolution, count=64))
    for _ in range(3):
        trainer.step()
    if args.ops:
        timed_operators(trainer, args.steps, args.rows)
        return
    seconds = phased(trainer)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=args.shapes) as prof:
        for _ in range(args.steps):
            trainer.step()
    total = seconds["step"]
    print(
        f"{args.preset}, batch {args.batch}, {args.threads} threads: {total / args.steps:.3f} s a step "
        f"(profiled, {args.steps} steps, Dreg every {preset.training.d_reg_interval})"
    )
    for name in ("Gmain", "Dmain", "Dreg", "EMA"):
        print(f"  {name:6s} {seconds[name] / args.steps:.4f} s a step, {seconds[name] / total:5.1%}")
    other = total - sum(seconds[n] for n in ("Gmain", "Dmain", "Dreg", "EMA"))
    print(f"  other  {other / args.steps:.4f} s a step, {other / total:5.1%} (the batch, the random streams)")
    table = prof.key_averages(group_by_input_shape=args.shapes)
    print(table.table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=40))


if __name__ == "__main__":
    main()
