"""An authors' snapshot as this project's networks, and as a run directory that `digan.checkpoint` reads.

`read_snapshot` reads a `network-snapshot-*.pkl` (nothing in it is run,
`pickle_reader`), rebuilds the preset from it (`configuration`) and converts
`G_ema`, `G` and `D` (`weights`). `convert_snapshot` writes the result as a run
directory: `G_ema` as an ordinary snapshot (safetensors + JSON, whose `source`
names the pickle, its SHA-256 and what it recorded), and `init.safetensors` +
`init.json` with all three networks for fine-tuning.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..checkpoint import OPTIONS_NAME, SNAPSHOT_GLOB, STATE_NAME, file_name, save_snapshot
from ..config import Preset
from ..models import DiganDiscriminators, Generator
from ..utils.atomic import FileGroup, atomic_folder
from ..utils.files import read_json
from ..utils.lock import FolderLock, folder_entries
from ..version import __version__
from .configuration import generator_config, plain, rebuild_preset
from .pickle_reader import AuthorsSnapshotError, Refused, read_pickle
from .weights import discriminator_state, generator_state

INIT_NAME = "init"  # init.safetensors and init.json: G, D and G_ema for fine-tuning
NETWORKS = ("G", "D", "G_ema")
KIMG = re.compile(r"network-snapshot-(\d+)\.pkl$")


@dataclass
class AuthorsSnapshot:
    """What an authors' snapshot holds, converted: the preset that rebuilds its networks and their state dicts."""

    path: Path
    sha256: str
    preset: Preset
    G_ema: dict[str, torch.Tensor]
    G: dict[str, torch.Tensor]
    D: dict[str, torch.Tensor]
    kimg: int | None  # from the file name network-snapshot-<kimg>.pkl, if it has that form
    training_set_kwargs: dict  # as the file records it (plain data)
    generator_kwargs: dict  # G_ema's constructor keywords as recorded (cfg unresolved)
    discriminator_kwargs: dict

    def generator(self, which: str = "G_ema") -> Generator:
        """`G_ema` (default) or `G` as this project's generator, in eval mode."""
        if which not in ("G_ema", "G"):
            raise ValueError(f"which must be 'G_ema' or 'G', got {which!r}")
        G = Generator(self.preset.generator)
        G.load_state_dict(getattr(self, which))
        return G.eval()

    def discriminators(self) -> DiganDiscriminators:
        D = DiganDiscriminators(self.preset.discriminator)
        D.load_state_dict(self.D)
        return D.eval()

    def source(self) -> dict:
        """The `source` record of the converted snapshot's JSON."""
        return {
            "format": "authors-network-snapshot",
            "file": self.path.name,
            "sha256": self.sha256,
            "kimg": self.kimg,
            "training_set_kwargs": self.training_set_kwargs,
            "generator_kwargs": self.generator_kwargs,
            "discriminator_kwargs": self.discriminator_kwargs,
        }


def read_snapshot(pkl_path: str | os.PathLike) -> AuthorsSnapshot:
    """Read and convert an authors' `network-snapshot-*.pkl`; any problem is one `AuthorsSnapshotError` line."""
    path = Path(pkl_path)
    digest = hashlib.sha256()
    top = read_pickle(path, digest)
    try:
        if not isinstance(top, dict) or not all(k in top for k in NETWORKS):
            keys = ", ".join(map(str, top)) if isinstance(top, dict) else type(top).__name__
            raise Refused(f"not a network snapshot of the authors' training loop (it holds {keys}, not G, D and G_ema)")
        data = plain(top.get("training_set_kwargs") or {}, "training_set_kwargs")
        preset = rebuild_preset(top["G_ema"], top["D"], data)
        if generator_config(top["G"], "G") != preset.generator:
            raise Refused("G and G_ema differ in configuration")
        snapshot = AuthorsSnapshot(
            path=path,
            sha256=digest.hexdigest(),
            preset=preset,
            G_ema=generator_state(top["G_ema"], preset.generator, "G_ema"),
            G=generator_state(top["G"], preset.generator, "G"),
            D=discriminator_state(top["D"], preset.discriminator, "D"),
            kimg=int(m.group(1)) if (m := KIMG.search(path.name)) else None,
            training_set_kwargs=data,
            generator_kwargs=plain(top["G_ema"].state["_init_kwargs"], "G_ema._init_kwargs"),
            discriminator_kwargs=plain(top["D"].state["_init_kwargs"], "D._init_kwargs"),
        )
    except Refused as e:
        raise AuthorsSnapshotError(f"{path}: {e}") from None
    except Exception as e:  # data of unexpected types where the checks above expect others: one line, not a traceback
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise AuthorsSnapshotError(
            f"{path}: not a DIGAN snapshot this converter understands ({type(e).__name__}: {reason})"
        ) from None
    return snapshot


def holds_run(folder: Path) -> bool:
    return any(folder.glob(SNAPSHOT_GLOB)) or (folder / STATE_NAME).exists() or (folder / OPTIONS_NAME).exists()


def convert_snapshot(pkl_path: str | os.PathLike, out: str | os.PathLike, *, force: bool = False) -> Path:
    """Write an authors' snapshot as a run directory `out`; returns the snapshot's JSON.

    `out` gets `snapshot-<clips seen>.{safetensors,json}` (G_ema, loadable with
    `digan.checkpoint.load_snapshot`) and `init.{safetensors,json}` (G, D and G_ema). Everything is written
    under a temporary name beside `out` and renamed into place when complete, so a failure leaves
    `out` as it was. An `out` that holds a run is replaced only with `force=True`; one that holds
    anything else is never replaced.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise AuthorsSnapshotError(f"{out}: `out` is a file, not a folder")
        if holds_run(out) and not force:
            raise AuthorsSnapshotError(f"{out}: `out` already holds a run; give `force` to replace it")
        if folder_entries(out) and not holds_run(out):
            raise AuthorsSnapshotError(f"{out}: `out` holds files that are not a run; give a new or empty folder")
    snapshot = read_snapshot(pkl_path)
    # a run that a live `digan train` holds is never replaced under it
    with FolderLock(out, "digan convert") if out.is_dir() else contextlib.nullcontext():
        meta_path = atomic_folder(out, lambda tmp: write_run(tmp, snapshot))
    return out / meta_path.name


def write_run(run_dir: Path, snapshot: AuthorsSnapshot) -> Path:
    """The converted snapshot's files in `run_dir`; returns the snapshot's JSON."""
    with torch.device("meta"):
        G = Generator(snapshot.preset.generator)
    G.load_state_dict(snapshot.G_ema, assign=True)  # the converted tensors themselves: no second copy in memory
    clips_seen = (snapshot.kimg or 0) * 1000
    weights = save_snapshot(run_dir, G, snapshot.preset, clips_seen, extra={"source": snapshot.source()})
    tensors = {f"{net}.{k}": v for net in NETWORKS for k, v in getattr(snapshot, net).items()}
    meta = {
        "format": "digan-init",
        "version": __version__,
        "preset": snapshot.preset.to_dict(),
        "networks": list(NETWORKS),
        "weights": f"{INIT_NAME}.safetensors",
        "source": {"file": snapshot.path.name, "sha256": snapshot.sha256, "kimg": snapshot.kimg},
    }
    with FileGroup(marker=run_dir / f"{INIT_NAME}.json") as files:
        files.write(run_dir / f"{INIT_NAME}.safetensors", lambda p: save_file(tensors, str(p)))
        files.write(run_dir / f"{INIT_NAME}.json", lambda p: p.write_text(json.dumps(meta, indent=2)))
    return weights.with_suffix(".json")


def load_init(run_dir: str | os.PathLike) -> tuple[Preset, dict[str, dict[str, torch.Tensor]]]:
    """The preset and the `G`, `D` and `G_ema` state dicts that `convert_snapshot` wrote for fine-tuning."""
    meta_path = Path(run_dir) / f"{INIT_NAME}.json"
    try:
        meta = read_json(meta_path)
        preset = Preset.from_dict(meta["preset"])
        weights = meta_path.parent / file_name(meta["weights"], "weights")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AuthorsSnapshotError(
            f"{meta_path}: not a converted snapshot's init file ({type(e).__name__}: {e})"
        ) from None
    try:
        flat = load_file(str(weights))
    except (OSError, SafetensorError) as e:
        raise AuthorsSnapshotError(f"{weights}: cannot read weights ({e})") from None
    states: dict[str, dict[str, torch.Tensor]] = {net: {} for net in NETWORKS}
    for key, value in flat.items():
        net, _, name = key.partition(".")
        if net not in states:
            raise AuthorsSnapshotError(f"{weights}: tensor {key} belongs to none of {', '.join(NETWORKS)}")
        states[net][name] = value
    return preset, states
