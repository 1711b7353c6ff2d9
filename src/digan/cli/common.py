"""Argument helpers shared by every `digan` subcommand (kept apart so subpackages need not import cli.py).

Every option is checked when it is parsed or, when that needs the file system
or PyTorch, at the start of its command: before an output folder is touched
and before anything expensive runs. Float options are finite everywhere
(nan and inf never mean anything to a command).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

MAX_SEED = 2 ** 63 - 1  # seeds go to torch.manual_seed and numpy's generators: a signed 64-bit int fits both


class CliError(Exception):
    """Bad command-line input; the message is one line."""


def finite(kind=float):
    """An argparse type: a finite `kind` (any sign)."""
    return _number(kind, None, None, "")


def positive(kind):
    """An argparse type: a positive finite `kind` (int or float)."""
    return _number(kind, 0, None, "must be positive", strict=True)


def non_negative(kind):
    """An argparse type: a finite `kind` (int or float) >= 0."""
    return _number(kind, 0, None, "must be 0 or more")


def at_least(bound, kind=int):
    """An argparse type: a `kind` >= bound."""
    return _number(kind, bound, None, f"must be at least {bound}")


def seed(text: str) -> int:
    """An argparse type: a random seed, 0 .. 2**63 - 1."""
    return _number(int, 0, MAX_SEED, f"must be a seed from 0 to {MAX_SEED}")(text)


def zero_or_at_least(bound: int):
    """An argparse type: 0 (off) or an int >= bound."""
    check = _number(int, 0, None, f"must be 0 (off) or at least {bound}")

    def parse(text: str) -> int:
        value = check(text)
        if 0 < value < bound:
            raise argparse.ArgumentTypeError(f"must be 0 (off) or at least {bound}, got {text}")
        return value
    return parse


def _number(kind, low, high, message: str, strict: bool = False):
    def check(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                             f"got '{text}'") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if (low is not None and (value < low or (strict and value == low))) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{message}, got {text}")
        return value
    return check


def old_spelling(parser, *flags: str, dest: str, **kwargs) -> None:
    """A renamed option's former spelling, kept for one release: parsed into `dest`, left out of --help.

    The vocabulary and the old spellings are listed in docs/conventions.md.
    """
    parser.add_argument(*flags, dest=dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)


CKPT_HELP = "snapshot (.safetensors or .json) or a run directory (its latest snapshot)"


def add_ckpt_argument(parser, *, required: bool = True, note: str = "") -> None:
    """--ckpt, spelled and explained the same way by every subcommand that loads a generator."""
    parser.add_argument("--ckpt", required=required, help=CKPT_HELP + (f"; {note}" if note else ""))


def output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """A folder that a command may create and write into, checked before anything is written or computed."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise CliError(f"{option} {path}: exists and is not a folder")
    parent = path
    while not parent.exists():  # the nearest folder that exists must be a writable folder
        parent = parent.parent
    if not parent.is_dir():
        raise CliError(f"{option} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CliError(f"{option} {path}: cannot write in {parent}")
    return path


def output_file(path: str | os.PathLike, option: str) -> Path:
    """A file that a command may create or append to, checked before anything is written or computed."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise CliError(f"{option} {path}: is a folder, not a file")
    output_dir(path.parent, option)
    if path.exists() and not os.access(path, os.W_OK):
        raise CliError(f"{option} {path}: cannot write to it")
    return path


def add_runtime_arguments(parser, *, device: bool = True, precision: bool = False) -> None:
    """Where and how a command computes: --device, --precision (commands that render or train), --threads.

    --threads is applied by `digan.cli.main.main` before the command runs; the others by each command.
    """
    from ..utils.runtime import PRECISIONS

    g = parser.add_argument_group("runtime")
    if device:
        g.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, mps or auto (default: cuda when "
                       "PyTorch sees one, else cpu)")
    if precision:
        g.add_argument("--precision", choices=PRECISIONS, default="auto", help="arithmetic of the networks: "
                       "bf16 (phases, sin/cos, RGB sums and losses stay float32), float32, or auto (default): "
                       "bf16 where the device has native bf16 (recent GPUs; CPUs with AVX512-BF16 or AMX), "
                       "float32 elsewhere, where emulated bf16 is slower")
    g.add_argument("--threads", type=positive(int), help="CPU threads for PyTorch (default: PyTorch's, one per core; "
                   "waiting threads spin only briefly, then sleep, so other processes can share the cores: docs/speed.md)")


def resolve_device(name: str) -> str:
    """'auto' -> cuda when PyTorch sees one, else cpu; a device that is not there is an error."""
    import torch
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise CliError(f"--device {name}: not a device; use cpu, cuda, cuda:N, mps or auto") from None
    if device.type == "cpu":
        return name
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise CliError(f"--device {name} asked for, but PyTorch sees no CUDA device")
        if device.index is not None and device.index >= count:
            raise CliError(f"--device {name}: PyTorch sees {count} CUDA device{'s' if count > 1 else ''} "
                           f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})")
        return name
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise CliError(f"--device {name} asked for, but PyTorch sees no MPS (Apple GPU) device")
        return name
    raise CliError(f"--device {name}: not supported; use cpu, cuda, cuda:N, mps or auto")
