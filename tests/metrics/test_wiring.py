"""`digan evaluate`, the training hook and several processes, with a cheap stand-in for I3D."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from metrics_helpers import CountingSource, MomentFeatures

from digan.cli.main import main
from digan.metrics import features as features_module
from digan.metrics.protocols import PROTOCOLS
from digan.training import fvd as training_fvd_module


@pytest.fixture()
def stand_in_detector(monkeypatch):
    monkeypatch.setattr(features_module, "I3DFeatures", lambda *a, **k: MomentFeatures())
    monkeypatch.setattr(training_fvd_module, "I3DFeatures", lambda *a, **k: MomentFeatures())
    monkeypatch.setattr("digan.cli.metrics.I3DFeatures", lambda *a, **k: MomentFeatures())


def test_digan_evaluate_writes_jsonl_for_a_snapshot(
    stand_in_detector, tiny_G, tiny_preset, tmp_path, monkeypatch, capsys
):
    from digan.checkpoint import save_snapshot

    monkeypatch.setenv("DIGAN_CACHE", str(tmp_path / "cache"))
    for name in ("fvd6_16f", "kvd6_16f"):
        monkeypatch.setitem(
            PROTOCOLS, name, replace(PROTOCOLS[name.replace("6_", "64_")], name=name, num_real=6, num_fake=6)
        )
    snap = save_snapshot(tmp_path / "run", tiny_G, tiny_preset, 1000)
    out = tmp_path / "metrics.jsonl"
    argv = [
        "evaluate",
        "--ckpt",
        str(snap),
        "--data",
        "shapes",
        "--metrics",
        "fvd6_16f,kvd6_16f",
        "--jsonl",
        str(out),
        "--quiet",
        "--device",
        "cpu",
    ]
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


def test_a_model_card_states_the_scores_training_logged_and_evaluate_wrote(
    stand_in_detector, tmp_path, monkeypatch, capsys, one_thread
):
    """The end to end of `digan share`: figures read back from the card are the run's log and evaluate's lines."""
    from digan.checkpoint import find_snapshot
    from digan.config import get_preset
    from digan.data.procedural import Shapes
    from digan.training.loop import train
    from digan.training.run import read_metrics, training_seconds
    from digan.utils.files import sha256_file

    monkeypatch.setenv("DIGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(PROTOCOLS, "fvd6_16f", replace(PROTOCOLS["fvd64_16f"], name="fvd6_16f", num_real=6, num_fake=6))
    preset = get_preset("tiny-32").replace_training(batch=4, kimg=0.008, snap_kimg=0.004, sample_seeds=1)
    source = Shapes(32, count=6)
    info = train(
        preset,
        "shapes",
        source=source,
        out=tmp_path / "runs",
        progress=False,
        fvd=training_fvd_module.training_fvd(source, preset, 3),
    )
    snapshot = find_snapshot(info.run_dir).with_suffix(".safetensors")
    assert (
        main(
            [
                "evaluate",
                "--ckpt",
                str(info.run_dir),
                "--data",
                "shapes",
                "--metrics",
                "fvd6_16f",
                "--jsonl",
                str(tmp_path / "scores.jsonl"),
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    evaluated = json.loads((tmp_path / "scores.jsonl").read_text())
    assert evaluated["snapshot_sha256"] == sha256_file(snapshot)
    assert (
        main(
            [
                "share",
                "--ckpt",
                str(info.run_dir),
                "--out",
                str(tmp_path / "model"),
                "--jsonl",
                str(tmp_path / "scores.jsonl"),
                "--seeds",
                "0",
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    capsys.readouterr()
    card = (tmp_path / "model" / "README.md").read_text()
    training = dict(
        tuple(c.strip() for c in line.strip("|").split("|"))
        for line in card.split("## Training\n")[1].split("\n## ")[0].splitlines()[3:]
        if line.startswith("|")
    )
    scores = {
        (c[0], c[1]): float(c[2])
        for c in (
            [x.strip() for x in line.strip("|").split("|")]
            for line in card.split("## Scores\n")[1].split("\n## ")[0].splitlines()[3:]
            if line.startswith("|")
        )
    }
    log = read_metrics(info.run_dir / "metrics.jsonl")
    assert training["kimg"] == "0.008" and training["device"] == log[-1]["device"] == "cpu, 1 thread"
    assert float(training["training time"].split()[0]) == pytest.approx(training_seconds(log, 0.008), abs=0.05)
    assert scores == {
        ("fvd3_16f", "FVD"): pytest.approx(log[-1]["fvd3_16f"], rel=1e-5),
        ("kvd3_16f", "KVD"): pytest.approx(log[-1]["kvd3_16f"], rel=1e-5, abs=1e-9),
        ("fvd6_16f", "FVD"): pytest.approx(evaluated["fvd"], rel=1e-5),
    }
    assert log[0]["fvd3_16f"] != log[-1]["fvd3_16f"]  # the card's logged score is this snapshot's, not the first
