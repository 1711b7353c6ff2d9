"""Writing rendered videos to files: per-seed files, grids, comparison strips, sample grids; memory while streaming."""

import numpy as np
import pytest
import torch
from memory_helpers import HAS_PROC, peak_rss_while

from digan.data.io import read_video, video_fps
from digan.sampling import (
    InterpolationRequest,
    RenderOptions,
    VideoRequest,
    generate,
    interpolate,
    render_video,
    write_samples,
)
from digan.timebase import Timebase, TimeRequest
from digan.utils.lock import FolderInUse, FolderLock

pytestmark = pytest.mark.usefixtures("one_thread")


def test_generate_writes_files_that_decode_to_the_expected_frames(tiny_G, tmp_path):
    t = Timebase(clip_frames=8).times(frames=6, fps=12)
    request = VideoRequest(
        seeds=(0, 1),
        times=TimeRequest(frames=6, fps=12),
        render=RenderOptions(size=(24, 40), chunk=4),
        formats=("mp4", "gif", "png"),
        compare=True,
    )
    written = generate(tiny_G, {"clip_frames": 8}, tmp_path, request, progress=False)
    assert torch.equal(written.t, t) and written.fps == 12 and written.size == (24, 40)
    names = sorted(p.name for p in written.paths)
    assert names == sorted(
        [
            "seed0000.mp4",
            "seed0000.gif",
            "seed0000",
            "seed0001.mp4",
            "seed0001.gif",
            "seed0001",
            "grid.mp4",
            "grid.gif",
            "grid",
            "seed0000-compare.mp4",
            "seed0001-compare.mp4",
            "grid-compare.mp4",
        ]
    )
    expected = render_video(tiny_G, 1, t, RenderOptions(size=(24, 40)))
    for name in ("seed0001.mp4", "seed0001.gif", "seed0001"):
        video = read_video(tmp_path / name)
        assert video.shape == (6, 24, 40, 3), name
        if name != "seed0001.mp4":  # lossless formats give back the render (GIF palettes: close)
            assert np.abs(video.astype(int) - expected).mean() < (8 if name.endswith("gif") else 0.01), name
    mp4 = read_video(tmp_path / "seed0001.mp4").astype(int)  # lossy H.264: nearer its own render than another seed's
    assert (
        np.abs(mp4 - expected).mean()
        < 0.5 * np.abs(mp4 - render_video(tiny_G, 0, t, RenderOptions(size=(24, 40)))).mean()
    )
    assert read_video(tmp_path / "grid").shape == (6, 2 + 24 + 2, 2 + 2 * (40 + 2), 3)
    compare = read_video(tmp_path / "seed0000-compare.mp4")
    assert compare.shape[0] == 6 and compare.shape[2] == 40 + 2 + 40
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_sample_grid_plays_at_the_training_frame_rate(tiny_G, tiny_preset, tmp_path):
    preset = tiny_preset.replace_training(sample_seeds=2, clip_frames=4)
    write_samples(tiny_G, preset, tmp_path / "at25", train_fps=25)
    write_samples(tiny_G, preset, tmp_path / "unknown")
    assert video_fps(tmp_path / "at25.mp4") == 25
    assert video_fps(tmp_path / "unknown.mp4") == 8  # the rate Timebase assumes when the data recorded none
    grid = read_video(tmp_path / "at25.gif")
    assert grid.shape == (4, 2 + 32 + 2, 2 + 2 * (32 + 2), 3)  # one training clip of 2 videos side by side


@pytest.mark.slow  # 1,384 frames through the H.264 encoder
@pytest.mark.skipif(not HAS_PROC, reason="needs /proc to read memory")
def test_long_render_memory_does_not_grow_with_length(tiny_G, tmp_path, monkeypatch):
    # The network's own cost is benchmarked in benchmarks/long_render_memory.py; here a cheap stand-in
    # render (same shapes) lets a long video go through the real chunking, conversion and MP4 encoder.
    def cheap_render(code, t, size=None, grids="nested", precision=torch.float32):
        h, w = size
        x = torch.linspace(-1, 1, w)
        return (x[None, None, None, None, :] + t[:, :, None, None, None]).sin().expand(-1, -1, 3, h, w).clone()

    monkeypatch.setattr(tiny_G, "render", cheap_render)

    def run(frames):
        request = VideoRequest(seeds=(0,), times=TimeRequest(frames=frames), render=RenderOptions(size=128, chunk=16))
        generate(tiny_G, {"clip_frames": 16}, tmp_path / str(frames), request, progress=False)

    run(64)  # warm up the allocator and the encoder
    short = peak_rss_while(lambda: run(120))
    long = peak_rss_while(lambda: run(1200))
    kept = 1080 * 128 * 128 * 3  # what the 1080 extra frames would hold as uint8 if kept: 53 MB
    assert long - short < 20e6 < kept, (short, long)
    assert len(read_video(tmp_path / "1200" / "seed0000.mp4")) == 1200


def test_ctrl_c_during_a_multi_format_generate_leaves_the_old_set_whole(
    tiny_G, tiny_preset, tmp_path, capsys, monkeypatch
):
    from cli_helpers import files_under

    from digan.checkpoint import save_snapshot
    from digan.cli.main import main
    from digan.data.io import VideoWriter

    save_snapshot(tmp_path / "run", tiny_G, tiny_preset, 16)
    args = [
        "generate",
        "--ckpt",
        str(tmp_path / "run"),
        "--out",
        str(tmp_path / "out"),
        "--seeds",
        "0,1",
        "--frames",
        "3",
        "--formats",
        "mp4,gif,png",
        "--quiet",
    ]
    assert main(args) == 0
    before = files_under(tmp_path / "out")
    assert {"seed0000.mp4", "seed0000.gif", "seed0000/frame00000.png", "grid.gif"} <= set(before)

    def interrupted(self):
        raise KeyboardInterrupt  # Ctrl-C while a GIF is encoded: after the MP4s and PNGs are complete

    monkeypatch.setattr(VideoWriter, "_encode_gif", interrupted)
    assert main(args + ["--psi", "0.5"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "digan: interrupted"
    assert files_under(tmp_path / "out") == before  # no new PNGs beside old MP4s; no temporary files
    monkeypatch.undo()
    assert main(args + ["--psi", "0.5"]) == 0
    after = files_under(tmp_path / "out")
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in after if k.endswith((".mp4", ".gif")))


def test_a_folder_another_writer_holds_is_refused_before_anything_is_written(tiny_G, tmp_path):
    # two renders into one folder would leave one's seeds beside the other's grid
    out = tmp_path / "out"
    request = VideoRequest(seeds=(0,), times=TimeRequest(frames=2), formats=("png",))
    walk = InterpolationRequest(points=(0, 1), steps=2, times=TimeRequest(frames=2), formats=("png",))
    with FolderLock(out, "digan generate"):
        with pytest.raises(FolderInUse, match="in use by process"):
            generate(tiny_G, {"clip_frames": 8}, out, request, progress=False)
        with pytest.raises(FolderInUse, match="in use by process"):
            interpolate(tiny_G, {"clip_frames": 8}, out, walk, progress=False)
        assert [p.name for p in out.iterdir()] == [".digan.lock"]  # the holder's lock file, nothing written
    written = generate(tiny_G, {"clip_frames": 8}, out, request, progress=False)  # let go: it writes
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written.paths)  # and no lock file left
