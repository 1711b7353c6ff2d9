"""A model to share: a snapshot as a model folder in the huggingface_hub layout, with its model card.

`share(ckpt, out)` writes `out/config.json` and `out/model.safetensors`
(`digan.checkpoint.save_pretrained`), sample GIFs under `out/samples/`, and
`out/README.md`, the card: what the model is, what it was trained on, how long
and on what, the FVD and KVD lines logged during training (metrics.jsonl) or
evaluated (`digan evaluate --jsonl`) with their protocol names, the weights'
SHA-256, and a licence left for the user to state. Only what was recorded goes
in: a figure the run did not log is said to be missing, never estimated. A
converted authors' model's card says which file it came from and what was and
was not verified.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..checkpoint import CARD_NAME, CONFIG_NAME, MODEL_NAME, CheckpointError, load_snapshot, save_pretrained
from ..config import Preset
from ..sampling.files import VideoRequest, generate
from ..sampling.options import RenderOptions
from ..timebase import DEFAULT_TRAIN_FPS
from ..training.run import read_metrics, read_options, training_seconds
from ..utils.atomic import atomic_folder, atomic_write
from ..utils.files import sha256_file
from ..version import __version__

SAMPLES = "samples"
SCORE = re.compile(r"^(fvd|kvd)\d+_\d+f$")  # the periodic FVD and KVD keys of metrics.jsonl (`train --fvd-clips`)


@dataclass
class Score:
    """One figure of the card: a metric under a named protocol, and where it was computed."""

    metric: str  # the protocol's name, e.g. fvd2048_16f or kvd64_16f
    statistic: str  # FVD, KVD or IS
    value: float
    clips: str  # real / generated clips, as recorded
    by: str  # which command computed it, and from which file


@dataclass
class Shared:
    """What `share` wrote and what its card says."""

    out: Path
    sha256: str  # of model.safetensors
    scores: list[Score]
    left_out: dict[str, int] = field(default_factory=dict)  # evaluated lines of other snapshots, per file
    samples: list[Path] = field(default_factory=list)


def share(
    ckpt: str | os.PathLike,
    out: str | os.PathLike,
    *,
    jsonl: Sequence[str | os.PathLike] = (),
    seeds: Sequence[int] = tuple(range(8)),
    license: str | None = None,
    force: bool = False,
    device: str = "cpu",
    render: RenderOptions = RenderOptions(),
    progress: bool | None = None,
) -> Shared:
    """Write the model folder of the snapshot `ckpt` (anything `load_snapshot` takes) to `out`.

    `jsonl`: result files of `digan evaluate --jsonl`; their lines of this snapshot (same SHA-256, or same
    path for lines written before evaluate recorded it) go on the card. `seeds`: the sample GIFs, one training
    clip each, and their grid. `license`: the card's licence (an SPDX identifier such as mit, or other); None
    leaves the field for the user. `out` must be new, empty or a model folder (replaced only with `force`);
    it is written under a temporary name and renamed when complete.
    """
    out = Path(out)
    check_out(out, force)
    G, meta = load_snapshot(ckpt, device)
    weights = Path(meta["path"])
    facts = RunFacts.of(meta)
    snapshot_sha = sha256_file(weights)
    scores = facts.logged_scores()
    left_out: dict[str, int] = {}
    for path in jsonl:
        found, others = evaluated_scores(path, weights, snapshot_sha)
        scores += found
        if others:
            left_out[str(path)] = others
    request = VideoRequest(seeds=tuple(seeds), formats=("gif",), grid=len(seeds) > 1, render=render)

    def write(folder: Path) -> Shared:
        save_pretrained(G, meta, folder)
        sha = sha256_file(folder / MODEL_NAME)
        written = generate(G, meta, folder / SAMPLES, request, progress=progress)
        samples = [p.relative_to(folder) for p in written.paths]
        card = model_card(facts, sha, snapshot_sha, weights.name, scores, left_out, samples, request, license)
        atomic_write(folder / CARD_NAME, lambda p: p.write_text(card))
        return Shared(out, sha, scores, left_out, [out / p for p in samples])

    return atomic_folder(out, write)


def check_out(out: Path, force: bool) -> None:
    """`out` is new, empty, or a model folder to replace with `force`; anything else is refused in one line."""
    if not out.exists():
        return
    if not out.is_dir():
        raise CheckpointError(f"{out}: `out` is a file, not a folder")
    if not any(out.iterdir()):
        return
    if not (out / CONFIG_NAME).is_file():
        raise CheckpointError(f"{out}: `out` holds files that are not a model folder; give a new or empty folder")
    if not force:
        raise CheckpointError(f"{out}: `out` already holds a model folder; give `force` to replace it")


# ---------------------------------------------------------------- what the run recorded


@dataclass
class RunFacts:
    """What the snapshot and the run directory beside it recorded about training (None: not recorded)."""

    meta: dict
    preset: Preset
    kimg: float
    options: dict | None  # training_options.json
    records: list[dict]  # metrics.jsonl up to this snapshot

    @classmethod
    def of(cls, meta: dict) -> "RunFacts":
        run_dir = Path(meta["path"]).parent
        kimg = (meta.get("clips_seen") or 0) / 1000
        options = read_options(run_dir)
        records = [r for r in read_metrics(run_dir / "metrics.jsonl") if r["kimg"] <= kimg + 1e-9]
        return cls(meta, Preset.from_dict(meta["preset"]), kimg, options, records)

    @property
    def source(self) -> dict | None:
        """A converted authors' model's origin (`digan.authors`), None for this project's runs."""
        source = self.meta.get("source")
        return source if isinstance(source, dict) else None

    def name(self) -> str:
        """The data's name, short: a folder's name rather than its path on the machine that trained (the authors'
        path as their file records it: a folder's name alone, often `train`, would say little)."""
        if self.source is not None:
            kwargs = self.source.get("training_set_kwargs") or {}
            return str(kwargs.get("path") or kwargs.get("class_name") or "unrecorded data")
        data = self.meta.get("data") or (self.options or {}).get("data")
        return Path(str(data)).name if data else "unrecorded data"

    def data(self) -> str:
        """The data's name and, where the run recorded it, what it held."""
        kwargs = (self.source or {}).get("training_set_kwargs") or {}
        if not (
            kwargs.get("path") or kwargs.get("class_name") or self.meta.get("data") or (self.options or {}).get("data")
        ):
            return "not recorded in the authors' file" if self.source else "not recorded"
        described = None if self.source else (self.options or {}).get("dataset")
        return f"{self.name()} ({described})" if described else self.name()

    def seconds(self) -> float | None:
        """Training time up to this snapshot, from the log's clips per second; None when the log has none."""
        if not any(r.get("clips_per_s") for r in self.records):
            return None
        return training_seconds(self.records, self.kimg)

    def devices(self) -> list[str]:
        return list(dict.fromkeys(r["device"] for r in self.records if isinstance(r.get("device"), str)))

    def logged_scores(self) -> list[Score]:
        """The periodic FVD and KVD of this snapshot, as metrics.jsonl logged them at its kimg."""
        at = [r for r in self.records if abs(r["kimg"] - self.kimg) < 1e-9]
        if not at:
            return []
        scores = []
        for key, value in at[-1].items():  # a rewritten line: the last
            if SCORE.match(key) and isinstance(value, (int, float)):
                n = key.split("_")[0][3:]
                scores.append(
                    Score(
                        key,
                        key[:3].upper(),
                        float(value),
                        f"{n} / {n}",
                        f"`train --fvd-clips` at {self.kimg:g} kimg (metrics.jsonl): a periodic check, "
                        "comparable only with itself",
                    )
                )
        return scores


def evaluated_scores(path: str | os.PathLike, weights: Path, sha256: str) -> tuple[list[Score], int]:
    """The lines of a `digan evaluate --jsonl` file that are of this snapshot, and how many are of others."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the `jsonl` file ({e.strerror or e})") from None
    found, others = [], 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            if not isinstance(r, dict) or not isinstance(r.get("metric"), str):
                raise ValueError("no metric")
        except ValueError:
            raise CheckpointError(f"{path}:{number}: not a result line of digan evaluate (`jsonl`)") from None
        if r.get("snapshot_sha256") != sha256 and not same_file(r.get("snapshot"), weights):
            others += 1
            continue
        detector = f", {r['detector']} {str(r.get('detector_sha256', ''))[:12]}".rstrip() if r.get("detector") else ""
        by = (
            f"`digan evaluate` ({path.name}; data {r.get('dataset') or r.get('data') or '?'}, seed "
            f"{r.get('seed', '?')}{detector}, digan {r.get('digan_version', '?')})"
        )
        for key in ("fvd", "kvd", "is"):  # digan-paper gives FVD and KVD on one line
            if isinstance(r.get(key), (int, float)):
                clips = (
                    f"{r.get('num_real', '?')} / {r.get('num_fake', '?')}"
                    if key != "is"
                    else f"0 / {r.get('num_fake', '?')}"
                )
                found.append(Score(r["metric"], key.upper(), float(r[key]), clips, by))
    return found, others


def same_file(recorded, weights: Path) -> bool:
    try:
        return isinstance(recorded, str) and Path(recorded).resolve() == weights.resolve()
    except OSError:
        return False


# ---------------------------------------------------------------- the card


def model_card(
    facts: RunFacts,
    sha256: str,
    snapshot_sha256: str,
    snapshot_file: str,
    scores: list[Score],
    left_out: dict[str, int],
    samples: list[Path],
    request: VideoRequest,
    license: str | None,
) -> str:
    """README.md of a model folder: YAML front matter for the hub, then the facts in tables."""
    meta, preset, source = facts.meta, facts.preset, facts.source
    r = preset.generator.resolution
    fps = meta.get("train_fps")
    front = ["---", "library_name: digan", "tags:", "- video-generation", "- gan", "- digan"]
    front.append(
        f"license: {license}"
        if license
        else "# license: state it here (an SPDX identifier such as mit or cc-by-4.0, or other); "
        "the data's terms may bind it"
    )
    lines = front + ["---", "", f"# DIGAN {preset.name} on {facts.name()}", ""]
    kind = "converted from the DIGAN authors' released training code" if source else "trained with digan"
    lines += [
        f"A DIGAN video generator (Yu et al., ICLR 2022; the EMA generator `G_ema`), {kind}. It renders "
        f"{r}x{r} frames at any time t (t = 0..1 is one {meta['clip_frames']}-frame training clip) and, "
        f"like every model of the digan library, other lengths, frame rates and sizes.",
        "",
    ]
    if samples:
        grid = next((p for p in samples if p.stem == "grid"), samples[0])
        lines += [
            f"![samples]({grid.as_posix()})",
            "",
            f"{'Seeds' if len(request.seeds) > 1 else 'Seed'} {seeds_text(request.seeds)}: one training clip each ({meta['clip_frames']} frames at "
            f"{fps or DEFAULT_TRAIN_FPS:g} fps), rendered by `digan share` at the training size: "
            + ", ".join(f"[{p.name}]({p.as_posix()})" for p in samples)
            + ".",
            "",
        ]
    lines += [
        "## Use",
        "",
        "```sh",
        "pip install 'digan[hub]'",
        "digan generate --ckpt ./this-folder --out samples --seeds 0-15 --seconds 4",
        "```",
        "",
        "```python",
        "from digan import from_pretrained, render_video",
        "from digan.timebase import Timebase",
        "",
        'G, meta = from_pretrained("owner/name")    # this repository on the hub, or this folder',
        "video = render_video(G, 3, Timebase.from_meta(meta).times(frames=64))  # uint8 [64, H, W, 3]",
        "```",
        "",
    ]
    lines += ["## Training", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in training_rows(facts, sha256, snapshot_sha256, snapshot_file)]
    lines.append("")
    if source is not None:
        lines += origin_section(source)
    lines += ["## Scores", ""]
    if scores:
        lines += ["| metric | statistic | value | clips (real / generated) | computed by |", "|---|---|---|---|---|"]
        lines += [f"| {s.metric} | {s.statistic} | {s.value:.6g} | {s.clips} | {s.by} |" for s in scores]
        lines += [
            "",
            "The protocol's name fixes the clips, frames, resize and detector (digan's "
            "docs/evaluation.md); figures of different protocols do not compare.",
        ]
    else:
        logged = (
            "the authors' file records none"
            if source
            else "none was logged during training for this snapshot (`digan train --fvd-clips`)"
        )
        lines.append(
            f"No scores: {logged}, and none was evaluated for it (`digan evaluate --jsonl FILE`, then "
            "`digan share --jsonl FILE`). This card states none rather than estimate one."
        )
    for path, count in left_out.items():
        lines += [
            "",
            f"{count} line{'s' if count > 1 else ''} of {Path(path).name} "
            f"{'are' if count > 1 else 'is'} of other snapshots and {'were' if count > 1 else 'was'} left out.",
        ]
    lines += ["", "## Licence", ""]
    if license:
        lines.append(f"{license}, as stated by whoever shared this model.")
    else:
        lines.append(
            "Not stated: fill in the `license:` line at the top. The weights were learnt from "
            f"{facts.data()}; its terms may limit how they can be used"
            + (", and the authors' repository states its own." if source else ".")
        )
    lines.append("")
    return "\n".join(lines)


def seeds_text(seeds: Sequence[int]) -> str:
    """0-7 for 0..7, 1,4,9 otherwise: the way `--seeds` reads them."""
    groups: list[list[int]] = []
    for seed in seeds:
        if groups and seed == groups[-1][-1] + 1:
            groups[-1].append(seed)
        else:
            groups.append([seed])
    return ",".join(f"{g[0]}-{g[-1]}" if len(g) > 2 else ",".join(map(str, g)) for g in groups)


def training_rows(facts: RunFacts, sha256: str, snapshot_sha256: str, snapshot_file: str) -> list[tuple[str, str]]:
    meta, preset, source, options = facts.meta, facts.preset, facts.source, facts.options or {}
    r = preset.generator.resolution
    fps = meta.get("train_fps")
    unrecorded = "not recorded in the authors' file" if source else "not recorded"
    rows = [
        ("data", facts.data()),
        ("preset", preset.name),
        ("resolution", f"{r}x{r}"),
        (
            "clip",
            f"{meta['clip_frames']} frames"
            + (f" at {fps:g} fps" if fps else f" (frame rate {unrecorded}; digan assumes {DEFAULT_TRAIN_FPS:g} fps)"),
        ),
        ("kimg", f"{facts.kimg:g}" if meta.get("clips_seen") is not None else unrecorded),
    ]
    seconds = facts.seconds()
    if seconds is None:
        rows.append(("training time", unrecorded + ("" if source else " (no metrics.jsonl beside the snapshot)")))
    else:
        hours = f" ({seconds / 3600:.1f} h)" if seconds >= 3600 else ""
        rows.append(
            (
                "training time",
                f"{seconds:.1f} s{hours}, summed from metrics.jsonl (clips / clips per s "
                "of each snapshot; writing snapshots and samples not counted)",
            )
        )
    devices = facts.devices()
    rows.append(
        (
            "device",
            "; ".join(devices)
            if devices
            else unrecorded + ("" if source else " (metrics.jsonl of digan 0.2.0 and before does not log it)"),
        )
    )
    if options.get("precision"):
        rows.append(("precision", options["precision"]))
    if not source:
        rows += [("batch", str(preset.training.batch)), ("seed", str(preset.training.seed))]
    if options.get("init"):
        init = options["init"]
        rows.append(
            ("started from", f"`{Path(str(init.get('path'))).name}`, SHA-256 `{init.get('sha256')}` (`train --init`)")
        )
    rows.append(("weights", f"`{MODEL_NAME}`, SHA-256 `{sha256}`"))
    same = "the same bytes" if sha256 == snapshot_sha256 else f"SHA-256 `{snapshot_sha256}`"
    rows.append(("snapshot", f"`{snapshot_file}` ({same})"))
    rows.append(("digan", f"snapshot written by {meta.get('version', '?')}, this folder by {__version__}"))
    return rows


def origin_section(source: dict) -> list[str]:
    kwargs = json.dumps(source.get("training_set_kwargs") or {}, indent=2, sort_keys=True)
    kimg = source.get("kimg")
    return [
        "## Where it came from",
        "",
        f"The DIGAN authors' `{source.get('file')}` (SHA-256 `{source.get('sha256')}`"
        + (f", {kimg} kimg by its name" if kimg is not None else "")
        + "), a network-snapshot pickle of their training code (github.com/sihyun-yu/digan), converted by "
        "`digan convert`: read as data, nothing in the file ran. Its `training_set_kwargs`:",
        "",
        "```json",
        kwargs,
        "```",
        "",
        "Verified for the converter (digan's docs/authors.md), on a small file the authors' own code wrote: "
        "frames within 6e-6 of theirs (past the clip too) and discriminator logits within 7e-7. Not verified "
        "for this file: its frames were not compared with the authors' code, and the paper's scores were not "
        "reproduced from it unless a score below says so.",
        "",
    ]
