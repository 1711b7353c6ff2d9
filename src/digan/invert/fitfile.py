"""The fit folder: `fit.safetensors` (w, z_M, the fitted times and, when tuned, the tuned synthesis weights) and
`fit.json` (the snapshot it belongs to, by path and SHA-256, the source clip, its frame rate, the options and
the scores), written together (`digan.utils.atomic.FileGroup`): the JSON, which marks the fit complete, is removed
first and put in place last, so an interrupted re-fit leaves the old fit or the new one or none, never one fit's
JSON beside another's weights."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..checkpoint import WEIGHT_DTYPE, CheckpointError, check_renders, file_name, load_snapshot
from ..config import MAX_INT
from ..models import Generator
from ..timebase import MAX_FPS
from ..utils.atomic import FileGroup
from ..utils.files import read_json, sha256_file
from ..version import __version__
from .fit import Fit, check_finite

FIT_FORMAT = "digan-fit"
FIT_WEIGHTS, FIT_META = "fit.safetensors", "fit.json"


def snapshot_digest(meta: dict) -> str:
    """SHA-256 of a snapshot's weight file (`meta["path"]`, as `load_snapshot` returns it)."""
    return sha256_file(meta["path"])


def save_fit(
    out: str | os.PathLike,
    fit: Fit,
    snapshot_meta: dict,
    source: dict | None = None,
    scores: dict | None = None,
    *,
    files: FileGroup | None = None,
) -> Path:
    """Write `out/fit.safetensors` and `out/fit.json` (which marks the fit complete) together; returns the JSON's
    path. With `files` (a `FileGroup` whose marker is that JSON), both join it and change with its other files
    when its block ends. A fit that holds NaN or inf is refused (`FitDiverged`) before anything is written:
    `load_fit` would refuse it."""
    check_finite(fit)
    out = Path(out)
    tensors = {"w": fit.w, "z_motion": fit.z_motion, "t": fit.t}
    tensors.update({f"synthesis.{k}": v for k, v in (fit.tuned or {}).items()})
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    weights = Path(snapshot_meta["path"]).resolve()
    meta = {
        "format": FIT_FORMAT,
        "version": __version__,
        "snapshot": {
            "path": str(weights.with_suffix(".json")),
            "sha256": snapshot_digest(snapshot_meta),
            "clips_seen": snapshot_meta.get("clips_seen"),
            "preset": snapshot_meta["preset"]["name"],
        },
        "generator": snapshot_meta["preset"]["generator"],
        "resolution": snapshot_meta["resolution"],
        "clip_frames": fit.clip_frames,
        "fps": fit.fps,
        "frames": fit.frames,
        "wplus": fit.w.ndim == 3,
        "tuned": fit.tuned is not None,
        "source": source or {},
        **({k: v for k, v in fit.meta.items() if k not in ("scores", "source")}),
        "scores": scores if scores is not None else fit.meta.get("scores", {}),
        "weights": FIT_WEIGHTS,
    }
    fit.meta = {**fit.meta, **meta}
    with FileGroup(marker=out / FIT_META) if files is None else contextlib.nullcontext(files) as group:
        group.write(out / FIT_WEIGHTS, lambda p: save_file(tensors, str(p)))
        group.write(out / FIT_META, lambda p: p.write_text(json.dumps(meta, indent=2)))
    return out / FIT_META


def find_fit(path: str | os.PathLike) -> Path:
    """A fit's JSON from its folder or either of its files."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / FIT_META
    elif path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such fit (digan invert --out FOLDER writes FOLDER/{FIT_META})")
    return path


def load_fit(path: str | os.PathLike) -> Fit:
    """A fit saved by `save_fit`, checked to be complete and finite (CheckpointError with one line if not)."""
    meta_path = find_fit(path)
    try:
        meta = read_json(meta_path)
        if not isinstance(meta, dict) or meta.get("format") != FIT_FORMAT:
            raise ValueError(f"format {meta.get('format') if isinstance(meta, dict) else None!r}, not {FIT_FORMAT!r}")
        fps, clip_frames = meta.get("fps"), meta.get("clip_frames")
        if not (isinstance(fps, (int, float)) and not isinstance(fps, bool) and 0 < fps <= MAX_FPS):
            raise ValueError(f"fps {fps!r:.40} is not a positive number (frames per second, at most {MAX_FPS:g})")
        if not (isinstance(clip_frames, int) and not isinstance(clip_frames, bool) and 2 <= clip_frames <= MAX_INT):
            raise ValueError(f"clip_frames {clip_frames!r:.40} is not a whole number of at least 2")
        snapshot = meta.get("snapshot")
        if not isinstance(snapshot, dict) or not all(
            isinstance(snapshot.get(k), str) and snapshot[k] for k in ("path", "sha256")
        ):
            raise ValueError("snapshot is not an object with a path and a sha256")
        file_name(meta.get("weights", FIT_WEIGHTS), "weights")
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{meta_path}: not a valid fit description ({type(e).__name__}: {e})") from None
    fps, clip_frames = float(fps), int(clip_frames)
    weights = meta_path.parent / meta.get("weights", FIT_WEIGHTS)
    try:
        tensors = load_file(str(weights))
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"{weights}: cannot read the fit ({e})") from None
    missing = [k for k in ("w", "z_motion", "t") if k not in tensors]
    other = [k for k, v in tensors.items() if v.dtype != torch.float32]
    if other:  # rendering would mix them with the generator's float32
        raise CheckpointError(
            f"{weights}: {', '.join(other[:3])}{' and more' if len(other) > 3 else ''} "
            f"{'is' if len(other) == 1 else 'are'} {tensors[other[0]].dtype}, not float32 "
            f"({WEIGHT_DTYPE}), the only type fits hold: cast them to float32 and save again"
        )
    bad = [k for k, v in tensors.items() if not torch.isfinite(v).all()]
    if missing or bad:
        raise CheckpointError(
            f"{weights}: not a valid fit ({'no ' + ', '.join(missing) if missing else ''}"
            f"{'; ' if missing and bad else ''}{'NaN or inf in ' + ', '.join(bad) if bad else ''})"
        )
    tuned = {k[len("synthesis.") :]: v for k, v in tensors.items() if k.startswith("synthesis.")}
    return Fit(
        w=tensors["w"],
        z_motion=tensors["z_motion"],
        t=tensors["t"],
        fps=fps,
        clip_frames=clip_frames,
        tuned=tuned or None,
        meta={**meta, "path": str(meta_path)},
    )


def check_fit(fit: Fit, G: Generator, snapshot_meta: dict) -> None:
    """The fit belongs to this snapshot: same weight file (SHA-256) and latent shapes (CheckpointError if not)."""
    where = fit.meta.get("path", "the fit")
    made = fit.meta["snapshot"]
    if snapshot_digest(snapshot_meta) != made["sha256"]:
        raise CheckpointError(
            f"{where}: fitted to snapshot {made['path']}, not to {snapshot_meta['path']} (their "
            "weights differ): give the fit's snapshot (`ckpt`), or fit again"
        )
    cfg, synthesis = G.cfg, G.synthesis
    w_shapes = {(1, cfg.w_dim), (1, synthesis.num_ws, cfg.w_dim)}
    shapes_ok = tuple(fit.w.shape) in w_shapes and tuple(fit.z_motion.shape) == (1, cfg.motion_dim)
    if fit.tuned is not None:
        expected = {k: tuple(v.shape) for k, v in synthesis.state_dict().items()}
        shapes_ok = shapes_ok and {k: tuple(v.shape) for k, v in fit.tuned.items()} == expected
    if not shapes_ok or fit.t.ndim != 1 or fit.clip_frames != snapshot_meta["clip_frames"]:
        raise CheckpointError(f"{where}: its latents or weights do not match the generator of {snapshot_meta['path']}")


def load_fit_snapshot(fit: Fit, ckpt: str | os.PathLike | None = None, device: str = "cpu") -> tuple[Generator, dict]:
    """The generator that renders `fit` (tuned when the fit is) and the snapshot's metadata.

    `ckpt` defaults to the snapshot the fit was made from; either way it must be that snapshot.
    """
    if ckpt is None:
        ckpt = fit.meta["snapshot"]["path"]
        if not Path(ckpt).exists():
            raise CheckpointError(
                f"{fit.meta.get('path', 'the fit')}: its snapshot {ckpt} is gone; give it with `ckpt`"
            )
    G, meta = load_snapshot(ckpt, device)
    check_fit(fit, G, meta)
    G = fit.generator(G)
    check_renders(G, fit.meta.get("path", "the fit"), (fit.w, fit.z_motion))
    return G, meta
