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
import math
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .config import MAX_INT, Preset
from .timebase import MAX_FPS
from .models import Generator
from .utils.atomic import atomic_write
from .utils.files import read_json
from .utils.memory import available, size_text
from .version import __version__

MAX_CLIPS = 2 ** 53           # clips seen read from a file: exact in the float64 of kimg
SNAPSHOT_GLOB = "snapshot-*.json"
STATE_NAME = "training-state.pt"
OPTIONS_NAME = "training_options.json"  # a run's resolved options (`digan.training.run`)


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


def snapshot_at(run_dir: str | os.PathLike, clips: int) -> Path | None:
    """The JSON of a run's first snapshot at or past `clips` seen, or None: the snapshot that training to
    that point wrote (a run taken further holds later ones too, which `find_snapshot` would pick)."""
    for path in sorted(Path(run_dir).glob(SNAPSHOT_GLOB)):  # names sort by clips seen
        if path.stem >= snapshot_name(clips):
            return path
    return None


def find_snapshot(path: str | os.PathLike) -> Path:
    """A snapshot's JSON from a snapshot file (either half), a run directory (its latest), or a folder that
    holds exactly one run directory (`digan train --out runs/`)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    if path.is_dir():
        found = sorted(path.glob(SNAPSHOT_GLOB))
        if found:
            return found[-1]
        runs = sorted(d for d in path.iterdir() if d.is_dir() and any(d.glob(SNAPSHOT_GLOB)))
        if len(runs) == 1:
            return sorted(runs[0].glob(SNAPSHOT_GLOB))[-1]
        if runs:
            names = ", ".join(d.name for d in runs[:10]) + (f" and {len(runs) - 10} more" if len(runs) > 10 else "")
            raise CheckpointError(f"{path}: holds {len(runs)} runs ({names}); give one of them, e.g. {runs[0]}")
        raise CheckpointError(f"{path}: no snapshot in this directory or in the run directories inside it")
    if path.suffix in (".safetensors", ".json"):
        meta = path.with_suffix(".json")
        if not meta.exists():
            raise CheckpointError(f"{meta}: missing (a snapshot is a .safetensors file and its .json)")
        return meta
    raise CheckpointError(f"{path}: not a snapshot (.safetensors or .json) or a run directory")


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_meta(meta: dict, preset: Preset) -> None:
    """The fields of a snapshot's JSON that the commands read, checked to make sense (ValueError): they come
    from a file, which anyone can write."""
    if not _count(meta.get("resolution")) or meta["resolution"] != preset.generator.resolution:
        raise ValueError(f"resolution {meta.get('resolution')!r} is not the preset's {preset.generator.resolution}")
    if not _count(meta.get("clip_frames")) or not 2 <= meta["clip_frames"] <= MAX_INT:
        raise ValueError(f"clip_frames {_short(meta.get('clip_frames'))} is not a whole number of at least 2")
    fps = meta.get("train_fps")
    if fps is not None and not (isinstance(fps, (int, float)) and not isinstance(fps, bool) and 0 < fps <= MAX_FPS):
        raise ValueError(f"train_fps {_short(fps)} is not a positive number (frames per second, at most "
                         f"{MAX_FPS:g})")
    if "clips_seen" in meta and not (_count(meta["clips_seen"]) and 0 <= meta["clips_seen"] <= MAX_CLIPS):
        raise ValueError(f"clips_seen {_short(meta['clips_seen'])} is not a whole number of 0 or more")
    if "weights" in meta:
        file_name(meta["weights"], "weights")


def file_name(value, what: str) -> str:
    """A file name read from a file's JSON: a plain name in the same folder, never a path (ValueError)."""
    if not isinstance(value, str) or value in ("", ".", "..") or any(c in value for c in "/\\\0"):
        raise ValueError(f"{what} {_short(value)} is not the name of a file beside it")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def weight_shapes(preset: Preset) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the generator's weights, from the preset alone (built on the meta device)."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in Generator(preset.generator).state_dict().items()}


def load_snapshot(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[Generator, dict]:
    """The EMA generator of a snapshot, in eval mode, and its metadata.

    Checked before anything large is allocated: the JSON's fields, that the
    networks it describes fit in memory, and that the weight file holds
    exactly their tensors; then that no weight is NaN or infinite (a diverged
    run renders black videos).
    """

    meta_path = find_snapshot(path)
    try:
        meta = read_json(meta_path)
        if not isinstance(meta, dict):
            raise ValueError("not an object")
        preset = Preset.from_dict(meta.get("preset"))
        check_meta(meta, preset)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, OverflowError) as e:
        # the fields named are the file's, not parameters of the caller: no backticks for a command to turn into flags
        raise CheckpointError(f"{meta_path}: not a valid snapshot description "
                              f"({type(e).__name__}: {str(e).replace('`', '')})") from None
    try:
        shapes = weight_shapes(preset)
    except Exception as e:  # absurd sizes fail in many ways; none of them is the user's to debug
        raise CheckpointError(f"{meta_path}: describes a generator that cannot be built "
                              f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    need, free = sum(math.prod(s) for s in shapes.values()) * 4, available(str(device))
    if free is not None and need > free:
        raise CheckpointError(f"{meta_path}: describes a generator of {size_text(need)} of weights, more than the "
                              f"{size_text(free)} of free memory")
    weights = meta_path.parent / meta.get("weights", meta_path.with_suffix(".safetensors").name)
    try:
        with safe_open(str(weights), "pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"{weights}: cannot read weights ({e})") from None
    if stored != shapes:
        wrong = sorted(set(stored) ^ set(shapes)) or [k for k in sorted(shapes) if stored[k] != shapes[k]]
        raise CheckpointError(f"{weights}: weights do not match the snapshot's preset ({len(wrong)} of "
                              f"{len(shapes)} tensors, e.g. {wrong[0]}: {stored.get(wrong[0], 'missing')} stored, "
                              f"{shapes.get(wrong[0], 'none')} expected)")
    try:
        state = load_file(str(weights))
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"{weights}: cannot read weights ({e})") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{weights}: {len(bad)} of {len(state)} weight tensors hold NaN or inf (e.g. {bad[0]}): "
                              "the run diverged before this snapshot; use an earlier one")
    G = Generator(preset.generator)
    G.load_state_dict(state)
    meta["path"] = str(weights)
    return G.to(device).eval().requires_grad_(False), meta


STATE_KEYS = ("preset", "step", "G", "D", "G_ema", "opt_G", "opt_D", "torch_rng")


def save_state(path: Path, state: dict[str, Any]) -> None:
    atomic_write(Path(path), lambda p: torch.save(state, p))


def load_state(path: Path) -> dict[str, Any]:
    """A training state, loaded with weights_only=True: a file holding anything but tensors and plain data is
    refused before any of it runs."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"{path}: not a valid training state: it holds objects other than tensors and plain "
                              "data, and was refused without running any of it") from None
    except Exception as e:  # any unreadable file is the same problem for the user
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(f"{path}: cannot read training state ({type(e).__name__}: {reason[:200]})") from None
    missing = [k for k in STATE_KEYS if k not in state] if isinstance(state, dict) else list(STATE_KEYS)
    if missing:
        raise CheckpointError(f"{path}: not a valid training state (no {', '.join(missing)})")
    return state
