"""A periodic FVD during training: G_ema's clips against the training data at each snapshot (`fvd_clips`)."""

from __future__ import annotations

from ..config import Preset
from ..data.base import VideoSource
from ..metrics.evaluation import quick_fvd
from ..metrics.features import I3DFeatures
from ..sampling.render import clip_renderer


def training_fvd(
    source: VideoSource, preset: Preset, n_clips: int, device: str = "cpu", frames: int = 16, seed: int = 0
):
    """`fvd(G) -> {"fvd<n>_<frames>f": .., "kvd<n>_<frames>f": ..}` for the training loop's snapshots.

    Real clips are read at the training clip stride, so both sides have the frame rate G learnt. G renders
    in float32 (`RenderOptions`' default), whatever the training arithmetic.
    """
    if n_clips < 2:  # checked before I3D loads, not at the first snapshot
        raise ValueError(f"a periodic FVD needs at least 2 clips a side (`fvd_clips`), got {n_clips}")
    features = I3DFeatures(device=device)
    clip_frames, stride = preset.training.clip_frames, preset.training.clip_stride

    def fvd(G) -> dict:
        r = quick_fvd(clip_renderer(G, clip_frames), source, n_clips, frames, seed, features, stride)
        return {r["metric"]: r["fvd"], r["metric"].replace("fvd", "kvd", 1): r["kvd"]}

    return fvd
