import json

import pytest

from digan.cli import main, parse_seeds, parse_size, CliError
from digan.data.io import read_video


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dry_run_prints_resolved_options(capsys):
    code, out, _ = run(capsys, "train", "--data", "shapes", "--preset", "small-64", "--batch", "8", "--kimg", "3", "--dry-run")
    options = json.loads(out)
    assert code == 0
    assert options["preset"]["name"] == "small-64"
    assert options["preset"]["training"]["batch"] == 8 and options["preset"]["training"]["kimg"] == 3.0
    assert options["preset"]["generator"]["resolution"] == 64
    assert options["run_dir"].endswith("shapes-small-64")


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "no-such-data"], "unknown dataset"),
    (["train", "--data", "shapes", "--preset", "huge"], "unknown preset"),
    (["train", "--data", "shapes", "--resolution", "48"], "cannot produce 48x48"),
    (["generate", "--ckpt", "missing-run", "--out", "x"], "no such file"),
])
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
    code, out, _ = run(capsys, "train", "--data", "shapes", "--out", str(tmp_path), "--kimg", "0.004",
                       "--batch", "4", "--snap", "0.004")
    assert code == 0 and "trained 0.00 kimg" in out
    run_dir = tmp_path / "shapes-tiny-32"
    assert (run_dir / "training_options.json").exists() and (run_dir / "metrics.jsonl").exists()
    code, _, _ = run(capsys, "generate", "--ckpt", str(run_dir), "--out", str(tmp_path / "gen"),
                     "--seeds", "0-2", "--frames", "6", "--format", "mp4,gif", "--quiet")
    assert code == 0
    assert read_video(tmp_path / "gen" / "seed0002.mp4").shape == (6, 32, 32, 3)
    assert read_video(tmp_path / "gen" / "grid.gif").shape[0] == 6


@pytest.mark.parametrize("command", ["train", "generate", "demo"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    assert exit.value.code == 0 and "usage: digan " + command in capsys.readouterr().out


def test_parsers():
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
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
        code, _, _ = run(capsys, "generate", "--ckpt", str(tmp_path / "run"), "--out", str(tmp_path / mode),
                         "--seeds", "1", "--frames", "2", "--size", "64", "--grids", mode, "--quiet")
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
    from digan.cli import build_parser

    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices


def test_every_command_describes_itself():
    commands = subcommands()
    assert {"train", "generate", "interpolate", "demo", "prepare", "fvd", "evaluate"} <= set(commands)
    for name, parser in commands.items():
        assert parser.description and len(parser.description) > 40, name


@pytest.mark.parametrize("command, new, old", [
    (["train", "--data", "shapes"], ["--clip-frames", "8"], ["--frames", "8"]),
    (["train", "--data", "shapes"], ["--size", "64"], ["--resolution", "64"]),
    (["prepare", "src", "dest"], ["--size", "16"], ["--resolution", "16"]),
    (["prepare", "src", "dest"], ["--size", "16"], ["-r", "16"]),
    (["prepare", "src", "dest", "--size", "16"], ["--quiet"], ["--no-progress"]),
    (["evaluate", "--ckpt", "run"], ["--jsonl", "m.jsonl"], ["--out", "m.jsonl"]),
    (["evaluate", "--ckpt", "run"], ["--size", "64"], ["--resolution", "64"]),
])
def test_old_spellings_parse_as_the_new_ones_and_stay_out_of_help(command, new, old):
    parsed_new = vars(subcommands()[command[0]].parse_args(command[1:] + new))
    parsed_old = vars(subcommands()[command[0]].parse_args(command[1:] + old))
    assert {k: v for k, v in parsed_new.items() if k != "func"} == {k: v for k, v in parsed_old.items() if k != "func"}
    help_text = subcommands()[command[0]].format_help()
    assert new[0] in help_text and f"{old[0]} " not in help_text and f"{old[0]}\n" not in help_text
