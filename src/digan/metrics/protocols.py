"""Named evaluation protocols: each name fixes how clips are drawn, resized and compared.

Name every reported number by its protocol; the finite-sample bias of FVD is
large, so numbers compare only under the same protocol (shared/docs/evaluation.md).

Which clips a protocol takes is a pure function of (protocol, seed, trial):
real videos are a seeded random subset (not the first N in sorted order), each
video's clip offset comes from a generator seeded by (seed, trial, video), and
generated clip i uses video seed `seed * 1_000_000 + i` from t = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.base import DataError, Report, VideoSource, note
from ..data.clips import ClipIndex, ClipSpec

FAKE_SEED_STEP = 1_000_000  # generated clip i of seed s uses video seed s * FAKE_SEED_STEP + i


@dataclass(frozen=True)
class Protocol:
    name: str
    statistic: str  # "fvd", "kvd", "fvd+kvd" or "is"
    num_real: int  # real clips per trial (0: none, IS)
    num_fake: int  # generated clips per trial
    frames: int  # frames per clip the detector sees
    stride: int = 1  # source frames between the frames of a real clip
    fake_stride: int | None = None  # generated frames between the frames of a fake clip (None: = stride)
    real_clips: str = "one_per_video"  # or "all_windows": uniform over every clip window of the dataset
    resize: str = "stretch"  # to 224x224 ignoring aspect; "short_side_crop": short side 224, centre crop
    unbiased: bool = True  # FVD covariance: N - 1 (TF-GAN) or N (StyleGAN-V)
    trials: int = 1  # repeats with different real clips (and IS draws); mean and std reported
    splits: int = 1  # IS: splits of each draw
    fixed_fake: bool = True  # the same generated clips in every trial
    reference: str = ""

    @property
    def span(self) -> int:
        """Source frames one real clip covers."""
        return (self.frames - 1) * self.stride + 1

    @property
    def fake_step(self) -> int:
        return self.stride if self.fake_stride is None else self.fake_stride

    @property
    def fake_span(self) -> int:
        """Consecutive frames a generated clip renders from t = 0, of which every fake_step-th is kept."""
        return (self.frames - 1) * self.fake_step + 1

    @property
    def feature_key(self) -> tuple:
        """Protocols with equal keys draw the same clips, so they share features (fvd2048_16f, kvd2048_16f)."""
        return (
            self.num_real,
            self.num_fake,
            self.frames,
            self.stride,
            self.fake_step,
            self.real_clips,
            self.resize,
            self.trials,
            self.fixed_fake,
        )


_STYLEGAN_V = "StyleGAN-V (Skorokhodov et al. 2022): 2048 vs 2048, one clip per real video, biased covariance"
_DIGAN = "DIGAN (Yu et al. 2022): 2048 vs 2048 random 16-frame windows, short side 224 + centre crop, 10 trials"
_QUICK = "digan: cheap periodic check during training, not comparable to published numbers"
_TGANV2 = "TGANv2 (Saito et al. 2020): C3D on UCF-101, 10 draws of 2048 samples, one split each"

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in [
        Protocol("fvd2048_16f", "fvd", 2048, 2048, 16, unbiased=False, reference=_STYLEGAN_V),
        Protocol("kvd2048_16f", "kvd", 2048, 2048, 16, reference=_STYLEGAN_V + "; KVD on the same features"),
        Protocol("fvd2048_128f", "fvd", 2048, 2048, 128, unbiased=False, reference=_STYLEGAN_V),
        Protocol("kvd2048_128f", "kvd", 2048, 2048, 128, reference=_STYLEGAN_V + "; KVD on the same features"),
        Protocol("fvd2048_128f_subsample8f", "fvd", 2048, 2048, 16, stride=8, unbiased=False, reference=_STYLEGAN_V),
        Protocol(
            "digan-paper",
            "fvd+kvd",
            2048,
            2048,
            16,
            real_clips="all_windows",
            resize="short_side_crop",
            unbiased=True,
            trials=10,
            reference=_DIGAN,
        ),
        Protocol("fvd64_16f", "fvd", 64, 64, 16, reference=_QUICK),
        Protocol("kvd64_16f", "kvd", 64, 64, 16, reference=_QUICK),
        Protocol("is_tganv2", "is", 0, 2048, 16, trials=10, fixed_fake=False, reference=_TGANV2),
        Protocol(
            "isv2048_ucf",
            "is",
            0,
            2048,
            16,
            splits=10,
            reference="StyleGAN-V: C3D on UCF-101, 2048 samples in 10 splits (biases IS low)",
        ),
    ]
}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise DataError(f"unknown metric {name!r}; known: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def fake_seeds(protocol: Protocol, seed: int, trial: int = 0) -> list[int]:
    """Video seeds of the generated clips; trials draw new ones only when the protocol says so."""
    first = seed * FAKE_SEED_STEP + (0 if protocol.fixed_fake else trial * protocol.num_fake)
    return list(range(first, first + protocol.num_fake))


def real_clip_plan(source: VideoSource, protocol: Protocol, seed: int, trial: int = 0) -> np.ndarray:
    """The real clips of one trial as rows (video, first frame): `int64 [n, 2]`, n <= num_real.

    "one_per_video": a seeded random subset of the videos long enough for one
    clip, one clip each at a uniformly random offset (StyleGAN-V); fewer videos
    than num_real gives fewer clips (reported as num_real in the result).
    "all_windows": num_real windows drawn uniformly among all clip windows of
    all videos, without replacement when there are enough (DIGAN).
    """
    spec = ClipSpec(protocol.frames, protocol.stride)
    if protocol.real_clips == "all_windows":
        index = ClipIndex(source, spec)
        rng = np.random.default_rng([seed, 0xD16A, trial])
        windows = np.sort(rng.choice(len(index), protocol.num_real, replace=len(index) < protocol.num_real))
        return np.array([index.window(int(w)) for w in windows], dtype=np.int64).reshape(-1, 2)
    lengths = np.array([source.num_frames(i) for i in range(len(source))], dtype=np.int64)
    eligible = np.flatnonzero(lengths >= spec.span)
    short = np.flatnonzero(lengths < spec.span)
    if len(short) and len(eligible):
        report = Report(f"{source.name} ({protocol.name})")
        for v in short:
            report.skip(source.video_name(int(v)), f"{lengths[v]} frames, a clip needs {spec.span}")
        note(report.summary(len(eligible)))
    if len(eligible) == 0:
        raise DataError(f"{source.name}: no video has the {spec.span} frames protocol {protocol.name} needs")
    chosen = np.random.default_rng([seed, 0x5E7, trial]).permutation(eligible)[: protocol.num_real]
    chosen.sort()  # natural (dataset) order; the subset is what is random
    starts = [
        np.random.default_rng([seed, 0x0FF, trial, int(v)]).integers(0, lengths[v] - spec.span + 1) for v in chosen
    ]
    return np.stack([chosen, np.array(starts, dtype=np.int64)], axis=1)


def read_real_clips(source: VideoSource, protocol: Protocol, plan: np.ndarray) -> np.ndarray:
    """uint8 `[len(plan), frames, R, R, 3]` for rows (video, first frame) of a plan."""
    offsets = np.arange(protocol.frames) * protocol.stride
    return np.stack([source.read(int(v), start + offsets) for v, start in plan])
