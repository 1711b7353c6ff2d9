"""Evaluating a generator under named protocols, and comparing two folders of videos.

The generator enters as a callable `generate(seeds, frames) -> uint8 [N, T, H, W, 3]`:
video seed k gives the same video at any batch size, and frame j of the
result is clip time t = j / (training frames - 1), so `frames` larger than the
training clip length extrapolates in time (fvd2048_128f). Nothing here imports
the networks.

Every result is one JSON-serialisable dict (one line of a .jsonl file) naming
the protocol, the clip counts, frames, stride, resolution, seed, detector and
weights hash, and what was evaluated.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..data.base import DataError, VideoSource, note, warn
from ..data.io import frame_files, iter_frames, list_videos, natural_key, read_frame, read_video, sub_folders
from ..utils.atomic import appending, atomic_save_array, atomic_write
from ..utils.files import json_line
from ..utils.memory import check
from ..version import __version__
from .c3d import inception_score
from .distances import fvd, kvd
from .features import DETECTOR_SIZE, I3DFeatures, extract, features_memory
from .protocols import Protocol, fake_seeds, get_protocol, read_real_clips, real_clip_plan
from .weights import cache_dir

Generate = Callable[[list[int], int], np.ndarray]


def check_videos(videos: np.ndarray, n: int, frames: int) -> np.ndarray:
    videos = np.asarray(videos)
    if videos.dtype != np.uint8 or videos.ndim != 5 or videos.shape[:2] != (n, frames) or videos.shape[-1] != 3:
        raise ValueError(
            f"generate() must return uint8 [{n}, {frames}, H, W, 3], got {videos.dtype} {list(videos.shape)}"
        )
    return videos


def fake_loader(generate: Generate, protocol: Protocol, seeds: Sequence[int]) -> Callable[[Sequence[int]], np.ndarray]:
    """Clips i of a protocol's generated set: `fake_span` frames from t = 0, every `fake_step`-th kept."""

    def load(indices: Sequence[int]) -> np.ndarray:
        batch = [seeds[i] for i in indices]
        videos = check_videos(generate(batch, protocol.fake_span), len(batch), protocol.fake_span)
        load.resolution = videos.shape[2]  # recorded in the result
        return videos[:, :: protocol.fake_step]

    load.resolution = None

    return load


def real_features(
    source: VideoSource,
    protocol: Protocol,
    seed: int,
    trial: int,
    features,
    batch: int = 16,
    progress: bool = True,
    cache: str | os.PathLike | None = None,
    plan: np.ndarray | None = None,
) -> np.ndarray:
    """Features of a trial's real clips, cached on disk per dataset, protocol, seed, trial and detector.
    `plan`: the trial's `real_clip_plan`, when the caller has made it already."""
    plan = real_clip_plan(source, protocol, seed, trial) if plan is None else plan
    key = json.dumps(
        {
            "source": source.describe(),
            "name": source.name,
            "resolution": source.resolution,
            "clips": protocol.feature_key,
            "plan": hashlib.sha256(plan.tobytes()).hexdigest(),
            "detector": features.detector.sha256,
        },
        sort_keys=True,
    )
    path = None
    if cache is not None:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        # Named by the clip parameters, not the metric, so fvd2048_16f and kvd2048_16f share the file.
        clips = (
            f"{protocol.num_real}x{protocol.frames}f-stride{protocol.stride}-{protocol.real_clips}-{protocol.resize}"
        )
        path = Path(cache) / f"{_safe(source.name)}-{clips}-seed{seed}-trial{trial}-{digest}.npy"
        if path.is_file():
            return np.load(path)
    feats = extract(
        len(plan),
        lambda idx: read_real_clips(source, protocol, plan[list(idx)]),
        features,
        protocol.resize,
        batch,
        f"{protocol.name} real" if progress else None,
    )
    if path is not None:
        atomic_save_array(path, feats)
    return feats


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:64]


def _summary(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values))


def resolve_protocols(metrics: Sequence[str], real_stride: int | None = None) -> list[Protocol]:
    """The protocols of metric names, with real clips read `real_stride` frames apart when that is given."""
    protocols = [get_protocol(m) for m in metrics]
    if real_stride is not None:
        protocols = [replace(p, stride=real_stride, fake_stride=p.fake_step) for p in protocols]
    return protocols


def real_plans(source: VideoSource | None, protocols: Sequence[Protocol], seed: int) -> dict[tuple, np.ndarray]:
    """Every trial's real clips of every FVD and KVD protocol, planned from the videos' lengths alone (no frame
    is read), keyed by (feature key, trial).

    The check that the real data can serve the protocols, made before anything is generated: a DataError when
    no video is long enough or fewer than 2 clips can be drawn (FVD needs a covariance), a warning when fewer
    clips than the protocol's count can be drawn (the number is then not comparable to published ones).
    """
    plans: dict[tuple, np.ndarray] = {}
    for p in protocols:
        if p.statistic == "is":
            continue
        if source is None:
            raise DataError("FVD and KVD need real videos (`data`)")
        for trial in range(p.trials):
            key = (p.feature_key, trial)
            if key not in plans:
                plans[key] = real_clip_plan(source, p, seed, trial)
        n = min(len(plans[p.feature_key, trial]) for trial in range(p.trials))
        if n < 2:
            raise DataError(
                f"{p.name}: {source.name} gives {n} real clip{'' if n == 1 else 's'} of "
                f"{p.span} frames; FVD and KVD need at least 2 (and published numbers {p.num_real})"
            )
        if n < p.num_real:
            warn(
                f"{p.name}: {source.name} gives only {n} real clips of {p.num_real}; "
                "the number is not comparable to published ones"
            )
    return plans


def evaluate(
    generate: Generate,
    source: VideoSource | None,
    metrics: Sequence[str],
    seed: int = 0,
    features=None,
    c3d=None,
    batch: int = 16,
    progress: bool = True,
    cache: str | os.PathLike | None = "default",
    info: dict | None = None,
    real_stride: int | None = None,
    plans: dict[tuple, np.ndarray] | None = None,
) -> list[dict]:
    """One result dict per metric name (see protocols.PROTOCOLS).

    `features`: an I3DFeatures (loaded on demand); `c3d`: a c3d.C3DProbabilities,
    required by IS metrics; `cache`: where real features are kept ("default":
    $DIGAN_CACHE/real-features, None: not cached); `info`: extra keys for every
    result, such as {"snapshot": path}; `real_stride`: read real clips with this
    frame step instead of the protocol's (for data whose frame rate differs from
    the generator's; recorded as "stride"); `plans`: `real_plans` of these protocols, made by the caller.
    The real data is checked (`real_plans`) before any clip is generated.
    """
    protocols = resolve_protocols(metrics, real_stride)
    plans = real_plans(source, protocols, seed) if plans is None else plans
    if any(p.statistic != "is" for p in protocols):
        features = I3DFeatures(batch=batch) if features is None else features
        frames = max(p.frames for p in protocols if p.statistic != "is")
        clips = min(batch, max(max(p.num_real, p.num_fake) for p in protocols))  # a batch holds at most them all
        check(
            f"features of {frames}-frame clips in batches of {clips}",
            *features_memory(clips, frames, max(source.resolution, DETECTOR_SIZE) ** 2),
            str(getattr(features, "device", "cpu")),
        )
    if any(p.statistic == "is" for p in protocols) and c3d is None:
        raise DataError("IS needs the TGAN C3D files conv3d_deepnetA_ucf.npz and mean2.npz (`c3d`, `c3d_mean`)")
    cache = cache_dir() / "real-features" if cache == "default" else cache
    fake_cache: dict[tuple, tuple] = {}  # metrics with equal feature keys share clips and features
    real_cache: dict[tuple, np.ndarray] = {}
    results = []
    for p in protocols:
        start = time.time()
        if p.statistic == "is":
            results.append(_inception(generate, p, seed, c3d, batch, progress) | (info or {}))
            continue
        if p.feature_key not in fake_cache:
            loader = fake_loader(generate, p, fake_seeds(p, seed))
            fake = extract(p.num_fake, loader, features, p.resize, batch, f"{p.name} generated" if progress else None)
            fake_cache[p.feature_key] = fake, loader.resolution
        fake, fake_resolution = fake_cache[p.feature_key]
        fvds, kvds, n_real = [], [], []
        for trial in range(p.trials):
            if (p.feature_key, trial) not in real_cache:
                real_cache[p.feature_key, trial] = real_features(
                    source, p, seed, trial, features, batch, progress, cache, plans[p.feature_key, trial]
                )
            real = real_cache[p.feature_key, trial]
            n_real.append(len(real))
            if "fvd" in p.statistic:
                fvds.append(fvd(real, fake, unbiased=p.unbiased))
            if "kvd" in p.statistic:
                kvds.append(kvd(real, fake))
        result = {"metric": p.name}
        for name, values in (("fvd", fvds), ("kvd", kvds)):
            if values:
                result[name], std = _summary(values)
                if p.trials > 1:
                    result[f"{name}_std"], result[f"{name}_trials"] = std, values
        result["value"] = result["fvd" if fvds else "kvd"]
        result |= _metadata(p, seed, features.detector, min(n_real), len(fake), source.resolution)
        result |= {
            "fake_resolution": fake_resolution,
            "data": source.describe(),
            "time_s": round(time.time() - start, 1),
        } | (info or {})
        results.append(result)
    return results


def _metadata(p: Protocol, seed: int, detector, n_real: int, n_fake: int, resolution: int | None) -> dict:
    return {
        "protocol": p.name,
        "num_real": n_real,
        "num_fake": n_fake,
        "frames": p.frames,
        "stride": p.stride,
        "fake_stride": p.fake_step,
        "resolution": resolution,
        "detector_resolution": DETECTOR_SIZE if p.statistic != "is" else 112,
        "resize": p.resize,
        "real_clips": p.real_clips,
        "covariance": ("unbiased" if p.unbiased else "biased") if "fvd" in p.statistic else None,
        "trials": p.trials,
        "seed": seed,
        **detector.as_dict(),
        "digan_version": __version__,
    }


def _inception(generate: Generate, p: Protocol, seed: int, c3d, batch: int, progress: bool) -> dict:

    start, draws = time.time(), []
    for trial in range(p.trials):
        loader = fake_loader(generate, p, fake_seeds(p, seed, trial))
        probs = extract(p.num_fake, loader, c3d, p.resize, batch, f"{p.name} draw {trial}" if progress else None)
        draws.append(inception_score(probs, p.splits))
    # TGANv2: mean and std over draws; StyleGAN-V (one draw, 10 splits): over splits.
    mean, std = _summary([d[0] for d in draws]) if p.trials > 1 else draws[0]
    return {
        "metric": p.name,
        "is": mean,
        "is_std": std,
        "value": mean,
        "splits": p.splits,
        **_metadata(p, seed, c3d.detector, 0, p.num_fake, loader.resolution),
        "time_s": round(time.time() - start, 1),
    }


def write_jsonl(path: str | os.PathLike, results: Sequence[dict]) -> None:
    """Append results, one strict JSON object per line (a figure that could not be computed is null)."""
    with appending(path) as f:
        for r in results:
            f.write(json_line(r) + "\n")


_QUICK: dict = {}


def quick_fvd(
    generate: Generate,
    source: VideoSource,
    n_clips: int = 64,
    frames: int = 16,
    seed: int = 0,
    features=None,
    stride: int = 1,
) -> dict:
    """A cheap FVD and KVD for periodic checks during training (protocol fvd{n}_{frames}f).

    Original definition (unbiased covariance), one random clip per real video,
    real frames `stride` apart (the training clip stride), generated frames consecutive.
    With few clips FVD is strongly biased upwards: compare it only with itself.
    The detector and the real features are kept in memory between calls.
    """
    p = Protocol(
        f"fvd{n_clips}_{frames}f",
        "fvd+kvd",
        n_clips,
        n_clips,
        frames,
        stride=stride,
        fake_stride=1,
        reference="digan: cheap periodic check during training, not comparable to published numbers",
    )
    if features is None:
        features = _QUICK.get("features") or _QUICK.setdefault("features", I3DFeatures())
    key = (id(source), source.describe(), p.feature_key, seed, features.detector.sha256)
    if key not in _QUICK:
        _QUICK[key] = real_features(source, p, seed, 0, features, progress=False, cache=None)
    real = _QUICK[key]
    start = time.time()
    fake = extract(p.num_fake, fake_loader(generate, p, fake_seeds(p, seed)), features, p.resize)
    return {
        "metric": p.name,
        "fvd": fvd(real, fake),
        "kvd": kvd(real, fake),
        **_metadata(p, seed, features.detector, len(real), len(fake), source.resolution),
        "time_s": round(time.time() - start, 1),
    }


# What `digan generate` and `digan interpolate` write beside the samples: grids, comparison strips, walks.
GENERATED_EXTRAS = re.compile(r"^(grid|grid-compare|.+-compare|interp-(content|motion|both)-(grid|video))$")
GENERATED_SAMPLE = re.compile(r"^seed\d+(-motion\d+)?$")


AGREE_LUMA = 12.0  # copies agree when every compared frame differs by less than this (of 255; `same_video`)


def _preference(video: Path) -> int:
    """Which copy of a video FVD reads when several formats of one render share a name: PNG frames (lossless),
    then MP4, other files, and GIF last (256 colours)."""
    if video.is_dir():
        return 0
    suffix = video.suffix.lower()
    return {".mp4": 1, ".gif": 3}.get(suffix, 2)


def _luma(frames: np.ndarray) -> np.ndarray:
    """Luma of uint8 `[T, H, W, 3]` frames averaged over 2x2 blocks: `[T, H/2, W/2]` float32. What a lossy copy
    keeps: H.264 in yuv420p halves the chroma resolution, and a GIF's palette dithers neighbouring pixels."""
    y = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    t, h, w = y.shape
    return y[:, : h // 2 * 2, : w // 2 * 2].reshape(t, h // 2, 2, w // 2, 2).mean(axis=(2, 4))


def same_video(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether uint8 `[T, H, W, 3]` `a` and `b` are copies of one render in different formats.

    Their sizes agree up to the pixel an MP4 pads an odd size with, and on their common frames the mean
    difference of 2x2-block luma stays below AGREE_LUMA on every frame. Measured: PNG against MP4 or GIF
    copies of one render differ by at most 6 (per-pixel noise: 4); another seed or snapshot by 60 to 130.
    """
    n = min(len(a), len(b))
    (h1, w1), (h2, w2) = a.shape[1:3], b.shape[1:3]
    if n == 0 or abs(h1 - h2) > 1 or abs(w1 - w2) > 1:
        return False
    h, w = min(h1, h2), min(w1, w2)
    diff = np.abs(_luma(a[:n, :h, :w]) - _luma(b[:n, :h, :w])).mean(axis=(1, 2))
    return bool((diff < AGREE_LUMA).all())


def _modified(path: Path) -> float:
    """When a copy was written: a file's time, or the newest of a frame folder's frames."""
    times = [path.stat().st_mtime] + ([f.stat().st_mtime for f in frame_files(path)] if path.is_dir() else [])
    return max(times)


def _one_render(stem: str, copies: list[Path], frames: int, root: Path) -> Path:
    """The copy FVD reads among `copies` of one video (the best format), after checking that they show one
    render: copies that show different videos are a DataError naming the newest (a folder of samples holds
    one render of each video; which of two the user meant, no rule can tell)."""
    copies = sorted(copies, key=_preference)
    if len(copies) == 1:
        return copies[0]
    shown = [read_video(c, max_frames=frames) for c in copies]
    for other, video in zip(copies[1:], shown[1:]):
        if not same_video(shown[0], video):
            newest = max(copies, key=_modified)
            names = ", ".join(c.relative_to(root).as_posix() + ("/" if c.is_dir() else "") for c in copies)
            raise DataError(
                f"{root}: the copies of {stem} ({names}) show different videos, so they are not one "
                f"render; the newest is {newest.name}: remove the others (or render again into an "
                "empty folder)"
            )
    return copies[0]


def sample_videos(root: str | os.PathLike, frames: int = 16, recursive: bool = False) -> tuple[list[Path], str]:
    """One video per sample in `root`, and a note of what was left out ('' when nothing was).

    The rule of docs/evaluation.md, "Which files count": the video files and frame folders directly in `root`
    (and with `recursive`, in every sub-folder), each file once however many links lead to it (`list_videos`).
    Copies of one video in several formats (`seed0003.mp4`, `.gif` and the frame folder `seed0003/`) count
    once, the best format read, after checking on their first `frames` frames that they show the same video
    (`same_video`; copies of different renders are a DataError). In a folder of `digan generate` samples
    (`seedNNNN` names), the grids and comparison strips written beside them are not samples and are left out.
    """
    root = Path(root)
    copies: dict[str, list[Path]] = {}
    for v in list_videos(root, recursive=recursive):
        rel = v.relative_to(root)
        copies.setdefault((rel if v.is_dir() else rel.with_suffix("")).as_posix(), []).append(v)
    generated = any(GENERATED_SAMPLE.match(Path(stem).name) for stem in copies)
    extras = sorted(stem for stem in copies if generated and GENERATED_EXTRAS.match(Path(stem).name))
    videos, duplicates = [], 0
    for stem, found in copies.items():
        if stem in extras:
            continue
        videos.append(_one_render(stem, found, frames, root))
        duplicates += len(found) - 1
    videos.sort(key=lambda p: natural_key(p.relative_to(root).as_posix()))
    left_out = []
    if duplicates:
        left_out.append(f"{duplicates} copies in other formats")
    if extras:
        left_out.append(
            f"{len(extras)} grids and comparison videos ({', '.join(extras[:3])}{', ...' if len(extras) > 3 else ''})"
        )
    skipped = [] if recursive else sub_folders(root)
    if skipped:
        names = ", ".join(d.name for d in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        left_out.append(
            f"{len(skipped)} sub-folder{'s' if len(skipped) > 1 else ''} ({names}; digan fvd "
            "--recursive counts the videos in sub-folders)"
        )
    return videos, (f"{root}: {len(videos)} videos; left out {' and '.join(left_out)}" if left_out else "")


def folder_clips(
    root: str | os.PathLike, frames: int, report: bool = True, recursive: bool = False
) -> tuple[list[Path], Callable[[Sequence[int]], list[np.ndarray]]]:
    """Videos in a folder (files or frame folders, one per sample: `sample_videos`), checked to hold
    `frames` frames, and a loader of those frames. `report`: say on stderr what was left out."""

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    videos, left_out = sample_videos(root, frames, recursive)
    if len(videos) < 2:
        raise DataError(
            f"{root}: FVD needs at least 2 videos (video files or frame folders), found {len(videos)}"
            + (f" ({left_out.split('; ', 1)[1]})" if left_out else "")
        )
    pixels = 0  # the largest frame read, for the memory check of a batch
    for v in videos:  # fail before any feature is computed
        if v.is_dir():
            files = frame_files(v)
            n = len(files)
            if files:
                h, w = read_frame(files[0]).shape[:2]
                pixels = max(pixels, h * w)
        else:
            n = 0
            for frame in iter_frames(v, frames):
                n += 1
                pixels = max(pixels, frame.shape[0] * frame.shape[1])
        if n < frames:
            raise DataError(f"{v}: {n} frames, fewer than `frames` {frames}")
    if left_out and report:
        note(left_out)

    def load(indices: Sequence[int]) -> list[np.ndarray]:
        return [read_video(videos[i], max_frames=frames) for i in indices]

    load.pixels = pixels  # read by folder_distance's memory check
    return videos, load


def save_features(path: str | os.PathLike, feats: np.ndarray, detector, frames: int, source: str) -> Path:
    """Features of a set of videos as .npz, with what produced them; `digan fvd` reads it in place of a folder."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
            np.savez(
                f,
                features=feats,
                detector=detector.name,
                detector_sha256=detector.sha256,
                frames=frames,
                source=str(source),
            )

    return atomic_write(path, write)


def load_features(path: str | os.PathLike, detector, frames: int, dim: int | None = None) -> np.ndarray:
    """Features saved by `save_features`, checked to come from the same detector weights and frame count, and to
    be usable: float `[clips >= 2, dim]`, all finite."""
    try:
        with np.load(path, allow_pickle=False) as z:
            feats, sha, saved_frames = z["features"], str(z["detector_sha256"]), int(z["frames"])
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else "empty or cut short"
        raise DataError(
            f"{path}: not a features file written by `digan fvd --save-features` ({type(e).__name__}: {reason[:200]})"
        ) from None
    if sha != detector.sha256:
        raise DataError(f"{path}: features of other detector weights ({sha[:12]}, not {detector.sha256[:12]})")
    if saved_frames != frames:
        raise DataError(f"{path}: features of {saved_frames}-frame clips, not `frames` {frames}")
    if feats.ndim != 2 or feats.dtype.kind != "f" or (dim is not None and feats.shape[1] != dim):
        raise DataError(
            f"{path}: features must be floats [clips, {dim or 'dims'}], got {feats.dtype} {list(feats.shape)}"
        )
    if len(feats) < 2:
        raise DataError(f"{path}: features of {len(feats)} clip{'' if len(feats) == 1 else 's'}; FVD needs at least 2")
    if not np.isfinite(feats).all():
        raise DataError(f"{path}: features hold NaN or inf")
    return feats


def is_features_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix == ".npz" and Path(path).is_file()


def folder_distance(
    dir_a,
    dir_b,
    frames: int = 16,
    features=None,
    batch: int = 16,
    progress: bool = True,
    save: str | os.PathLike | None = None,
    recursive: bool = False,
) -> dict:
    """FVD (original definition, unbiased covariance) and KVD between two folders of videos.

    Each video contributes its first `frames` frames, resized to 224x224 ignoring aspect;
    a folder gives one video per sample (`sample_videos`; `recursive`: its sub-folders' videos too).
    Either argument may instead be a .npz of features saved earlier (`save`: a
    directory that receives a.npz and b.npz). With fewer clips a side than the
    features have dimensions (400 for I3D), the covariances are singular and
    both numbers are dominated by sampling noise: a warning says so.
    """
    if frames < 9:
        raise DataError(f"`frames` {frames}: I3D needs at least 9 frames")
    sets = [
        None if is_features_file(root) else folder_clips(root, frames, recursive=recursive) for root in (dir_a, dir_b)
    ]
    features = I3DFeatures(batch=batch) if features is None else features
    pixels = max([clips[1].pixels for clips in sets if clips is not None], default=0)
    if pixels:  # a batch holds at most every clip of a side
        clips = min(batch, max(len(videos) for videos, _ in (s for s in sets if s is not None)))
        check(
            f"features of {frames}-frame clips in batches of {clips}",
            *features_memory(clips, frames, pixels),
            str(getattr(features, "device", "cpu")),
        )
    dim = getattr(features, "dim", None)
    feats = {
        name: load_features(root, features.detector, frames, dim)  # every check before any feature is computed
        for name, root, clips in zip("ab", (dir_a, dir_b), sets)
        if clips is None
    }
    for name, root, clips in zip("ab", (dir_a, dir_b), sets):
        if clips is None:
            continue
        videos, load = clips
        feats[name] = extract(len(videos), load, features, "stretch", batch, name.upper() if progress else None)
        if save is not None:
            save_features(Path(save) / f"{name}.npz", feats[name], features.detector, frames, root)
    a, b = feats["a"], feats["b"]
    if a.shape[1] != b.shape[1]:
        raise DataError(f"features of {a.shape[1]} and {b.shape[1]} dimensions cannot be compared")
    if min(len(a), len(b)) <= a.shape[1]:
        warn(
            f"FVD and KVD of {len(a)} vs {len(b)} videos: with no more clips than the {a.shape[1]} feature "
            "dimensions the covariances are singular and both numbers are mostly sampling noise (published "
            "FVDs use 2048 a side); compare only numbers of equal clip counts"
        )
    p = Protocol(f"folders_{frames}f", "fvd+kvd", len(a), len(b), frames, reference="TF-GAN FVD, first frames")
    meta = _metadata(p, 0, features.detector, len(a), len(b), None)
    for k in ("num_real", "num_fake", "resolution", "seed", "trials", "real_clips"):
        meta.pop(k)
    return {
        "fvd": fvd(a, b),
        "kvd": kvd(a, b),
        "n_a": len(a),
        "n_b": len(b),
        **meta,
        "dir_a": str(dir_a),
        "dir_b": str(dir_b),
    }
