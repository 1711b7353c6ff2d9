"""DIGAN: dynamics-aware implicit video GANs (Yu et al., ICLR 2022) in plain PyTorch.

The public names below are imported on first use (PEP 562), so that importing
one part of the library, e.g. `digan.metrics`, does not load the others
(the training loop, the sampler).
"""

from __future__ import annotations

import importlib

from .version import __version__

# public name -> the module that defines it
_EXPORTS = {
    "DiganDiscriminators": ".models",
    "DiscriminatorConfig": ".models",
    "Generator": ".models",
    "GeneratorConfig": ".models",
    "PRESETS": ".config",
    "Preset": ".config",
    "TrainingConfig": ".config",
    "get_preset": ".config",
    "from_pretrained": ".checkpoint",
    "load_snapshot": ".checkpoint",
    "save_pretrained": ".checkpoint",
    "save_snapshot": ".checkpoint",
    "open_dataset": ".data",
    "TimeRequest": ".timebase",
    "Timebase": ".timebase",
    "InterpolationRequest": ".sampling",
    "RenderOptions": ".sampling",
    "VideoRequest": ".sampling",
    "generate": ".sampling",
    "interpolate": ".sampling",
    "render_video": ".sampling",
    "render_videos": ".sampling",
    "Trainer": ".training",
    "train": ".training",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'digan' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
