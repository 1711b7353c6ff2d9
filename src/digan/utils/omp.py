"""How OpenMP threads wait: set before torch loads, so this module imports nothing that loads torch.

PyTorch's CPU wheels run their threads under GNU OpenMP, whose threads spin
for a long time at the end of every parallel region before they sleep. A
training step is thousands of small regions, so beside another busy process
the spinning threads take each other's cores. A short spin, then sleep, hands
a shared core back and costs a lone process little (docs/speed.md, "Sharing
cores"; benchmarks/sharing.py). libgomp reads its settings once, when torch
loads: the `digan` command, the tests and the benchmarks call
`wait_politely()` before their first `import torch`.
"""

from __future__ import annotations

import os
import sys

POLITE_SPINCOUNT = 3000  # libgomp spin rounds before a waiting thread sleeps (its default: 300,000)


def wait_politely(environ=os.environ) -> bool:
    """Make OpenMP threads spin only briefly, then sleep, while they wait, unless the user chose a policy.

    OMP_WAIT_POLICY=PASSIVE makes LLVM's and Intel's OpenMP sleep at once; libgomp (Linux wheels)
    takes its spin count from GOMP_SPINCOUNT ahead of the policy. Returns False when torch was
    already imported (then the call changes nothing in this process, only in the processes it starts).
    """
    if "OMP_WAIT_POLICY" not in environ and "GOMP_SPINCOUNT" not in environ:
        environ["OMP_WAIT_POLICY"] = "PASSIVE"
        environ["GOMP_SPINCOUNT"] = str(POLITE_SPINCOUNT)
    return "torch" not in sys.modules


def available_cores() -> int:
    """Cores this process may run on (its affinity mask: taskset, cpusets), else every core."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
