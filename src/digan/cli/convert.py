"""`digan convert`: an authors' network-snapshot pickle as a run directory of this project (`digan.authors`)."""

from __future__ import annotations

from pathlib import Path

from ..authors import convert_snapshot
from ..checkpoint import load_snapshot
from .common import output_dir


def cmd_convert(args) -> int:
    output_dir(args.out)
    meta_path = convert_snapshot(args.snapshot, args.out, force=args.force)
    _, meta = load_snapshot(meta_path)
    source = meta["source"]
    data = source.get("training_set_kwargs") or {}
    dataset = data.get("path") or data.get("class_name") or "an unnamed dataset"
    r = meta["resolution"]
    print(
        f"wrote {args.out}: {Path(args.snapshot).name} ({source['sha256'][:12]}), {r}x{r}, "
        f"{meta['clip_frames']}-frame clips, trained on {dataset}; then e.g. digan generate --ckpt {args.out} "
        f"--out samples, or digan train --init {args.out} --data ..."
    )
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "convert",
        help="read an authors' network-snapshot-*.pkl (without running it) into a run directory",
        description="Convert a network-snapshot-*.pkl written by the DIGAN authors' training code (their released "
        "UCF-101, Sky Time-lapse, TaiChi-HD and Kinetics-food models are such files) into a run directory that "
        "every --ckpt takes: G_ema as a snapshot (safetensors + JSON recording the pickle's name, SHA-256, "
        "configuration and training_set_kwargs) and init.safetensors with G, G_ema and D for train --init. "
        "Nothing in the file is run: it is read as data by a restricted reader (docs/authors.md). The default "
        "render at the training size is the authors' frame.",
    )
    p.add_argument("snapshot", metavar="SNAPSHOT.pkl", help="the authors' network-snapshot-*.pkl")
    p.add_argument(
        "--out",
        required=True,
        help="the run directory to write (written under a temporary name and renamed when complete)",
    )
    p.add_argument("--force", action="store_true", help="replace a run already in --out")
    p.set_defaults(func=cmd_convert)
