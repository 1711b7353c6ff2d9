"""CUDA checks, run by benchmarks/gpu_check.sh (`pytest -m cuda`); skipped where PyTorch sees no GPU."""

import math

import numpy as np
import pytest
import torch

from digan.config import get_preset
from digan.data.procedural import Shapes
from digan.models import Generator
from digan.sampling import RenderOptions, render_videos
from digan.training.loop import Trainer
from digan.utils.runtime import resolve_precision

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="PyTorch sees no CUDA device")]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.fixture()
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_auto_precision_follows_the_device():
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float32
    assert resolve_precision("auto", "cuda") == expected


def test_a_cuda_render_matches_the_cpu_render(no_tf32):
    torch.manual_seed(0)
    G = Generator(get_preset("small-64").generator).eval()
    t = torch.linspace(0, 2, 4)
    cpu = render_videos(G, [0, 1], t)
    gpu = render_videos(G.cuda(), [0, 1], t)
    assert psnr(gpu, cpu) >= 50  # float32 on both: a uint8 level here and there


def test_a_bf16_cuda_render_stays_above_40_db(no_tf32):
    torch.manual_seed(0)
    G = Generator(get_preset("paper-128").generator).eval().cuda()
    t = torch.linspace(0, 2, 4)
    ref = render_videos(G, [0, 1], t)
    assert psnr(render_videos(G, [0, 1], t, RenderOptions(precision=torch.bfloat16)), ref) >= 40


def test_mixed_precision_training_steps_on_cuda_are_finite():
    preset = get_preset("tiny-32").replace_training(batch=8)
    trainer = Trainer(preset, Shapes(32, count=8), "cuda", precision=resolve_precision("auto", "cuda"))
    for _ in range(3):
        stats = trainer.step()
    assert all(torch.isfinite(v).all() for v in stats.values())
    assert all(torch.isfinite(p).all() and p.dtype == torch.float32 for p in trainer.G_ema.parameters())
