"""`digan share`: a run's snapshot as a model folder whose card states the run's own figures, read back from the
card's tables, and says so where the run recorded none."""

import json
import re

import numpy as np
import pytest
import torch
from cli_helpers import cli_error

from digan.apps.share import share
from digan.checkpoint import from_pretrained, load_snapshot, save_snapshot
from digan.cli.main import main
from digan.config import get_preset
from digan.models import Generator
from digan.sampling import render_videos
from digan.training.run import write_options
from digan.utils.files import sha256_file

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = [
    "generator.z_dim=16",
    "generator.motion_dim=16",
    "generator.w_dim=16",
    "generator.channel_base=256",
    "generator.channel_max=16",
    "generator.fourier_features=8",
    "training.clip_frames=4",
]
LOG = [  # two snapshots' lines, the second rewritten by a resume (the last one counts), and one past the snapshot
    {
        "kimg": 0.008,
        "G_image": 0.7,
        "clips_per_s": 4.0,
        "device": "cpu, 2 threads",
        "fvd64_16f": 812.25,
        "kvd64_16f": 0.5,
    },
    {"kimg": 0.016, "G_image": 0.6, "clips_per_s": 1.0, "device": "cpu, 2 threads", "fvd64_16f": 1.0},
    {
        "kimg": 0.016,
        "G_image": 0.6,
        "clips_per_s": 2.0,
        "device": "NVIDIA H100 80GB HBM3",
        "fvd64_16f": 640.125,
        "kvd64_16f": 0.25,
    },
    {"kimg": 0.024, "G_image": 0.5, "clips_per_s": 2.0, "device": "cpu, 2 threads", "fvd64_16f": 3.0},
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run directory as `digan train` leaves it: two snapshots of a small generator, its options, its log."""
    preset = get_preset("tiny-32").override(SMALL)
    run = tmp_path_factory.mktemp("runs") / "shapes-tiny-32"
    torch.manual_seed(0)
    for clips in (8, 16):
        save_snapshot(run, Generator(preset.generator).eval(), preset, clips, {"data": "shapes", "train_fps": 8.0})
    write_options(
        run,
        {
            "data": "shapes",
            "dataset": "shapes: 1024 videos at 32x32",
            "precision": "bf16",
            "preset": preset.to_dict(),
            "init": {"path": "/somewhere/runs/base", "sha256": "ab" * 32},
        },
    )
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in LOG[:3]) + '{"kimg": 0.0')  # cut short
    return run


def table(card: str, heading: str) -> list[list[str]]:
    """The rows of the markdown table under `## heading`, as lists of cells (header and rule left out)."""
    section = card.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")] for line in section.splitlines() if line.startswith("|")
    ]
    return rows[2:]


def test_the_card_states_the_runs_own_figures(run, tmp_path, capsys):
    snapshot = run / "snapshot-0000000016.safetensors"
    evaluated = tmp_path / "scores.jsonl"
    lines = [
        {
            "metric": "fvd2048_16f",
            "fvd": 321.5,
            "value": 321.5,
            "num_real": 2048,
            "num_fake": 2048,
            "snapshot": str(snapshot),
            "seed": 0,
            "detector": "i3d",
            "detector_sha256": "cd" * 32,
            "dataset": "shapes",
            "digan_version": "0.2.0",
        },  # recorded by path only
        {
            "metric": "digan-paper",
            "fvd": 99.0,
            "kvd": 7.5,
            "value": 99.0,
            "num_real": 100,
            "num_fake": 2048,
            "snapshot": "elsewhere/model.safetensors",
            "snapshot_sha256": sha256_file(snapshot),
        },  # by SHA-256
        {"metric": "fvd2048_16f", "fvd": 5.0, "value": 5.0, "snapshot": str(run / "snapshot-0000000008.safetensors")},
    ]
    evaluated.write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = tmp_path / "model"
    assert (
        main(
            [
                "share",
                "--ckpt",
                str(run),
                "--out",
                str(out),
                "--jsonl",
                str(evaluated),
                "--seeds",
                "0-2",
                "--license",
                "mit",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    said = capsys.readouterr().out
    assert f"wrote {out}: config.json, model.safetensors (SHA-256 {sha256_file(snapshot)[:12]})" in said
    assert "1 line of other snapshots left out" in said and "4 sample GIFs" in said
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: digan\n") and "\nlicense: mit\n" in card

    rows = dict(table(card, "Training"))
    assert rows["data"] == "shapes (shapes: 1024 videos at 32x32)" and rows["preset"] == "tiny-32"
    assert rows["kimg"] == "0.016" and rows["clip"] == "4 frames at 8 fps" and rows["precision"] == "bf16"
    seconds = float(re.match(r"([\d.]+) s,", rows["training time"]).group(1))
    assert seconds == pytest.approx(8 / 4.0 + 8 / 2.0, abs=0.05)  # each snapshot's clips over its rate (the last line)
    assert rows["device"] == "cpu, 2 threads; NVIDIA H100 80GB HBM3"
    assert rows["weights"] == f"`model.safetensors`, SHA-256 `{sha256_file(out / 'model.safetensors')}`"
    assert sha256_file(out / "model.safetensors") == sha256_file(snapshot)
    assert rows["snapshot"] == "`snapshot-0000000016.safetensors` (the same bytes)"
    assert rows["started from"].startswith(f"`base`, SHA-256 `{'ab' * 32}`")

    scores = [(metric, statistic, float(value), clips) for metric, statistic, value, clips, _ in table(card, "Scores")]
    assert scores == [
        ("fvd64_16f", "FVD", 640.125, "64 / 64"),
        ("kvd64_16f", "KVD", 0.25, "64 / 64"),
        ("fvd2048_16f", "FVD", 321.5, "2048 / 2048"),
        ("digan-paper", "FVD", 99.0, "100 / 2048"),
        ("digan-paper", "KVD", 7.5, "100 / 2048"),
    ]
    assert "1 line of scores.jsonl is of other snapshots and was left out." in card

    samples = sorted(p.relative_to(out).as_posix() for p in (out / "samples").iterdir())
    assert samples == ["samples/grid.gif", "samples/seed0000.gif", "samples/seed0001.gif", "samples/seed0002.gif"]
    for link in re.findall(r"\]\(([^)]+)\)", card):
        assert (out / link).is_file(), link
    # the folder renders what the run's snapshot renders
    G, meta = from_pretrained(out)
    G_run, _ = load_snapshot(run)
    t = torch.tensor([0.0, 1.0, 2.5])
    assert np.array_equal(render_videos(G, [4], t), render_videos(G_run, [4], t))
    assert (meta["data"], meta["train_fps"], meta["clips_seen"]) == ("shapes", 8.0, 16)


def test_a_run_without_scores_or_a_log_says_so(run, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("snapshot-0000000008.safetensors", "snapshot-0000000008.json"):
        (bare / name).write_bytes((run / name).read_bytes())
    shared = share(bare, tmp_path / "model", seeds=[1])
    card = (tmp_path / "model" / "README.md").read_text()
    rows = dict(table(card, "Training"))
    assert rows["training time"] == "not recorded (no metrics.jsonl beside the snapshot)"
    assert rows["device"].startswith("not recorded") and "precision" not in rows
    assert (
        shared.scores == []
        and "No scores: none was logged during training for this snapshot" in card
        and not table(card, "Scores")
    )
    assert "# license: state it here" in card and "Not stated: fill in the `license:` line" in card
    assert [p.name for p in shared.samples] == ["seed0001.gif"]  # one seed: no grid
    # the log's first snapshot, whose line has the scores of that snapshot alone
    shared = share(run / "snapshot-0000000008.json", tmp_path / "first", seeds=[1])
    assert [(s.metric, s.value) for s in shared.scores] == [("fvd64_16f", 812.25), ("kvd64_16f", 0.5)]
    rows = dict(table((tmp_path / "first" / "README.md").read_text(), "Training"))
    assert rows["kimg"] == "0.008" and float(rows["training time"].split()[0]) == pytest.approx(2.0, abs=0.05)


def test_a_converted_models_card_says_where_it_came_from(tmp_path):
    preset = get_preset("tiny-32").override(SMALL)
    source = {
        "format": "authors-network-snapshot",
        "file": "network-snapshot-004000.pkl",
        "sha256": "ef" * 32,
        "kimg": 4000,
        "training_set_kwargs": {"path": "/data/UCF-101/train", "resolution": 32, "nframes": 16},
    }
    torch.manual_seed(0)
    save_snapshot(tmp_path / "run", Generator(preset.generator).eval(), preset, 4_000_000, {"source": source})
    share(tmp_path / "run", tmp_path / "model", seeds=[0])
    card = (tmp_path / "model" / "README.md").read_text()
    assert "converted from the DIGAN authors' released training code" in card
    origin = card.split("## Where it came from\n", 1)[1]
    assert f"`network-snapshot-004000.pkl` (SHA-256 `{'ef' * 32}`, 4000 kimg by its name)" in origin
    kwargs = json.loads(origin.split("```json\n", 1)[1].split("```", 1)[0])
    assert kwargs == source["training_set_kwargs"]
    assert "Not verified for this file" in origin and "No scores: the authors' file records none" in card
    rows = dict(table(card, "Training"))
    assert rows["data"] == "/data/UCF-101/train" and rows["kimg"] == "4000"
    assert rows["training time"] == rows["device"] == "not recorded in the authors' file"
    assert json.loads((tmp_path / "model" / "config.json").read_text())["source"] == source


def test_bad_output_folders_and_result_files_are_one_line(run, tmp_path, capsys):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert "--out holds files that are not a model folder" in cli_error(
        capsys, "share", "--ckpt", run, "--out", tmp_path / "other"
    )
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    model = tmp_path / "model"
    assert main(["share", "--ckpt", str(run), "--out", str(model), "--seeds", "0", "--quiet"]) == 0
    assert "--out already holds a model folder; give --force" in cli_error(
        capsys, "share", "--ckpt", run, "--out", model
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"metric": "fvd2048_16f", "value": 1}\n{"kimg": 3}\n')
    assert f"{bad}:2: not a result line of digan evaluate (--jsonl)" in cli_error(
        capsys, "share", "--ckpt", run, "--out", model, "--force", "--jsonl", bad
    )
    assert "cannot read the --jsonl file" in cli_error(
        capsys, "share", "--ckpt", run, "--out", model, "--force", "--jsonl", tmp_path / "missing.jsonl"
    )
    assert (model / "README.md").is_file()  # a failed share left the folder as it was
    assert (
        main(
            [
                "share",
                "--ckpt",
                str(run / "snapshot-0000000008.json"),
                "--out",
                str(model),
                "--seeds",
                "0",
                "--force",
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((model / "config.json").read_text())["clips_seen"] == 8
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary folder left
