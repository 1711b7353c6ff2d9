import json

import numpy as np
import pytest
import torch
from scipy import stats

from digan.checkpoint import load_snapshot, save_snapshot
from digan.config import get_preset
from digan.data import PairBatches, VideoSource
from digan.data.clips import ClipSpec
from digan.data.procedural import Shapes
from digan.training.loop import Trainer, lazy_adam, train
from digan.training.losses import DiganLoss


def tiny(**training):
    return get_preset("tiny-32").replace_training(**{"batch": 4, "sample_seeds": 2, **training})


class Blank(VideoSource):
    """Frames are free: only the pair indices matter."""

    name, resolution = "blank", 32

    def __len__(self):
        return 50

    def num_frames(self, index):
        return 16 + index  # videos of different lengths, like a real folder

    def read(self, index, frame_ids):
        return np.zeros((len(frame_ids), 32, 32, 3), np.uint8)


def params(module):
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_one_step_changes_G_and_D():
    trainer = Trainer(tiny(), Shapes(32, count=8))
    g0, d0, ema0 = params(trainer.G), params(trainer.D), params(trainer.G_ema)
    stats_ = trainer.step()
    assert not torch.equal(g0, params(trainer.G))
    assert not torch.equal(d0, params(trainer.D))
    assert not torch.equal(ema0, params(trainer.G_ema))
    assert all(bool(torch.isfinite(v)) for v in stats_.values())  # 0-d tensors on the device


def test_r1_runs_lazily_every_interval():
    trainer = Trainer(tiny(d_reg_interval=2), Shapes(32, count=8))
    had_r1 = ["r1_motion" in trainer.step() for _ in range(3)]
    assert had_r1 == [True, False, True]
    trainer = Trainer(tiny(r1_gamma=0.0), Shapes(32, count=8))
    assert "r1_motion" not in trainer.step()


def test_lazy_regularisation_corrects_adam():
    cfg = tiny().training
    opt = lazy_adam([torch.nn.Parameter(torch.zeros(1))], cfg, interval=16)
    group = opt.param_groups[0]
    assert group["lr"] == pytest.approx(0.005 * 16 / 17)
    assert group["betas"] == pytest.approx((0.0, 0.99 ** (16 / 17)))


def test_real_and_fake_dt_share_one_distribution():
    """Real dt comes from the data pipeline's frame indices, fake dt from the loss's times."""
    cfg = tiny(batch=500).training
    reals = PairBatches(Blank(), ClipSpec(cfg.clip_frames, cfg.clip_stride), batch=500, seed=1)
    real_dt = torch.cat([reals[i][1] for i in range(8)]).numpy()
    loss = DiganLoss(None, None, cfg)
    rng = np.random.default_rng(2)
    fake_dt = np.concatenate([np.diff(loss.fake_times(500, rng).numpy(), axis=1)[:, 0] for _ in range(8)])
    assert stats.ks_2samp(real_dt, fake_dt).pvalue > 1e-3
    assert (
        stats.chisquare(  # the same 16-level lattice, with the same frequencies
            np.bincount(np.rint(real_dt * 15).astype(int), minlength=16) + 1,
            np.bincount(np.rint(fake_dt * 15).astype(int), minlength=16) + 1,
            sum_check=False,
        ).pvalue
        > 1e-3
    )
    # The authors' continuous fake times are detected by the same test: it can fail.
    a, b = rng.beta(2, 1, 4000), rng.beta(1, 2, 4000)
    assert stats.ks_2samp(real_dt, np.abs(a - b)).pvalue < 1e-6


def test_resume_continues_exactly(tmp_path):
    source = Shapes(32, count=8)
    straight = Trainer(tiny(d_reg_interval=2), source)
    losses = [straight.step() for _ in range(3)]

    first = Trainer(tiny(d_reg_interval=2), source)
    first.step()
    torch.save(first.state_dict(), tmp_path / "state.pt")
    resumed = Trainer(tiny(d_reg_interval=2, seed=0), source)
    resumed.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    assert [resumed.step() for _ in range(2)] == losses[1:]  # an R1 step included
    assert torch.equal(params(resumed.G_ema), params(straight.G_ema))
    assert torch.equal(params(resumed.D), params(straight.D))


def test_same_command_again_resumes(tmp_path):
    source = Shapes(32, count=8)
    whole = train(tiny(kimg=0.016, snap_kimg=0.008), "shapes", source=source, out=tmp_path / "a", progress=False)
    part = train(tiny(kimg=0.008, snap_kimg=0.008), "shapes", source=source, out=tmp_path / "b", progress=False)
    rest = train(tiny(kimg=0.016, snap_kimg=0.008), "shapes", source=source, out=tmp_path / "b", progress=False)
    assert (whole.resumed_from, part.clips_seen, rest.resumed_from, rest.clips_seen) == (0, 8, 8, 16)
    G_whole, _ = load_snapshot(whole.run_dir)
    G_rest, meta = load_snapshot(rest.run_dir)
    assert meta["clips_seen"] == 16
    assert torch.equal(params(G_whole), params(G_rest))
    options = json.loads((rest.run_dir / "training_options.json").read_text())
    assert options["preset"]["training"]["kimg"] == 0.016
    log = [json.loads(line) for line in (rest.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["kimg"] for r in log] == [0.008, 0.016]
    assert sorted(p.suffix for p in rest.run_dir.glob("samples-*")) == [".gif", ".gif", ".mp4", ".mp4"]


def test_changed_options_do_not_resume(tmp_path):
    source = Shapes(32, count=8)
    train(tiny(kimg=0.004, snap_kimg=0.004), "shapes", source=source, out=tmp_path, progress=False)
    from digan.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="other options"):
        train(tiny(kimg=0.008, lr=0.001), "shapes", source=source, out=tmp_path, progress=False)
    # how often it reports is not part of a run's identity
    info = train(tiny(kimg=0.008, snap_kimg=0.008), "shapes", source=source, out=tmp_path, progress=False)
    assert (info.resumed_from, info.clips_seen) == (4, 8)


def test_a_bf16_run_trains_records_its_precision_and_resumes_only_in_bf16(tmp_path):
    """bf16 runs everywhere (emulated where the CPU lacks it): the numbers, not the speed, are checked here."""
    from digan.checkpoint import CheckpointError
    from digan.sampling import RenderOptions, write_samples

    source = Shapes(32, count=8)
    info = train(
        tiny(kimg=0.008, snap_kimg=0.008),
        "shapes",
        source=source,
        out=tmp_path,
        progress=False,
        precision=torch.bfloat16,
    )
    assert json.loads((info.run_dir / "training_options.json").read_text())["precision"] == "bf16"
    log = json.loads((info.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert all(np.isfinite(log[k]) for k in ("G_motion", "G_image", "D_motion", "D_image", "r1_motion"))
    G, meta = load_snapshot(info.run_dir)
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in G.parameters())
    # the run's samples are G_ema's frames in float32, as `digan generate` renders them, not in the training bf16
    write_samples(G, tiny(), tmp_path / "float32")
    samples = info.run_dir / "samples-0000000008.gif"
    assert samples.read_bytes() == (tmp_path / "float32.gif").read_bytes()
    write_samples(G, tiny(), tmp_path / "bf16", render=RenderOptions(precision=torch.bfloat16))
    assert samples.read_bytes() != (tmp_path / "bf16.gif").read_bytes()  # the check can tell them apart
    with pytest.raises(CheckpointError, match="precision"):
        train(tiny(kimg=0.012, snap_kimg=0.004), "shapes", source=source, out=tmp_path, progress=False)
    resumed = train(
        tiny(kimg=0.012, snap_kimg=0.004),
        "shapes",
        source=source,
        out=tmp_path,
        progress=False,
        precision=torch.bfloat16,
    )
    assert (resumed.resumed_from, resumed.clips_seen) == (8, 12)


def test_snapshot_round_trip_renders_identical_videos(tmp_path):
    trainer = Trainer(tiny(), Shapes(32, count=8))
    trainer.step()
    path = save_snapshot(tmp_path, trainer.G_ema, tiny(), trainer.clips_seen)
    G, meta = load_snapshot(path)
    assert meta["resolution"] == 32 and meta["clip_frames"] == 16 and meta["version"]
    z, zm = torch.randn(2, G.z_dim), torch.randn(2, G.motion_dim)
    t = torch.linspace(0, 1, 5)[None].expand(2, -1)
    with torch.no_grad():
        torch.testing.assert_close(G(z, zm, t), trainer.G_ema(z, zm, t), rtol=0, atol=0)


def test_ctrl_c_saves_after_the_step_and_the_same_command_resumes(tmp_path, monkeypatch, capsys):
    import os
    import signal

    source = Shapes(32, count=8)
    preset = tiny(kimg=0.012, snap_kimg=0.012, d_reg_interval=2)
    whole = train(preset, "shapes", source=source, out=tmp_path / "a", progress=False)

    original = Trainer.step

    def step_then_interrupt(self):
        stats = original(self)
        if self.step_index == 2:
            os.kill(os.getpid(), signal.SIGINT)  # as if the user pressed Ctrl-C during step 2
        return stats

    monkeypatch.setattr(Trainer, "step", step_then_interrupt)
    capsys.readouterr()
    stopped = train(preset, "shapes", source=source, out=tmp_path / "b", progress=False)
    monkeypatch.setattr(Trainer, "step", original)
    assert stopped.interrupted and stopped.clips_seen == 8 and stopped.snapshots == []
    assert "stopping after this step" in capsys.readouterr().err
    resumed = train(preset, "shapes", source=source, out=tmp_path / "b", progress=False)
    assert (resumed.resumed_from, resumed.clips_seen, resumed.interrupted) == (8, 12, False)
    assert torch.equal(params(load_snapshot(whole.run_dir)[0]), params(load_snapshot(resumed.run_dir)[0]))


# ---------------------------------------------------------------- nothing lost, nothing silently wrong (issue 11)

from cli_helpers import cli_error  # noqa: E402

TRAIN = ["train", "--data", "shapes", "--kimg", "0.004", "--batch", "4", "--snap-kimg", "0.004", "--quiet"]


def cli_train(capsys, out, *args):
    from digan.cli.main import main

    code = main([*TRAIN, "--out", str(out), *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.err


def test_a_run_whose_options_file_is_cut_short_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    assert cli_train(capsys, tmp_path)[0] == 0
    options = tmp_path / "shapes-tiny-32" / "training_options.json"
    good = options.read_text()

    from pathlib import Path

    real = Path.write_text

    def cut_short(self, text, *a, **k):  # a kill in the middle of writing the options
        real(self, text[: len(text) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", cut_short)
    assert cli_train(capsys, tmp_path, "--kimg", "0.008")[0] == 130  # "digan: interrupted"
    monkeypatch.setattr(Path, "write_text", real)
    assert options.read_text() == good  # written atomically: the old file is whole
    assert not [p for p in options.parent.iterdir() if p.name.startswith(".")]

    options.write_text(good[:40])  # as an older, non-atomic version could leave it
    line = cli_error(capsys, *TRAIN, "--out", tmp_path, "--kimg", "0.008")
    assert "training_options.json: unreadable (JSONDecodeError" in line and "delete it to resume" in line
    options.unlink()  # what the message offers: the state's own preset is checked instead
    code, err = cli_train(capsys, tmp_path, "--kimg", "0.008")
    assert code == 0 and "resuming from 0.004 kimg" in err


def test_changed_options_are_named_and_resume_says_where_it_starts(tmp_path, capsys):
    assert cli_train(capsys, tmp_path)[0] == 0
    line = cli_error(capsys, *TRAIN, "--out", tmp_path, "--lr", "0.001", "--r1-gamma", "0.5")
    assert "holds a run with other options (training.lr: 0.005 -> 0.001; training.r1_gamma: 0.05 -> 0.5)" in line
    code, err = cli_train(capsys, tmp_path, "--kimg", "0.008")
    assert code == 0 and "resuming from 0.004 kimg" in err


def test_auto_precision_resumes_a_run_in_the_arithmetic_it_started_in(tmp_path, capsys, monkeypatch):
    import digan.utils.runtime as runtime

    options = tmp_path / "shapes-tiny-32" / "training_options.json"
    monkeypatch.setattr(runtime, "BF16_CPU_TRAINING_MIN_RESOLUTION", 32)  # auto may pick bf16 for tiny-32 here
    monkeypatch.setattr(runtime, "native_bf16", lambda device: False)  # begun where auto is float32
    assert cli_train(capsys, tmp_path)[0] == 0
    assert json.loads(options.read_text())["precision"] == "float32"
    monkeypatch.setattr(runtime, "native_bf16", lambda device: True)  # continued where a new run would be bf16
    code, err = cli_train(capsys, tmp_path, "--kimg", "0.008")
    assert code == 0 and "resuming from 0.004 kimg" in err
    assert json.loads(options.read_text())["precision"] == "float32"
    line = cli_error(capsys, *TRAIN, "--out", tmp_path, "--kimg", "0.012", "--precision", "bf16")
    assert 'other options (precision: "float32" -> "bf16")' in line  # asked for by name: refused, as before
    new = tmp_path / "new"
    assert cli_train(capsys, new)[0] == 0  # a new run chooses by the machine
    assert json.loads((new / "shapes-tiny-32" / "training_options.json").read_text())["precision"] == "bf16"
    monkeypatch.undo()
    monkeypatch.setattr(runtime, "native_bf16", lambda device: True)
    small = tmp_path / "small"
    assert cli_train(capsys, small)[0] == 0  # and by the preset: tiny-32's CPU step is slower in bf16
    assert json.loads((small / "shapes-tiny-32" / "training_options.json").read_text())["precision"] == "float32"


def test_a_state_of_other_networks_is_one_line_that_names_the_difference(tmp_path, capsys):
    assert cli_train(capsys, tmp_path)[0] == 0
    state_path = tmp_path / "shapes-tiny-32" / "training-state.pt"
    other = Trainer(tiny(clip_frames=8).replace_training(batch=4), Shapes(32, count=8))
    other.G = Trainer(get_preset("small-64").replace_training(batch=4), Shapes(64, count=8)).G  # wrong tensors
    state = other.state_dict()
    torch.save(state, state_path)
    line = cli_error(capsys, *TRAIN, "--out", tmp_path, "--kimg", "0.008")
    assert "a training state of other networks or training options (training.clip_frames: 8 -> 16)" in line
    state["preset"] = tiny().to_json()  # a preset that matches, with tensors that do not
    torch.save(state, state_path)
    line = cli_error(capsys, *TRAIN, "--out", tmp_path, "--kimg", "0.008")
    assert "training-state.pt: does not fit the networks of preset tiny-32 (RuntimeError" in line


def test_a_crafted_state_is_refused_in_one_line_and_never_run(tmp_path, capsys):
    from pathlib import Path

    assert cli_train(capsys, tmp_path)[0] == 0
    marker = tmp_path / "ran"

    class Crafted:
        def __reduce__(self):
            return Path.touch, (marker,)

    torch.save({"step": 1, "G": Crafted()}, tmp_path / "shapes-tiny-32" / "training-state.pt")
    line = cli_error(capsys, *TRAIN, "--out", tmp_path, "--kimg", "0.008")
    assert "training-state.pt: not a valid training state" in line and "without running any of it" in line
    assert "weights_only" not in line and not marker.exists()


def test_stale_temporaries_in_the_run_directory_are_removed_at_start(tmp_path, capsys):
    run_dir = tmp_path / "shapes-tiny-32"
    run_dir.mkdir()
    stale = run_dir / ".training-state.pt.0123abcd.tmp"
    stale.write_bytes(b"\0" * 100_000)  # a partial state from a killed save
    (run_dir / "notes.tmp").write_text("mine")
    code, err = cli_train(capsys, tmp_path)
    assert code == 0 and not stale.exists() and (run_dir / "notes.tmp").exists()
    assert "removed 1 temporary file left by an interrupted write" in err


def test_a_kill_before_the_state_keeps_the_samples_and_one_metrics_line_each(tmp_path, monkeypatch):
    import digan.training.loop

    source = Shapes(32, count=8)
    whole = train(tiny(kimg=0.016, snap_kimg=0.008), "shapes", source=source, out=tmp_path / "a", progress=False)
    saved = digan.training.loop.save_state
    calls = []

    def killed_at_the_second_snapshot(path, state):
        calls.append(state["clips_seen"])
        if state["clips_seen"] == 16:
            raise KeyboardInterrupt  # as kill -9 between the samples and the state
        saved(path, state)

    monkeypatch.setattr(digan.training.loop, "save_state", killed_at_the_second_snapshot)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(kimg=0.016, snap_kimg=0.008), "shapes", source=source, out=tmp_path / "b", progress=False)
    monkeypatch.setattr(digan.training.loop, "save_state", saved)
    run_dir = tmp_path / "b" / "shapes-tiny-32"
    assert calls == [8, 16]
    assert (run_dir / "samples-0000000016.mp4").is_file() and (run_dir / "samples-0000000016.gif").is_file()
    assert [json.loads(line)["kimg"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [0.008, 0.016]

    rest = train(tiny(kimg=0.016, snap_kimg=0.008), "shapes", source=source, out=tmp_path / "b", progress=False)
    assert (rest.resumed_from, rest.clips_seen) == (8, 16)
    assert torch.equal(params(load_snapshot(whole.run_dir)[0]), params(load_snapshot(rest.run_dir)[0]))
    log = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["kimg"] for r in log] == [0.008, 0.016]  # the line of the lost state was written once, again
    first = [json.loads(line) for line in (whole.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["G_motion"] for r in log] == [r["G_motion"] for r in first]


# ---------------------------------------------------------------- issue 24, item 16: what a state says of itself


@pytest.fixture(scope="module")
def one_step_run(tmp_path_factory):
    """A run of one step (4 clips) written by `digan train`, copied by each test that changes its state."""
    from digan.cli.main import main

    out = tmp_path_factory.mktemp("one-step")
    assert main([*TRAIN, "--out", str(out), "--workers", "0"]) == 0
    return out


def crafted_state(one_step_run, tmp_path, **changes):
    import shutil

    shutil.copytree(one_step_run, tmp_path, dirs_exist_ok=True)
    path = tmp_path / "shapes-tiny-32" / "training-state.pt"
    state = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if key == "adam_step":
            for s in state["opt_G"]["state"].values():
                s["step"] = torch.tensor(float(value))
        else:
            state[key] = value
    torch.save(state, path)


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"step": 10**15},
            "step 1000000000000000 at batch 4 is 4,000,000,000,000,000 clips, but the state says 4 clips seen",
        ),
        ({"step": -3}, "step -3 is not a step count from 0 to"),
        ({"step": "1"}, "step 1 is not a step count"),
        ({"step": 2**70, "clips_seen": 2**72}, "is not a step count"),
        (
            {"step": 5, "clips_seen": 20},
            "step 5, but its G optimiser has taken 1 steps: not a state this library wrote",
        ),
        ({"adam_step": 7}, "step 1, but its G optimiser has taken 7 steps"),
    ],
)
def test_a_state_whose_step_disagrees_with_itself_is_not_trusted(one_step_run, tmp_path, capsys, changes, message):
    """A crafted step of 10**15 ended the run at once as 'trained'; a negative one failed in numpy's seeding."""
    crafted_state(one_step_run, tmp_path, **changes)
    line = cli_error(capsys, *TRAIN, "--out", tmp_path, "--kimg", "0.008", "--workers", "0")
    assert "training-state.pt: " in line and message in line, line


def test_a_state_that_agrees_with_itself_resumes(one_step_run, tmp_path, capsys):
    crafted_state(one_step_run, tmp_path)
    code, err = cli_train(capsys, tmp_path, "--kimg", "0.008", "--workers", "0")
    assert code == 0 and "resuming from 0.004 kimg" in err


@pytest.mark.parametrize("option", [["--clip-frames", "100"], ["--clip-stride", "40"]])
def test_a_refused_run_leaves_no_folder_behind(tmp_path, capsys, option):
    code, err = cli_train(capsys, tmp_path / "runs", *option)
    assert code == 2 and "no video has the" in err.splitlines()[-1]  # after a warning for each video
    assert not (tmp_path / "runs").exists()  # neither the run directory nor its parent


# ---------------------------------------------------------------- issue 24, item 4: numbers that size training


def test_loader_workers_are_capped_at_the_cores_and_said_so(tmp_path, capsys, monkeypatch):
    """--workers 100000 forked as many processes and set off the OOM killer for the whole machine."""
    import digan.training.loop as loop
    from digan.utils import runtime

    asked = []
    real = loop.PrefetchedBatches

    def recorded(batches, start, stop, workers, **kwargs):
        asked.append(workers)
        return real(batches, start, stop, 0, **kwargs)  # decode on this thread: the test forks nothing

    monkeypatch.setattr(loop, "PrefetchedBatches", recorded)
    monkeypatch.setattr(runtime, "available_cores", lambda: 3)
    code, err = cli_train(capsys, tmp_path, "--workers", "100000")
    assert code == 0 and asked == [3]
    assert "train: 100000 loader workers asked for, but this process may use 3 cores: using 3" in err
    code, err = cli_train(capsys, tmp_path / "again", "--workers", "0")
    assert code == 0 and asked == [3, 0] and "asked for" not in err


@pytest.mark.parametrize(
    "option, hint",
    [
        (["--set", "training.sample_seeds=100000000"], "(the sample grid: "),
        (["--fvd-clips", "1000000000000"], "(the periodic FVD: "),
    ],
)
def test_sample_grid_and_periodic_fvd_sizes_are_checked_before_training(tmp_path, capsys, option, hint):
    """Both were sized only at the first snapshot, after the training they would have lost."""
    code, err = cli_train(capsys, tmp_path / "runs", *option)
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.startswith("digan: error: training tiny-32") and hint in last, last
    flag = "--set training.sample_seeds" if "sample" in hint else "--fvd-clips"
    assert f"use {flag} " in last and "or less" in last
    assert not (tmp_path / "runs").exists()
