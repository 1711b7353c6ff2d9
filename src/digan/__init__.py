"""DIGAN: dynamics-aware implicit video GANs (Yu et al., ICLR 2022) in plain PyTorch."""

__version__ = "0.1.0"

from .checkpoint import load_snapshot, save_snapshot  # noqa: E402
from .config import PRESETS, Preset, TrainingConfig, get_preset  # noqa: E402
from .data import open_dataset  # noqa: E402
from .models import DiganDiscriminators, DiscriminatorConfig, Generator, GeneratorConfig  # noqa: E402
from .sampling import Timebase, render_video, render_videos  # noqa: E402
from .training import Trainer, train  # noqa: E402

__all__ = [
    "DiganDiscriminators", "DiscriminatorConfig", "Generator", "GeneratorConfig", "PRESETS", "Preset",
    "Timebase", "Trainer", "TrainingConfig", "get_preset", "load_snapshot", "open_dataset", "render_video",
    "render_videos", "save_snapshot", "train",
]
