"""`train --init`: a new run starts from given weights (ours or the authors'), records them, and resumes exactly."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from digan.checkpoint import CheckpointError, load_snapshot, load_state
from digan.config import get_preset
from digan.data.procedural import Shapes
from digan.training.init import init_weights
from digan.training.loop import Trainer, train

OLD_RUN = Path(__file__).resolve().parents[1] / "fixtures" / "v0.1.0" / "run"  # a micro tiny-32 run with its state

pytestmark = pytest.mark.usefixtures("one_thread")


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_step_0_holds_exactly_the_weights_of_a_run_and_a_snapshot():
    from_state = init_weights(OLD_RUN)
    state = load_state(OLD_RUN / "training-state.pt")
    trainer = Trainer(from_state.preset, Shapes(32, count=8), init=from_state)
    assert same(trainer.G.state_dict(), state["G"]) and same(trainer.D.state_dict(), state["D"])
    assert same(trainer.G_ema.state_dict(), state["G_ema"]) and trainer.step_index == 0
    from_snapshot = init_weights(OLD_RUN / "snapshot-0000000008.json")
    G_ema, _ = load_snapshot(OLD_RUN)
    trainer = Trainer(from_snapshot.preset, Shapes(32, count=8), init=from_snapshot)
    assert same(trainer.G.state_dict(), G_ema.state_dict()) and same(trainer.G_ema.state_dict(), G_ema.state_dict())
    assert from_snapshot.D is None and from_snapshot.record()["networks"] == ["G", "G_ema"]


def test_an_interrupted_init_run_resumes_exactly_as_the_whole_one_continues(tmp_path):
    init = init_weights(OLD_RUN)
    preset = init.preset.replace_training(kimg=0.016, snap_kimg=0.008)
    source = Shapes(32, count=8)
    whole = train(preset, "shapes", tmp_path / "a", source=source, progress=False, workers=0, init=init)
    train(
        preset.replace_training(kimg=0.008),
        "shapes",
        tmp_path / "b",
        source=source,
        progress=False,
        workers=0,
        init=init,
    )
    rest = train(preset, "shapes", tmp_path / "b", source=source, progress=False, workers=0, init=init)
    assert rest.resumed_from == 8 and rest.clips_seen == whole.clips_seen == 16
    a, b = load_state(whole.run_dir / "training-state.pt"), load_state(rest.run_dir / "training-state.pt")
    for net in ("G", "D", "G_ema"):
        assert same(a[net], b[net]), net
    options = json.loads((whole.run_dir / "training_options.json").read_text())
    assert options["init"]["sha256"] == init.sha256 and options["init"]["path"] == str(OLD_RUN.resolve())


def test_a_resume_with_another_start_and_a_preset_of_other_networks_are_refused(tmp_path):
    init = init_weights(OLD_RUN)
    source = Shapes(32, count=8)
    preset = init.preset.replace_training(kimg=0.004, snap_kimg=0.004)
    train(preset, "shapes", tmp_path, source=source, progress=False, workers=0, init=init)
    other = tmp_path / "other"
    shutil.copytree(OLD_RUN, other)
    with pytest.raises(CheckpointError, match="init.path"):  # the same run directory, started from elsewhere
        train(
            preset.replace_training(kimg=0.008),
            "shapes",
            tmp_path,
            source=source,
            progress=False,
            workers=0,
            init=init_weights(other),
        )
    with pytest.raises(CheckpointError, match=r"preset tiny-32 does not fit the weights of .*generator.channel_base"):
        Trainer(get_preset("tiny-32"), source, init=init)
