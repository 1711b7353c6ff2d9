"""`digan share`: a snapshot as a model folder to upload (config.json, model.safetensors, the card, sample GIFs)."""

from __future__ import annotations

from ..apps.share import share
from ..sampling.files import plural
from .common import add_ckpt_argument, add_runtime_arguments, output_dir, parse_seeds, resolve_device, user_input


def cmd_share(args) -> int:
    device = resolve_device(args.device)
    with user_input():
        seeds = parse_seeds(args.seeds)
    out = output_dir(args.out)
    shared = share(
        args.ckpt,
        out,
        jsonl=args.jsonl or (),
        seeds=seeds,
        license=args.license,
        force=args.force,
        device=device,
        progress=False if args.quiet else None,
    )
    scores = ", ".join(f"{s.metric} {s.statistic} {s.value:.6g}" for s in shared.scores) or "no scores recorded"
    left = sum(shared.left_out.values())
    print(
        f"wrote {out}: config.json, model.safetensors (SHA-256 {shared.sha256[:12]}), README.md ({scores}"
        + (f"; {plural(left, 'line')} of other snapshots left out" if left else "")
        + f"), {plural(len(shared.samples), 'sample GIF')}; to upload it: hf upload OWNER/NAME {out} ."
    )
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "share",
        help="write a snapshot as a model folder to share: config.json, model.safetensors and its card",
        description="Write the model folder of a snapshot in the huggingface_hub layout: config.json (the snapshot's "
        "description), model.safetensors (G_ema, the snapshot's bytes), README.md (the model card: data, preset, "
        "kimg, training time and device, the FVD/KVD of the snapshot logged by train --fvd-clips or evaluated by "
        "evaluate --jsonl, with their protocols, the SHA-256, sample GIFs, and a licence line for you to fill) and "
        "samples/*.gif. Every --ckpt takes the folder; in Python, digan.from_pretrained takes it or its hub "
        "repository. Figures the run did not record are said to be missing, never estimated.",
    )
    add_ckpt_argument(p)
    p.add_argument(
        "--out",
        required=True,
        help="the model folder to write (new or empty; written under a temporary name and renamed when complete)",
    )
    p.add_argument(
        "--jsonl",
        action="append",
        metavar="FILE",
        help="result lines of digan evaluate --jsonl: those of this snapshot go on the card (repeat for several files)",
    )
    p.add_argument(
        "--license",
        help="the licence of the weights, for the card (an SPDX identifier such as mit or "
        "cc-by-4.0, or other; default: left for you to fill in)",
    )
    p.add_argument("--seeds", default="0-7", help="seeds of the sample GIFs, one training clip each (default 0-7)")
    p.add_argument("--force", action="store_true", help="replace a model folder already in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_runtime_arguments(p)
    p.set_defaults(func=cmd_share)
