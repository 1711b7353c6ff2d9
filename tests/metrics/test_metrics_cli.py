import argparse
import json

import numpy as np
import pytest

from digan.data.io import write_video
from digan.metrics.cli import main, register


def moving_squares(rng, n, frames=16, size=40, speed=2):
    videos = []
    for _ in range(n):
        v = np.full((frames, size, size, 3), rng.integers(0, 80), np.uint8)
        x, y = rng.integers(0, size - 12, 2)
        for k in range(frames):
            v[k, y:y + 12, (x + speed * k) % (size - 12):(x + speed * k) % (size - 12) + 12] = rng.integers(150, 255, 3)
        videos.append(v)
    return videos


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A: two frame folders and an mp4 of slow squares; B: three frame folders of fast squares."""
    root = tmp_path_factory.mktemp("fvd")
    rng = np.random.default_rng(0)
    a, b = moving_squares(rng, 3, speed=1), moving_squares(rng, 3, speed=5)
    write_video(root / "a" / "clip2" / "", a[0])
    write_video(root / "a" / "clip10" / "", a[1])
    write_video(root / "a" / "clip3.mp4", a[2])
    for k, v in enumerate(b):
        write_video(root / "b" / f"v{k}" / "", np.concatenate([v, v[:4]]))  # longer videos: first 16 frames used
    write_video(root / "short" / "x" / "", a[0][:10])
    write_video(root / "short" / "y" / "", a[0][:10])
    return root


@pytest.mark.slow
def test_digan_fvd_between_two_folders(i3d, folders, capsys):
    # 10 frames keeps the six I3D passes cheap; the default (16) differs only in the count.
    assert main(["fvd", str(folders / "a"), str(folders / "b"), "--frames", "10", "--json", "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["n_a"], r["n_b"], r["frames"], r["stride"]) == (3, 3, 10, 1)
    assert r["covariance"] == "unbiased" and r["resize"] == "stretch" and r["detector_resolution"] == 224
    assert r["detector_sha256"] == i3d[2].sha256 and r["dir_b"] == str(folders / "b")
    assert r["fvd"] > 1.0 and np.isfinite(r["kvd"])


def test_saved_features_stand_in_for_a_folder(folders, tmp_path):
    from digan.data.base import DataError
    from digan.metrics.evaluation import folder_distance

    from metrics_helpers import MomentFeatures

    first = folder_distance(folders / "a", folders / "b", 16, MomentFeatures(), progress=False, save=tmp_path)
    features = MomentFeatures()
    again = folder_distance(tmp_path / "a.npz", folders / "b", 16, features, progress=False)
    assert again["fvd"] == first["fvd"] and again["n_a"] == 3 and features.calls == 1  # only B computed
    with pytest.raises(DataError, match="not --frames 12"):
        folder_distance(tmp_path / "a.npz", tmp_path / "b.npz", 12, MomentFeatures(), progress=False)


def test_folder_distance_of_a_folder_with_itself_is_zero(folders):
    from digan.metrics.evaluation import folder_distance

    from metrics_helpers import MomentFeatures

    same = folder_distance(folders / "a", folders / "a", frames=16, features=MomentFeatures(), progress=False)
    other = folder_distance(folders / "a", folders / "b", frames=16, features=MomentFeatures(), progress=False)
    assert other["fvd"] > 1.0 and same["n_a"] == same["n_b"] == 3
    assert abs(same["fvd"]) < 1e-5 * other["fvd"]  # 0 up to the noise of a singular (3-clip) covariance


def test_digan_fvd_bad_input_is_one_line(folders, capsys):
    assert main(["fvd", str(folders / "a"), str(folders / "missing"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "missing" in err and len(err.splitlines()) == 1
    assert main(["fvd", str(folders / "a"), str(folders / "short"), "--quiet"]) == 2
    assert "fewer than --frames 16" in capsys.readouterr().err
    assert main(["fvd", str(folders / "a"), str(folders / "b"), "--frames", "4", "--quiet"]) == 2
    assert "at least 9 frames" in capsys.readouterr().err


def test_register_adds_both_commands_with_funcs():
    parser = argparse.ArgumentParser(prog="digan")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["fvd", "x", "y", "--frames", "12", "--json"])
    assert (args.frames, args.json, callable(args.func)) == (12, True, True)
    args = parser.parse_args(["evaluate", "--ckpt", "s.safetensors", "--data", "sky", "--metrics", "fvd2048_16f"])
    assert args.metrics == "fvd2048_16f" and callable(args.func)


def test_digan_evaluate_unknown_metric(capsys):
    assert main(["evaluate", "--ckpt", "s.safetensors", "--metrics", "fid50k"]) == 2
    assert "unknown metric fid50k" in capsys.readouterr().err
