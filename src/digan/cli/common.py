"""What every `digan` subcommand shares: argument types, the common options, and how a library error becomes a
line about flags.

Every option is checked when it is parsed or, when that needs the file system
or PyTorch, at the start of its command: before an output folder is touched
and before anything expensive runs. Float options are finite everywhere
(nan and inf never mean anything to a command). The library names its
parameters in backticks (`batch`); `flag_names` turns them into the flags that
set them (--batch).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
from pathlib import Path

import torch

from ..sampling.options import RenderOptions
from ..sampling.render import MAX_SEED
from ..timebase import TimeRequest
from ..training.run import recorded_precision
from ..utils.atomic import OutputError, check_output
from ..utils.runtime import PRECISIONS, resolve_precision


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
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got '{text}'"
            ) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if (low is not None and (value < low or (strict and value == low))) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{message}, got {text}")
        return value

    return check


CKPT_HELP = "snapshot (.safetensors or .json), a run directory (its latest snapshot) or a model folder (digan share)"


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
    try:
        check_output(path)  # the one rule for outputs: never a link, FIFO, device or socket
    except OutputError as e:
        raise CliError(f"{option} {e}") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise CliError(f"{option} {path}: cannot write to it")
    return path


def add_runtime_arguments(parser, *, device: bool = True, precision: bool = False) -> None:
    """Where and how a command computes: --device, --precision (commands that render or train), --threads.

    --threads is applied by `digan.cli.main.main` before the command runs; the others by each command.
    """
    g = parser.add_argument_group("runtime")
    if device:
        g.add_argument(
            "--device",
            default="auto",
            help="cpu, cuda, cuda:1, mps or auto (default: cuda when PyTorch sees one, else cpu)",
        )
    if precision:
        g.add_argument(
            "--precision",
            choices=PRECISIONS,
            default="auto",
            help="arithmetic of the networks: "
            "bf16 (phases, sin/cos, RGB sums and losses stay float32), float32, or auto (default): "
            "bf16 where the device has native bf16 (recent GPUs; CPUs with AVX512-BF16 or AMX, where training "
            "only from 64x64 frames up: smaller steps are slower in bf16 there), float32 elsewhere, where "
            "emulated bf16 is slower",
        )
    g.add_argument(
        "--threads",
        type=positive(int),
        help="CPU threads for PyTorch (default: PyTorch's, one per core; "
        "waiting threads spin only briefly, then sleep, so other processes can share the cores: docs/speed.md)",
    )


def run_precision(name: str, run_dir: Path, device, resolution: int) -> torch.dtype:
    """--precision of a command that trains a preset of frames `resolution` into `run_dir`: `auto` continues a
    run there in the precision it recorded (a run begun where auto was float32 resumes in float32 on a machine
    with native bf16, and the other way round); a new run, or a precision asked for by name, resolves as
    `resolve_precision` does for training."""
    if name == "auto":
        name = recorded_precision(run_dir) or name
    return resolve_precision(name, device, training_resolution=resolution)


def resolve_device(name: str) -> str:
    """'auto' -> cuda when PyTorch sees one, else cpu; a device that is not there is an error."""
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
            raise CliError(
                f"--device {name}: PyTorch sees {count} CUDA device{'s' if count > 1 else ''} "
                f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})"
            )
        return name
    if device.type == "mps":
        if not torch.backends.mps.is_available():
            raise CliError(f"--device {name} asked for, but PyTorch sees no MPS (Apple GPU) device")
        return name
    raise CliError(f"--device {name}: not supported; use cpu, cuda, cuda:N, mps or auto")


# ---------------------------------------------------------------- lists and sizes

MAX_SEEDS = 1_000_000  # seeds in one list: each is a video; the ranges are counted before they are expanded


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0-15', '3', '1,4,9' or '0-3,10' -> a tuple of seeds (at most MAX_SEEDS of them)."""
    ranges = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                ranges.append(range(int(lo), int(hi) + 1))
            elif part:
                ranges.append(range(int(part), int(part) + 1))
    except ValueError:
        raise CliError(f"cannot read seeds '{text}': use e.g. 0-15 or 1,4,9") from None
    ranges = [r for r in ranges if r.stop > r.start]  # not len(): past 2**63 it overflows
    if not ranges or min(r.start for r in ranges) < 0 or max(r.stop - 1 for r in ranges) > MAX_SEED:
        raise CliError(f"cannot read seeds '{text}': give seeds from 0 to {MAX_SEED}, e.g. 0-15")
    count = sum(r.stop - r.start for r in ranges)
    if count > MAX_SEEDS:
        raise CliError(f"seeds '{text}' are {count:,} videos, more than {MAX_SEEDS:,} in one command")
    return tuple(s for r in ranges for s in r)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'256' or '128x256' (H x W) -> (H, W)."""
    if text is None:
        return None
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise CliError(f"cannot read size '{text}': use H or HxW, e.g. 256 or 128x256")
    return (parts[0], parts[-1])


def parse_numbers(text: str | None, what: str) -> tuple[float, ...] | None:
    """'0.5,3,1.25' -> (0.5, 3.0, 1.25) (any order, repeats allowed); None stays None."""
    if text is None:
        return None
    try:
        values = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        raise CliError(f"cannot read {what} '{text}': use comma-separated finite numbers, e.g. 0,0.5,3.25")
    return tuple(values)


# ---------------------------------------------------------------- render and time options


def add_render_arguments(p, *, size_help: str) -> None:
    """--size, --grids and --psi (`RenderOptions`); --precision comes with the runtime options."""
    p.add_argument("--size", help=size_help)
    p.add_argument(
        "--grids",
        choices=["nested", "scaled"],
        default="nested",
        help="at other sizes: 'nested' keeps the coarse scales at their training grids (agrees exactly "
        "with the training-size frames; enlargements show coarse blocks), 'scaled' samples every scale "
        "more densely (smooth super-resolution, agreement only approximate). Default nested",
    )
    p.add_argument(
        "--psi", type=finite(float), default=1.0, help="truncation psi: pull content towards the average (1 = none)"
    )


def render_options(args, device: str) -> RenderOptions:
    """The command's `RenderOptions`, read once from its arguments (`batch` and `chunk` where it has them)."""
    with user_input():
        return RenderOptions(
            size=parse_size(getattr(args, "size", None)),
            grids=getattr(args, "grids", "nested"),
            psi=getattr(args, "psi", 1.0),
            precision=resolve_precision(getattr(args, "precision", "float32"), device),
            batch=getattr(args, "batch", None) or 4,
            chunk=getattr(args, "chunk", None),
        )


TIME_HELP = """\
time: a training clip of C frames (the snapshot's clip_frames) spans clip time t = 0..1 and is taken
to show at the training frame rate R (--train-fps; the snapshot's, else 8 fps). A video of N frames at
F fps shows frame k at k/F seconds, that is t_k = k * R / (F * (C - 1)). So --fps above R adds frames
inside the training interval (time interpolation) and a video longer than C/R seconds goes past t = 1
(time extrapolation; e.g. --seconds 8 is 4x a 16-frame clip at 8 fps).
"""


def add_time_arguments(p) -> None:
    """The options of a `TimeRequest`."""
    g = p.add_argument_group("length and frame rate (see 'time' below)")
    g.add_argument(
        "--frames",
        type=positive(int),
        help="frames in the video (default: those of one training clip, t 0..1, at --fps)",
    )
    g.add_argument("--seconds", type=positive(float), help="length in seconds instead of --frames")
    g.add_argument("--fps", type=positive(float), help="frame rate of the video (default: the training rate)")
    g.add_argument("--start", type=finite(float), default=0.0, help="seconds at which the first frame is (default 0)")
    g.add_argument("--at", metavar="SECONDS", help="render only these instants, in this order, e.g. 3.5,0,1.25")
    g.add_argument("--t", metavar="T", help="render only these clip times t (1 = end of a training clip), e.g. 0,4")
    g.add_argument(
        "--train-fps", type=positive(float), help="frame rate of the training clips (default: the snapshot's, else 8)"
    )


def time_request(args) -> TimeRequest:
    with user_input():
        return TimeRequest(
            frames=args.frames,
            seconds=args.seconds,
            fps=args.fps,
            start=args.start,
            at=parse_numbers(args.at, "--at seconds"),
            t=parse_numbers(args.t, "--t times"),
            train_fps=args.train_fps,
        )


# ---------------------------------------------------------------- errors


@contextlib.contextmanager
def user_input():
    """Turn the library's ValueErrors about the values it was given into CliErrors (one line, exit 2)."""
    try:
        yield
    except CliError:
        raise
    except ValueError as e:
        raise CliError(str(e)) from None


PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)`")


def flag_names(message: str, flags: dict[str, str] | None = None) -> str:
    """A library message with each `parameter` written as the flag that sets it: `batch` -> --batch,
    `motion_seeds` -> --motion-seeds, or as `flags` says where the command spells it otherwise."""
    flags = flags or {}
    return PARAMETER.sub(lambda m: flags.get(m.group(1), "--" + m.group(1).replace("_", "-")), message)
