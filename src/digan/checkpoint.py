"""Two kinds of file: an inference snapshot and a training state.

- Snapshot: the EMA generator as safetensors plus a JSON file (preset, training
  resolution and clip length, library version). Data only: loading runs no pickle.
- Training state: everything a resumed run needs, one torch file loaded with
  weights_only=True.

Every write goes to a temporary name and is renamed into place, so a killed
save never corrupts the last good file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .atomic import atomic_write
from .config import Preset
from .models import Generator
from .version import __version__

SNAPSHOT_GLOB = "snapshot-*.json"
STATE_NAME = "training-state.pt"


class CheckpointError(ValueError):
    """A checkpoint cannot be read; the message is one line meant for the user."""


def snapshot_name(clips_seen: int) -> str:
    """`snapshot-<clips seen, 10 digits>`: sorts by progress."""
    return f"snapshot-{clips_seen:010d}"


def save_snapshot(run_dir: Path, G: Generator, preset: Preset, clips_seen: int, extra: dict | None = None) -> Path:
    """Write `snapshot-<kimg>.safetensors` then its `.json`; the JSON marks the snapshot complete."""
    stem = Path(run_dir) / snapshot_name(clips_seen)
    tensors = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    atomic_write(stem.with_suffix(".safetensors"), lambda p: save_file(tensors, str(p)))
    meta = {
        "format": "digan-snapshot",
        "version": __version__,
        "preset": preset.to_dict(),
        "resolution": preset.generator.resolution,
        "clip_frames": preset.training.clip_frames,
        "clips_seen": clips_seen,
        "weights": stem.with_suffix(".safetensors").name,
        **(extra or {}),
    }
    atomic_write(stem.with_suffix(".json"), lambda p: p.write_text(json.dumps(meta, indent=2)))
    return stem.with_suffix(".safetensors")


def find_snapshot(path: str | os.PathLike) -> Path:
    """A snapshot's JSON from a snapshot file (either half) or a run directory (its latest)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    if path.is_dir():
        found = sorted(path.glob(SNAPSHOT_GLOB))
        if not found:
            raise CheckpointError(f"{path}: no snapshot in this directory")
        return found[-1]
    if path.suffix in (".safetensors", ".json"):
        meta = path.with_suffix(".json")
        if not meta.exists():
            raise CheckpointError(f"{meta}: missing (a snapshot is a .safetensors file and its .json)")
        return meta
    raise CheckpointError(f"{path}: not a snapshot (.safetensors or .json) or a run directory")


def load_snapshot(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[Generator, dict]:
    """The EMA generator of a snapshot, in eval mode, and its metadata."""
    meta_path = find_snapshot(path)
    try:
        meta = json.loads(meta_path.read_text())
        preset = Preset.from_dict(meta["preset"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{meta_path}: not a valid snapshot description ({type(e).__name__}: {e})") from None
    weights = meta_path.parent / meta.get("weights", meta_path.with_suffix(".safetensors").name)
    try:
        state = load_file(str(weights))
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"{weights}: cannot read weights ({e})") from None
    G = Generator(preset.generator)
    try:
        G.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{weights}: weights do not match the snapshot's preset ({str(e).splitlines()[0]})") from None
    meta["path"] = str(weights)
    return G.to(device).eval().requires_grad_(False), meta


def save_state(path: Path, state: dict[str, Any]) -> None:
    atomic_write(Path(path), lambda p: torch.save(state, p))


def load_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any unreadable file is the same problem for the user
        raise CheckpointError(f"{path}: cannot read training state ({type(e).__name__}: {e})") from None
