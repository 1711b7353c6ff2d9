"""`digan gallery`: a static HTML page of what a snapshot renders, openable from disk or hostable anywhere.

Every video is written by `digan.sampling.files` (the same files `digan generate` and
`digan interpolate` write); this module picks what to show, writes the
training curves and the page. Links are relative, so the folder can be moved.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..models import Generator
from ..sampling.files import InterpolationRequest, VideoRequest, generate, interpolate, write_videos
from ..sampling.options import RenderOptions, frames_per_chunk
from ..sampling.render import prepare_videos
from ..timebase import Timebase, TimeRequest
from ..training.run import read_metrics
from ..utils.atomic import atomic_write, check_output
from ..utils.memory import GIF_COPIES, Part, check, code_bytes, render_pixel_bytes

MOTIONS = 8  # motion seeds beside one first frame
STEPS = 8  # videos along each interpolation
EXTRAPOLATE = 4  # extrapolation length, in training clips
SUPERRES = 4  # super-resolution factor
CURVES = "training-curves.png"


@dataclass
class Section:
    title: str
    caption: str
    media: str | None  # path relative to the page: a .gif, .mp4 or .png
    links: list[str]  # other files of the section, relative to the page


def build_gallery(
    G: Generator,
    meta: dict,
    out: str | Path,
    *,
    videos: int = 8,
    render: RenderOptions = RenderOptions(),
    formats: Sequence[str] = ("mp4", "gif"),
    motions: int = MOTIONS,
    steps: int = STEPS,
    progress: bool = True,
) -> Path:
    """Write `out/index.html` and its media (`out/media/...`); returns the page's path.

    `videos` is the number of seeds in the sample grid (0..videos-1); `render` how every video is
    rendered (its size and grids are the page's own for the super-resolution section).
    """
    if videos < 1:
        raise ValueError(f"`videos` must be at least 1, got {videos}")
    out = Path(out)
    check_output(out / "index.html")  # refused before the renders, not after them
    media = out / "media"
    timebase = Timebase.from_meta(meta)
    fps, res = timebase.train_fps, int(meta["resolution"])
    clip_t = timebase.times()
    check(
        f"a gallery of {videos} videos",
        *gallery_memory(G, videos, len(clip_t), render, formats),
        str(next(G.parameters()).device),
    )
    long = TimeRequest(seconds=EXTRAPOLATE * timebase.clip_frames / fps)
    shown = tuple(range(min(videos, 4)))
    formats = tuple(formats)
    at_training_size = render.replace(size=None, grids="nested")
    rel = lambda p: Path(p).relative_to(out).as_posix()  # noqa: E731
    say = print if progress else (lambda *a, **k: None)
    sections = []

    def pick(paths: Sequence[Path], stem: str) -> tuple[str, list[str]]:
        """The file to show (GIF first: every browser plays it from disk) and links to the others of `stem`."""
        mine = [p for p in paths if p.stem == stem]
        shown_file = next((p for p in mine if p.suffix == ".gif"), mine[0])
        return rel(shown_file), [rel(p) for p in mine if p != shown_file]

    say("gallery: sample grid")
    codes = [
        prepare_videos(G, list(range(i, min(i + render.batch, videos))), psi=render.psi)
        for i in range(0, videos, render.batch)
    ]  # rendered `batch` videos at a time, like `generate`
    paths = write_videos(
        G,
        media,
        codes,
        clip_t,
        fps=fps,
        names=None,
        options=at_training_size,
        formats=formats,
        grid="samples",
        progress=False,
    )
    sections.append(
        Section(
            "Samples",
            f"Seeds 0 to {videos - 1}, one training clip each (t from 0 to 1, "
            f"{len(clip_t)} frames at {fps:g} fps, {res}x{res}).",
            *pick(paths, "samples"),
        )
    )

    say("gallery: time extrapolation")
    written = generate(
        G,
        meta,
        media / "extrapolation",
        VideoRequest(seeds=shown, times=long, render=at_training_size, formats=formats, compare=True),
        progress=False,
    )
    sections.append(
        Section(
            "Time extrapolation",
            f"Left: the training interval (t from 0 to 1, held at its last frame afterwards). "
            f"Right: the same videos rendered {EXTRAPOLATE}x as long, up to t = {float(written.t[-1]):.2f}. The bar "
            "below turns red once t passes 1, the end of a training clip; the white tick marks t = 1.",
            rel(media / "extrapolation" / "grid-compare.mp4"),
            [rel(p) for p in written.paths if p.stem == "grid"],
        )
    )

    say("gallery: super-resolution")
    # grids="scaled": every scale sampled more densely, for smooth detail rather than blocks (docs/conventions.md)
    superres = render.replace(size=SUPERRES * res, grids="scaled")
    written = generate(
        G,
        meta,
        media / "superres",
        VideoRequest(seeds=shown, render=superres, formats=formats, compare=True),
        progress=False,
    )
    sections.append(
        Section(
            f"{SUPERRES}x super-resolution",
            f"Left: the {res}x{res} render upscaled by pixel repetition (nearest). "
            f"Right: the same videos rendered directly at {SUPERRES * res}x{SUPERRES * res}: the generator is a "
            "function of continuous coordinates (scaled grids).",
            rel(media / "superres" / "grid-compare.mp4"),
            [rel(p) for p in written.paths if p.stem == "grid"],
        )
    )

    say("gallery: motions")
    code = prepare_videos(G, [0] * motions, list(range(motions)), psi=render.psi)
    paths = write_videos(
        G,
        media / "motions",
        [code],
        clip_t,
        fps=fps,
        names=None,
        options=at_training_size,
        formats=formats,
        grid="grid",
        progress=False,
    )
    sections.append(
        Section(
            f"One first frame, {motions} motions",
            f"Content seed 0 with motion seeds 0 to {motions - 1}. At t = 0 "
            "the motion code is zero (DIGAN Eq. 3), so every video starts from the same frame and moves differently.",
            *pick(paths, "grid"),
        )
    )

    for mode, kept in (("content", "motion"), ("motion", "content")):
        say(f"gallery: {mode} interpolation")
        written = interpolate(
            G,
            meta,
            media / "interpolation",
            InterpolationRequest(
                points=(0, 1), mode=mode, steps=steps, layout="grid", render=at_training_size, formats=formats
            ),
            progress=False,
        )
        sections.append(
            Section(
                f"{mode.capitalize()} interpolation",
                f"{steps} videos from seed 0 (left) to seed 1 (right): the {mode} moves, the {kept} stays seed 0's.",
                *pick(written.paths, f"interp-{mode}-grid"),
            )
        )

    sections.append(training_curves(Path(meta["path"]).parent / "metrics.jsonl", out))
    text = render_page(meta, sections)
    return atomic_write(out / "index.html", lambda p: p.write_text(text))


def gallery_memory(G: Generator, videos: int, frames: int, render: RenderOptions, formats: Sequence[str]) -> tuple:
    """What the sample grid of `videos` videos holds at once, as `(build, now, hints)` for
    `digan.utils.memory.check` (the other sections are fixed in size, and `generate` checks them): the
    prepared codes of every video, a render step of a batch, one step's frames of every video and of the grid,
    and with a GIF every frame of the grid."""
    res = G.resolution
    per_step = frames_per_chunk(min(render.batch, videos), (res, res))

    def build(videos: int) -> list[Part]:
        b = min(render.batch, videos)
        grid = videos * (res + 2) * (res + 2) * 3  # a frame of the grid, with its padding
        return [
            Part("the video codes", videos * code_bytes(G), ("videos",)),
            Part("a render step", b * per_step * res * res * render_pixel_bytes(G.cfg)),
            Part("the frames of a step", per_step * (videos * res * res * 3 + grid), ("videos",), on_device=False),
            Part(
                "the GIF frames of the grid",
                frames * grid * GIF_COPIES if "gif" in formats else 0,
                ("videos",),
                on_device=False,
            ),
        ]

    return build, {"videos": videos}, {"videos": lambda n: f"at most {n:,} videos fit (`videos`)"}


def training_curves(metrics: Path, out: Path) -> Section:
    """A PNG of every numeric series of metrics.jsonl against kimg (needs matplotlib), or why there is none."""
    records = read_metrics(metrics)
    keys = sorted(
        {k for r in records for k, v in r.items() if k != "kimg" and isinstance(v, (int, float)) and math.isfinite(v)}
    )
    title = "Training curves"
    if not records or not keys:
        return Section(
            title,
            f"No training curves: {metrics} holds no records (a snapshot saved outside "
            "`digan train`, or a run that logged nothing yet).",
            None,
            [],
        )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return Section(
            title,
            f"No plot: matplotlib is not installed (pip install -e '.[study]'). The "
            f"{len(records)} records of metrics.jsonl ({', '.join(keys)}) are in {metrics}.",
            None,
            [],
        )
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        points = [(r["kimg"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
        ax.plot(*zip(*points), marker="." if len(points) < 30 else None)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("kimg", fontsize=8)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / CURVES, dpi=100)
    plt.close(fig)
    return Section(
        title,
        f"Every series of the run's metrics.jsonl ({len(records)} records) against thousands of training clips seen.",
        CURVES,
        [],
    )


def render_page(meta: dict, sections: Sequence[Section]) -> str:
    esc = html.escape
    name = Path(meta["path"]).name
    kimg = meta.get("clips_seen", 0) / 1000
    parts = []
    for s in sections:
        if s.media is None:
            figure = ""
        elif s.media.endswith(".mp4"):
            figure = f'<video src="{esc(s.media)}" autoplay loop muted playsinline controls></video>'
        else:
            figure = f'<img src="{esc(s.media)}" alt="{esc(s.title)}">'
        links = " ".join(f'<a href="{esc(p)}">{esc(Path(p).name)}</a>' for p in [s.media] + s.links if p)
        parts.append(
            f"<section><h2>{esc(s.title)}</h2>{figure}<p>{esc(s.caption)}</p>"
            + (f'<p class="files">files: {links}</p>' if links else "")
            + "</section>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DIGAN gallery: {esc(name)}</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; background: #fafafa; }}
img, video {{ image-rendering: pixelated; max-width: 100%; min-width: 24em; background: #000; }}
.files {{ font-size: 0.8em; color: #555; }}
</style></head><body>
<h1>DIGAN gallery</h1>
<p>Snapshot {esc(name)} ({kimg:.3g} thousand training clips seen, {esc(str(meta.get("resolution")))}x{esc(str(meta.get("resolution")))},
clips of {esc(str(meta.get("clip_frames")))} frames). Written by <code>digan gallery</code>; time is clip time t,
0 to 1 over a training clip.</p>
{chr(10).join(parts)}
</body></html>
"""
