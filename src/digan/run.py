"""The run directory's bookkeeping: its name, its resolved options and whether a command continues it, its metrics log.

A run directory holds `training_options.json`, the snapshots and the training
state (`digan.checkpoint`), the sample grids (`digan.export.write_samples`)
and `metrics.jsonl`; running the same command again continues the run it holds.
"""

from __future__ import annotations

import json
from pathlib import Path

from .config import Preset
from .data.base import VideoSource
from .version import __version__


def run_name(data: str, preset: Preset) -> str:
    name = Path(data).name if ("/" in data or Path(data).exists()) else data  # keeps .zip apart from the folder
    return f"{name}-{preset.name}"


def resolved_options(preset: Preset, data: str, source: VideoSource, data_options: dict | None = None) -> dict:
    return {"data": data, "data_options": data_options or {}, "dataset": source.describe(),
            "version": __version__, "preset": preset.to_dict()}


# Options that change what a run reports or how long it lasts, not what it computes.
NOT_IDENTITY = ("kimg", "snap_kimg", "sample_seeds", "fvd_clips")


def same_run(saved: dict, new: dict) -> bool:
    """Whether `new` continues `saved`: equal in everything that shapes the training trajectory."""
    a, b = json.loads(json.dumps(saved)), json.loads(json.dumps(new))  # compare as stored (tuples -> lists)
    for opts in (a, b):
        opts.pop("version", None)
        for key in NOT_IDENTITY:
            opts["preset"]["training"].pop(key, None)
    return a == b


class MetricsLog:
    """metrics.jsonl in the run directory, plus TensorBoard when it is installed."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "metrics.jsonl"
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        except ImportError:
            self.tb = None

    def write(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "kimg":
                    self.tb.add_scalar(k, v, global_step=int(record["kimg"] * 1000))
            self.tb.flush()
