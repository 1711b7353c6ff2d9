"""`digan gallery`: a static page whose every link and media file is there, from a tiny snapshot."""

import json
import re
from html.parser import HTMLParser

import pytest

from digan.checkpoint import save_snapshot
from digan.cli.main import main


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.headings, self._in_h2 = [], [], False

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href")]
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


@pytest.mark.slow
def test_gallery_writes_every_section_and_its_files(tmp_path, tiny_G, tiny_preset, one_thread, capsys):
    run = tmp_path / "run"
    save_snapshot(run, tiny_G, tiny_preset, 16)
    (run / "metrics.jsonl").write_text(
        "".join(json.dumps({"kimg": k / 10, "loss_G": 1 / (k + 1), "loss_D": 0.5}) + "\n" for k in range(3))
        + '{"kimg": 0.3, "loss_G"'
    )  # cut short
    site = tmp_path / "site"
    assert main(["gallery", "--ckpt", str(run), "--out", str(site), "--videos", "2", "--quiet"]) == 0
    page = site / "index.html"
    assert str(page) in capsys.readouterr().out
    parser = Links()
    parser.feed(page.read_text())
    assert parser.headings == [
        "Samples",
        "Time extrapolation",
        "4x super-resolution",
        "One first frame, 8 motions",
        "Content interpolation",
        "Motion interpolation",
        "Training curves",
    ]
    assert len(parser.links) >= 12
    for link in parser.links:
        assert not re.match(r"^(/|[a-z]+:)", link), link  # relative: the folder opens from disk anywhere
        assert (site / link).is_file() and (site / link).stat().st_size > 0, link
    media = {link.removeprefix("media/") for link in parser.links}
    assert {
        "samples.gif",
        "extrapolation/grid-compare.mp4",
        "superres/grid-compare.mp4",
        "motions/grid.gif",
        "interpolation/interp-content-grid.gif",
        "interpolation/interp-motion-grid.gif",
    } <= media
    try:
        import matplotlib  # noqa: F401

        assert "training-curves.png" in parser.links
    except ImportError:
        assert "matplotlib is not installed" in page.read_text()
        assert "loss_D, loss_G" in page.read_text()  # the series are named, the line cut short is skipped


def test_gallery_without_snapshot_is_one_line_error(tmp_path, capsys):
    assert main(["gallery", "--ckpt", str(tmp_path / "missing"), "--out", str(tmp_path / "site")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_gallery_videos_are_checked_against_memory_first(tmp_path, tiny_G, tiny_preset, capsys):
    """--videos 100000000 prepared every video's code at once and rendered them as one batch: now one line."""
    from cli_helpers import cli_error

    save_snapshot(tmp_path / "run", tiny_G, tiny_preset, 16)
    line = cli_error(capsys, "gallery", "--ckpt", tmp_path / "run", "--out", tmp_path / "site", "--videos", "100000000")
    assert "a gallery of 100000000 videos would hold about" in line and "videos fit (--videos)" in line
    assert not (tmp_path / "site" / "media").exists()


def test_the_sample_grid_renders_a_batch_at_a_time(tmp_path, tiny_G, tiny_preset, monkeypatch, one_thread):
    import digan.apps.gallery as gallery
    from digan.sampling import RenderOptions

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    sizes = []
    real = gallery.prepare_videos
    monkeypatch.setattr(
        gallery, "prepare_videos", lambda G, seeds, *a, **k: sizes.append(len(seeds)) or real(G, seeds, *a, **k)
    )
    monkeypatch.setattr(gallery, "generate", stop)
    with pytest.raises(Stop):  # stopped after the sample grid
        gallery.build_gallery(
            tiny_G,
            {"resolution": 32, "clip_frames": 4, "path": str(tmp_path / "s")},
            tmp_path / "site",
            videos=10,
            render=RenderOptions(batch=4),
            formats=("mp4",),
            progress=False,
        )
    assert sizes == [4, 4, 2]
