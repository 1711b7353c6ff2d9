"""Distances between two sets of clip features: FVD (Fréchet) and KVD (kernel MMD), in float64.

Definitions: shared/docs/evaluation.md ("FVD", "KVD"). Both take features
`[N, D]` (I3D logits, D = 400) of real and generated clips.
"""

from __future__ import annotations

import numpy as np


def feature_statistics(features: np.ndarray, unbiased: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mean `[D]` and covariance `[D, D]` in float64; unbiased divides by N - 1 (TF-GAN), biased by N (StyleGAN-V)."""
    x = np.asarray(features, dtype=np.float64)
    assert x.ndim == 2, f"expected features [N, D], got {list(x.shape)}"
    n = len(x)
    if n < 2:
        raise ValueError(f"a covariance needs at least 2 clips, got {n}")
    mu = x.mean(axis=0)
    d = x - mu
    return mu, d.T @ d / (n - 1 if unbiased else n)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues clipped)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    Tr (S1 S2)^(1/2) is computed as TF-GAN does, through the symmetric form
    Tr (sqrt(S1) S2 sqrt(S1))^(1/2): the matrices share eigenvalues, and the
    symmetric one is stable when N < D makes the covariances singular.
    """
    r = _psd_sqrt(s1)
    m = r @ s2 @ r
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross)


def fvd(real: np.ndarray, fake: np.ndarray, unbiased: bool = True) -> float:
    """FVD between two feature sets; `unbiased=True` is the original (TF-GAN) definition."""
    return frechet_distance(*feature_statistics(real, unbiased), *feature_statistics(fake, unbiased))


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / d + 1)^3, the KID/KVD kernel."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def kvd(real: np.ndarray, fake: np.ndarray) -> float:
    """Unbiased MMD^2 with the polynomial kernel, all samples in one block (DIGAN, TATS); no x1000 scaling.

    MMD^2 = mean_{i!=j} k(x_i, x_j) + mean_{i!=j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j).
    """
    x, y = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    assert x.ndim == y.ndim == 2 and x.shape[1] == y.shape[1], f"feature shapes {x.shape} and {y.shape}"
    m, n = len(x), len(y)
    if min(m, n) < 2:
        raise ValueError(f"KVD needs at least 2 clips per set, got {m} and {n}")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * kxy.mean())
