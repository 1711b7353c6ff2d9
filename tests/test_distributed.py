import json
import os
import subprocess
import sys

import pytest
import torch

from digan.checkpoint import load_snapshot
from digan.distributed import Distributed


def test_one_process_is_the_default():
    d = Distributed.from_env("cpu")
    assert (d.rank, d.world, d.main) == (0, 1, True)
    t = torch.ones(3)
    d.average_([t])
    assert torch.equal(t, torch.ones(3)) and d.any(True) and not d.any(False)


def torchrun(tmp_path, kimg):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "digan", "train", "--data", "shapes", "--batch", "8", "--kimg", kimg, "--snap", "0.008",
           "--out", str(tmp_path), "--device", "cpu"]
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
    G, meta = load_snapshot(run_dir)
    assert meta["clips_seen"] == 16 and all(torch.isfinite(p).all() for p in G.parameters())
