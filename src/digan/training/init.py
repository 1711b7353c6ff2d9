"""Weights a new run starts from (`digan train --init`): fine-tuning a model, or transferring it to new data.

A source is any of:
- an authors' `network-snapshot-*.pkl` (read as data, never run: `digan.authors`), or the run directory
  `digan convert` made of one (its `init.safetensors`): G, G_ema and D;
- a run directory of this project with a training state (`training-state.pt`), or that file: G, G_ema and D;
- a snapshot of this project (either file, or a run directory without a state): G_ema, which also starts
  G; the discriminators start fresh.

The optimisers always start fresh. The source's path and the SHA-256 of the file read are recorded in
the run's options, so a resume checks that it continues the same start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..authors import INIT_NAME, load_init, read_snapshot
from ..checkpoint import STATE_NAME, CheckpointError, find_snapshot, load_snapshot, load_state
from ..config import Preset
from ..utils.files import parse_json, sha256_file
from .run import differences


@dataclass
class InitWeights:
    """State dicts a run starts from, with the preset whose networks they fit."""

    path: Path
    sha256: str  # of the file the weights were read from
    preset: Preset
    G: dict[str, torch.Tensor]
    G_ema: dict[str, torch.Tensor]
    D: dict[str, torch.Tensor] | None  # None: the discriminators start fresh

    def record(self) -> dict:
        """What `training_options.json` keeps of the start."""
        return {
            "path": str(self.path.resolve()),
            "sha256": self.sha256,
            "networks": ["G", "G_ema"] + (["D"] if self.D is not None else []),
        }

    def check(self, preset: Preset) -> None:
        """That `preset`'s networks are the ones these weights fit (a one-line CheckpointError if not)."""
        mine = {"generator": self.preset.to_dict()["generator"]}
        theirs = {"generator": preset.to_dict()["generator"]}
        if self.D is not None:
            mine["discriminator"] = self.preset.to_dict()["discriminator"]
            theirs["discriminator"] = preset.to_dict()["discriminator"]
        diff = differences({"preset": mine}, {"preset": theirs})
        if diff:
            shown = "; ".join(diff[:4]) + (f"; and {len(diff) - 4} more" if len(diff) > 4 else "")
            raise CheckpointError(
                f"preset {preset.name} does not fit the weights of {self.path} ({shown}); leave "
                f"out `preset` to train the networks the weights are for"
            )


def init_weights(source: str | os.PathLike) -> InitWeights:
    """The weights of `source` (see the module docstring); an unusable source is a one-line error."""
    path = Path(source).expanduser()
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    if path.suffix == ".pkl":
        snapshot = read_snapshot(path)
        return InitWeights(path, snapshot.sha256, snapshot.preset, snapshot.G, snapshot.G_ema, snapshot.D)
    if path.is_dir() and (path / f"{INIT_NAME}.json").exists():
        preset, states = load_init(path)
        return InitWeights(
            path, sha256_file(path / f"{INIT_NAME}.safetensors"), preset, states["G"], states["G_ema"], states["D"]
        )
    state_path = path / STATE_NAME if path.is_dir() else path
    if state_path.name == STATE_NAME and state_path.exists():
        state = load_state(state_path)
        try:
            preset = Preset.from_dict(parse_json(state["preset"]))
        except (TypeError, ValueError, KeyError) as e:
            raise CheckpointError(f"{state_path}: not a training state of this library ({e})") from None
        return InitWeights(path, sha256_file(state_path), preset, state["G"], state["G_ema"], state["D"])
    G, meta = load_snapshot(find_snapshot(path))
    weights = G.state_dict()
    return InitWeights(
        path,
        sha256_file(meta["path"]),
        Preset.from_dict(meta["preset"]),
        weights,
        {k: v.clone() for k, v in weights.items()},
        None,
    )
