"""`make demo`'s samples beyond the training clip, on a tiny random generator."""

import numpy as np
import pytest

from digan.data.io import read_video

pytestmark = pytest.mark.usefixtures("one_thread")


def test_demo_writes_extrapolation_and_super_resolution_samples(tiny_G, tmp_path):
    from digan.apps.demo import write_property_samples

    write_property_samples(tiny_G, {"clip_frames": 4, "resolution": 32}, tmp_path, seeds=(0,))
    long = read_video(tmp_path / "extrapolation-4x" / "seed0000-compare.mp4")
    assert long.shape[0] == 16 and long.shape[2] == 32 + 2 + 32  # 4x the 4-frame clip, side by side
    assert np.abs(long[-1, :32, :32].astype(int) - long[3, :32, :32]).mean() < 2  # left: held at t = 1
    assert np.abs(long[-1, :32, 34:].astype(int) - long[3, :32, 34:]).mean() > 2  # right: keeps moving
    big = read_video(tmp_path / "superres-4x" / "seed0000-compare.mp4")
    assert big.shape[0] == 4 and big.shape[2] == 128 + 2 + 128
    assert read_video(tmp_path / "superres-4x" / "seed0000.mp4").shape == (4, 128, 128, 3)


def test_a_resumed_demo_keeps_the_precision_its_run_began_in(tmp_path, monkeypatch):
    import json

    import torch

    import digan.cli.apps as apps
    import digan.utils.runtime as runtime
    from digan.cli.main import main

    given = []
    monkeypatch.setattr(apps, "run_demo", lambda out, **kw: given.append(kw["precision"]))
    monkeypatch.setattr(runtime, "native_bf16", lambda device: True)  # a machine where a new run is bf16
    monkeypatch.setattr(runtime, "BF16_CPU_TRAINING_MIN_RESOLUTION", 32)  # (for tiny-32 too, for this test)
    assert main(["demo", "--out", str(tmp_path / "new"), "--device", "cpu"]) == 0
    (tmp_path / "old" / "run").mkdir(parents=True)
    options = {"preset": {}, "precision": "float32"}  # a run begun where auto was float32
    (tmp_path / "old" / "run" / "training_options.json").write_text(json.dumps(options))
    assert main(["demo", "--out", str(tmp_path / "old"), "--device", "cpu"]) == 0
    assert main(["demo", "--out", str(tmp_path / "old"), "--device", "cpu", "--precision", "bf16"]) == 0
    assert given == [torch.bfloat16, torch.float32, torch.bfloat16]  # by name: train() refuses it, as for train
    monkeypatch.setattr(runtime, "BF16_CPU_TRAINING_MIN_RESOLUTION", 64)  # as it is: tiny-32 is faster in float32
    assert main(["demo", "--out", str(tmp_path / "newer"), "--device", "cpu"]) == 0
    assert given[-1] == torch.float32
