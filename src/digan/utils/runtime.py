"""How a digan process uses the machine: CPU threads, worker processes and the precision of the arithmetic.

`auto` precision is bf16 where the hardware multiplies bf16 natively (CUDA
devices that report it; CPUs with AVX512-BF16 or AMX), float32 elsewhere:
without those instructions bf16 is emulated and slower than float32
(docs/speed.md).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .memory import available, size_text
from .omp import available_cores

PRECISIONS = ("auto", "float32", "bf16")
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 multiplies
# Below this frame size a CPU training step is bound by its number of operators, not by its convolutions, and
# bf16's casts make it slower even where bf16 is native (docs/speed.md: tiny-32 0.95x with AMX, 0.73x with
# AVX512-BF16 alone; small-64 2.18x and 1.50x), so `auto` trains such presets in float32 on a CPU.
BF16_CPU_TRAINING_MIN_RESOLUTION = 64


def set_threads(threads: int | None) -> int:
    """Use `threads` CPU threads for PyTorch's operators (None: one per available core), at most one per core
    this process may use: more never runs faster, and OpenMP fails to start a huge number. Returns the count."""
    cores = available_cores()
    count = min(threads or cores, cores)
    if count != torch.get_num_threads():
        torch.set_num_threads(count)
    return count


def worker_count(workers: int, each: float, what: str = "workers", free: int | None = None) -> tuple[int, str]:
    """`workers` processes, at most one per core this process may use and as many as free memory holds at
    about `each` bytes apiece (`free`: that memory, default the host's available memory); returns the count
    and a line that says why it is smaller than asked ('' when it is not). A hundred thousand forked workers
    once set off the kernel's OOM killer for the whole machine."""
    cores = available_cores()
    free = available("cpu") if free is None else free
    fit = workers if free is None else int(free // max(each, 1))
    count = max(0, min(workers, cores, fit))
    if count == workers:
        return count, ""
    why = (
        f"this process may use {cores} core{'s' if cores > 1 else ''}"
        if count == cores
        else f"free memory ({size_text(free)}) holds about {fit} at {size_text(each)} each"
    )
    return count, f"{workers} {what} asked for, but {why}: using {count}"


def native_bf16(device) -> bool:
    """Whether `device` multiplies bf16 in hardware (not emulated)."""
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


def resolve_precision(name: str, device, training_resolution: int | None = None) -> torch.dtype:
    """'auto' | 'float32' | 'bf16' -> the torch dtype of the bulk arithmetic on `device`.

    `auto` is bf16 where `device` multiplies bf16 natively; for training (`training_resolution`: the preset's
    frame size) on a CPU, only from `BF16_CPU_TRAINING_MIN_RESOLUTION` up, where it pays. bf16 asked for by
    name runs even where it is emulated or slower (for checks).
    """
    if name not in PRECISIONS:
        raise ValueError(f"unknown `precision` '{name}': expected one of {', '.join(PRECISIONS)}")
    if name == "auto":
        small_cpu_step = (
            torch.device(device).type == "cpu"
            and training_resolution is not None
            and training_resolution < BF16_CPU_TRAINING_MIN_RESOLUTION
        )
        name = "bf16" if native_bf16(device) and not small_cpu_step else "float32"
    return torch.bfloat16 if name == "bf16" else torch.float32


def describe_device(device, processes: int = 1) -> str:
    """What computes, in words, as a run's log records it: 'cpu, 2 threads', 'NVIDIA H100 80GB HBM3', and
    '4 processes, each ...' for a run of several processes."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif device.type == "cpu":
        threads = torch.get_num_threads()
        name = f"cpu, {threads} thread{'' if threads == 1 else 's'}"
    else:
        name = device.type
    return name if processes == 1 else f"{processes} processes, each {name}"


def precision_name(dtype: torch.dtype) -> str:
    return "bf16" if dtype == torch.bfloat16 else "float32"
