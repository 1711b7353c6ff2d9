"""Two kinds of file: an inference snapshot and a training state.

- Snapshot: the EMA generator as safetensors plus a JSON file (preset, training
  resolution and clip length, library version, `format_version`). Data only:
  loading runs no pickle. A run directory names them `snapshot-<clips seen>.*`;
  a model folder (`save_pretrained`, the huggingface_hub layout) holds one as
  `config.json` and `model.safetensors`, beside its card `README.md`.
- Training state: everything a resumed run needs, one torch file loaded with
  weights_only=True.

Every write goes to a temporary name and is renamed into place, so a killed
save never corrupts the last good file; a snapshot's two files change together
(`digan.utils.atomic.FileGroup`: the JSON, which marks the snapshot complete, is
removed first and put in place last).
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .config import MAX_INT, Preset
from .models import Generator
from .timebase import MAX_FPS
from .utils.atomic import FileGroup, atomic_write
from .utils.files import read_json
from .utils.memory import available, size_text
from .version import __version__

MAX_CLIPS = 2**53  # clips seen read from a file: exact in the float64 of kimg
SNAPSHOT_GLOB = "snapshot-*.json"
CONFIG_NAME, MODEL_NAME, CARD_NAME = "config.json", "model.safetensors", "README.md"  # a model folder
# The snapshot JSON's layout. Files without the field (0.2.0 and before) are version 1. Raise it when a change
# would make an older digan misread a file; add that version's fixture under tests/fixtures.
FORMAT_VERSION = 1
STATE_NAME = "training-state.pt"
OPTIONS_NAME = "training_options.json"  # a run's resolved options (`digan.training.run`)


class CheckpointError(ValueError):
    """A checkpoint cannot be read; the message is one line meant for the user."""


def snapshot_name(clips_seen: int) -> str:
    """`snapshot-<clips seen, 10 digits>`: sorts by progress."""
    return f"snapshot-{clips_seen:010d}"


def save_snapshot(run_dir: Path, G: Generator, preset: Preset, clips_seen: int, extra: dict | None = None) -> Path:
    """Write `snapshot-<kimg>.safetensors` and its `.json`, together; the JSON marks the snapshot complete."""
    stem = Path(run_dir) / snapshot_name(clips_seen)
    tensors = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    meta = {
        "format": "digan-snapshot",
        "format_version": FORMAT_VERSION,
        "version": __version__,
        "preset": preset.to_dict(),
        "resolution": preset.generator.resolution,
        "clip_frames": preset.training.clip_frames,
        "clips_seen": clips_seen,
        "weights": stem.with_suffix(".safetensors").name,
        **(extra or {}),
    }
    with FileGroup(marker=stem.with_suffix(".json")) as files:
        files.write(stem.with_suffix(".safetensors"), lambda p: save_file(tensors, str(p)))
        files.write(stem.with_suffix(".json"), lambda p: p.write_text(json.dumps(meta, indent=2)))
    return stem.with_suffix(".safetensors")


def snapshot_at(run_dir: str | os.PathLike, clips: int) -> Path | None:
    """The JSON of a run's first snapshot at or past `clips` seen, or None: the snapshot that training to
    that point wrote (a run taken further holds later ones too, which `find_snapshot` would pick)."""
    for path in sorted(Path(run_dir).glob(SNAPSHOT_GLOB)):  # names sort by clips seen
        if path.stem >= snapshot_name(clips):
            return path
    return None


def find_snapshot(path: str | os.PathLike) -> Path:
    """A snapshot's JSON from a snapshot file (either half), a run directory (its latest), a folder that
    holds exactly one run directory (`digan train --out runs/`), or a model folder (its config.json)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    if path.is_dir():
        found = sorted(path.glob(SNAPSHOT_GLOB))
        if found:
            return found[-1]
        if (path / CONFIG_NAME).is_file():
            return path / CONFIG_NAME
        runs = sorted(d for d in path.iterdir() if d.is_dir() and any(d.glob(SNAPSHOT_GLOB)))
        if len(runs) == 1:
            return sorted(runs[0].glob(SNAPSHOT_GLOB))[-1]
        if runs:
            names = ", ".join(d.name for d in runs[:10]) + (f" and {len(runs) - 10} more" if len(runs) > 10 else "")
            raise CheckpointError(f"{path}: holds {len(runs)} runs ({names}); give one of them, e.g. {runs[0]}")
        raise CheckpointError(
            f"{path}: not a model: no snapshot in this directory or in the run directories "
            f"inside it, and no {CONFIG_NAME} of a model folder"
        )
    if path.name == MODEL_NAME and (path.parent / CONFIG_NAME).is_file():
        return path.parent / CONFIG_NAME
    if path.suffix in (".safetensors", ".json"):
        meta = path.with_suffix(".json")
        if not meta.exists():
            raise CheckpointError(f"{meta}: missing (a snapshot is a .safetensors file and its .json)")
        return meta
    raise CheckpointError(f"{path}: not a snapshot (.safetensors or .json), a run directory or a model folder")


def check_format(meta: object, meta_path: Path) -> None:
    """That a JSON file describes a snapshot in a layout this version reads (a one-line CheckpointError if not)."""
    if not isinstance(meta, dict) or meta.get("format") != "digan-snapshot":
        what = f"format {meta.get('format')!r}" if isinstance(meta, dict) else f"a JSON {type(meta).__name__}"
        raise CheckpointError(f"{meta_path}: not a digan model ({what}, not 'digan-snapshot')")
    version = meta.get("format_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{meta_path}: format_version {version!r} is not a whole number of at least 1")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_path}: written by digan {meta.get('version', '(unknown)')} in snapshot format "
            f"{version}; digan {__version__} reads formats up to {FORMAT_VERSION}: upgrade digan"
        )


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
        raise ValueError(f"train_fps {_short(fps)} is not a positive number (frames per second, at most {MAX_FPS:g})")
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
    exactly their tensors, all float32; then that no weight is NaN or infinite
    (a diverged run renders black videos), and that a probe render makes
    sense (`check_renders`).
    """

    meta_path = find_snapshot(path)
    try:
        meta = read_json(meta_path)
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"{meta_path}: not a valid snapshot description "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from None
    check_format(meta, meta_path)
    try:
        preset = Preset.from_dict(meta.get("preset"))
        check_meta(meta, preset)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, OverflowError) as e:
        # the fields named are the file's, not parameters of the caller: no backticks for a command to turn into flags
        raise CheckpointError(
            f"{meta_path}: not a valid snapshot description ({type(e).__name__}: {str(e).replace('`', '')})"
        ) from None
    try:
        shapes = weight_shapes(preset)
    except Exception as e:  # absurd sizes fail in many ways; none of them is the user's to debug
        raise CheckpointError(
            f"{meta_path}: describes a generator that cannot be built "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        ) from None
    need, free = sum(math.prod(s) for s in shapes.values()) * 4, available(str(device))
    if free is not None and need > free:
        raise CheckpointError(
            f"{meta_path}: describes a generator of {size_text(need)} of weights, more than the "
            f"{size_text(free)} of free memory"
        )
    weights = meta_path.parent / (
        MODEL_NAME if meta_path.name == CONFIG_NAME else meta.get("weights", meta_path.with_suffix(".safetensors").name)
    )
    try:
        with safe_open(str(weights), "pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
            dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"{weights}: cannot read weights ({e})") from None
    other = sorted(k for k, dtype in dtypes.items() if dtype != WEIGHT_DTYPE)
    if other:  # loading would cast them without a word: float16 loses nothing, float64 and integers do
        kinds = ", ".join(sorted({dtypes[k] for k in other}))
        raise CheckpointError(
            f"{weights}: {len(other)} of {len(dtypes)} weight tensors are {kinds} (e.g. "
            f"{other[0]}), not {WEIGHT_DTYPE} (float32), the only type snapshots hold: cast them to "
            "float32 and save again"
        )
    if stored != shapes:
        wrong = sorted(set(stored) ^ set(shapes)) or [k for k in sorted(shapes) if stored[k] != shapes[k]]
        raise CheckpointError(
            f"{weights}: weights do not match the snapshot's preset ({len(wrong)} of "
            f"{len(shapes)} tensors, e.g. {wrong[0]}: {stored.get(wrong[0], 'missing')} stored, "
            f"{shapes.get(wrong[0], 'none')} expected)"
        )
    try:
        state = load_file(str(weights))
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"{weights}: cannot read weights ({e})") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(
            f"{weights}: {len(bad)} of {len(state)} weight tensors hold NaN or inf (e.g. {bad[0]}): "
            "the run diverged before this snapshot; use an earlier one"
        )
    G = Generator(preset.generator)
    G.load_state_dict(state)
    G.eval().requires_grad_(False)
    check_renders(G, weights)
    meta["path"] = str(weights)
    return G.to(device), meta


WEIGHT_DTYPE = "F32"  # safetensors' name of float32, the type of every weight this project writes
PROBE_SIZE = 16  # a probe render: 2 videos of fixed latents at t = 0 and 1, at 16x16 (scaled grids)
FAR_OUTSIDE = 10.0  # |value| beyond which a rendered value is far outside [-1, 1]


@torch.no_grad()
def render_problem(G: Generator, latents: tuple[torch.Tensor, torch.Tensor] | None = None) -> str | None:
    """What makes a probe render of G absurd, or None: two videos of fixed latents, or of `latents` (w, z_M)
    when given (a fit's, `digan.invert`), at t = 0 and 1, rendered small.

    Finite weights can still be absurd: weights scaled up by a diverged run or by hand render NaN, values
    far outside [-1, 1] (saved as black or saturated frames), or one constant. This probe's median |value|
    is 1.3 to 2.6 for this project's presets freshly initialised and 0.4 for the authors' trained snapshot
    (docs/sampling.md), so a median beyond FAR_OUTSIDE is absurd, as are any NaN or infinite value and a
    render that is the same number for every video, pixel and time.
    """
    device = next(G.parameters()).device
    if latents is None:
        g = torch.Generator().manual_seed(0)  # not the global generator: a training run's draws stay the same
        z, z_motion = torch.randn(2, G.z_dim, generator=g), torch.randn(2, G.motion_dim, generator=g)
        code = G.prepare(z.to(device), z_motion.to(device))
    else:
        code = G.synthesis.prepare(latents[0].to(device), latents[1].to(device))
    x = G.render(code, torch.tensor([[0.0, 1.0]] * code.batch, device=device), PROBE_SIZE, "scaled")  # scales small
    if not torch.isfinite(x).all():
        return "renders NaN or infinite values from finite weights"
    median = float(x.abs().median())
    if median > FAR_OUTSIDE:
        return (
            f"renders values far outside [-1, 1] (median |value| {median:.3g}; a new or trained generator's is "
            "0.4 to 2.6)"
        )
    if float(x.max()) == float(x.min()):
        return f"renders {float(x.max()):g} at every pixel of every video and time"
    return None


def check_renders(
    G: Generator,
    where: str | os.PathLike,
    latents: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> None:
    """CheckpointError naming `where` when a probe render of G (or of the fit `latents`) is absurd
    (`render_problem`): checked when a snapshot or a fit is loaded, before any work."""
    problem = render_problem(G, latents)
    if problem is None:
        return
    if latents is None:
        largest = max(float(v.abs().max()) for v in G.state_dict().values() if v.is_floating_point())
        raise CheckpointError(
            f"{where}: the generator {problem}; its weights are broken (the largest is "
            f"{largest:.3g}): use an earlier snapshot"
        )
    largest = max(float(v.abs().max()) for v in latents)
    raise CheckpointError(
        f"{where}: the fit {problem}; its latents or tuned weights are broken (the largest latent "
        f"is {largest:.3g}): fit again"
    )


# What a model folder keeps of its snapshot's JSON, besides the fields every snapshot has: how far it trained, the
# data it was trained on, the clips' frame rate and, for a converted model, where it came from. Local facts (paths,
# file names) stay behind: the weights of config.json are always model.safetensors beside it.
SHARED_FIELDS = ("clips_seen", "data", "train_fps", "source")
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name, as the hub spells a repository


def save_pretrained(G: Generator, meta: dict, out: str | os.PathLike, card: str | None = None) -> Path:
    """A model folder in the huggingface_hub layout: `config.json` (the snapshot's JSON), `model.safetensors`
    (G's weights) and, when `card` is given, `README.md`. Returns the folder.

    `meta` is a snapshot's metadata (`load_snapshot`'s second value); at least {"preset": preset.to_dict()}.
    The weights are written as `save_snapshot` writes them, so a snapshot's G gives a `model.safetensors`
    with the snapshot file's bytes (and SHA-256). config.json is written last: it marks the folder complete.
    Files of `out` other than these three are left alone.
    """
    preset = Preset.from_dict(meta["preset"])
    if G.cfg != preset.generator:
        raise ValueError("`G` is not the generator of `meta`'s preset")
    config = {
        "format": "digan-snapshot",
        "format_version": FORMAT_VERSION,
        "version": __version__,
        "preset": preset.to_dict(),
        "resolution": preset.generator.resolution,
        "clip_frames": meta.get("clip_frames", preset.training.clip_frames),
        **{k: meta[k] for k in SHARED_FIELDS if meta.get(k) is not None},
    }
    check_meta(config, preset)
    out = Path(out)
    tensors = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    atomic_write(out / MODEL_NAME, lambda p: save_file(tensors, str(p)))
    if card is not None:
        atomic_write(out / CARD_NAME, lambda p: p.write_text(card))
    atomic_write(out / CONFIG_NAME, lambda p: p.write_text(json.dumps(config, indent=2)))
    return out


def from_pretrained(
    model: str | os.PathLike,
    device: str | torch.device = "cpu",
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[Generator, dict]:
    """The generator and metadata of a model folder (`save_pretrained`), or of a hub repository `owner/name`.

    A local path loads as `load_snapshot` loads it (so a run directory or a snapshot file does too), with no
    hub package needed. Any other `owner/name` is fetched with huggingface_hub (`pip install 'digan[hub]'`):
    only config.json and model.safetensors, at `revision` (default: the main branch), into its cache (or
    `cache_dir`); with HF_HUB_OFFLINE=1 from that cache alone. Problems are one CheckpointError line.
    """
    if Path(model).expanduser().exists() or not REPO_ID.match(str(model)):
        return load_snapshot(Path(model).expanduser(), device)
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise CheckpointError(
            f"{model}: no such folder here; fetching it as a hub repository needs huggingface_hub "
            "(pip install 'digan[hub]')"
        ) from None
    try:
        folder = snapshot_download(
            str(model),
            revision=revision,
            cache_dir=cache_dir,
            allow_patterns=[CONFIG_NAME, MODEL_NAME],
            library_name="digan",
            library_version=__version__,
        )
    except Exception as e:  # no such repository, offline without a cached copy, no network: all one line
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(
            f"{model}: no such folder here, and not fetched from the hub ({type(e).__name__}: {reason[:300]})"
        ) from None
    if not (Path(folder) / CONFIG_NAME).is_file():
        raise CheckpointError(f"{model}: the hub repository holds no {CONFIG_NAME}: not a digan model")
    return load_snapshot(folder, device)


STATE_KEYS = ("preset", "step", "G", "D", "G_ema", "opt_G", "opt_D", "torch_rng")


def save_state(path: Path, state: dict[str, Any]) -> None:
    atomic_write(Path(path), lambda p: torch.save(state, p))


def load_state(path: Path) -> dict[str, Any]:
    """A training state, loaded with weights_only=True: a file holding anything but tensors and plain data is
    refused before any of it runs."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path}: not a valid training state: it holds objects other than tensors and plain "
            "data, and was refused without running any of it"
        ) from None
    except Exception as e:  # any unreadable file is the same problem for the user
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(f"{path}: cannot read training state ({type(e).__name__}: {reason[:200]})") from None
    missing = [k for k in STATE_KEYS if k not in state] if isinstance(state, dict) else list(STATE_KEYS)
    if missing:
        raise CheckpointError(f"{path}: not a valid training state (no {', '.join(missing)})")
    bad = [
        name
        for name, t in _state_tensors(state, ("G", "D", "G_ema", "opt_G", "opt_D"))
        if t.is_floating_point() and not torch.isfinite(t).all()
    ]
    if bad:
        raise CheckpointError(
            f"{path}: {len(bad)} tensor{'s' if len(bad) > 1 else ''} of this training state "
            f"hold{'' if len(bad) > 1 else 's'} NaN or inf (e.g. {bad[0]}): "
            "the run diverged before it was saved; start anew in another `out`, or from its last "
            "snapshot whose weights are finite with `init`"
        )
    return state


def _state_tensors(value, names, prefix: str = "", depth: int = 4):
    """(dotted name, tensor) of the tensors in the parts `names` of a training state: networks are dicts of
    tensors, optimisers dicts of dicts; `depth` bounds the walk (a crafted file may nest without end)."""
    if isinstance(value, torch.Tensor):
        yield prefix, value
    elif isinstance(value, dict) and depth:
        for k, v in value.items():
            if names is None or k in names:
                yield from _state_tensors(v, None, f"{prefix}.{k}" if prefix else str(k), depth - 1)
