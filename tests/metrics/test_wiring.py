"""`digan evaluate`, the training hook and several processes, with a cheap stand-in for I3D."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from digan.metrics import features as features_module
from digan.training import fvd as training_fvd_module
from digan.cli.main import main
from digan.metrics.protocols import PROTOCOLS

from metrics_helpers import CountingSource, MomentFeatures


@pytest.fixture()
def stand_in_detector(monkeypatch):
    monkeypatch.setattr(features_module, "I3DFeatures", lambda *a, **k: MomentFeatures())
    monkeypatch.setattr(training_fvd_module, "I3DFeatures", lambda *a, **k: MomentFeatures())
    monkeypatch.setattr("digan.cli.metrics.I3DFeatures", lambda *a, **k: MomentFeatures())


def test_digan_evaluate_writes_jsonl_for_a_snapshot(stand_in_detector, tiny_G, tiny_preset, tmp_path, monkeypatch, capsys):
    from digan.checkpoint import save_snapshot

    monkeypatch.setenv("DIGAN_CACHE", str(tmp_path / "cache"))
    for name in ("fvd6_16f", "kvd6_16f"):
        monkeypatch.setitem(PROTOCOLS, name, replace(PROTOCOLS[name.replace("6_", "64_")], name=name, num_real=6, num_fake=6))
    snap = save_snapshot(tmp_path / "run", tiny_G, tiny_preset, 1000)
    out = tmp_path / "metrics.jsonl"
    argv = ["evaluate", "--ckpt", str(snap), "--data", "shapes", "--metrics", "fvd6_16f,kvd6_16f",
            "--jsonl", str(out), "--quiet", "--device", "cpu"]
    assert main(argv) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert printed == written and [r["metric"] for r in written] == ["fvd6_16f", "kvd6_16f"]
    r = written[0]
    assert r["snapshot"] == str(snap) and r["dataset"] == "shapes" and r["resolution"] == tiny_preset.resolution
    assert r["fake_resolution"] == tiny_preset.resolution and r["num_real"] == r["num_fake"] == 6
    assert np.isfinite(r["fvd"]) and r["fvd"] > 0
    assert list((tmp_path / "cache" / "real-features").glob("shapes-6x16f-*.npy")), "real features cached"
    assert main(argv) == 0 and json.loads(capsys.readouterr().out.splitlines()[0])["fvd"] == r["fvd"]


def test_training_fvd_logs_named_numbers(stand_in_detector, tiny_G, tiny_preset):
    fvd = training_fvd_module.training_fvd(CountingSource([40] * 10, resolution=tiny_preset.resolution), tiny_preset, 4)
    record = fvd(tiny_G)
    assert set(record) == {"fvd4_16f", "kvd4_16f"} and all(np.isfinite(v) for v in record.values())
    assert fvd(tiny_G) == record  # seeded: the same generator gives the same numbers


def _worker(rank, world, path, init):
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        from digan.metrics.features import extract
        from digan.metrics.protocols import read_real_clips, real_clip_plan

        source, p = CountingSource([40 + v for v in range(21)]), replace(PROTOCOLS["fvd2048_16f"], num_real=21)
        plan = real_clip_plan(source, p, 0)
        feats = extract(len(plan), lambda idx: read_real_clips(source, p, plan[list(idx)]), MomentFeatures(), batch=4)
        if rank == 0:
            np.save(path, feats)
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_processes_give_the_features_of_one(tmp_path):
    import torch.multiprocessing as mp

    init = f"file://{tmp_path / 'rendezvous'}"
    mp.spawn(_worker, args=(2, str(tmp_path / "two.npy"), init), nprocs=2, join=True)
    from digan.metrics.features import extract
    from digan.metrics.protocols import read_real_clips, real_clip_plan

    source, p = CountingSource([40 + v for v in range(21)]), replace(PROTOCOLS["fvd2048_16f"], num_real=21)
    plan = real_clip_plan(source, p, 0)
    one = extract(len(plan), lambda idx: read_real_clips(source, p, plan[list(idx)]), MomentFeatures(), batch=4)
    np.testing.assert_array_equal(np.load(tmp_path / "two.npy"), one)
