"""The study command: a tiny budget end to end, with a cheap stand-in for the I3D features."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from digan.apps.study import CachedFeatures, StudyConfig, frame_strip, run_study, scores
from digan.metrics.weights import Detector


def cheap_features(clips: np.ndarray) -> np.ndarray:
    """Per-clip colour means and frame-difference energy: `[N, 7]`, enough for a Frechet distance."""
    x = np.asarray(clips, np.float64) / 255.0
    diff = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2, 3, 4))[:, None]
    return np.concatenate([x.mean(axis=(1, 2, 3)), x.std(axis=(1, 2, 3)), diff], axis=1)


class CountedFeatures:
    """`cheap_features` with a detector record, as the I3D has, so the study caches them; counts clips computed."""

    detector = Detector("cheap", "-", "0" * 64)

    def __init__(self):
        self.computed = 0

    def __call__(self, clips: np.ndarray) -> np.ndarray:
        self.computed += len(clips)
        return cheap_features(clips)


@pytest.mark.slow
def test_study_writes_a_report(tmp_path, one_thread):
    cfg = StudyConfig(
        datasets=("shapes",), kimg=0.064, evals=(0.032, 0.064), clips=8, strip_seeds=2, extrapolate_frames=20
    )
    features = CountedFeatures()
    results = run_study(
        cfg, tmp_path / "report", progress=False, features=features, runs=tmp_path / "runs", cache=tmp_path / "cache"
    )
    (d,) = results["datasets"]
    assert features.computed == 5 * 8  # two real sets, the untrained G, two points
    assert [p["kimg"] for p in d["points"]] == [0.032, 0.064]
    assert d["floor"] > 0 and np.isfinite(d["untrained"]["fvd"])
    for p in d["points"]:
        assert p["fvd_over_floor"] == pytest.approx(p["fvd"] / d["floor"])
        assert 0 <= p["motion"]["moving_pixels"] <= 1
    saved = json.loads((tmp_path / "report" / "results.json").read_text())
    assert saved["datasets"][0]["points"] == json.loads(json.dumps(d["points"]))
    report = (tmp_path / "report" / "README.md").read_text()
    assert not (tmp_path / "report" / "runs").exists()  # training runs stay out of the report
    assert "| untrained |" in report and "shapes-strip.png" in report and saved["commit"] in report
    strip = Image.open(tmp_path / "report" / "shapes-strip.png")
    assert strip.size[1] > strip.size[0] / 16  # 4 rows of 16 frames
    long = np.asarray(Image.open(tmp_path / "report" / "shapes-extrapolation.png"))
    assert long.shape[1] > 20 * 32  # 20 frames side by side, doubled
    assert 0 < d["points"][0]["train_s"] < d["points"][1]["train_s"]
    # rerun: the runs are complete, so nothing trains, yet the report keeps each point's training time (from the log)
    # and every clip set is one scored before, so its features come from the cache
    features = CountedFeatures()
    again = run_study(
        cfg, tmp_path / "again", progress=False, features=features, runs=tmp_path / "runs", cache=tmp_path / "cache"
    )
    assert [p["train_s"] for p in again["datasets"][0]["points"]] == [p["train_s"] for p in d["points"]]
    assert features.computed == 0 and again["datasets"][0]["floor"] == d["floor"]
    assert again["datasets"][0]["untrained"]["fvd"] == d["untrained"]["fvd"]
    # ... and scores each point's own snapshot, not the run's latest
    assert [(p["kimg"], p["fvd"]) for p in again["datasets"][0]["points"]] == [
        (p["kimg"], p["fvd"]) for p in d["points"]
    ]


def test_cached_features_miss_on_other_clips_threads_or_a_damaged_file(tmp_path):
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (3, 4, 8, 8, 3), dtype=np.uint8)
    features = CountedFeatures()
    cached = CachedFeatures(features, tmp_path)
    first = cached(clips)
    np.testing.assert_array_equal(cached(clips), first)
    np.testing.assert_array_equal(cached(clips[:, :4]), first)  # the same bytes through a view
    assert features.computed == 3
    other = clips.copy()
    other[0, 0, 0, 0, 0] ^= 1
    cached(other)
    assert features.computed == 6
    threads, path = torch.get_num_threads(), cached.path(clips)
    on_gpu = CountedFeatures()
    on_gpu.device = "cuda"  # another device rounds differently: a separate entry
    assert CachedFeatures(on_gpu, tmp_path).path(clips) != path
    try:
        torch.set_num_threads(threads + 1)  # float rounding depends on it: a separate entry
        assert cached.path(clips) != path
        cached(clips)
        assert features.computed == 9
    finally:
        torch.set_num_threads(threads)
    cached.path(clips).write_bytes(b"not an array")
    np.testing.assert_array_equal(cached(clips), first)
    assert features.computed == 12 and np.load(cached.path(clips)).shape == first.shape


def test_scores_compare_inside_and_past_the_clip():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (4, 31, 8, 8, 3), dtype=np.uint8)
    still = np.repeat(real[:, :1], 31, axis=1)
    s = scores(still, real, 16)
    assert s["moving_pixels_ratio"] == 0 and s["extrapolated_moving_pixels_ratio"] == 0
    assert scores(real, real, 16)["speed_ratio"] == pytest.approx(1.0)


def test_frame_strip_lays_out_rows():
    a = np.zeros((3, 4, 4, 3), np.uint8)
    b = np.full((5, 4, 4, 3), 200, np.uint8)
    strip = frame_strip([a, b], pad=1, scale=1)
    assert strip.shape == (2 * 5 + 1, 5 * 5 + 1, 3)
    assert strip[6:10, 1:5].min() == 200 and strip[1:5, 1:5].max() == 0


def test_bad_study_options_are_refused():
    with pytest.raises(ValueError, match="built-in"):
        StudyConfig(datasets=("nope",))
    with pytest.raises(ValueError, match="eval points"):
        StudyConfig(kimg=1, evals=(2,))
    with pytest.raises(ValueError, match="float32 or bf16"):
        StudyConfig(precision="auto")  # a report names the arithmetic it measured


def test_a_study_stopped_before_it_wrote_anything_leaves_no_folder(tmp_path, monkeypatch):
    import digan.apps.study as study

    def refused(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C, or a refusal, during the first dataset

    monkeypatch.setattr(study, "run_dataset", refused)
    with pytest.raises(KeyboardInterrupt):
        study.run_study(StudyConfig(datasets=("shapes",), kimg=1), tmp_path / "new" / "report", runs=tmp_path / "r")
    assert not (tmp_path / "new").exists()


def test_variants_train_in_their_own_folders_and_the_report_repeats_the_sets():
    plain, variant = StudyConfig(), StudyConfig(sets=("training.lr=0.004",))
    assert plain.run_tag() == "tiny-32" and variant.run_tag().startswith("tiny-32-")
    assert variant.run_tag() != StudyConfig(sets=("training.lr=0.005",)).run_tag()
    assert variant.build_preset().training.lr == 0.004
    with pytest.raises(ValueError, match="no field"):
        StudyConfig(sets=("training.nope=1",)).build_preset()


@pytest.mark.slow  # bf16 is emulated on most CPUs
def test_a_bf16_study_trains_in_its_own_folder_in_bf16(tmp_path, one_thread):
    # bf16 runs refuse to resume float32 ones, and their curves are compared with float32's (issue 12)
    assert StudyConfig(precision="bf16").run_tag() not in (
        StudyConfig().run_tag(),
        StudyConfig(sets=("training.lr=0.005",)).run_tag(),
    )
    cfg = StudyConfig(datasets=("shapes",), kimg=0.032, clips=4, strip_seeds=1, extrapolate_frames=16, precision="bf16")
    run_study(cfg, tmp_path / "report", progress=False, features=cheap_features, runs=tmp_path / "runs")
    (run,) = (tmp_path / "runs").iterdir()
    assert json.loads((run / "training_options.json").read_text())["precision"] == "bf16"
    assert "--precision bf16" in (tmp_path / "report" / "README.md").read_text()


def test_the_default_study_is_the_committed_one():
    # `digan study` with no --data trains the datasets of docs/study (its results.json) and of `make study`
    root = Path(__file__).resolve().parents[2]
    committed = json.loads((root / "docs/study/results.json").read_text())["config"]
    assert tuple(committed["datasets"]) == StudyConfig().datasets
    (make_line,) = [line for line in (root / "Makefile").read_text().splitlines() if "digan study" in line]
    assert f"--data {','.join(StudyConfig().datasets)} " in make_line
