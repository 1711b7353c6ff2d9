"""The run directory's bookkeeping: its name, its resolved options and whether a command continues it, its metrics log.

A run directory holds `training_options.json`, the snapshots and the training
state (`digan.checkpoint`), the sample grids (`digan.sampling.files.write_samples`)
and `metrics.jsonl`; running the same command again continues the run it holds.
One training holds a run directory at a time (`hold_run`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from ..checkpoint import OPTIONS_NAME, CheckpointError
from ..config import Preset
from ..data.base import VideoSource
from ..utils.atomic import appending, atomic_write, check_output
from ..utils.files import finite_or_null, json_line, read_json
from ..utils.lock import FolderInUse, FolderLock, LockError
from ..version import __version__
from .distributed import Distributed


@contextlib.contextmanager
def hold_run(run_dir: Path, dist: Distributed) -> Iterator[None]:
    """Hold `run_dir` while a run trains in it (`FolderLock`, created if missing): a second training of the
    same run is refused with the holder's PID. Process 0 alone takes the lock (it alone writes); the other
    processes of the same torchrun take none, and are refused with it when another run holds the folder."""
    lock = FolderLock(run_dir, "digan train") if dist.main else None
    refused = None
    if lock is not None:
        try:
            lock.acquire()
        except LockError as e:
            refused = e
    if dist.any(refused is not None):
        raise refused or FolderInUse(f"{run_dir}: in use by another process (process 0 of this run was refused)")
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def run_name(data: str, preset: Preset) -> str:
    name = Path(data).name if ("/" in data or Path(data).exists()) else data  # keeps .zip apart from the folder
    return f"{name}-{preset.name}"


def resolved_options(
    preset: Preset,
    data: str,
    source: VideoSource,
    data_options: dict | None = None,
    precision: str = "float32",
    init: dict | None = None,
) -> dict:
    """What a run is: a resume must match all of it but the version. `precision` is resolved ('float32' or
    'bf16', never 'auto'): a run started with bf16 resumes with bf16 on any machine, or not at all. `init`
    records the weights a fine-tuning run started from (path and SHA-256); runs from scratch have none."""
    options = {
        "data": data,
        "data_options": data_options or {},
        "dataset": source.describe(),
        "version": __version__,
        "preset": preset.to_dict(),
        "precision": precision,
    }
    return options if init is None else {**options, "init": init}


# Options that change what a run reports or how long it lasts, not what it computes.
NOT_IDENTITY = ("kimg", "snap_kimg", "sample_seeds", "fvd_clips")


def _identity(options: dict) -> dict:
    opts = json.loads(json.dumps(options))  # compare as stored (tuples -> lists)
    opts.pop("version", None)
    for key in NOT_IDENTITY:
        opts.get("preset", {}).get("training", {}).pop(key, None)
    return opts


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict) and value:
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{prefix}{key}.").items()}
    return {prefix[:-1]: value}


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def differences(saved: dict, new: dict) -> list[str]:
    """The options in which `new` differs from `saved`, as 'name: saved -> new' (dotted names), in a stable order."""
    a, b = _flatten(_identity(saved)), _flatten(_identity(new))
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key, "(unset)") != b.get(key, "(unset)"):
            out.append(
                f"{key.removeprefix('preset.')}: {_short(a.get(key, '(unset)'))} -> {_short(b.get(key, '(unset)'))}"
            )
    return out


def read_options(run_dir: Path) -> dict | None:
    """The run's recorded options, None when there are none; an unreadable file is a one-line CheckpointError."""
    path = Path(run_dir) / OPTIONS_NAME
    if not path.exists():
        return None
    try:
        options = read_json(path)
        if not isinstance(options, dict) or not isinstance(options.get("preset"), dict):
            raise ValueError("not an options record")
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"{path}: unreadable ({type(e).__name__}: {str(e).splitlines()[0]}); it records this "
            "run's options: delete it to resume from the training state, whose preset is then "
            "checked against this command's"
        ) from None
    return options


def recorded_precision(run_dir: Path) -> str | None:
    """The precision ('float32' or 'bf16') of the run in `run_dir`, None when it holds none. `auto` continues a
    run in the arithmetic it started in: a run begun on a machine without native bf16 resumes in float32 on
    one with it, and the other way round, where a new run would choose by the machine."""
    options = read_options(run_dir)
    return None if options is None else options.get("precision", "float32")  # runs before the option: float32


def write_options(run_dir: Path, options: dict) -> None:
    atomic_write(Path(run_dir) / OPTIONS_NAME, lambda p: p.write_text(json.dumps(options, indent=2)))


def read_metrics(path: Path) -> list[dict]:
    """The records of a run's metrics.jsonl (a line cut short by a kill is skipped)."""
    records = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # a line cut short, or a crafted one nested past the parser's depth
            continue
        if isinstance(record, dict) and isinstance(record.get("kimg"), (int, float)):
            records.append(record)
    return records


def training_seconds(records: list[dict], kimg: float) -> float:
    """Seconds spent training up to `kimg`, from a run's records: each snapshot's clips over its clips/s.

    Read from the log rather than timed by the caller, so a run resumed across several commands still
    counts its whole training (snapshot writing and sample rendering between ticks are not counted).
    """
    rates = {r["kimg"]: r["clips_per_s"] for r in records if r.get("clips_per_s")}  # a rewritten line: the last
    seconds, previous = 0.0, 0.0
    for k in sorted(rates):
        if k > kimg + 1e-9:
            break
        seconds += (k - previous) * 1000 / rates[k]
        previous = k
    return seconds


class MetricsLog:
    """metrics.jsonl in the run directory, plus TensorBoard when it is installed."""

    def __init__(self, run_dir: Path):
        self.path = check_output(run_dir / "metrics.jsonl")  # a link or a FIFO refused now, not at the first snapshot
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:
            self.tb = None

    def keep_until(self, kimg: float) -> None:
        """Drop the lines past `kimg` (and a line cut short): a run resumed from there writes them again.

        Lines are written before the training state they belong to, so a kill
        in between leaves lines that the resumed run recomputes.
        """
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
                if record["kimg"] <= kimg + 1e-9:
                    kept.append(line)
            except (ValueError, KeyError, TypeError, RecursionError):
                continue
        text = "".join(line + "\n" for line in kept)
        if text != self.path.read_text():
            atomic_write(self.path, lambda p: p.write_text(text))

    def write(self, record: dict) -> None:
        """Append `record` as one line of strict JSON: a number that is NaN or infinite (a metric that could not
        be computed) is written as null, never as the bare NaN or Infinity that strict JSON readers refuse."""
        record = finite_or_null(record)
        with appending(self.path) as f:
            f.write(json_line(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "kimg":
                    self.tb.add_scalar(k, v, global_step=int(record["kimg"] * 1000))
            self.tb.flush()
