#!/usr/bin/env bash
# The GPU checks of issue #12, within 8 minutes on one GPU:
#   1. the suite's CUDA-marked tests (tests/test_cuda.py: CUDA render vs CPU, bf16 render >= 40 dB,
#      mixed-precision training steps finite);
#   2. a paper-128 training step at batch 64 and generation frames/s, at --precision auto and float32
#      (benchmarks/gpu_speed.py);
#   3. I3D clips/s on the GPU, TF32 off (benchmarks/i3d_speed.py).
# Usage: benchmarks/gpu_check.sh   (from the repository root, after `make setup` with a CUDA torch)
set -euo pipefail
PY=${PY:-.venv/bin/python}
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: PyTorch sees no CUDA device')"
timeout 180 $PY -m pytest -q -m cuda tests/test_cuda.py
timeout 180 $PY benchmarks/gpu_speed.py --device cuda --preset paper-128 --batch 64 --repeats 5
timeout 120 $PY benchmarks/i3d_speed.py --device cuda --clips 64 --batch 16
