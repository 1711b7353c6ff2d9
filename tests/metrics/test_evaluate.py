import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from metrics_helpers import CountingSource, MomentFeatures, noise_generator

import digan.metrics.evaluation as ev
from digan.data.base import DataError
from digan.metrics.distances import fvd, kvd
from digan.metrics.features import extract, extract_shard, merge_shards, my_batches, resize_clips
from digan.metrics.protocols import PROTOCOLS
from digan.utils.files import parse_json


@pytest.fixture()
def small_protocols(monkeypatch):
    """Scaled-down copies of the published protocols (same sampling, fewer clips)."""
    small = {
        "fvd12_16f": replace(PROTOCOLS["fvd2048_16f"], name="fvd12_16f", num_real=12, num_fake=10),
        "kvd12_16f": replace(PROTOCOLS["kvd2048_16f"], name="kvd12_16f", num_real=12, num_fake=10),
        "digan12": replace(PROTOCOLS["digan-paper"], name="digan12", num_real=12, num_fake=10, trials=3),
    }
    for k, v in small.items():
        monkeypatch.setitem(PROTOCOLS, k, v)
    return small


def test_evaluate_writes_complete_result_lines(small_protocols, tmp_path):
    source, features, calls = CountingSource([40 + v for v in range(30)]), MomentFeatures(), []
    results = ev.evaluate(
        noise_generator(calls),
        source,
        ["fvd12_16f", "kvd12_16f", "digan12"],
        seed=1,
        features=features,
        batch=4,
        progress=False,
        cache=tmp_path / "cache",
        info={"snapshot": "snap.safetensors"},
    )
    assert [r["metric"] for r in results] == ["fvd12_16f", "kvd12_16f", "digan12"]
    f, k, d = results
    for r in results:
        for key in (
            "protocol",
            "num_real",
            "num_fake",
            "frames",
            "stride",
            "resolution",
            "seed",
            "detector",
            "detector_sha256",
            "snapshot",
            "value",
        ):
            assert key in r, key
        assert json.loads(json.dumps(r)) == r
    assert (f["num_real"], f["num_fake"], f["frames"], f["stride"], f["seed"]) == (12, 10, 16, 1, 1)
    assert f["covariance"] == "biased" and d["covariance"] == "unbiased"
    assert f["value"] == f["fvd"] > 0 and k["value"] == k["kvd"]
    assert len(d["fvd_trials"]) == 3 and d["fvd"] == pytest.approx(np.mean(d["fvd_trials"]))
    assert d["fvd_std"] == pytest.approx(np.std(d["fvd_trials"])) and d["fvd_std"] > 0
    assert "kvd" in d and "kvd_std" in d
    # fvd12 and kvd12 share generated and real clips: each rendered or read once; digan12 has its own.
    assert sum(len(s) for s, _ in calls) == 20
    assert source.reads == 12 + 3 * 12
    assert calls[0][0][0] == 1_000_000
    path = tmp_path / "metrics.jsonl"
    ev.write_jsonl(path, results)
    ev.write_jsonl(path, results[:1])
    assert [json.loads(line)["metric"] for line in path.read_text().splitlines()] == [
        "fvd12_16f",
        "kvd12_16f",
        "digan12",
        "fvd12_16f",
    ]


def test_a_figure_that_could_not_be_computed_is_written_as_null(tmp_path):
    # e.g. a KVD over too few clips: strict JSON readers (the library's own parse_json among them) refuse NaN
    path = tmp_path / "metrics.jsonl"
    ev.write_jsonl(path, [{"metric": "kvd", "value": float("nan"), "trials": [1.5, float("inf")]}])
    line = path.read_text()
    assert "NaN" not in line and "Infinity" not in line
    assert parse_json(line) == {"metric": "kvd", "value": None, "trials": [1.5, None]}


def test_real_features_are_cached_per_dataset_and_protocol(small_protocols, tmp_path):
    source, gen = CountingSource([50] * 20), noise_generator()
    first = ev.evaluate(gen, source, ["fvd12_16f"], features=MomentFeatures(), progress=False, cache=tmp_path)
    reads = source.reads
    again = ev.evaluate(gen, source, ["fvd12_16f"], features=MomentFeatures(), progress=False, cache=tmp_path)
    assert source.reads == reads, "the second run must read no real video"
    assert again[0]["fvd"] == first[0]["fvd"]
    assert len(list(tmp_path.glob("counting-12x16f-stride1-one_per_video-stretch-seed0-trial0-*.npy"))) == 1
    reads = source.reads
    ev.evaluate(gen, source, ["kvd12_16f"], features=MomentFeatures(), progress=False, cache=tmp_path)
    assert source.reads == reads, "KVD on the same clips reuses FVD's cached real features"
    other = ev.evaluate(gen, source, ["fvd12_16f"], seed=5, features=MomentFeatures(), progress=False, cache=tmp_path)
    assert source.reads > reads and other[0]["fvd"] != first[0]["fvd"]


def test_value_matches_the_distance_of_the_drawn_clips(small_protocols):
    """The pipeline's FVD is the distance between the features of exactly the documented clips."""
    from digan.metrics.protocols import fake_seeds, read_real_clips, real_clip_plan

    p = PROTOCOLS["fvd12_16f"]
    source, features, gen = CountingSource([40] * 15), MomentFeatures(), noise_generator()
    r = ev.evaluate(gen, source, ["fvd12_16f", "kvd12_16f"], features=features, progress=False, cache=None)
    real = features(read_real_clips(source, p, real_clip_plan(source, p, 0)))
    fake = features(gen(fake_seeds(p, 0), 16))
    assert r[0]["fvd"] == pytest.approx(fvd(real, fake, unbiased=False), rel=1e-9)
    assert r[1]["kvd"] == pytest.approx(kvd(real, fake), rel=1e-9)


def test_one_process_or_several_give_the_same_features():
    source = CountingSource([40] * 23)
    p = replace(PROTOCOLS["fvd2048_16f"], num_real=23)
    from digan.metrics.protocols import read_real_clips, real_clip_plan

    plan = real_clip_plan(source, p, 0)
    load = lambda idx: read_real_clips(source, p, plan[list(idx)])  # noqa: E731
    one = extract(len(plan), load, MomentFeatures(), batch=4)
    for world in (2, 3, 5):
        shards = [extract_shard(len(plan), load, MomentFeatures(), rank, world, batch=4) for rank in range(world)]
        np.testing.assert_array_equal(merge_shards(shards), one)
    assert [list(r) for r in my_batches(10, 4, 1, 2)] == [[4, 5, 6, 7]]


def test_quick_fvd_keeps_real_features_between_calls():
    source, features = CountingSource([30] * 10), MomentFeatures()
    a = ev.quick_fvd(noise_generator(), source, n_clips=8, frames=16, seed=0, features=features)
    reads = source.reads
    b = ev.quick_fvd(noise_generator(), source, n_clips=8, frames=16, seed=0, features=features)
    assert source.reads == reads and a["fvd"] == b["fvd"] > 0
    assert (a["metric"], a["num_real"], a["num_fake"], a["covariance"]) == ("fvd8_16f", 8, 8, "unbiased")
    assert np.isfinite(a["kvd"])


def test_generator_output_is_checked(small_protocols):
    bad = lambda seeds, frames: np.zeros((len(seeds), frames, 8, 8, 3), np.float32)  # noqa: E731
    with pytest.raises(ValueError, match="uint8"):
        ev.evaluate(
            bad, CountingSource([40] * 20), ["fvd12_16f"], features=MomentFeatures(), progress=False, cache=None
        )
    with pytest.raises(DataError, match="real videos"):
        ev.evaluate(noise_generator(), None, ["fvd12_16f"], features=MomentFeatures(), progress=False)
    with pytest.raises(DataError, match="conv3d_deepnetA_ucf.npz"):
        ev.evaluate(noise_generator(), None, ["is_tganv2"], progress=False)


def test_resize_modes():
    clip = np.zeros((1, 2, 100, 300, 3), np.uint8)
    clip[..., 90:210, :] = 255  # a white band around the middle third
    stretched = resize_clips(clip, "stretch")
    cropped = resize_clips(clip, "short_side_crop")
    assert stretched.shape == cropped.shape == (1, 2, 3, 224, 224)

    # Bilinear weights sum to 1 only up to float32 rounding, and which kernel runs (so the last bit of a
    # constant region) depends on the thread count: a few ulps of 1.0 (1.2e-7 each; 2 seen with one thread).
    def near(x, value):
        return abs(float(x) - value) <= 4e-7

    assert near(stretched.min(), -1) and near(stretched.max(), 1)
    assert near(cropped.min(), 1)  # the centre square of the wide frame is all white
    assert near(stretched[0, 0, 0, 112, 0], -1) and near(stretched[0, 0, 0, 112, 112], 1)
    ragged = resize_clips([clip[0], np.zeros((2, 50, 60, 3), np.uint8)])
    assert ragged.shape == (2, 2, 3, 224, 224) and ragged[1].max() == -1
    torch.testing.assert_close(resize_clips(np.full((1, 1, 224, 224, 3), 255, np.uint8)), torch.ones(1, 1, 3, 224, 224))


def test_generator_callable_renders_per_seed_from_t0(tiny_G, tiny_preset):
    from digan.sampling import RenderOptions, clip_renderer

    gen = clip_renderer(tiny_G, tiny_preset.training.clip_frames, RenderOptions(batch=2))
    a = gen([3, 4], 16)
    r = tiny_preset.resolution
    assert a.shape == (2, 16, r, r, 3) and a.dtype == np.uint8
    # Seed 4 alone or in a batch: the same video (up to float rounding across batch sizes, +-1 level).
    alone = gen([4], 18)
    diff = np.abs(alone[0, :16].astype(int) - a[1])
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    # Longer clips extend the same video from t = 0.
    np.testing.assert_array_equal(alone[0, :16], gen([4], 16)[0])


@pytest.mark.parametrize(
    "lengths, message",
    [
        ([10] * 30, "no video has the 16 frames protocol fvd12_16f needs"),  # every video too short
        ([40] + [10] * 5, "gives 1 real clip of 16 frames; FVD and KVD need at least 2"),
    ],
)
def test_short_real_data_is_refused_before_any_clip_is_generated(small_protocols, lengths, message):
    """The real side is planned from the videos' lengths first: an hour of generating (fvd2048_16f on a CPU)
    must not come before a refusal that the lengths alone decide."""
    source, features, calls = CountingSource(lengths), MomentFeatures(), []
    with pytest.raises(DataError, match=message):
        ev.evaluate(
            noise_generator(calls), source, ["fvd12_16f", "kvd12_16f"], features=features, progress=False, cache=None
        )
    assert calls == [] and features.calls == 0 and source.reads == 0


def test_fewer_real_clips_than_the_protocol_warns_before_generating(small_protocols, capsys):
    source, calls = CountingSource([40] * 5), []

    def generate(seeds, frames):
        calls.append(len(seeds))
        if len(calls) == 1:
            assert "gives only 5 real clips of 12" in capsys.readouterr().err  # said before the first clip
        return noise_generator()(seeds, frames)

    results = ev.evaluate(generate, source, ["fvd12_16f"], features=MomentFeatures(), progress=False, cache=None)
    assert results[0]["num_real"] == 5 and calls


def test_the_batch_is_checked_against_memory_before_any_clip_is_generated(small_protocols, monkeypatch):
    from digan.utils import memory

    monkeypatch.setattr(memory, "available", lambda device="cpu": 300 * 2**20)  # 2 clips of 16 frames, not 3
    source, features, calls = CountingSource([40] * 30), MomentFeatures(), []
    with pytest.raises(memory.MemoryLimit, match=r"in batches of 12 would hold about .*use `batch` 2 or less"):
        ev.evaluate(
            noise_generator(calls), source, ["fvd12_16f"], features=features, batch=10**6, progress=False, cache=None
        )
    assert calls == [] and features.calls == 0
