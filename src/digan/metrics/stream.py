"""FVD and KVD as metric objects for someone else's training loop: fed batch by batch, merged across processes.

    fvd = FVD("fvd2048_16f")                  # frames, resize, covariance and detector: the protocol's
    fvd.load_reference("sky-fvd2048_16f.npz") # real statistics computed once (save_reference)
    fvd.update(videos, real=False)            # float [B, T, 3, H, W] in [-1, 1] or uint8 [B, T, H, W, 3]
    fvd.compute()                             # under torch.distributed every process calls it; all get one number
    fvd.reset(real=False)                     # the generated clips go, the real side stays

Clips become features through the code of `digan fvd` and `digan evaluate`
(I3DFeatures, hence resize_clips) and distances come from distances.py, so
the same clips give the same number here as there. Which clips to feed (how
many, which real windows) is the caller's part of the protocol: a number is
comparable to published ones only at the protocol's clip counts
(`protocol.num_real`, `protocol.num_fake`).

What each object keeps (D = 400 for I3D):
- FVD: per side the clip count, the mean feature and the centred second moment
  M2 = sum (x - mean)(x - mean)^T, float64: 2 (1 + D + D^2) x 8 bytes = 2.6 MB
  whatever the clip count. Processes combine them with one all-gather (W x 2.6 MB)
  and fold them in rank order (Chan, Golub & LeVeque's pairwise update).
- KVD: the features themselves, float32, since its unbiased MMD^2 takes every
  pair: N x D x 4 bytes a side, 3.3 MB for 2048 clips. Processes combine them
  with an all-gather, in rank order.
"""

from __future__ import annotations

import abc
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ..data.base import DataError, error_reason
from ..data.clips import to_uint8_video
from ..utils.atomic import atomic_write
from ..version import __version__
from .distances import feature_statistics, frechet_distance, kvd
from .features import I3DFeatures, process_group
from .protocols import PROTOCOLS, Protocol, get_protocol

REAL, GENERATED = 0, 1  # index of a side in counts and states


class StreamingDistance(abc.ABC):
    """What FVD and KVD share: protocol, detector, input checks, reference files, merging and process sync.

    `protocol`: a name from PROTOCOLS (or a Protocol) measuring this statistic. `features`: the feature
    function, `features(uint8 [N, T, H, W, 3], resize=...) -> [N, D]` with attributes `detector` (a
    weights.Detector) and `dim` (D); default an I3DFeatures on `device` (default CUDA when available)
    with `batch` clips per I3D pass. Pass one I3DFeatures to several metrics to load the network once.

    A side's statistics (`_summary`) are a dict of arrays, the same dict a reference file holds:
    FVD {"mu", "sigma"}, KVD {"features"}.
    """

    statistic = ""  # "fvd" or "kvd": the protocols whose statistic names it are accepted

    def __init__(
        self, protocol: str | Protocol, features=None, device: str | torch.device | None = None, batch: int = 8
    ):
        p = protocol if isinstance(protocol, Protocol) else get_protocol(protocol)
        if self.statistic not in p.statistic.split("+"):
            takes = [n for n, q in PROTOCOLS.items() if self.statistic in q.statistic.split("+")]
            raise DataError(
                f"protocol {p.name} measures {p.statistic.upper()}, not {self.statistic.upper()}; "
                f"{type(self).__name__} takes {', '.join(takes)}"
            )
        self.protocol = p
        self.features = I3DFeatures(device=device, batch=batch) if features is None else features
        self.detector = self.features.detector
        self.dim = int(self.features.dim)
        self._counts = np.zeros(2, np.int64)  # (real, generated) clips streamed on this process
        self._state = self._empty_state()
        self._reference: dict | None = None  # the real side, when load_reference gave it
        self._reference_clips = 0
        self._reference_source = ""

    # ------------------------------------------------------------------ feeding

    def update(self, videos: torch.Tensor | np.ndarray, real: bool) -> None:
        """Add a batch of real (`real=True`) or generated clips.

        `videos`: float `[B, T, 3, H, W]` in [-1, 1] (the library's layout; clamp a generator's output
        first) or uint8 `[B, T, H, W, 3]`, torch (any device) or numpy. Each video gives one clip: its
        first `protocol.span` frames, every `protocol.stride`-th kept (generated: `fake_span`, `fake_step`).
        """
        self._check_side(real)  # before the detector runs
        self.update_features(self.clip_features(videos, real), real)

    def clip_features(self, videos: torch.Tensor | np.ndarray, real: bool) -> np.ndarray:
        """float32 `[B, D]`: the detector's features of the protocol's clips of `videos` (see `update`).

        To feed FVD and KVD from one I3D pass: `f = fvd.clip_features(v, real)`, then
        `update_features(f, real)` on both.
        """
        clips = self._clips(videos, _side(real))
        if len(clips) == 0:
            return np.zeros((0, self.dim), np.float32)
        feats = np.asarray(self.features(clips, resize=self.protocol.resize), dtype=np.float32)
        assert feats.shape == (len(clips), self.dim), (
            f"feature function gave {list(feats.shape)} for {len(clips)} clips"
        )
        return feats

    def update_features(self, features: np.ndarray | torch.Tensor, real: bool) -> None:
        """Add clip features `[B, D]` made by this metric's detector under its protocol (`clip_features`)."""
        side = self._check_side(real)
        feats = features.detach().cpu().numpy() if torch.is_tensor(features) else np.asarray(features)
        if feats.ndim != 2 or feats.shape[1] != self.dim or feats.dtype.kind != "f":
            raise DataError(
                f"update_features(): got {feats.dtype} {list(feats.shape)}; "
                f"{self.detector.name} features are float [B, {self.dim}]"
            )
        if not np.isfinite(feats).all():
            raise DataError(f"update_features(): {self.detector.name} features hold NaN or inf")
        if len(feats):
            self._counts[side] += len(feats)
            self._add(side, feats)

    def reset(self, real: bool = True) -> None:
        """Forget the generated clips and, unless `real=False`, the real side (streamed or loaded).

        In a training loop: `reset(real=False)` after each compute(), so the real statistics stay.
        """
        sides = (REAL, GENERATED) if real else (GENERATED,)
        for side in sides:
            self._counts[side] = 0
            self._clear(side)
        if real:
            self._reference, self._reference_clips, self._reference_source = None, 0, ""

    @property
    def num_real(self) -> int:
        """Real clips on this process: the reference's count when one is loaded, else those streamed here."""
        return self._reference_clips if self._reference is not None else int(self._counts[REAL])

    @property
    def num_fake(self) -> int:
        """Generated clips streamed on this process."""
        return int(self._counts[GENERATED])

    # ------------------------------------------------------------------ results

    def compute(self, sync: bool = True) -> float:
        """The distance between the clips streamed so far (or the loaded reference) under the protocol.

        With torch.distributed initialised and `sync`, a collective: every process must call it, and all
        get the number of the clips of all processes. `sync=False`: this process's clips only.
        """
        counts, state = self._synced() if sync else (self._counts, self._state)
        real, n_real = self._real_side(counts, state)
        if min(n_real, counts[GENERATED]) < 2:
            raise DataError(
                f"{self.protocol.name}: {self.statistic.upper()} needs at least 2 real and 2 generated "
                f"clips, got {n_real} real and {counts[GENERATED]} generated"
            )
        return self._distance(real, self._summary(state, GENERATED, int(counts[GENERATED])))

    def merge(self, other: StreamingDistance) -> StreamingDistance:
        """Add the clips `other` streamed (same class, protocol and detector); returns self.

        A reference loaded into `other` is taken over when this metric has none; two must be equal.
        """
        if type(other) is not type(self):
            raise DataError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        self._check_same(
            other.protocol.name, other.detector.sha256, f"cannot merge: the other {type(other).__name__} is"
        )
        reference = self._reference if self._reference is not None else other._reference
        streamed_real = self._counts[REAL] + other._counts[REAL]
        if reference is not None and streamed_real:
            raise DataError(
                f"cannot merge: {streamed_real} streamed real clips and real statistics loaded from "
                f"{self._reference_source or other._reference_source}"
            )
        if (
            self._reference is not None
            and other._reference is not None
            and not all(np.array_equal(self._reference[k], other._reference[k]) for k in self._reference)
        ):
            raise DataError(
                f"cannot merge: different real statistics ({self._reference_source} and {other._reference_source})"
            )
        if self._reference is None and other._reference is not None:
            self._reference, self._reference_clips = other._reference, other._reference_clips
            self._reference_source = other._reference_source
        self._counts += other._counts
        self._merge_state(other._state)
        return self

    # ------------------------------------------------------------------ reference statistics

    def save_reference(self, path: str | os.PathLike) -> Path:
        """Write the real side's statistics to an .npz with the protocol, the detector and its SHA-256.

        Collective under torch.distributed: the real clips of all processes are saved, by process 0.
        """
        counts, state = self._synced()
        real, n = self._real_side(counts, state)
        if n < 2:
            raise DataError(f"{self.protocol.name}: reference statistics need at least 2 real clips, got {n}")
        path = Path(path)
        rank, world = process_group()
        error = None
        if rank == 0:

            def write(tmp: Path) -> None:
                with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
                    np.savez(
                        f,
                        protocol=self.protocol.name,
                        statistic=self.statistic,
                        clips=n,
                        detector=self.detector.name,
                        detector_sha256=self.detector.sha256,
                        digan_version=__version__,
                        **real,
                    )

            try:
                atomic_write(path, write)
            except OSError as e:
                error = f"{path}: cannot write reference statistics ({error_reason(e)})"
        if world > 1:
            # Every process learns whether the file is there (and waits for it) rather than hang on a failure.
            box = [error]
            dist.broadcast_object_list(box, src=0)
            error = box[0]
        if error:
            raise DataError(error)
        return path

    def load_reference(self, path: str | os.PathLike) -> None:
        """Use the real statistics saved by save_reference; under torch.distributed, load them on every process."""
        try:
            with np.load(path, allow_pickle=False) as z:
                saved = {k: z[k] for k in z.files}
            protocol, sha, n = str(saved["protocol"]), str(saved["detector_sha256"]), int(saved["clips"])
        except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else "empty or cut short"
            raise DataError(
                f"{path}: not reference statistics written by save_reference ({type(e).__name__}: {reason[:200]})"
            ) from None
        self._check_same(protocol, sha, f"{path}: statistics")
        if self._counts[REAL]:
            raise DataError(
                f"{path}: this {type(self).__name__} already streamed {self._counts[REAL]} real clips; reset() first"
            )
        self._reference, self._reference_clips = self._reference_from_file(saved, n, path)
        self._reference_source = str(path)

    # ------------------------------------------------------------------ checks and processes

    def _check_side(self, real) -> int:
        side = _side(real)
        if side == REAL and self._reference is not None:
            raise DataError(
                f"real statistics are loaded from {self._reference_source}; streaming real clips too "
                "would mix two real sets (reset() drops them)"
            )
        return side

    def _check_same(self, protocol: str, sha256: str, what: str) -> None:
        if protocol != self.protocol.name:
            raise DataError(f"{what} of protocol {protocol}, but this {type(self).__name__} is {self.protocol.name}")
        if sha256 != self.detector.sha256:
            raise DataError(
                f"{what} of detector weights {sha256[:12]}, but this {type(self).__name__} uses "
                f"{self.detector.name} {self.detector.sha256[:12]}"
            )

    def _real_side(self, counts: np.ndarray, state) -> tuple[dict | None, int]:
        if self._reference is not None:
            return self._reference, self._reference_clips
        return self._summary(state, REAL, int(counts[REAL])), int(counts[REAL])

    def _clips(self, videos, side: int) -> np.ndarray:
        """uint8 `[B, frames, H, W, 3]`: each video's first span frames, every step-th kept."""
        p = self.protocol
        step = p.stride if side == REAL else p.fake_step
        span = (p.frames - 1) * step + 1
        spaced = f" ({p.frames} frames {step} apart)" if step > 1 else ""
        need = (
            f"{p.name} takes {'real' if side == REAL else 'generated'} videos as float [B, T, 3, H, W] in "
            f"[-1, 1] or uint8 [B, T, H, W, 3] with T >= {span}{spaced}"
        )
        x = videos if torch.is_tensor(videos) else np.asarray(videos)
        got = f"update(): got {str(x.dtype).removeprefix('torch.')} {list(x.shape)}"
        is_uint8 = x.dtype == (torch.uint8 if torch.is_tensor(x) else np.uint8)
        if not is_uint8 and not (x.is_floating_point() if torch.is_tensor(x) else x.dtype.kind == "f"):
            raise DataError(f"{got}; {need}")
        if x.ndim != 5 or x.shape[-1 if is_uint8 else 2] != 3:
            raise DataError(f"{got}; {need}")
        if x.shape[1] < span:
            raise DataError(f"{got}: {x.shape[1]} frames; {need}")
        x = x[:, :span:step]  # (B, frames, ...)
        if is_uint8:
            return x.cpu().numpy() if torch.is_tensor(x) else x
        x = x.detach() if torch.is_tensor(x) else torch.tensor(x)
        if x.numel():
            lo, hi = torch.aminmax(x)
            if not (lo >= -1 and hi <= 1):  # also false for NaN
                raise DataError(
                    f"{got} with values from {lo.item():.4g} to {hi.item():.4g}; {need} "
                    "(clamp a generator's output: videos.clamp(-1, 1))"
                )
        return to_uint8_video(x)  # rounded as every uint8 clip of the library, so both layouts agree

    def _synced(self) -> tuple[np.ndarray, object]:
        """(counts, state) of this process, or under torch.distributed of all processes combined."""
        rank, world = process_group()
        if world == 1:
            return self._counts, self._state
        device = (
            torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
        )  # NCCL reduces CUDA tensors only
        mine = torch.tensor([self._reference is not None, *self._counts], dtype=torch.int64, device=device)
        everyone = [torch.empty_like(mine) for _ in range(world)]
        dist.all_gather(everyone, mine)
        table = torch.stack(everyone).cpu().numpy()  # (world, 3): reference loaded, real, generated
        loaded = int(table[:, 0].sum())
        if 0 < loaded < world:  # every process sees this table, so all raise together rather than hang
            raise DataError(
                f"{self.protocol.name}: reference statistics loaded on {loaded} of {world} processes; "
                "load them on every process"
            )
        return table[:, 1:].sum(axis=0), self._gather_state(table[:, 1:], device)

    # ------------------------------------------------------------------ what FVD and KVD define

    @abc.abstractmethod
    def _empty_state(self):
        """The streamed state of both sides with no clips."""

    @abc.abstractmethod
    def _clear(self, side: int) -> None:
        """Empty one side of the state."""

    @abc.abstractmethod
    def _add(self, side: int, feats: np.ndarray) -> None:
        """Fold features `[B, D]` into one side of the state."""

    @abc.abstractmethod
    def _merge_state(self, state) -> None:
        """Fold another metric's state into this one's."""

    @abc.abstractmethod
    def _gather_state(self, counts: np.ndarray, device: torch.device):
        """Collective: the state of all processes; `counts` `[world, 2]` are each process's (real, generated)."""

    @abc.abstractmethod
    def _summary(self, state, side: int, n: int) -> dict:
        """One side's statistics from a state holding n >= 2 of its clips (None below 2)."""

    @abc.abstractmethod
    def _distance(self, real: dict, fake: dict) -> float:
        """The distance between two sides' statistics."""

    @abc.abstractmethod
    def _reference_from_file(self, saved: dict, n: int, path) -> tuple[dict, int]:
        """(statistics, clips) from a reference file's arrays, checked."""


class FVD(StreamingDistance):
    """Fréchet Video Distance under a named protocol, from float64 centred moments (memory fixed in N).

    `FVD("fvd2048_16f")`: StyleGAN-V's protocol (biased covariance). `FVD("fvd64_16f")`: the quick
    training check with the original TF-GAN definition (unbiased), as `digan fvd` computes.
    """

    statistic = "fvd"

    def _empty_state(self):
        # Per side (REAL, GENERATED): clips n, mean [D], M2 = sum of (x - mean)(x - mean)^T [D, D]; float64.
        return np.zeros(2), np.zeros((2, self.dim)), np.zeros((2, self.dim, self.dim))

    def _clear(self, side):
        for part in self._state:
            part[side] = 0

    def _add(self, side, feats):
        x = feats.astype(np.float64)  # (B, D)
        mean = x.mean(axis=0)
        d = x - mean  # centred in the batch, as feature_statistics: one batch gives its very numbers
        self._fold(self._state, side, (len(x), mean, d.T @ d))

    def _merge_state(self, state):
        for side in (REAL, GENERATED):
            self._fold(self._state, side, tuple(part[side] for part in state))

    @staticmethod
    def _fold(state, side, other):
        """Add (n, mean, M2) of more clips to one side: Chan, Golub & LeVeque's pairwise update.

        Centred moments, not raw sums of x and x x^T: a sum of x x^T minus n mean mean^T cancels
        digits when |mean| >> std (features with an offset), centred moments never subtract those.
        """
        n_b, mean_b, m2_b = other
        n_a = state[0][side]
        if n_b == 0:
            return
        n = n_a + n_b
        delta = mean_b - state[1][side]
        state[0][side] = n
        state[1][side] += delta * (n_b / n)
        state[2][side] += m2_b + np.outer(delta, delta) * (n_a * n_b / n)

    def _gather_state(self, counts, device):
        # Moments do not add, so gather every process's (n, mean, M2) and fold them in rank order:
        # one collective, world x 2 (1 + D + D^2) float64, the same result on every process.
        flat = torch.from_numpy(np.concatenate([part.ravel() for part in self._state])).to(device)
        everyone = [torch.empty_like(flat) for _ in counts]
        dist.all_gather(everyone, flat)
        state = self._empty_state()
        sizes = np.cumsum([part.size for part in state])[:-1]
        for row in everyone:
            parts = [p.reshape(s.shape) for p, s in zip(np.split(row.cpu().numpy(), sizes), state)]
            for side in (REAL, GENERATED):
                self._fold(state, side, tuple(part[side] for part in parts))
        return state

    def _summary(self, state, side, n):
        if n < 2:
            return None
        return {"mu": state[1][side].copy(), "sigma": state[2][side] / (n - 1 if self.protocol.unbiased else n)}

    def _distance(self, real, fake):
        return frechet_distance(real["mu"], real["sigma"], fake["mu"], fake["sigma"])

    def _reference_from_file(self, saved, n, path):
        if "mu" in saved and "sigma" in saved:
            mu, sigma = saved["mu"], saved["sigma"]
        elif "features" in saved:  # a KVD reference of a protocol measuring both (digan-paper)
            feats = _checked_features(saved["features"], self.dim, path)
            n, (mu, sigma) = len(feats), feature_statistics(feats, self.protocol.unbiased)
        else:
            raise DataError(f"{path}: holds neither mu and sigma nor features")
        if mu.shape != (self.dim,) or sigma.shape != (self.dim, self.dim) or n < 2:
            raise DataError(
                f"{path}: mu {list(mu.shape)} and sigma {list(sigma.shape)} of {n} clips; "
                f"{self.detector.name} needs [{self.dim}] and [{self.dim}, {self.dim}] of at least 2"
            )
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise DataError(f"{path}: mu or sigma hold NaN or inf")
        return {"mu": mu.astype(np.float64), "sigma": sigma.astype(np.float64)}, n


class KVD(StreamingDistance):
    """Kernel Video Distance (unbiased MMD^2, polynomial kernel, one block) under a named protocol.

    It takes every pair of clips, so it keeps the features: float32, N x D a side.
    """

    statistic = "kvd"

    def _empty_state(self):
        return [], []  # float32 [B, D] arrays per side, in the order streamed

    def _clear(self, side):
        self._state[side].clear()

    def _add(self, side, feats):
        self._state[side].append(feats.astype(np.float32))

    def _merge_state(self, state):
        for mine, theirs in zip(self._state, state):
            mine.extend(theirs)

    def _gather_state(self, counts, device):
        # Processes hold different counts: pad each side to the largest, gather, cut back, join in rank order.
        most = counts.max(axis=0)  # (real, generated)
        padded = np.zeros((most.sum(), self.dim), np.float32)
        for side, offset in ((REAL, 0), (GENERATED, most[REAL])):
            if self._state[side]:
                part = np.concatenate(self._state[side])
                padded[offset : offset + len(part)] = part
        mine = torch.from_numpy(padded).to(device)
        everyone = [torch.empty_like(mine) for _ in counts]
        dist.all_gather(everyone, mine)
        rows = [t.cpu().numpy() for t in everyone]
        return (
            [r[:n_real] for r, (n_real, _) in zip(rows, counts)],
            [r[most[REAL] : most[REAL] + n_fake] for r, (_, n_fake) in zip(rows, counts)],
        )

    def _summary(self, state, side, n):
        return {"features": np.concatenate(state[side])} if n >= 2 else None

    def _distance(self, real, fake):
        return kvd(real["features"], fake["features"])

    def _reference_from_file(self, saved, n, path):
        if "features" not in saved:
            raise DataError(f"{path}: holds FVD statistics (mu, sigma); KVD needs features: save them from a KVD")
        feats = _checked_features(saved["features"], self.dim, path)
        return {"features": feats}, len(feats)


def _side(real) -> int:
    if not isinstance(real, (bool, np.bool_)):
        raise DataError(f"update(): real must be True or False, got {type(real).__name__}")
    return REAL if real else GENERATED


def _checked_features(feats: np.ndarray, dim: int, path) -> np.ndarray:
    if feats.ndim != 2 or feats.shape[1] != dim or feats.dtype.kind != "f" or len(feats) < 2:
        raise DataError(f"{path}: features {feats.dtype} {list(feats.shape)}; need float [clips >= 2, {dim}]")
    if not np.isfinite(feats).all():
        raise DataError(f"{path}: features hold NaN or inf")
    return feats
