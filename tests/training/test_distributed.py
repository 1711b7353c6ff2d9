import json
import os
import subprocess
import sys

import pytest
import torch

from digan.checkpoint import load_snapshot
from digan.training.distributed import Distributed


def test_one_process_is_the_default():
    d = Distributed.from_env("cpu")
    assert (d.rank, d.world, d.main) == (0, 1, True)
    t = torch.ones(3)
    d.average_([t])
    assert torch.equal(t, torch.ones(3)) and d.any(True) and not d.any(False)


def torchrun(tmp_path, kimg):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "digan",
        "train",
        "--data",
        "shapes",
        "--batch",
        "8",
        "--kimg",
        kimg,
        "--snap-kimg",
        "0.008",
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_two_processes_train_one_run_and_resume(tmp_path):
    """torchrun with 2 CPU processes (gloo): one set of files, networks kept in sync, resumable."""
    first = torchrun(tmp_path, "0.008")
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.count("trained 0.01 kimg") == 1  # only process 0 reports
    again = torchrun(tmp_path, "0.016")  # the same command, longer: resumes
    assert again.returncode == 0, again.stderr[-2000:]
    run_dir = tmp_path / "shapes-tiny-32"
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["kimg"] for r in log] == [0.008, 0.016]  # written once per snapshot, not once per process
    assert all(r["device"].startswith("2 processes, each cpu, ") for r in log)  # what a model card says trained it
    G, meta = load_snapshot(run_dir)
    assert meta["clips_seen"] == 16 and all(torch.isfinite(p).all() for p in G.parameters())


def test_gradients_are_sanitised_and_averaged_in_one_flat_all_reduce(monkeypatch):
    import digan.training.distributed as distributed

    calls = []

    def all_reduce_of_two_equal_processes(t):  # the sum over 2 processes holding the same values
        calls.append(t.shape)
        t.mul_(2)

    monkeypatch.setattr(distributed.dist, "all_reduce", all_reduce_of_two_equal_processes)
    layer = torch.nn.Linear(3, 2)
    layer.weight.grad = torch.tensor([[1.0, float("nan"), 2.0], [float("inf"), -float("inf"), 3.0]])
    layer.bias.grad = torch.tensor([0.5, float("nan")])
    running = torch.tensor([float("inf"), 7.0])  # averaged alongside, but not a gradient: left unsanitised
    Distributed(rank=0, world=2).average_grads_(layer, also=[running])
    assert calls == [(6 + 2 + 2,)]
    assert torch.equal(layer.weight.grad, torch.tensor([[1.0, 0.0, 2.0], [1e5, -1e5, 3.0]]))
    assert torch.equal(layer.bias.grad, torch.tensor([0.5, 0.0]))
    assert torch.equal(running, torch.tensor([float("inf"), 7.0]))
    one = torch.nn.Linear(3, 2)
    one.weight.grad = torch.full((2, 3), float("nan"))
    Distributed().average_grads_(one)  # one process: sanitised all the same, no collective
    assert calls == [(10,)] and torch.equal(one.weight.grad, torch.zeros(2, 3))


def test_a_training_step_makes_one_all_reduce_per_phase(monkeypatch):
    import digan.training.distributed as distributed
    from digan.config import get_preset
    from digan.data.procedural import Shapes
    from digan.training.loop import Trainer

    calls = []
    monkeypatch.setattr(distributed.dist, "all_reduce", lambda t: calls.append(t.numel()) or t.mul_(2))
    preset = get_preset("tiny-32").replace_training(batch=4, d_reg_interval=2)
    trainer = Trainer(preset, Shapes(32, count=8), dist=Distributed(rank=0, world=2))
    G, D = (sum(p.numel() for p in m.parameters()) for m in (trainer.G, trainer.D))
    w_avg = trainer.G.mapping.w_avg.numel()
    trainer.step()  # an R1 step: Gmain, Dmain, Dreg
    assert calls[:2] == [G + w_avg, D] and len(calls) == 3
    assert calls[2] == D - 2  # R1 leaves the two output biases (one number each) without gradients
    calls.clear()
    trainer.step()
    assert calls == [G + w_avg, D]
