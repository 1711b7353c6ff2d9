import json

import pytest

from digan.cli.common import CliError, parse_seeds, parse_size
from digan.cli.main import main
from digan.data.io import read_video


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dry_run_prints_resolved_options(capsys):
    code, out, _ = run(
        capsys, "train", "--data", "shapes", "--preset", "small-64", "--batch", "8", "--kimg", "3", "--dry-run"
    )
    options = json.loads(out)
    assert code == 0
    assert options["preset"]["name"] == "small-64"
    assert options["preset"]["training"]["batch"] == 8 and options["preset"]["training"]["kimg"] == 3.0
    assert options["preset"]["generator"]["resolution"] == 64
    assert options["run_dir"].endswith("shapes-small-64")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--data", "no-such-data"], "unknown dataset"),
        (["train", "--data", "shapes", "--preset", "huge"], "unknown --preset 'huge'"),
        (["train", "--data", "shapes", "--size", "48"], "preset tiny-32 cannot train at --size 48"),
        (["generate", "--ckpt", "missing-run", "--out", "x"], "no such file"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["train", "--data", "shapes", "--batch", "-3"], ["train"], ["nope"]])
def test_usage_errors_are_one_line(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_corrupt_checkpoint(tmp_path, capsys):
    (tmp_path / "snapshot-0000000001.json").write_text("{not json")
    (tmp_path / "snapshot-0000000001.safetensors").write_bytes(b"garbage")
    code, _, err = run(capsys, "generate", "--ckpt", str(tmp_path), "--out", str(tmp_path / "out"))
    assert code == 2 and "not a valid snapshot" in err


def test_train_then_generate(tmp_path, capsys):
    code, out, _ = run(
        capsys,
        "train",
        "--data",
        "shapes",
        "--out",
        str(tmp_path),
        "--kimg",
        "0.004",
        "--batch",
        "4",
        "--snap-kimg",
        "0.004",
    )
    assert code == 0 and "trained 0.00 kimg" in out
    run_dir = tmp_path / "shapes-tiny-32"
    assert (run_dir / "training_options.json").exists() and (run_dir / "metrics.jsonl").exists()
    code, _, _ = run(
        capsys,
        "generate",
        "--ckpt",
        str(run_dir),
        "--out",
        str(tmp_path / "gen"),
        "--seeds",
        "0-2",
        "--frames",
        "6",
        "--formats",
        "mp4,gif",
        "--quiet",
    )
    assert code == 0
    assert read_video(tmp_path / "gen" / "seed0002.mp4").shape == (6, 32, 32, 3)
    assert read_video(tmp_path / "gen" / "grid.gif").shape[0] == 6


@pytest.mark.parametrize("command", ["train", "generate", "demo"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0 and "usage: digan " + command in capsys.readouterr().out


def test_parsers():
    assert parse_seeds("0-3,7") == (0, 1, 2, 3, 7)
    assert parse_size("128x256") == (128, 256) and parse_size("64") == (64, 64)
    for bad in ("", "a-b", "-1"):
        with pytest.raises(CliError):
            parse_seeds(bad)
    with pytest.raises(CliError):
        parse_size("0x3")


def test_generate_grid_modes(tmp_path, capsys, tiny_G, tiny_preset):
    from digan.checkpoint import save_snapshot

    save_snapshot(tmp_path / "run", tiny_G, tiny_preset, 16)
    videos = {}
    for mode in ("nested", "scaled"):
        code, _, _ = run(
            capsys,
            "generate",
            "--ckpt",
            str(tmp_path / "run"),
            "--out",
            str(tmp_path / mode),
            "--seeds",
            "1",
            "--frames",
            "2",
            "--size",
            "64",
            "--grids",
            mode,
            "--quiet",
        )
        assert code == 0
        videos[mode] = read_video(tmp_path / mode / "seed0001.mp4").astype(int)
    assert videos["nested"].shape == videos["scaled"].shape == (2, 64, 64, 3)
    assert abs(videos["nested"] - videos["scaled"]).mean() > 1  # the coarse scales are sampled differently


def test_version(capsys):
    from digan.version import __version__

    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out.strip() == f"digan {__version__}"


def subcommands():
    from digan.cli.main import build_parser

    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices


def test_every_command_describes_itself():
    commands = subcommands()
    assert {"train", "generate", "interpolate", "demo", "prepare", "fvd", "evaluate"} <= set(commands)
    for name, parser in commands.items():
        assert parser.description and len(parser.description) > 40, name


@pytest.mark.parametrize(
    "command, new, old",
    [  # the 0.1 spellings that 0.2 removed (CHANGELOG.md)
        (["train", "--data", "shapes"], ["--clip-frames", "8"], ["--frames", "8"]),
        (["train", "--data", "shapes"], ["--size", "64"], ["--resolution", "64"]),
        (["train", "--data", "shapes"], ["--snap-kimg", "1"], ["--snap", "1"]),
        (["train", "--data", "shapes"], ["--clip-stride", "2"], ["--stride", "2"]),
        (["prepare", "src", "dest"], ["--size", "16"], ["-r", "16"]),
        (["prepare", "src", "dest", "--size", "16"], ["--quiet"], ["--no-progress"]),
        (["evaluate", "--ckpt", "run"], ["--jsonl", "m.jsonl"], ["--out", "m.jsonl"]),
        (["generate", "--ckpt", "run", "--out", "x"], ["--formats", "gif"], ["--format", "gif"]),
        (["gallery", "--ckpt", "run", "--out", "x"], ["--videos", "4"], ["--seeds", "4"]),
    ],
)
def test_only_the_current_spellings_parse(command, new, old, capsys):
    parser = subcommands()[command[0]]
    parser.parse_args(command[1:] + new)
    with pytest.raises(SystemExit):
        parser.parse_args(command[1:] + old)
    assert "unrecognized arguments" in capsys.readouterr().err or command[0] == "prepare"  # there: --size missing


# ---------------------------------------------------------------- bad input: one line, nothing written (issue 11)

from cli_helpers import cli_error  # noqa: E402


@pytest.fixture(scope="module")
def snapshot_run(tmp_path_factory):
    """A run directory with one tiny-32 snapshot (8-frame clips), inside a `runs/` folder of its own."""
    import torch

    from digan.checkpoint import save_snapshot
    from digan.config import get_preset
    from digan.models import Generator

    preset = get_preset("tiny-32").replace_training(clip_frames=8)
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("runs") / "shapes-tiny-32"
    save_snapshot(run, Generator(preset.generator).eval(), preset, 1000)
    return run


@pytest.fixture()
def one_gigabyte(monkeypatch):
    """Memory checks see 1 GiB free, whatever the machine has: the refusals do not depend on it."""
    monkeypatch.setattr("digan.utils.memory.available", lambda device="cpu": 2**30)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seed", "-1"], "argument --seed: must be a seed from 0"),
        (["--diffaugment", "bogus"], "unknown --diffaugment policy bogus: use a comma list of color, translation"),
        (["--kimg", "nan"], "argument --kimg: must be a finite number"),
        (["--kimg", "inf"], "argument --kimg: must be a finite number"),
        (["--snap-kimg", "nan"], "argument --snap-kimg: must be a finite number"),
        (["--lr", "inf"], "argument --lr: must be a finite number"),
        (["--r1-gamma", "-1"], "argument --r1-gamma: must be 0 or more"),
        (["--fvd-clips", "1"], "argument --fvd-clips: must be 0 (off) or at least 2"),
        (["--fvd-clips", "-5"], "argument --fvd-clips: must be 0 (off) or at least 2"),
        (["--clip-frames", "1"], "argument --clip-frames: must be at least 2"),
        (["--device", "bogus"], "--device bogus: not a device"),
        (["--size", "4096"], "cannot train at --size 4096: use a power of two from 16 to 256"),
        (["--set", "training.r1_gamma=-1"], "'training.r1_gamma=-1': --r1-gamma must be 0 or more"),
        (["--set", "generator.channel_base=0"], "'generator.channel_base=0': --set generator.channel_base must be at"),
        (["--set", "training.ema_kimg=0"], "--set training.ema_kimg must be positive or None, got 0.0"),
    ],
)
def test_train_refuses_bad_values_before_anything_runs(tmp_path, capsys, args, message):
    line = cli_error(capsys, "train", "--data", "shapes", "--out", tmp_path / "runs", *args)
    assert message in line
    assert not (tmp_path / "runs").exists()


def test_train_refuses_what_cannot_fit_and_says_what_would(tmp_path, capsys, one_gigabyte, monkeypatch):
    line = cli_error(capsys, "train", "--data", "shapes", "--out", tmp_path, "--size", "256")
    assert "training tiny-32 at 256x256, batch 16 would hold about" in line and "1.0 GB is free" in line
    assert "use --batch 1 or less" in line or "at most --size" in line
    monkeypatch.setattr("digan.utils.memory.available", lambda device="cpu": 2**28)  # 256 MiB: not even batch 1
    line = cli_error(capsys, "train", "--data", "shapes", "--out", tmp_path, "--size", "256", "--batch", "1")
    assert "at most --size 128 fits at --batch 1" in line
    assert list(tmp_path.iterdir()) == []


def test_out_that_is_a_file_is_refused_at_the_start(tmp_path, capsys, snapshot_run):
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    assert "exists and is not a folder" in cli_error(capsys, "generate", "--ckpt", snapshot_run, "--out", blocker)
    assert "is a file, not a folder" in cli_error(
        capsys, "interpolate", "--ckpt", snapshot_run, "--out", blocker / "sub"
    )
    assert "is a file, not a folder" in cli_error(capsys, "train", "--data", "shapes", "--out", blocker)
    assert "is a file, not a folder" in cli_error(capsys, "demo", "--out", blocker / "demo")
    assert blocker.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--t", "nan"], "cannot read --t times 'nan'"),
        (["--t", "0,inf"], "cannot read --t times '0,inf'"),
        (["--at", "nan"], "cannot read --at seconds 'nan'"),
        (["--psi", "nan"], "argument --psi: must be a finite number"),
        (["--psi", "1e30"], "--psi must be from -2 to 2 (1: no truncation, 0: the mean w), got 1e+30"),  # was black
        (["--psi", "-3"], "--psi must be from -2 to 2"),
        (["--start", "inf"], "argument --start: must be a finite number"),
        (["--seconds", "inf"], "argument --seconds: must be a finite number"),
        (["--fps", "nan"], "argument --fps: must be a finite number"),
        (["--device", "bogus"], "--device bogus: not a device"),
    ],
)
def test_generate_refuses_non_finite_times_and_psi(tmp_path, capsys, snapshot_run, args, message):
    assert message in cli_error(capsys, "generate", "--ckpt", snapshot_run, "--out", tmp_path / "out", *args)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "command, args, message",
    [
        ("generate", ["--size", "100000"], "frames of at most about"),
        ("generate", ["--size", "3000x4000"], "fit (--size)"),
        ("generate", ["--seconds", "1e9"], "frames fit (--frames, --seconds, --fps)"),
        ("generate", ["--seconds", "100000", "--formats", "gif"], "a GIF holds every frame"),
        ("generate", ["--seeds", "0-999999"], "videos fit at once (--seeds, --motion-seeds)"),
        ("interpolate", ["--steps", "100000", "--seeds", "0,1"], "use --steps"),
        ("interpolate", ["--seconds", "1e9"], "frames fit (--frames, --seconds, --fps)"),
    ],
)
def test_renders_that_cannot_fit_are_refused_up_front(
    tmp_path, capsys, snapshot_run, one_gigabyte, command, args, message
):
    line = cli_error(capsys, command, "--ckpt", snapshot_run, "--out", tmp_path / "out", "--quiet", *args)
    assert "would hold about" in line and "1.0 GB is free" in line and message in line
    assert not (tmp_path / "out").exists()


def test_what_the_refusal_suggests_fits(tmp_path, capsys, snapshot_run, one_gigabyte):
    import re

    line = cli_error(capsys, "generate", "--ckpt", snapshot_run, "--out", tmp_path, "--size", "100000")
    side = re.search(r"at most about (\d+)x\1 pixels", line).group(1)
    assert 100 < int(side) < 100000
    line = cli_error(capsys, "interpolate", "--ckpt", snapshot_run, "--out", tmp_path, "--steps", "100000")
    steps = re.search(r"use --steps (\d+) or less", line).group(1)
    from digan.checkpoint import load_snapshot
    from digan.sampling.files import InterpolationRequest, interpolate_memory
    from digan.utils.memory import check

    G, _ = load_snapshot(snapshot_run)
    check("fits", *interpolate_memory(G, InterpolationRequest(steps=int(steps)), 8))  # no error: the suggestion fits
    with pytest.raises(ValueError):
        check("fits", *interpolate_memory(G, InterpolationRequest(steps=int(steps) + 100), 8))


def test_ckpt_may_be_the_folder_that_holds_one_run(tmp_path, capsys, snapshot_run):
    runs = snapshot_run.parent
    assert (
        main(
            [
                "generate",
                "--ckpt",
                str(runs),
                "--out",
                str(tmp_path / "one"),
                "--seeds",
                "1",
                "--frames",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    assert (tmp_path / "one" / "seed0001.mp4").is_file()
    import shutil

    several = tmp_path / "runs"
    for name in ("sky-tiny-32", "shapes-tiny-32"):
        shutil.copytree(snapshot_run, several / name)
    (several / "notes").mkdir()
    line = cli_error(capsys, "generate", "--ckpt", several, "--out", tmp_path / "two")
    assert "holds 2 runs (shapes-tiny-32, sky-tiny-32)" in line
    assert "no snapshot in this directory" in cli_error(
        capsys, "generate", "--ckpt", several / "notes", "--out", tmp_path / "two"
    )
    assert not (tmp_path / "two").exists()


def test_evaluate_refuses_a_negative_seed_and_a_folder_as_jsonl(tmp_path, capsys):
    assert "argument --seed: must be a seed" in cli_error(capsys, "evaluate", "--ckpt", "x", "--seed", "-1")
    assert "is a folder, not a file" in cli_error(capsys, "evaluate", "--ckpt", "x", "--jsonl", tmp_path)


def test_device_names_are_checked(monkeypatch):
    import torch

    from digan.cli.common import resolve_device

    assert resolve_device("cpu") == "cpu"
    for bad, message in [("bogus", "not a device"), ("meta", "not supported")]:
        with pytest.raises(CliError, match=message):
            resolve_device(bad)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(CliError, match="no MPS"):
        resolve_device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(CliError, match="sees 1 CUDA device"):
        resolve_device("cuda:3")


def test_set_replaces_preset_fields_after_the_named_options(capsys):
    code, out, _ = run(
        capsys,
        "train",
        "--data",
        "shapes",
        "--lr",
        "0.001",
        "--set",
        "training.lr=0.004",
        "--set",
        "generator.temporal_sigma=0.5",
        "--dry-run",
    )
    preset = json.loads(out)["preset"]
    assert code == 0 and preset["training"]["lr"] == 0.004 and preset["generator"]["temporal_sigma"] == 0.5


def test_a_bad_set_is_one_line(tmp_path, capsys):
    line = cli_error(capsys, "train", "--data", "shapes", "--out", tmp_path / "runs", "--set", "training.nope=1")
    assert "--set 'training.nope=1': training has no field 'nope'" in line
    assert not (tmp_path / "runs").exists()


# Every `digan train` flag that sets a preset field, its `--set` spelling, and values that neither may take
# (issue 24, 11): the flag is checked by its argparse type, `--set` by the preset's own checks.
FLAG_AND_SET = [
    ("--batch", "training.batch", ["0", "-4", "1.5", "x"]),
    ("--kimg", "training.kimg", ["0", "-1", "nan", "inf"]),
    ("--seed", "training.seed", ["-1", str(2**63), "1.5"]),
    ("--snap-kimg", "training.snap_kimg", ["0", "nan"]),
    ("--lr", "training.lr", ["0", "-0.1", "inf"]),
    ("--r1-gamma", "training.r1_gamma", ["-1", "nan"]),
    ("--clip-frames", "training.clip_frames", ["1", "0"]),
    ("--clip-stride", "training.clip_stride", ["0", "-2"]),
    ("--fvd-clips", "training.fvd_clips", ["1", "-5"]),
    ("--diffaugment", "training.diffaugment", ["bogus", "color,zoom"]),
    ("--size", "generator.resolution", ["0", "48", "1024"]),
]


@pytest.mark.parametrize("flag, field, value", [(f, s, v) for f, s, values in FLAG_AND_SET for v in values])
def test_a_flag_and_its_set_spelling_refuse_the_same_values(tmp_path, capsys, flag, field, value):
    """Before, `--set training.seed=-1` (or 2**63) passed the preset and failed in training with a traceback."""
    out = tmp_path / "runs"
    assert cli_error(capsys, "train", "--data", "shapes", "--out", out, f"{flag}={value}")
    assert f"--set '{field}={value}'" in cli_error(
        capsys, "train", "--data", "shapes", "--out", out, "--set", f"{field}={value}"
    )
    assert not out.exists()


def test_set_cannot_give_the_generator_and_the_discriminator_different_sizes(tmp_path, capsys):
    """Before, `--set generator.resolution=64` left the discriminator at 32 and training failed with an
    AssertionError; both resolutions at once are what `--size 64` sets, and train."""
    line = cli_error(capsys, "train", "--data", "shapes", "--out", tmp_path, "--set", "generator.resolution=64")
    assert "generator.resolution 64 and discriminator.resolution 32 differ: both are the training --size" in line
    code, out, _ = run(
        capsys,
        "train",
        "--data",
        "shapes",
        "--dry-run",
        "--set",
        "generator.resolution=64",
        "--set",
        "discriminator.resolution=64",
    )
    assert (
        code == 0
        and json.loads(out)["preset"]
        == json.loads(run(capsys, "train", "--data", "shapes", "--dry-run", "--size", "64")[1])["preset"]
    )
