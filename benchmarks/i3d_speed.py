"""I3D throughput on 16-frame 224x224 clips: the metric path against a plain eager baseline, in one run.

    .venv/bin/python benchmarks/i3d_speed.py [--clips 16] [--batch 8] [--device cpu]

Baseline: the straightforward port (separate batch norm, three 1x1 heads per
Inception module), one clip at a time, autograd on. Metric path: what
`I3DFeatures` runs (batch norm folded into the convolutions, the 1x1 heads
merged, channels-last activations, inference mode, batches). Both see the same
inputs; the script also checks that their logits agree and prints the time
fvd2048_16f would take for its 4096 I3D clips.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from digan.metrics.weights import load_i3d


def clips_per_second(net, x: torch.Tensor, batch: int, inference: bool, device) -> tuple[float, float]:
    """(clips per wall-clock second, clips per CPU second of this process)."""
    context = torch.inference_mode if inference else torch.enable_grad
    with context():
        net(x[:batch].to(device))  # warm-up: allocator, kernel selection
        if device.type == "cuda":
            torch.cuda.synchronize()
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(x), batch):
            net(x[i : i + batch].to(device)).sum().item()
        return len(x) / (time.perf_counter() - start), len(x) / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16, help="clips timed per variant (default 16)")
    parser.add_argument("--batch", type=int, default=8, help="batch of the metric path (default 8)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False

    plain, detector = load_i3d()
    fast = plain.fused().to(device)
    plain = plain.to(device)
    x = torch.rand(args.clips, 16, 3, 224, 224, generator=torch.Generator().manual_seed(0)) * 2 - 1

    with torch.inference_mode():
        a, b = plain(x[:2].to(device)), fast(x[:2].to(device))
    err = ((a - b).abs().max() / a.abs().max()).item()

    (base, base_cpu) = clips_per_second(plain, x, 1, inference=False, device=device)
    (best, best_cpu) = clips_per_second(fast, x, args.batch, inference=True, device=device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"device: {name} ({os.cpu_count()} cores visible, load average {load}); torch {torch.__version__}; "
        f"{detector.name} {detector.sha256[:12]}"
    )
    # CPU seconds show the work done when other processes share the cores; wall time is what a user waits.
    print(f"baseline (eager, batch 1, autograd on):              {base:6.2f} clips/s  {base_cpu:6.2f} clips/CPU-s")
    print(
        f"metric path (fused, channels-last, inference, b{args.batch}): {best:6.2f} clips/s  {best_cpu:6.2f} clips/CPU-s"
    )
    print(
        f"speed-up: {best / base:.2f}x wall, {best_cpu / base_cpu:.2f}x CPU   (max relative logit difference {err:.1e})"
    )
    print(f"fvd2048_16f (4096 I3D clips): {4096 / best / 60:.1f} min of I3D at this speed")


if __name__ == "__main__":
    main()
