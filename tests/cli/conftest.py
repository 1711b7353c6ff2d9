"""Fixtures of the command tests."""

import pytest
import torch

from digan.checkpoint import save_snapshot
from digan.config import get_preset
from digan.models import Generator


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder holding one random tiny-32 snapshot with 8-frame training clips."""
    preset = get_preset("tiny-32").replace_training(clip_frames=8)
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("run")
    save_snapshot(run, Generator(preset.generator).eval(), preset, 1000)
    return run
