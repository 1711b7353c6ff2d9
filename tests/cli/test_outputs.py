"""What a command writes: never over a link, a FIFO or a device, and a full disk is one line that names the file."""

import os

import pytest
from cli_helpers import cli_error
from process_helpers import temporaries

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_full_disk_is_one_line_and_leaves_nothing_half_written(run, tmp_path, monkeypatch, capsys):
    from digan.data.io import VideoWriter

    def full_disk(self, frames):
        raise OSError(28, "No space left on device", str(self.tmp))

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "seed0000.mp4").write_bytes(b"an earlier render")
    monkeypatch.setattr(VideoWriter, "_encode_mp4", full_disk)
    line = cli_error(
        capsys, "generate", "--ckpt", run, "--out", tmp_path / "out", "--seeds", "0", "--frames", "4", "--quiet"
    )
    assert line == f"digan: error: {tmp_path / 'out' / 'seed0000.mp4'}: cannot write (no space left on device)"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["seed0000.mp4"]
    assert (tmp_path / "out" / "seed0000.mp4").read_bytes() == b"an earlier render"


def test_outputs_never_replace_a_link_a_fifo_or_a_device(run, tmp_path, capsys):
    """Today `export --out /dev/full` (as root) turned the device into a file; a link's target kept its old bytes."""
    (tmp_path / "target.mp4").write_bytes(b"not mine to replace")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "seed0000.mp4").symlink_to(tmp_path / "target.mp4")
    line = cli_error(
        capsys, "generate", "--ckpt", run, "--out", tmp_path / "out", "--seeds", "0", "--frames", "4", "--quiet"
    )
    assert line.endswith(
        "seed0000.mp4: is a symbolic link, not a regular file: outputs go only to regular files or "
        "new paths (remove it or choose another path)"
    )
    assert (tmp_path / "out" / "seed0000.mp4").is_symlink()
    assert (tmp_path / "target.mp4").read_bytes() == b"not mine to replace"
    os.mkfifo(tmp_path / "g.onnx")
    assert "--out" in cli_error(capsys, "export", "--ckpt", run, "--out", tmp_path / "g.onnx")
    assert "is a FIFO (named pipe), not a regular file" in cli_error(
        capsys, "evaluate", "--ckpt", run, "--metrics", "fvd2048_16f", "--jsonl", tmp_path / "g.onnx"
    )
    assert os.path.exists(tmp_path / "g.onnx") and not os.path.isfile(tmp_path / "g.onnx")
    assert temporaries(tmp_path) == []


def test_a_run_directory_whose_log_or_state_is_a_link_is_refused_before_training(tmp_path, capsys):
    run_dir = tmp_path / "shapes-tiny-32"
    run_dir.mkdir()
    (tmp_path / "elsewhere").write_text("")
    args = [
        "train",
        "--data",
        "shapes",
        "--out",
        tmp_path,
        "--kimg",
        "0.004",
        "--batch",
        "4",
        "--workers",
        "0",
        "--quiet",
    ]
    for name in ("metrics.jsonl", "training-state.pt"):
        (run_dir / name).symlink_to(tmp_path / "elsewhere")
        assert f"{name}: is a symbolic link, not a regular file" in cli_error(capsys, *args)
        assert not list(run_dir.glob("snapshot-*")) and (tmp_path / "elsewhere").read_text() == ""
        (run_dir / name).unlink()


def test_a_link_where_a_fit_or_a_page_would_go_is_refused_before_the_work(run, tmp_path, capsys, monkeypatch):
    import digan.apps.gallery as gallery
    import digan.invert.video as video

    def never(*args, **kwargs):
        raise AssertionError("the work started")

    monkeypatch.setattr(video, "fit_clip", never)
    monkeypatch.setattr(gallery, "write_videos", never)
    (tmp_path / "target").write_text("keep")
    for folder, name in (("fit", "input-fit.mp4"), ("site", "index.html")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).symlink_to(tmp_path / "target")
    assert "input-fit.mp4: is a symbolic link" in cli_error(
        capsys, "invert", "--ckpt", run, "--video", "shapes:0", "--out", tmp_path / "fit", "--quiet"
    )
    assert "index.html: is a symbolic link" in cli_error(
        capsys, "gallery", "--ckpt", run, "--out", tmp_path / "site", "--quiet"
    )
    assert (tmp_path / "target").read_text() == "keep"
