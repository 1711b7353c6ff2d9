"""Video Inception Score with the TGAN/TGANv2 C3D classifier (UCF-101, 101 classes).

IS = exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016; TGAN, Saito et al.
2017). The classifier is C3D (Tran et al. 2015) trained on Sports-1M and
fine-tuned on UCF-101, as the chainer weights `conv3d_deepnetA_ucf.npz` with
the mean clip `mean2.npz` that TGAN distributes. The weights are not
redistributable here: the user passes their paths.

Input pipeline (TGANv2): 16 RGB frames -> BGR in 0..255, resized to 112x112,
minus the centre 112x112 crop of the 128x128 centre of the mean clip.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.base import DataError
from ..utils.files import sha256_file
from .weights import Detector

CONVS = [  # (name, in, out); pooling follows conv1a, conv2a, conv3b, conv4b, conv5b
    ("conv1a", 3, 64),
    ("conv2a", 64, 128),
    ("conv3a", 128, 256),
    ("conv3b", 256, 256),
    ("conv4a", 256, 512),
    ("conv4b", 512, 512),
    ("conv5a", 512, 512),
    ("conv5b", 512, 512),
]
POOL_AFTER = {"conv1a": (1, 2, 2), "conv2a": (2, 2, 2), "conv3b": (2, 2, 2), "conv4b": (2, 2, 2)}
FCS = [("fc6", 8192, 4096), ("fc7", 4096, 4096), ("fc8", 4096, 101)]
FRAMES, SIZE, MEAN_SIZE = 16, 112, 128
NAMES = "conv3d_deepnetA_ucf.npz and mean2.npz"


class C3D(nn.Module):
    """C3D: clips `[B, 3, 16, 112, 112]` (BGR, mean-subtracted, 0..255 scale) -> class logits `[B, 101]`."""

    def __init__(self, num_classes: int = 101):
        super().__init__()
        for name, c_in, c_out in CONVS:
            self.add_module(name, nn.Conv3d(c_in, c_out, 3, padding=1))
        for name, c_in, c_out in FCS:
            self.add_module(name, nn.Linear(c_in, num_classes if name == "fc8" else c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 5 and x.shape[1:] == (3, FRAMES, SIZE, SIZE), (
            f"expected [B, 3, 16, 112, 112], got {list(x.shape)}"
        )
        for name, _, _ in CONVS:
            x = F.relu(getattr(self, name)(x))
            if name in POOL_AFTER:
                x = F.max_pool3d(x, POOL_AFTER[name])
        # pool5 rounds up as Caffe's C3D (and chainer's cover_all) do: windows start at 0, 2, 4, 6 of 7,
        # (B, 512, 1, 4, 4) -> the 8192 inputs of fc6. (Padding by 1 instead would shift every window.)
        x = F.max_pool3d(x, 2, stride=2, ceil_mode=True)
        x = F.relu(self.fc6(x.flatten(1)))
        x = F.relu(self.fc7(x))
        return self.fc8(x)


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load_c3d(weights: str | os.PathLike | None, mean: str | os.PathLike | None) -> tuple[C3D, torch.Tensor, Detector]:
    """The C3D network, the mean clip `[3, 16, 112, 112]` (BGR) and a record of the weights.

    Chainer npz keys are "conv1a/W", "conv1a/b", ..., "fc8/b" (any prefix before the layer name is ignored).
    """
    missing = [str(p) for p in (weights, mean) if p is None or not Path(p).is_file()]
    if missing:
        raise DataError(f"IS needs the TGAN C3D files {NAMES}; not found: {', '.join(missing) or 'no path given'}")
    arrays = {"/".join(k.split("/")[-2:]): v for k, v in _npz_arrays(Path(weights)).items()}
    net = C3D()
    state = {}
    for name, _, _ in CONVS + FCS:
        for ours, theirs in (("weight", "W"), ("bias", "b")):
            if f"{name}/{theirs}" not in arrays:
                raise DataError(f"{weights}: not a C3D weights file (no '{name}/{theirs}'; expected {NAMES})")
            state[f"{name}.{ours}"] = torch.from_numpy(np.asarray(arrays[f"{name}/{theirs}"], np.float32))
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise DataError(f"{weights}: C3D weights of the wrong shape ({str(e).splitlines()[-1].strip()})") from None
    return (
        net.requires_grad_(False).eval(),
        mean_clip(mean),
        Detector("c3d-ucf101-tgan", str(weights), sha256_file(weights)),
    )


def mean_clip(path: str | os.PathLike) -> torch.Tensor:
    """The TGAN mean clip (stored (1, 3, 16, 128, 171) BGR) -> its centre `[3, 16, 112, 112]`."""
    z = _npz_arrays(Path(path))
    m = np.asarray(z.get("mean", next(iter(z.values()))), np.float32)
    m = m.reshape(m.shape[-4:])
    if m.shape[:2] != (3, FRAMES) or min(m.shape[2:]) < MEAN_SIZE:
        raise DataError(f"{path}: expected a mean clip of shape (3, 16, >=128, >=128), got {list(m.shape)}")
    h, w = m.shape[2:]
    top, left = (h - MEAN_SIZE) // 2, (w - MEAN_SIZE) // 2
    m = m[:, :, top : top + MEAN_SIZE, left : left + MEAN_SIZE]  # centre 128x128
    c = (MEAN_SIZE - SIZE) // 2
    return torch.from_numpy(np.ascontiguousarray(m[:, :, c : c + SIZE, c : c + SIZE]))  # centre 112x112


class C3DProbabilities:
    """uint8 clips `[N, 16, H, W, 3]` (RGB) -> class probabilities `[N, 101]` (float64)."""

    def __init__(self, weights, mean, device=None, batch: int = 16):
        net, mean_t, self.detector = load_c3d(weights, mean)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.net, self.mean, self.batch = net.to(self.device), mean_t.to(self.device), batch

    def __call__(self, clips: np.ndarray, resize: str = "stretch") -> np.ndarray:
        clips = np.asarray(clips)
        assert clips.dtype == np.uint8 and clips.ndim == 5 and clips.shape[1] == FRAMES, (
            f"expected uint8 [N, 16, H, W, 3], got {clips.dtype} {list(clips.shape)}"
        )
        out = []
        with torch.inference_mode():
            for i in range(0, len(clips), self.batch):
                x = torch.from_numpy(clips[i : i + self.batch]).to(self.device).float()  # (B, T, H, W, 3) RGB
                b = x.shape[0]
                x = x.flip(-1).permute(0, 1, 4, 2, 3).reshape(b * FRAMES, 3, *x.shape[2:4])  # BGR
                x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
                x = x.reshape(b, FRAMES, 3, SIZE, SIZE).transpose(1, 2) - self.mean  # (B, 3, T, 112, 112)
                out.append(torch.softmax(self.net(x).double(), dim=1).cpu().numpy())
        return np.concatenate(out)


def inception_score(probs: np.ndarray, splits: int = 1) -> tuple[float, float]:
    """Mean and std over `splits` equal parts of exp(mean_x KL(p(y|x) || p(y))), p(y) per split."""
    p = np.asarray(probs, np.float64)
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(part + 1e-12) - np.log(py + 1e-12)), axis=1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))
