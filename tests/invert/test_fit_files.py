"""A fit's JSON crafted by hand: every mutation is one line or a fit that renders (issue 24, item 16)."""

import json
import shutil
from pathlib import Path

import pytest
from cli_helpers import cli_error
from json_mutations import DEEP, mutations

from digan.checkpoint import CheckpointError, load_snapshot
from digan.invert import load_fit
from digan.invert.fitfile import check_fit

OLD = Path(__file__).parents[1] / "fixtures" / "v0.1.0"


@pytest.fixture()
def fit_dir(tmp_path):
    """The 0.1.0 fixture fit and its run, the fit pointing at the copy of the run."""
    shutil.copytree(OLD / "run", tmp_path / "run")
    shutil.copytree(OLD / "fit", tmp_path / "fit")
    meta = json.loads((tmp_path / "fit" / "fit.json").read_text())
    meta["snapshot"]["path"] = str(tmp_path / "run" / "snapshot-0000000008.json")
    (tmp_path / "fit" / "fit.json").write_text(json.dumps(meta))
    return tmp_path / "fit"


def test_every_crafted_fit_description_is_one_line_or_a_usable_fit(fit_dir):
    """Every field of a real fit's JSON replaced by a value of the wrong type or size, or removed: load_fit refuses
    it in one line, or the fit checks against its snapshot (what load_fit_snapshot does) and has a time base."""
    meta_path = fit_dir / "fit.json"
    original = json.loads(meta_path.read_text())
    G, snapshot_meta = load_snapshot(fit_dir.parent / "run")  # once: load_fit_snapshot would load it each time
    tracebacks, refused, loaded = [], 0, 0
    for name, text in mutations(original):
        meta_path.write_text(text)
        try:
            fit = load_fit(fit_dir)
            Path(fit.meta["snapshot"]["path"]).exists()  # where load_fit_snapshot looks by default
            check_fit(fit, G, snapshot_meta)
            fit.generator(G)
            fit.timebase.times(fit.frames)
            loaded += 1
        except CheckpointError as e:
            assert "\n" not in str(e), (name, str(e))
            refused += 1
        except Exception as e:  # what the test looks for
            tracebacks.append(f"{name}: {type(e).__name__}: {str(e)[:80]}")
    assert not tracebacks, tracebacks
    assert refused > 50 and loaded > 50


@pytest.mark.parametrize(
    "change, message",
    [
        ({"weights": 5}, "weights 5 is not the name of a file beside it"),
        ({"weights": "/etc/passwd"}, "is not the name of a file beside it"),
        ({"fps": 1e300}, "fps 1e+300 is not a positive number (frames per second, at most 10000)"),
        ({"fps": None}, "fps None is not a positive number"),
        ({"clip_frames": "16"}, "clip_frames '16' is not a whole number of at least 2"),
        ({"snapshot": {"path": 5, "sha256": "00"}}, "snapshot is not an object with a path and a sha256"),
        ({"snapshot": None}, "snapshot is not an object with a path and a sha256"),
    ],
)
def test_crafted_fit_fields_are_one_line_in_the_command(fit_dir, tmp_path, capsys, change, message):
    meta = json.loads((fit_dir / "fit.json").read_text())
    meta.update(change)
    (fit_dir / "fit.json").write_text(json.dumps(meta))
    line = cli_error(capsys, "generate", "--fit", fit_dir, "--out", tmp_path / "out", "--frames", "2")
    assert "not a valid fit description" in line and message in line, line


@pytest.mark.parametrize("text", ["[1, 2]", "null", '"fit"', DEEP, '{"format": "digan-fit", "fps": NaN}'])
def test_a_fit_description_that_is_not_an_object_is_one_line(fit_dir, tmp_path, capsys, text):
    (fit_dir / "fit.json").write_text(text)
    assert "not a valid fit description" in cli_error(capsys, "generate", "--fit", fit_dir, "--out", tmp_path / "o")
