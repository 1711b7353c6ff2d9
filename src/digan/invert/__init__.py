"""Fitting a snapshot to a real video (GAN inversion), the fit folder, and rendering fits like generated videos.

The clip (`clip`), how close a fit is (`scores`), the fit itself (`fit`), its
files (`fitfile`), its renders (`render`), and `digan invert` as one call (`video`).
"""

from .clip import Clip, read_clip
from .fit import Fit, FitDiverged, FitOptions, FitResult, fit_clip, fit_memory, render_fit
from .fitfile import check_fit, find_fit, load_fit, load_fit_snapshot, save_fit, snapshot_digest
from .render import load_fit_points, write_fit
from .scores import fit_loss, frame_scores, psnr, ssim
from .video import fit_video

__all__ = [
    "Clip",
    "Fit",
    "FitDiverged",
    "FitOptions",
    "FitResult",
    "check_fit",
    "find_fit",
    "fit_clip",
    "fit_loss",
    "fit_memory",
    "fit_video",
    "frame_scores",
    "load_fit",
    "load_fit_points",
    "load_fit_snapshot",
    "psnr",
    "read_clip",
    "render_fit",
    "save_fit",
    "snapshot_digest",
    "ssim",
    "write_fit",
]
