import json

import numpy as np
import pytest

from digan.cli.main import build_parser, main
from digan.data.io import write_video


def moving_squares(rng, n, frames=16, size=40, speed=2):
    videos = []
    for _ in range(n):
        v = np.full((frames, size, size, 3), rng.integers(0, 80), np.uint8)
        x, y = rng.integers(0, size - 12, 2)
        for k in range(frames):
            v[k, y : y + 12, (x + speed * k) % (size - 12) : (x + speed * k) % (size - 12) + 12] = rng.integers(
                150, 255, 3
            )
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
    from metrics_helpers import MomentFeatures

    from digan.data.base import DataError
    from digan.metrics.evaluation import folder_distance

    first = folder_distance(folders / "a", folders / "b", 16, MomentFeatures(), progress=False, save=tmp_path)
    features = MomentFeatures()
    again = folder_distance(tmp_path / "a.npz", folders / "b", 16, features, progress=False)
    assert again["fvd"] == first["fvd"] and again["n_a"] == 3 and features.calls == 1  # only B computed
    with pytest.raises(DataError, match="not `frames` 12"):
        folder_distance(tmp_path / "a.npz", tmp_path / "b.npz", 12, MomentFeatures(), progress=False)


def test_folder_distance_of_a_folder_with_itself_is_zero(folders):
    from metrics_helpers import MomentFeatures

    from digan.metrics.evaluation import folder_distance

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


def test_both_commands_parse_with_funcs():
    parser = build_parser()
    args = parser.parse_args(["fvd", "x", "y", "--frames", "12", "--json"])
    assert (args.frames, args.json, callable(args.func)) == (12, True, True)
    args = parser.parse_args(["evaluate", "--ckpt", "s.safetensors", "--data", "sky", "--metrics", "fvd2048_16f"])
    assert args.metrics == "fvd2048_16f" and callable(args.func)


def test_digan_evaluate_unknown_metric(capsys):
    assert main(["evaluate", "--ckpt", "s.safetensors", "--metrics", "fid50k"]) == 2
    assert "unknown metric fid50k" in capsys.readouterr().err


# ---------------------------------------------------------------- issue 11: folders of samples, feature files

from cli_helpers import cli_error  # noqa: E402


@pytest.fixture()
def moments(monkeypatch):
    """`digan fvd` with the cheap moment features in place of I3D (same code path, no 7-minute I3D)."""
    from metrics_helpers import MomentFeatures

    made = []

    def features(*args, **kwargs):
        made.append(MomentFeatures())
        return made[-1]

    monkeypatch.setattr("digan.cli.metrics.I3DFeatures", features)
    return made


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """`digan generate` output (4 seeds, 16 frames) in three formats, with a grid and comparison strips, and the
    same seeds alone: their PNG frame folders in one folder, their MP4s (written alone) in another."""
    import shutil

    import torch

    from digan.checkpoint import load_snapshot, save_snapshot
    from digan.config import get_preset
    from digan.models import Generator
    from digan.sampling import VideoRequest, generate

    torch.manual_seed(0)
    preset = get_preset("tiny-32")
    root = tmp_path_factory.mktemp("generated")
    save_snapshot(root / "run", Generator(preset.generator).eval(), preset, 16)
    G, meta = load_snapshot(root / "run")
    generate(
        G,
        meta,
        root / "all",
        VideoRequest(seeds=tuple(range(4)), formats=("mp4", "gif", "png"), compare=True),
        progress=False,
    )
    generate(G, meta, root / "mp4", VideoRequest(seeds=tuple(range(4))), progress=False)  # mp4 and a grid
    (root / "mp4-only").mkdir()
    for k in range(4):
        shutil.copytree(root / "all" / f"seed{k:04d}", root / "png-only" / f"seed{k:04d}")
        shutil.copy(root / "mp4" / f"seed{k:04d}.mp4", root / "mp4-only")
    return root


def test_a_generate_folder_counts_each_seed_once(generated, folders, capsys):
    from metrics_helpers import MomentFeatures

    from digan.metrics.evaluation import folder_distance, sample_videos

    videos, note = sample_videos(generated / "all")
    assert [v.name for v in videos] == ["seed0000", "seed0001", "seed0002", "seed0003"]  # the lossless copies
    assert "4 videos; left out 8 copies in other formats and 6 grids and comparison videos" in note
    for mixed, alone in (("all", "png-only"), ("mp4", "mp4-only")):
        a = folder_distance(generated / mixed, folders / "b", 16, MomentFeatures(), progress=False)
        b = folder_distance(generated / alone, folders / "b", 16, MomentFeatures(), progress=False)
        assert a["n_a"] == b["n_a"] == 4 and a["fvd"] == b["fvd"] and a["kvd"] == b["kvd"]
    assert "mostly sampling noise" in capsys.readouterr().err  # 4 clips a side: the warning


def test_digan_fvd_prints_the_counts_and_warns_about_few_clips(generated, moments, capsys):
    assert main(["fvd", str(generated / "all"), str(generated / "mp4-only"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "(4 vs 4 videos" in captured.out
    assert captured.err.count("left out 8 copies in other formats and 6 grids") == 1
    assert "warning: FVD and KVD of 4 vs 4 videos" in captured.err


def save_npz(path, **arrays):
    base = {
        "features": np.ones((4, 24), np.float32),
        "detector": "moments",
        "detector_sha256": "0" * 64,
        "frames": 16,
        "source": "x",
    }
    np.savez(path, **{**base, **arrays})
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b""), "not a features file written by `digan fvd --save-features` (EOFError"),
        (lambda p: p.write_bytes(save_npz(p).read_bytes()[:300]), "not a features file written by"),
        (lambda p: save_npz(p, features=np.ones((4, 3, 8), np.float32)), "features must be floats [clips, 24]"),
        (lambda p: save_npz(p, features=np.ones((4, 5), np.float32)), "features must be floats [clips, 24]"),
        (lambda p: save_npz(p, features=np.array([["a"] * 24] * 4)), "features must be floats"),
        (lambda p: save_npz(p, features=np.ones((1, 24), np.float32)), "features of 1 clip; FVD needs at least 2"),
        (lambda p: save_npz(p, features=np.full((4, 24), np.nan, np.float32)), "features hold NaN or inf"),
    ],
)
def test_bad_feature_files_are_one_line_before_any_feature_is_computed(
    folders, tmp_path, capsys, moments, make, message
):
    bad = tmp_path / "bad.npz"
    make(bad)
    assert message in cli_error(capsys, "fvd", folders / "a", bad, "--quiet")
    assert sum(f.calls for f in moments) == 0  # checked before folder A's features


def test_saved_features_are_written_atomically_and_the_folder_checked_first(
    folders, tmp_path, capsys, moments, monkeypatch
):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert "--save-features" in cli_error(capsys, "fvd", folders / "a", folders / "b", "--save-features", blocker)
    assert not moments  # refused before the detector was even loaded

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    assert (
        main(["fvd", str(folders / "a"), str(folders / "b"), "--save-features", str(tmp_path / "f"), "--quiet"]) == 130
    )
    assert list((tmp_path / "f").iterdir()) == []  # no a.npz cut short, no temporary file


# ---------------------------------------------------------------- issue 24, item 6: which files count


def readme_samples(generated, root):
    """The README's layout: `generate --out samples/ --seeds 0-3`, then `--out samples/x4 --seeds 0-3`."""
    import shutil

    shutil.copytree(generated / "mp4", root)
    shutil.copytree(generated / "mp4", root / "x4")
    return root


def test_the_readme_samples_layout_counts_4_samples_not_8(generated, tmp_path, moments, capsys):
    from digan.metrics.evaluation import sample_videos

    root = readme_samples(generated, tmp_path / "samples")
    videos, note = sample_videos(root)
    assert [v.name for v in videos] == [f"seed{k:04d}.mp4" for k in range(4)]
    assert "1 sub-folder (x4; digan fvd --recursive" in note
    assert len(sample_videos(root, recursive=True)[0]) == 8
    assert main(["fvd", str(root), str(generated / "mp4-only"), "--quiet"]) == 0
    assert "(4 vs 4 videos" in capsys.readouterr().out
    assert main(["fvd", str(root), str(generated / "mp4-only"), "--quiet", "--recursive"]) == 0
    assert "(8 vs 4 videos" in capsys.readouterr().out


def test_copies_of_different_renders_are_refused_naming_the_newest(generated, tmp_path, capsys, moments):
    """seed0000/ (PNG frames) from one render beside a newer seed0000.mp4 of another: which one the user meant no
    rule can tell, and today's preference for PNG would read the older one silently."""
    import os
    import shutil

    root = tmp_path / "mixed"
    shutil.copytree(generated / "png-only", root)
    shutil.copy(generated / "mp4" / "seed0001.mp4", root / "seed0000.mp4")  # another video under seed 0's name
    os.utime(root / "seed0000.mp4", (2e9, 2e9))
    err = cli_error(capsys, "fvd", root, generated / "mp4-only", "--quiet")
    assert "the copies of seed0000 (seed0000/, seed0000.mp4) show different videos" in err
    assert "the newest is seed0000.mp4" in err
    assert not moments  # refused before the detector was loaded


def test_copies_of_one_render_agree_in_every_format(generated):
    from digan.data.io import read_video
    from digan.metrics.evaluation import same_video

    for k in range(4):
        png = read_video(generated / "all" / f"seed{k:04d}")
        for fmt in ("mp4", "gif"):
            assert same_video(png, read_video(generated / "all" / f"seed{k:04d}.{fmt}"))
        assert not same_video(png, read_video(generated / "all" / f"seed{(k + 1) % 4:04d}"))


def test_digan_evaluate_refuses_short_real_videos_before_the_detector_loads(
    tmp_path, tiny_G, tiny_preset, capsys, moments, monkeypatch
):
    from digan.checkpoint import save_snapshot

    def never(*args, **kwargs):
        raise AssertionError("a clip was generated before the real data was checked")

    monkeypatch.setattr("digan.cli.metrics.clip_renderer", lambda *args, **kwargs: never)
    save_snapshot(tmp_path / "run", tiny_G, tiny_preset, 16)
    for k in range(3):
        write_video(tmp_path / "short" / f"v{k}" / "", np.full((10, 32, 32, 3), 40 * k, np.uint8))
    assert (
        main(
            [
                "evaluate",
                "--ckpt",
                str(tmp_path / "run"),
                "--data",
                str(tmp_path / "short"),
                "--metrics",
                "fvd2048_16f",
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()  # the dataset's summary line, then the refusal
    assert err[-1] == "digan: error: short: no video has the 16 frames protocol fvd2048_16f needs"
    assert not moments  # the detector was never loaded


def test_digan_fvd_batch_is_checked_against_memory_before_any_feature(folders, capsys, moments, monkeypatch):
    from digan.utils import memory

    monkeypatch.setattr(memory, "available", lambda device="cpu": 240 * 2**20)  # 2 clips of 16 frames, not 3
    line = cli_error(capsys, "fvd", folders / "a", folders / "b", "--batch", "1000000", "--quiet")
    assert "features of 16-frame clips in batches of 3 would hold about" in line  # a side has 3 clips
    assert "use --batch 2 or less" in line
    assert sum(f.calls for f in moments) == 0
