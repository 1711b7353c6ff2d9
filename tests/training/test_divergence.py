"""A run that diverges stops, keeps its last good snapshot and state, says so in one line and exits 3 (issue 24, 7).

NaN is injected where it would come from: a loss (the discriminator's, from step 3 on), or G_ema's weights with
every loss finite; every process stops when one of them diverges.
"""

import json
import re
from dataclasses import dataclass

import pytest
import torch

from digan.checkpoint import STATE_NAME, load_state
from digan.cli.main import main
from digan.config import get_preset
from digan.data.procedural import Shapes
from digan.training.distributed import Distributed
from digan.training.loop import Trainer, TrainingDiverged, train
from digan.training.losses import DiganLoss

NAN_FROM = 3  # the first step (1-based) whose losses are NaN


def tiny(**training):
    return get_preset("tiny-32").replace_training(**{"batch": 4, "sample_seeds": 2, **training})


def strict_lines(path):
    """The records of a JSONL file, read as strict JSON: a bare NaN or Infinity fails the test."""

    def refuse(token):
        raise AssertionError(f"{path} holds {token}, which strict JSON readers refuse")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


@pytest.fixture()
def nan_losses(monkeypatch):
    """The discriminator's losses are NaN from step NAN_FROM on (its gradients then go to 0, as the authors
    sanitise them, so only the losses show it)."""
    original = DiganLoss.discriminator_parts
    calls = []

    def discriminator_parts(self, *args, **kwargs):
        calls.append(1)
        for out in original(self, *args, **kwargs):
            yield {k: v * float("nan") for k, v in out.items()} if len(calls) >= NAN_FROM else out

    monkeypatch.setattr(DiganLoss, "discriminator_parts", discriminator_parts)


def test_a_diverged_run_stops_and_keeps_its_last_good_snapshot_and_state(tmp_path, nan_losses):
    preset = tiny(kimg=0.024, snap_kimg=0.008)  # 6 steps, a snapshot every 2: the one at step 4 sees the NaN
    with pytest.raises(TrainingDiverged) as e:
        train(preset, "shapes", source=Shapes(32, count=8), out=tmp_path, progress=False, workers=0)
    run_dir = tmp_path / "shapes-tiny-32"
    assert e.value.info.clips_seen == 16 and e.value.info.snapshots == [run_dir / "snapshot-0000000008.safetensors"]
    message = str(e.value)
    assert "\n" not in message
    assert "training diverged by 0.016 kimg: D_motion, D_image, real_motion_score and" in message
    assert "NaN or infinite; stopped without saving: " in message
    assert "keeps its training state of 0.008 kimg and snapshot snapshot-0000000008" in message
    assert f"or from {run_dir / 'snapshot-0000000008.safetensors'} with `init`" in message
    assert sorted(p.name for p in run_dir.glob("snapshot-*")) == [
        "snapshot-0000000008.json",
        "snapshot-0000000008.safetensors",
    ]
    assert load_state(run_dir / STATE_NAME)["step"] == 2  # the last good state, not one of the NaN steps
    assert [r["kimg"] for r in strict_lines(run_dir / "metrics.jsonl")] == [0.008]


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda p: p.fill_(float("nan")), "kimg: the weights of G_ema are NaN or infinite; stopped"),
        (lambda p: p.mul_(10), "kimg: G_ema renders values far outside [-1, 1] (median |value|"),  # finite, absurd
    ],
)
def test_a_G_ema_that_diverges_with_finite_losses_is_caught_before_the_snapshot(tmp_path, monkeypatch, spoil, message):
    """G_ema renders no loss: before each snapshot its weights are checked, and that `load_snapshot` would take
    it (`checkpoint.render_problem`), so that the snapshot kept is one that loads."""
    original = Trainer.update_ema

    def update_ema(self):
        original(self)
        if self.step_index == 4:  # the step of the second snapshot (G_ema follows G closely this early)
            for p in self.G_ema.parameters():
                spoil(p.data)

    monkeypatch.setattr(Trainer, "update_ema", update_ema)
    with pytest.raises(TrainingDiverged, match=re.escape(message)):
        train(
            tiny(kimg=0.024, snap_kimg=0.008),
            "shapes",
            source=Shapes(32, count=8),
            out=tmp_path,
            progress=False,
            workers=0,
        )
    run_dir = tmp_path / "shapes-tiny-32"
    assert [p.name for p in run_dir.glob("snapshot-*.json")] == ["snapshot-0000000008.json"]
    assert load_state(run_dir / STATE_NAME)["step"] == 2


@dataclass(frozen=True)
class AnotherProcessDiverges(Distributed):
    """One process of two as its process group sees it: `any` is the other process's flag or this one's."""

    other: tuple = ([],)  # the other process's NaN, once it has one (a list, so that a frozen instance can change)

    def any(self, flag: bool) -> bool:
        return flag or bool(self.other[0])


def test_every_process_stops_when_one_diverges(tmp_path, monkeypatch):
    """This process's losses stay finite; the other's go NaN after step 3. Both stop after the same step, and
    process 0 saves nothing of it (before the check, it took the flag for a stop request and saved the state)."""
    dist = AnotherProcessDiverges()
    original = Trainer.step

    def step(self):
        stats = original(self)
        if self.step_index == NAN_FROM:
            dist.other[0].append("nan")
        return stats

    monkeypatch.setattr(Trainer, "step", step)
    with pytest.raises(TrainingDiverged, match="kimg: a loss of another process is NaN or infinite; stopped"):
        train(
            tiny(kimg=0.024, snap_kimg=0.008),
            "shapes",
            source=Shapes(32, count=8),
            out=tmp_path,
            progress=False,
            workers=0,
            dist=dist,
        )
    assert load_state(tmp_path / "shapes-tiny-32" / STATE_NAME)["step"] == 2


TRAIN = ["train", "--data", "shapes", "--batch", "4", "--quiet", "--workers", "0"]


def test_digan_train_that_diverges_exits_3_with_one_line(tmp_path, capsys, nan_losses):
    code = main([*TRAIN, "--out", str(tmp_path), "--kimg", "0.016", "--snap-kimg", "0.008"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 1 and err[0].startswith("digan: error: training diverged by 0.016 kimg")
    assert "start anew in another --out with a smaller --lr" in err[0]  # the flags, not the parameters
    run_dir = tmp_path / "shapes-tiny-32"
    assert [p.name for p in run_dir.glob("snapshot-*.json")] == ["snapshot-0000000008.json"]
    assert load_state(run_dir / STATE_NAME)["step"] == 2


def test_a_learning_rate_that_blows_up_exits_3_and_saves_nothing(tmp_path, capsys):
    """A real divergence, nothing injected: the first step at lr 1e30 makes every later number NaN."""
    code = main([*TRAIN, "--out", str(tmp_path), "--kimg", "0.008", "--snap-kimg", "0.004", "--lr", "1e30"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 1 and "training diverged by 0.004 kimg: " in err[0]
    assert "nothing was saved in" in err[0] and err[0].endswith("use a smaller --lr")
    assert [p.name for p in (tmp_path / "shapes-tiny-32").iterdir()] == ["training_options.json"]


def test_resuming_from_a_state_that_holds_nan_is_one_line(tmp_path, capsys):
    args = [*TRAIN, "--out", str(tmp_path), "--snap-kimg", "0.004"]
    assert main([*args, "--kimg", "0.004"]) == 0
    path = tmp_path / "shapes-tiny-32" / STATE_NAME
    state = torch.load(path, weights_only=True)
    state["G"]["mapping.w_avg"] = torch.full_like(state["G"]["mapping.w_avg"], float("inf"))
    torch.save(state, path)  # as a run trained before the finite check could leave it
    capsys.readouterr()
    assert main([*args, "--kimg", "0.008"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and "training-state.pt: 1 tensor of this training state holds NaN or inf (e.g. "
        "G.mapping.w_avg): the run diverged before it was saved"
        in err[0]
    )
    assert "start anew in another --out" in err[0] and "with --init" in err[0]
    assert not (tmp_path / "shapes-tiny-32" / "snapshot-0000000008.json").exists()
