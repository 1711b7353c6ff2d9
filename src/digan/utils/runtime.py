"""How a digan process uses the machine: CPU threads, how they wait, and the precision of the arithmetic.

Sharing cores. PyTorch's CPU wheels run their threads under GNU OpenMP, whose
threads spin (300,000 rounds) at the end of every parallel region before they
sleep. A training step is thousands of small regions. When another process
holds a core, a thread waiting for its descheduled sibling spins through its
time slice, and so do the other process's: beside other torch processes (load
average about 2 on 2 cores) a tiny-32 step took 5.5 s where it takes 0.41 s
alone (fair sharing would cost 2x). Threads that sleep at once
(OMP_WAIT_POLICY=PASSIVE) hand the core back: 1.3 s in the same conditions
(docs/speed.md, benchmarks/sharing.py). Sleeping at once cost a lone process
about 6% (sharing.py, measurement 4), since a sibling often arrives microseconds later; a short
spin (GOMP_SPINCOUNT=3000, a few tens of microseconds) wins most of it back and still
hands a shared core back. libgomp reads both once, when torch is loaded, so `wait_politely()`
runs before the first `import torch`: the `digan` command, the tests and the
benchmarks call it first.

Precision. `auto` is bf16 where the hardware multiplies bf16 natively (CUDA
devices that report it; CPUs with AVX512-BF16 or AMX), float32 elsewhere:
without those instructions bf16 is emulated and slower than float32 (on an
AVX-512 Xeon without them: a 4096x512x512 matmul 52 vs 257 GFLOP/s).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PRECISIONS = ("auto", "float32", "bf16")
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 multiplies


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


def set_threads(threads: int | None) -> int:
    """Use `threads` CPU threads for PyTorch's operators (None: one per available core); returns the count."""
    import torch

    count = threads or available_cores()
    if count != torch.get_num_threads():
        torch.set_num_threads(count)
    return count


def native_bf16(device) -> bool:
    """Whether `device` multiplies bf16 in hardware (not emulated)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool(cpu_flags() & set(NATIVE_BF16_CPU_FLAGS))
    return False


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def resolve_precision(name: str, device):
    """'auto' | 'float32' | 'bf16' -> the torch dtype of the bulk arithmetic on `device`.

    bf16 asked for by name runs even where it is emulated (for checks; slower there).
    """
    import torch

    if name not in PRECISIONS:
        raise ValueError(f"unknown precision '{name}': expected one of {', '.join(PRECISIONS)}")
    if name == "auto":
        name = "bf16" if native_bf16(device) else "float32"
    return torch.bfloat16 if name == "bf16" else torch.float32


def precision_name(dtype) -> str:
    import torch

    return "bf16" if dtype == torch.bfloat16 else "float32"


def autocast(device, dtype):
    """Mixed precision on `device`: matmuls and convolutions in `dtype`, off for float32."""
    import torch

    device = torch.device(device)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
