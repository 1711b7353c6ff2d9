from dataclasses import replace

import numpy as np
import pytest
from metrics_helpers import CountingSource, noise_generator

from digan.data.base import DataError
from digan.metrics.evaluation import fake_loader
from digan.metrics.protocols import PROTOCOLS, fake_seeds, get_protocol, read_real_clips, real_clip_plan

# name: (real clips, fake clips, frames, real stride, generated frames rendered, fake stride, trials, covariance)
DOCUMENTED = {
    "fvd2048_16f": (2048, 2048, 16, 1, 16, 1, 1, False),
    "kvd2048_16f": (2048, 2048, 16, 1, 16, 1, 1, True),
    "fvd2048_128f": (2048, 2048, 128, 1, 128, 1, 1, False),
    "fvd2048_128f_subsample8f": (2048, 2048, 16, 8, 121, 8, 1, False),
    "digan-paper": (2048, 2048, 16, 1, 16, 1, 10, True),
    "fvd64_16f": (64, 64, 16, 1, 16, 1, 1, True),
}


@pytest.mark.parametrize("name", list(DOCUMENTED))
def test_protocol_names_give_the_documented_clips(name):
    p = get_protocol(name)
    got = (p.num_real, p.num_fake, p.frames, p.stride, p.fake_span, p.fake_step, p.trials, p.unbiased)
    assert got == DOCUMENTED[name]


def test_protocol_sampling_and_resizing_choices():
    assert get_protocol("digan-paper").real_clips == "all_windows"
    assert get_protocol("digan-paper").resize == "short_side_crop"
    assert {PROTOCOLS[n].real_clips for n in ("fvd2048_16f", "fvd2048_128f", "fvd2048_128f_subsample8f")} == {
        "one_per_video"
    }
    assert get_protocol("fvd2048_16f").feature_key == get_protocol("kvd2048_16f").feature_key
    assert get_protocol("fvd2048_16f").feature_key != get_protocol("fvd2048_128f").feature_key
    assert (get_protocol("is_tganv2").trials, get_protocol("isv2048_ucf").splits) == (10, 10)
    with pytest.raises(DataError, match="unknown metric 'fid50k'"):
        get_protocol("fid50k")


def test_one_clip_per_video_from_a_random_subset():
    lengths = [5 if v % 7 == 0 else 20 + v for v in range(60)]  # every 7th video too short for 16 frames
    source = CountingSource(lengths)
    p = replace(PROTOCOLS["fvd2048_16f"], num_real=20)
    plan = real_clip_plan(source, p, seed=3)
    videos = plan[:, 0]
    assert len(plan) == 20 and len(set(videos)) == 20
    assert all(v % 7 for v in videos), "too-short videos must be skipped"
    assert list(videos) == sorted(videos)
    eligible = [v for v in range(60) if v % 7]
    assert list(videos) != eligible[:20], "a random subset, not the first N"
    assert all(0 <= s <= lengths[v] - 16 for v, s in plan)
    np.testing.assert_array_equal(plan, real_clip_plan(source, p, seed=3))
    assert not np.array_equal(plan, real_clip_plan(source, p, seed=4))
    # A video's offset depends on (seed, trial, video) only, not on which other videos were drawn.
    bigger = real_clip_plan(source, replace(p, num_real=40), seed=3)
    offsets = dict(bigger.tolist())
    assert all(offsets[v] == s for v, s in plan.tolist())


def test_real_clips_are_consecutive_frames_at_the_stride():
    source = CountingSource([200] * 6)
    p = replace(PROTOCOLS["fvd2048_128f_subsample8f"], num_real=6)
    plan = real_clip_plan(source, p, seed=0)
    clips = read_real_clips(source, p, plan)
    assert clips.shape == (6, 16, 8, 8, 3)
    for (v, start), clip in zip(plan, clips):
        assert (clip[..., 0] == v).all()
        np.testing.assert_array_equal(clip[:, 0, 0, 1], (start + 8 * np.arange(16)) % 256)


def test_fewer_videos_than_asked_gives_all_of_them():
    source = CountingSource([30] * 5)
    plan = real_clip_plan(source, PROTOCOLS["fvd2048_16f"], seed=0)
    assert sorted(plan[:, 0]) == [0, 1, 2, 3, 4]
    with pytest.raises(DataError, match="121 frames"):
        real_clip_plan(CountingSource([100] * 3), PROTOCOLS["fvd2048_128f_subsample8f"], seed=0)


def test_all_windows_draws_uniformly_over_windows():
    source = CountingSource([16, 17, 116])  # 1 + 2 + 101 windows
    p = replace(PROTOCOLS["digan-paper"], num_real=50)
    plans = [real_clip_plan(source, p, seed=0, trial=t) for t in range(2)]
    for plan in plans:
        assert len(plan) == 50 and len(set(map(tuple, plan.tolist()))) == 50  # without replacement
        assert all(0 <= s <= [0, 1, 100][v] for v, s in plan)
    assert not np.array_equal(*plans), "trials draw different real clips"
    counts = np.bincount(np.concatenate([real_clip_plan(source, p, seed=s)[:, 0] for s in range(20)]), minlength=3)
    assert counts[2] > 0.9 * counts.sum()  # the long video holds 97% of the windows


def test_generated_clips_start_at_t0_with_per_sample_seeds():
    p = PROTOCOLS["fvd2048_128f_subsample8f"]
    calls = []
    load = fake_loader(noise_generator(calls), p, fake_seeds(p, seed=0))
    clips = load([5, 6])
    assert calls == [([5, 6], 121)]
    np.testing.assert_array_equal(clips[0, :, 0, 0, 1], 8 * np.arange(16))  # frames 0, 8, ..., 120
    assert fake_seeds(PROTOCOLS["fvd2048_16f"], seed=2)[:2] == [2_000_000, 2_000_001]
    is_p = PROTOCOLS["is_tganv2"]
    assert fake_seeds(is_p, 0, trial=1)[0] == 2048  # IS draws new samples each trial
    assert fake_seeds(PROTOCOLS["digan-paper"], 0, trial=3) == fake_seeds(PROTOCOLS["digan-paper"], 0, trial=0)


def test_skipped_videos_are_reported(capsys):
    real_clip_plan(CountingSource([5, 40, 40]), PROTOCOLS["fvd2048_16f"], seed=0)
    err = capsys.readouterr().err
    assert "skipping counting[0]: 5 frames, a clip needs 16" in err and "2 videos used, 1 skipped" in err
