"""One way for every command to end when asked: Ctrl-C or SIGTERM, one line, no temporary left, exit 130 or 143;
and one training per run directory."""

import importlib
import os
import signal
import time

import numpy as np
import pytest
import torch
from cli_helpers import cli_error
from process_helpers import digan, finish, temporaries, wait_until

from digan.checkpoint import STATE_NAME
from digan.cli.main import main
from digan.data.io import write_video

pytestmark = pytest.mark.usefixtures("one_thread")


class SigtermNotHandled(Exception):
    """SIGTERM reached the test's own handler: the command had none of its own."""


@pytest.fixture()
def sigterm_guard():
    """SIGTERM raises SigtermNotHandled unless a command handles it (instead of ending the test process)."""

    def guard(signum, frame):
        raise SigtermNotHandled

    previous = signal.signal(signal.SIGTERM, guard)
    yield
    signal.signal(signal.SIGTERM, previous)


def sigterm_after(monkeypatch, target: str, calls: int = 1) -> None:
    """Patch `module:attr` (or `module:Class.method`) so that its `calls`-th call runs, then SIGTERM arrives."""
    module, _, path = target.partition(":")
    owner = importlib.import_module(module)
    *parents, name = path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    original = getattr(owner, name)
    count = [0]

    def then_sigterm(*args, **kwargs):
        result = original(*args, **kwargs)
        count[0] += 1
        if count[0] == calls:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs here
        return result

    monkeypatch.setattr(owner, name, then_sigterm)


def fake_onnx_export(graph, inputs, path, **kwargs):
    with open(path, "wb") as f:
        f.write(b"half an ONNX file")


def two_video_folders(root):
    for name in ("a", "b"):
        for k in range(2):
            write_video(root / name / f"v{k}.mp4", np.full((9, 16, 16, 3), 40 * k, np.uint8))
    return root / "a", root / "b"


COMMANDS = {  # command line (RUN, OUT and DIR stand for paths), what is patched, after which call SIGTERM comes
    "generate": (
        [
            "generate",
            "--ckpt",
            "RUN",
            "--out",
            "OUT",
            "--seeds",
            "0-1",
            "--frames",
            "4",
            "--formats",
            "mp4,png",
            "--quiet",
        ],
        "digan.data.io:VideoWriter.write",
        2,
    ),
    "interpolate": (
        ["interpolate", "--ckpt", "RUN", "--out", "OUT", "--steps", "2", "--frames", "4", "--quiet"],
        "digan.data.io:VideoWriter.write",
        1,
    ),
    "gallery": (
        ["gallery", "--ckpt", "RUN", "--out", "OUT", "--videos", "2", "--quiet"],
        "digan.data.io:VideoWriter.write",
        1,
    ),
    "export": (["export", "--ckpt", "RUN", "--out", "OUT/g.onnx"], "torch.onnx:export", 1),
    "invert": (
        ["invert", "--ckpt", "RUN", "--video", "shapes:0", "--out", "OUT", "--steps", "1", "--starts", "1", "--quiet"],
        "digan.invert.fitfile:save_file",
        1,
    ),
    "prepare": (["prepare", "DIR/a", "OUT", "--size", "8", "--quiet"], "digan.data.store:stream_video", 1),
    "evaluate": (
        ["evaluate", "--ckpt", "RUN", "--data", "shapes", "--metrics", "fvd2048_16f", "--quiet"],
        "digan.cli.metrics:open_dataset",
        1,
    ),
    "fvd": (["fvd", "DIR/a", "DIR/b", "--frames", "9", "--quiet"], "digan.cli.metrics:folder_clips", 2),
    "train": (
        [
            "train",
            "--data",
            "shapes",
            "--out",
            "OUT",
            "--kimg",
            "1",
            "--batch",
            "4",
            "--snap-kimg",
            "0.008",
            "--workers",
            "0",
            "--quiet",
        ],
        "digan.training.loop:Trainer.step",
        3,
    ),
    "demo": (["demo", "--out", "OUT", "--kimg", "1"], "digan.training.loop:Trainer.step", 1),  # rendered on (exit 0)
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_sigterm_ends_every_command_like_ctrl_c(command, run, tmp_path, monkeypatch, capsys, sigterm_guard):
    """Today only `train` handled SIGTERM: the others died at once and left their temporaries behind."""
    argv, target, calls = COMMANDS[command]
    two_video_folders(tmp_path / "dirs")
    out = tmp_path / "out"
    argv = [a.replace("RUN", str(run)).replace("OUT", str(out)).replace("DIR", str(tmp_path / "dirs")) for a in argv]
    monkeypatch.setattr(torch.onnx, "export", fake_onnx_export)
    sigterm_after(monkeypatch, target, calls)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 143, err
    expected = {
        "prepare": f"terminated: run the same command again to resume into {out}",
        "train": "stopped at 0.01 kimg; run the same command to resume",
    }.get(command, "digan: terminated")
    assert err[-1] == expected
    assert temporaries(tmp_path) == []
    if command in ("train", "demo"):  # stops after the step, as for Ctrl-C, with the state saved to resume from
        assert (out / ("run" if command == "demo" else "shapes-tiny-32") / STATE_NAME).exists()
        assert not (out / "samples").exists()
    elif command != "prepare":  # nothing else was finished, so nothing else is there
        assert not [p for p in out.rglob("*") if p.is_file()] if out.exists() else True


def slow_render(run, out):
    """`generate` in a process of its own, a frame at a time, slowed: returned once its two temporaries (mp4 and
    PNG folder) are being written."""
    process = digan(
        "generate",
        "--ckpt",
        run,
        "--out",
        out,
        "--seeds",
        "0",
        "--frames",
        "64",
        "--chunk",
        "1",
        "--formats",
        "mp4,png",
        "--quiet",
        slow="digan.sampling.files:render_code",
        slow_s=0.2,
    )
    wait_until(lambda: len(temporaries(out)) == 2 or process.poll() is not None, what="the temporaries")
    return process


def test_an_outside_sigterm_removes_what_a_render_was_writing(run, tmp_path):
    """A real SIGTERM from another process, while `generate` streams frames to temporary files."""
    out = tmp_path / "out"
    process = slow_render(run, out)
    process.send_signal(signal.SIGTERM)
    code, _, err = finish(process)
    assert code == 143 and err.strip().splitlines() == ["digan: terminated"], err
    assert not out.exists()  # its temporaries, its lock file and the folder it made for them: nothing is left


def test_what_a_killed_render_left_is_removed_by_the_next(run, tmp_path, capsys):
    """SIGKILL leaves temporaries behind (nothing can run); a rerun removes them, as no live process holds them."""
    out = tmp_path / "out"
    process = slow_render(run, out)
    process.kill()
    finish(process)
    assert len(temporaries(out)) == 2
    assert main(["generate", "--ckpt", str(run), "--out", str(out), "--seeds", "0", "--frames", "4", "--quiet"]) == 0
    assert temporaries(out) == [] and sorted(p.name for p in out.iterdir()) == ["seed0000.mp4"]


def test_a_second_train_of_a_run_is_refused_with_the_holders_pid(tmp_path, capsys):
    """Today both ran: the second's start-up clean-up deleted the first's live temporary, and their files mixed."""
    args = [
        "train",
        "--data",
        "shapes",
        "--out",
        tmp_path,
        "--batch",
        "4",
        "--snap-kimg",
        "0.008",
        "--workers",
        "1",
        "--quiet",
    ]
    run_dir = tmp_path / "shapes-tiny-32"
    first = digan(*args, "--kimg", "1")
    try:
        wait_until(lambda: any(run_dir.glob("snapshot-*.json")) or first.poll() is not None, what="a snapshot")
        line = cli_error(capsys, *args, "--kimg", "0.004")
        assert f"shapes-tiny-32: in use by process {first.pid} (digan train); wait for it to finish" in line
        os.killpg(first.pid, signal.SIGTERM)  # to its loader worker too, as `timeout` does: it killed the worker
        code, _, err = finish(first)
    finally:
        first.kill()
    assert code == 143 and "run the same command to resume" in err.strip().splitlines()[-1], err
    assert (run_dir / STATE_NAME).exists() and temporaries(run_dir) == [] and not (run_dir / ".digan.lock").exists()
    log = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(log) == len({line.split(",")[0] for line in log})  # each snapshot's line once
