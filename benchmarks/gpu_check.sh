#!/usr/bin/env bash
# The GPU checks of issue #12, within 8 minutes on one GPU:
#   1. the suite's CUDA-marked tests (tests/test_cuda.py: CUDA render vs CPU, bf16 render >= 40 dB,
#      mixed-precision training steps finite);
#   2. a paper-128 training step at batch 64, whole and in micro-batches of 8 and 16 (--batch-gpu), each with
#      its peak GPU memory, and generation frames/s, at --precision auto and float32 (benchmarks/gpu_speed.py);
#   3. I3D clips/s on the GPU, TF32 off (benchmarks/i3d_speed.py);
#   4. with two GPUs or more: a 2-process NCCL training run of tiny-32 (torchrun), resumed once.
# Not measured yet: a compiled step (there is no --compile: issue 25 left it open).
# Usage: benchmarks/gpu_check.sh   (from the repository root, after `make setup` with a CUDA torch)
set -euo pipefail
PY=${PY:-.venv/bin/python}
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: PyTorch sees no CUDA device')"
timeout 180 $PY -m pytest -q -m cuda tests/test_cuda.py
timeout 240 $PY benchmarks/gpu_speed.py --device cuda --preset paper-128 --batch 64 --repeats 5 --batch-gpu 8,16
timeout 120 $PY benchmarks/i3d_speed.py --device cuda --clips 64 --batch 16
if [ "$($PY -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
    out=$(mktemp -d)
    for kimg in 0.128 0.256; do  # the second run resumes the first
        timeout 150 ${PY%python}torchrun --standalone --nproc_per_node 2 -m digan train --data shapes --preset tiny-32 \
            --batch 32 --kimg $kimg --snap-kimg 0.128 --out "$out" --quiet --device cuda
    done
    tail -n 2 "$out"/shapes-tiny-32/metrics.jsonl
    rm -rf "$out"
else
    echo "gpu_check: one GPU: the 2-process NCCL step is skipped"
fi
