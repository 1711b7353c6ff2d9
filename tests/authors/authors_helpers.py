"""Helpers of the authors' snapshot tests."""

from pathlib import Path

import torch

from digan.authors.pickle_reader import SafeUnpickler
from digan.config import Preset
from digan.models import DiganDiscriminators, Generator


def tiny_networks(preset: Preset, seed: int = 0) -> tuple[dict, dict]:
    """Random state dicts of a preset's generator and discriminators."""
    torch.manual_seed(seed)
    G, D = Generator(preset.generator), DiganDiscriminators(preset.discriminator)
    with torch.no_grad():  # a w_avg and biases that are not all zero, so a mix-up of names shows
        for t in list(G.state_dict().values()) + list(D.state_dict().values()):
            if t.ndim == 1:
                t.normal_()
    return G.state_dict(), D.state_dict()


def globals_named(path: Path) -> set[str]:
    """The globals a pickle names, as the safe reader is asked for them."""
    seen = set()

    class Recording(SafeUnpickler):
        def find_class(self, module, name):
            seen.add(f"{module}.{name}")
            return super().find_class(module, name)

    with open(path, "rb") as f:
        Recording(f).load()
    return seen
