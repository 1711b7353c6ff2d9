"""A probe, not a feature: `torch.compile` of both discriminators' forward inside `tiny-32` training steps.

    TORCH_LOGS=recompiles python benchmarks/compile_probe.py compiled   # or: eager
    python benchmarks/compile_probe.py compiled --everywhere              # also where the input needs a gradient

By default the compiled forward serves only calls whose input needs no gradient (Dmain: detached fakes and
reals); Gmain (fakes that carry G's graph) and Dreg (R1 differentiates D's gradient, a double backward, which
compiled graphs refuse: "torch.compile with aot_autograd does not currently support double backward") stay
eager. `--everywhere` compiles every call, to see that refusal and the recompiles (batch 16 and 32, inputs
and parameters that need a gradient or not, strides). Prints the cumulative time of the first steps (the
compiling) and the seconds a step after 20 warm-up steps; torch's on-disk compile cache makes a second run
compile faster.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from digan.utils.malloc import keep_freed_memory  # noqa: E402
from digan.utils.omp import wait_politely  # noqa: E402

wait_politely()
keep_freed_memory()  # as the digan command does

import torch  # noqa: E402

from digan.config import get_preset  # noqa: E402
from digan.data.procedural import Shapes  # noqa: E402
from digan.training.loop import Trainer  # noqa: E402


def compiled_forward(module: torch.nn.Module, everywhere: bool):
    eager = module.forward
    compiled = torch.compile(eager, dynamic=False)
    if everywhere:
        return compiled
    return lambda x: eager(x) if x.requires_grad else compiled(x)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["eager", "compiled"])
    p.add_argument("--everywhere", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    preset = get_preset("tiny-32").replace_training(batch=16)
    trainer = Trainer(preset, Shapes(32, count=64))
    if args.mode == "compiled":
        for name in ("image", "motion"):
            module = getattr(trainer.D, name)
            module.forward = compiled_forward(module, args.everywhere)
    start = time.perf_counter()
    for i in range(20):
        trainer.step()
        if i < 3:
            print(f"step {i}: {time.perf_counter() - start:.1f} s since the start", flush=True)
    start = time.perf_counter()
    for _ in range(32):
        trainer.step()
    print(f"{args.mode}: {(time.perf_counter() - start) / 32:.3f} s a step after 20 warm-up steps")


if __name__ == "__main__":
    main()
