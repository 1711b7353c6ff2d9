"""The quality study: train a preset on built-in datasets for a fixed budget and show what it learnt.

For each dataset the study trains one run (resumed from eval point to eval
point, so the run is the same as one uninterrupted `digan train`) and, at each
point, scores G_ema on the same fixed seeds 0..N-1:

- FVD (I3D, 16-frame clips, N clips a side) beside the floor, the FVD between
  two disjoint sets of N real clips under the same protocol, and beside the
  untrained generator; all in one run, so the three numbers are comparable;
- the motion check (metrics/motion.py) inside the clip (t in [0, 1]) and past
  it (t in [1, 2], against the real videos' next 16 frames);
- a PNG strip of real clips beside generated ones, with extrapolated frames.

`write_report` turns the results into a Markdown page with plots (matplotlib,
when installed) and records the commit, machine, threads, seed, budget and
wall time, so anyone can rerun it: `digan study` (or `make study`).
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import platform
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..checkpoint import load_snapshot, snapshot_at
from ..config import Preset, get_preset
from ..data import open_dataset
from ..data.base import DataError, VideoSource
from ..data.procedural import PROCEDURAL
from ..metrics.distances import fvd
from ..metrics.features import I3DFeatures
from ..metrics.motion import motion_ratios, motion_statistics
from ..metrics.weights import cache_dir
from ..models import Generator
from ..sampling.options import RenderOptions
from ..sampling.render import render_videos
from ..timebase import clip_times
from ..training.loop import train
from ..training.run import read_metrics, training_seconds
from ..utils.atomic import atomic_save_array, atomic_write, output_folder
from ..utils.malloc import keep_freed_memory
from ..utils.runtime import resolve_precision
from ..utils.signals import interruption, start_worker, stop_workers
from ..version import __version__

STUDY_DATASETS = tuple(PROCEDURAL)  # built in and unlimited: the study's real sets never run short
STUDY_DEFAULT_DATA = ("shapes", "sky")  # the committed report's (docs/study, `make study`)


@dataclass(frozen=True)
class StudyConfig:
    preset: str = "tiny-32"
    datasets: tuple[str, ...] = STUDY_DEFAULT_DATA
    kimg: float = 60.0  # training budget per dataset, in thousands of clips
    evals: tuple[float, ...] = ()  # kimg at which to evaluate; () -> 6 points up to kimg
    clips: int = 128  # FVD clips per side (generated seeds 0..clips-1)
    strip_seeds: int = 6  # videos in the sample strip (seeds 0..n-1, not picked)
    extrapolate_frames: int = 64  # frames of the long render in the strip (t up to ~(n-1)/15)
    seed: int = 0
    sets: tuple[str, ...] = ()  # preset fields replaced, `section.field=value` (Preset.override)
    precision: str = "float32"  # training arithmetic, float32 or bf16 (issue 12); scoring stays float32

    def __post_init__(self):
        if self.kimg <= 0 or self.clips < 2 or self.strip_seeds < 1:
            raise ValueError("a study needs kimg > 0, at least 2 clips and 1 strip seed")
        unknown = [d for d in self.datasets if d not in STUDY_DATASETS]
        if unknown or not self.datasets:
            raise ValueError(
                f"study datasets are built-in: {', '.join(STUDY_DATASETS)}; got {', '.join(unknown) or 'none'}"
            )
        if any(not 0 < k <= self.kimg for k in self.evals):
            raise ValueError(f"eval points must lie in (0, {self.kimg:g}] kimg")
        if self.precision not in ("float32", "bf16"):  # not auto: a report names the arithmetic it measured
            raise ValueError(f"study precision is float32 or bf16, got '{self.precision}'")

    def build_preset(self) -> Preset:
        return get_preset(self.preset).override(self.sets)

    def run_tag(self) -> str:
        """`preset`, plus a short hash of the overrides: each variant trains (and resumes) in its own folder."""
        keys = self.sets + ((f"precision={self.precision}",) if self.precision != "float32" else ())
        if not keys:
            return self.preset
        digest = hashlib.sha1("\n".join(keys).encode()).hexdigest()
        return f"{self.preset}-{digest[:8]}"

    def eval_points(self) -> list[float]:
        points = self.evals or tuple(self.kimg * (i + 1) / 6 for i in range(6))
        return sorted(set(round(float(k), 3) for k in points))


def real_sets(source: VideoSource, n: int, frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint sets of `n` real clips of `frames` frames, one clip a video from its first frame.

    uint8 `[n, frames, R, R, 3]` each. Starting at frame 0 keeps the later
    frames (t in [1, 2]) inside the video for the extrapolation check.
    """
    long_enough = [i for i in range(len(source)) if source.num_frames(i) >= frames]
    if len(long_enough) < 2 * n:
        raise DataError(f"{source.name}: {len(long_enough)} videos of {frames}+ frames; the study needs {2 * n}")
    chosen = np.random.default_rng([seed, 0x57D]).permutation(long_enough)[: 2 * n]
    clips = np.stack([source.read(int(v), range(frames)) for v in chosen])
    return clips[:n], clips[n:]


def scores(fake: np.ndarray, real: np.ndarray, clip_frames: int) -> dict:
    """Motion check of generated vs real clips (`[N, >= 2 * clip_frames - 1, ...]`) inside and past the clip."""
    inside = motion_statistics(fake[:, :clip_frames]), motion_statistics(real[:, :clip_frames])
    later = slice(clip_frames - 1, 2 * clip_frames - 1)  # t in [1, 2]
    beyond = motion_statistics(fake[:, later]), motion_statistics(real[:, later])
    return {
        "motion": inside[0],
        "motion_real": inside[1],
        **motion_ratios(*inside),
        "motion_extrapolated": beyond[0],
        "motion_extrapolated_real": beyond[1],
        **{f"extrapolated_{k}": v for k, v in motion_ratios(*beyond).items()},
    }


def frame_strip(rows: list[np.ndarray], pad: int = 2, scale: int = 2) -> np.ndarray:
    """uint8 `[H', W', 3]`: each row a video `[T, H, W, 3]` laid left to right; rows of unequal length are left-aligned."""
    h, w = rows[0].shape[1:3]
    width = max(len(r) for r in rows) * (w + pad) + pad
    out = np.full((len(rows) * (h + pad) + pad, width, 3), 255, np.uint8)
    for i, video in enumerate(rows):
        for k, frame in enumerate(video):
            y, x = pad + i * (h + pad), pad + k * (w + pad)
            out[y : y + h, x : x + w] = frame
    return out.repeat(scale, axis=0).repeat(scale, axis=1)


def save_png(path: Path, image: np.ndarray) -> Path:
    return atomic_write(Path(path), lambda p: Image.fromarray(image).save(p, format="PNG"))


class CachedFeatures:
    """A feature function that keeps the features of each clip set on disk, named by the clips' bytes.

    Every study of a dataset scores the same two real sets and, unless the
    generator's options change, the same untrained generator: three of the five
    I3D passes of a two-point study. Keyed by content (and by the detector's
    weights, its device and the thread count, which change float rounding), so
    changed data or a changed generator misses and every figure stays what a
    cold run gives.
    """

    def __init__(self, features, folder: str | os.PathLike):
        self.features, self.folder = features, Path(folder)
        self.detector = features.detector

    def path(self, clips: np.ndarray) -> Path:
        digest = hashlib.sha256(
            json.dumps(
                {
                    "shape": clips.shape,
                    "dtype": str(clips.dtype),
                    "detector": self.detector.sha256,
                    "device": str(getattr(self.features, "device", "cpu")),
                    "threads": torch.get_num_threads(),
                }
            ).encode()
        )
        digest.update(clips.data)
        return self.folder / f"{digest.hexdigest()[:32]}.npy"

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        clips = np.ascontiguousarray(clips)
        path = self.path(clips)
        if path.is_file():
            try:
                return np.load(path)
            except (OSError, ValueError):
                pass  # a damaged file: compute again and replace it
        feats = self.features(clips)
        atomic_save_array(path, feats)
        return feats


class Scorer:
    """FVD and motion scores of a generator against one dataset's fixed real sets."""

    def __init__(self, source: VideoSource, clips: int, clip_frames: int, seed: int, features):
        self.clip_frames, self.clips = clip_frames, clips
        self.frames = 2 * clip_frames - 1  # the clip and its continuation to t = 2
        self.real, self.real_b = real_sets(source, clips, self.frames, seed)
        self.features = features  # study_features: the I3D, cached
        self.real_features = self.features(self.real[:, :clip_frames])
        self.floor = fvd(self.real_features, self.features(self.real_b[:, :clip_frames]))

    def __call__(self, G) -> tuple[dict, np.ndarray]:
        t = clip_times(self.frames, self.clip_frames)
        fake = render_videos(G, list(range(self.clips)), t, RenderOptions(batch=16))
        distance = fvd(self.real_features, self.features(fake[:, : self.clip_frames]))
        return {
            "fvd": distance,
            "fvd_over_floor": distance / self.floor,
            **scores(fake, self.real, self.clip_frames),
        }, fake


def study_features(features=None, cache: str | os.PathLike | None = "default"):
    """The study's feature function: `features` (default the I3D), cached under `cache` when it names its detector.

    `cache` "default" is $DIGAN_CACHE/study-features; None computes everything.
    """
    if features is None:
        features = I3DFeatures()
    if cache is None or getattr(features, "detector", None) is None:
        return features
    return CachedFeatures(features, cache_dir() / "study-features" if cache == "default" else cache)


def run_dataset(
    cfg: StudyConfig,
    preset: Preset,
    data: str,
    out: Path,
    device: str,
    progress: bool,
    bars: bool = True,
    features=None,
    runs: str | os.PathLike = "runs/study",
    cache: str | os.PathLike | None = "default",
) -> dict:
    """Train on one dataset to each eval point in turn; score each snapshot; write its strip."""
    clip_frames = preset.training.clip_frames
    source = open_dataset(data, preset.resolution, frames_per_video=max(64, 2 * clip_frames))
    run_dir = Path(runs) / f"{data}-{cfg.run_tag()}"
    scorer = Scorer(source, cfg.clips, clip_frames, cfg.seed, study_features(features, cache))
    torch.manual_seed(preset.training.seed)  # the untrained G is the one training starts from
    untrained, _ = scorer(Generator(preset.generator).eval())
    points = []
    for kimg in cfg.eval_points():
        # a run already past this point only resumes to find so, after checking its options match
        info = train(
            preset.replace_training(kimg=kimg, snap_kimg=kimg),
            data,
            runs,
            source=source,
            device=device,
            run_dir=run_dir,
            progress=progress and bars,
            precision=resolve_precision(cfg.precision, device),
        )
        if info.interrupted:  # Ctrl-C or SIGTERM, handled by training after its step: the study stops too
            raise interruption(info.signal)
        G, meta = load_snapshot(snapshot_at(run_dir, math.ceil(kimg * 1000 - 1e-6)), device)
        # from the run's log, not a timer here: a run resumed by an earlier study counts its whole training
        train_s = training_seconds(read_metrics(run_dir / "metrics.jsonl"), meta["clips_seen"] / 1000)
        result, fake = scorer(G)
        points.append({"kimg": meta["clips_seen"] / 1000, "train_s": round(train_s, 1), **result})
        if progress:
            print(
                f"study: {data} {points[-1]['kimg']:g} kimg ({train_s / 60:.1f} min), FVD {result['fvd']:.0f} "
                f"({result['fvd_over_floor']:.2f}x the floor {scorer.floor:.0f}), "
                f"speed x{result['speed_ratio']:.2f}, moving pixels x{result['moving_pixels_ratio']:.2f}",
                flush=True,
            )
    long_t = clip_times(cfg.extrapolate_frames, clip_frames)
    seeds = list(range(min(cfg.strip_seeds, cfg.clips)))  # the first scored seeds, not picked
    long = render_videos(G, seeds, long_t, RenderOptions(batch=len(seeds)))
    strip = frame_strip(list(scorer.real[seeds, :clip_frames]) + list(fake[seeds, :clip_frames]))
    save_png(out / f"{data}-strip.png", strip)
    save_png(out / f"{data}-extrapolation.png", frame_strip(list(long)))
    return {
        "data": data,
        "floor": scorer.floor,
        "untrained": untrained,
        "points": points,
        "strip": f"{data}-strip.png",
        "extrapolation": f"{data}-extrapolation.png",
    }


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def commit() -> str:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                cwd=Path(__file__).parent,
                timeout=10,
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _run_dataset_alone(
    cfg: StudyConfig,
    preset: Preset,
    data: str,
    out: Path,
    device: str,
    threads: int,
    runs: str | os.PathLike,
    cache: str | os.PathLike | None,
) -> dict:
    """One dataset in a worker process with its own share of the cores (see `run_study(jobs=...)`)."""
    keep_freed_memory()  # it trains, as the `digan` command does
    torch.set_num_threads(threads)
    return run_dataset(cfg, preset, data, out, device, progress=True, bars=False, runs=runs, cache=cache)


def run_study(
    cfg: StudyConfig,
    out: str | os.PathLike,
    device: str = "cpu",
    progress: bool = True,
    jobs: int = 1,
    features=None,
    runs: str | os.PathLike = "runs/study",
    cache: str | os.PathLike | None = "default",
) -> dict:
    """Run every dataset of the study and write `results.json`, the plots and `README.md` under `out`.

    `jobs` > 1 trains that many datasets at once in separate processes, each with
    cores / jobs threads: on a small CPU, two one-thread runs finish sooner than
    two two-thread runs in turn, and every figure stays the same function of the
    options (training is deterministic at a fixed thread count per run).
    The training runs go under `runs` (resumable; not part of the report).
    `features` replaces the I3D (a callable uint8 clips -> `[N, D]` features; tests), with `jobs` = 1 only.
    `cache`: where clip features are kept between studies (`study_features`; None: not kept).
    """
    with output_folder(out) as out:  # a study refused or stopped before it wrote anything leaves no empty folder
        return _study(cfg, out, device, progress, jobs, features, runs, cache)


def _study(cfg: StudyConfig, out: Path, device: str, progress: bool, jobs: int, features, runs, cache) -> dict:
    preset = cfg.build_preset()
    start = time.perf_counter()
    jobs = max(1, min(jobs, len(cfg.datasets)))
    threads = max(1, torch.get_num_threads() // jobs)
    results = {
        "config": asdict(cfg),
        "preset": preset.to_dict(),
        "commit": commit(),
        "version": __version__,
        "machine": machine() | {"threads": threads, "jobs": jobs},
        "device": str(device),
        "datasets": [],
    }
    if jobs == 1:
        results["datasets"] = [
            run_dataset(cfg, preset, data, out, device, progress, features=features, runs=runs, cache=cache)
            for data in cfg.datasets
        ]
    else:
        if features is not None:
            raise ValueError("a custom feature extractor (`features`) runs with `jobs` 1 only")
        with ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn"), initializer=start_worker, initargs=(os.getpid(),)
        ) as pool:
            try:
                futures = [
                    pool.submit(_run_dataset_alone, cfg, preset, data, out, device, threads, runs, cache)
                    for data in cfg.datasets
                ]
                results["datasets"] = [f.result() for f in futures]
            except BaseException:  # Ctrl-C, SIGTERM, a failed run: the other runs stop now (they resume next time)
                stop_workers(pool)
                raise
    results["wall_s"] = round(time.perf_counter() - start, 1)
    atomic_write(out / "results.json", lambda p: p.write_text(json.dumps(results, indent=1)))
    write_report(results, out)
    return results


def plot(results: dict, out: Path) -> list[str]:
    """FVD over the floor, and the motion ratios, against kimg; one PNG each. [] without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    names = []
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for d in results["datasets"]:
        ax.plot(
            [0] + [p["kimg"] for p in d["points"]],
            [d["untrained"]["fvd_over_floor"]] + [p["fvd_over_floor"] for p in d["points"]],
            marker="o",
            label=d["data"],
        )
    ax.axhline(1, color="grey", lw=1, ls="--", label="floor (real vs real)")
    ax.set(yscale="log", xlabel="clips seen (kimg)", ylabel="FVD / floor", title="FVD, as a multiple of the floor")
    ax.legend()
    fig.tight_layout()
    atomic_write(out / "fvd.png", lambda p: fig.savefig(p, dpi=100, format="png"))
    names.append("fvd.png")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, key, title in (
        (axes[0], "speed_ratio", "foreground speed"),
        (axes[1], "moving_pixels_ratio", "moving pixels"),
    ):
        for d in results["datasets"]:
            ax.plot(
                [p["kimg"] for p in d["points"]],
                [p[key] for p in d["points"]],
                marker="o",
                label=f"{d['data']}, t in [0, 1]",
            )
            ax.plot(
                [p["kimg"] for p in d["points"]],
                [p[f"extrapolated_{key}"] for p in d["points"]],
                marker="x",
                ls=":",
                label=f"{d['data']}, t in [1, 2]",
            )
        ax.axhline(1, color="grey", lw=1, ls="--")
        ax.axhspan(1 / 1.5, 1.5, color="green", alpha=0.08)
        ax.set(xlabel="clips seen (kimg)", title=f"{title}: generated / real")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    atomic_write(out / "motion.png", lambda p: fig.savefig(p, dpi=100, format="png"))
    names.append("motion.png")
    plt.close("all")
    return names


def write_report(results: dict, out: Path) -> Path:
    """README.md of the study: setup, tables per dataset, plots and strips."""
    cfg, m = results["config"], results["machine"]
    plots = plot(results, out)
    lines = [
        f"# Quality study: `{cfg['preset']}` on {', '.join(cfg['datasets'])}",
        "",
        "Written by `digan study` (src/digan/apps/study.py); rerun it with the command below to reproduce every figure.",
        "",
        "```sh",
        f".venv/bin/digan study --preset {cfg['preset']} --data {','.join(cfg['datasets'])} --kimg {cfg['kimg']:g} "
        + (f"--evals {','.join(format(k, 'g') for k in cfg['evals'])} " if cfg.get("evals") else "")
        + f"--clips {cfg['clips']} --seed {cfg['seed']} --jobs {m.get('jobs', 1)}"
        + "".join(f" --set {s}" for s in cfg.get("sets", ()))
        + (f" --precision {cfg['precision']}" if cfg.get("precision", "float32") != "float32" else "")
        + f" --out {out.as_posix()}",
        "```",
        "",
        f"- commit `{results['commit']}`, digan {results['version']}, torch {m['torch']}, {results['device']}",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['threads']} torch threads; training in "
        f"{cfg.get('precision', 'float32')}, scoring in float32",
        f"- budget: {cfg['kimg']:g} kimg per dataset, seed {cfg['seed']}; wall time of the whole study "
        f"{results['wall_s'] / 60:.1f} min (training, rendering and I3D)",
        f"- FVD: I3D (Kinetics-400), 16-frame clips, {cfg['clips']} generated (seeds 0..{cfg['clips'] - 1}) "
        f"against {cfg['clips']} real clips; the floor is the FVD between two disjoint sets of {cfg['clips']} real clips",
        "- motion check: foreground (difference to the clip's per-pixel median) centroid speed in pixels per "
        "frame, and the share of pixels that change by more than 0.1 between frames (src/digan/metrics/motion.py); "
        '"x" figures are generated over real, 1 is the data',
        "",
    ]
    if plots:
        lines += [" ".join(f"![{p}]({p})" for p in plots), ""]
    for d in results["datasets"]:
        real = d["points"][-1]["motion_real"] if d["points"] else d["untrained"]["motion_real"]
        lines += [
            f"## {d['data']}",
            "",
            f"Floor (real vs real): FVD {d['floor']:.1f}. Real clips: speed {real['speed']:.2f} px/frame, "
            f"{100 * real['moving_pixels']:.2f}% moving pixels, {100 * real['still_clips']:.0f}% still clips.",
            "",
            "| kimg | training time | FVD | x floor | speed x | moving pixels x | still clips | t in [1, 2]: speed x | moving x |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for p, label in [(d["untrained"] | {"kimg": 0, "train_s": 0}, "untrained")] + [(p, None) for p in d["points"]]:
            lines.append(
                f"| {label or format(p['kimg'], 'g')} | {p['train_s'] / 60:.1f} min | {p['fvd']:.0f} | {p['fvd_over_floor']:.2f} "
                f"| {p['speed_ratio']:.2f} | {p['moving_pixels_ratio']:.2f} | {100 * p['motion']['still_clips']:.0f}% "
                f"| {p['extrapolated_speed_ratio']:.2f} | {p['extrapolated_moving_pixels_ratio']:.2f} |"
            )
        lines += [
            "",
            f"Real clips (top {cfg['strip_seeds']} rows) and generated seeds 0..{cfg['strip_seeds'] - 1} "
            f"(bottom rows) at the last point, 16 frames:",
            "",
            f"![{d['data']} strip]({d['strip']})",
            "",
            f"The same seeds over {cfg['extrapolate_frames']} frames (t up to "
            f"{(cfg['extrapolate_frames'] - 1) / 15:.1f}; the training clip ends at frame 16):",
            "",
            f"![{d['data']} extrapolation]({d['extrapolation']})",
            "",
        ]
    path = out / "README.md"
    atomic_write(path, lambda p: p.write_text("\n".join(lines)))
    return path
