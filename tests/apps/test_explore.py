"""`digan explore`: the frame endpoint renders what render_video renders, and refuses bad parameters with a 4xx."""

import io
import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from digan.apps.explore import Explorer, make_server
from digan.sampling import RenderOptions, interpolate_videos, render_video

META = {"clip_frames": 16, "train_fps": 8, "path": "snapshot-000000.safetensors"}


@pytest.fixture()
def server(tiny_G, one_thread):
    explorer = Explorer(tiny_G, META)
    server = make_server(explorer, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield explorer, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read(), r.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers["Content-Type"]


def frames_of(body: bytes, count: int) -> np.ndarray:
    strip = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
    return np.stack(np.split(strip, count, axis=1))


def test_frame_endpoint_matches_render_video_and_caches_the_code(server, tiny_G):
    explorer, base = server
    status, body, kind = get(f"{base}/frames?seed=3&motion=5&t=2.5&size=48")
    assert status == 200 and kind == "image/png"
    expected = render_video(tiny_G, 3, torch.tensor([2.5, 0.0]), RenderOptions(size=48), motion_seed=5)
    np.testing.assert_array_equal(frames_of(body, 1)[0], expected[0])
    status, body, _ = get(f"{base}/frames?seed=3&motion=5&t=0&size=48")
    np.testing.assert_array_equal(frames_of(body, 1)[0], expected[1])
    assert not np.array_equal(expected[0], expected[1])  # the slider moved the frame
    assert explorer.prepared == 1  # the second request reused seed 3's prepared code


def test_playback_chunk_and_interpolation(server, tiny_G):
    _, base = server
    status, body, _ = get(f"{base}/frames?seed=1&t=0.5&dt=0.25&count=4&grids=scaled&size=40")
    assert status == 200
    t = torch.tensor([0.5, 0.75, 1.0, 1.25])
    np.testing.assert_array_equal(frames_of(body, 4), render_video(tiny_G, 1, t, RenderOptions(size=40, grids="scaled")))
    status, body, _ = get(f"{base}/frames?seed=0&to=2&alpha=1&mode=content&t=1.5")
    assert status == 200
    expected = interpolate_videos(tiny_G, 0, 2, torch.tensor([1.5]), steps=2, mode="content")[-1, 0]
    np.testing.assert_array_equal(frames_of(body, 1)[0], expected)


def test_page_and_info(server):
    _, base = server
    status, body, kind = get(base + "/")
    assert status == 200 and kind.startswith("text/html") and b'id="time"' in body and b"/frames?" in body
    status, body, _ = get(base + "/info")
    assert json.loads(body)["resolution"] == 32 and json.loads(body)["clip_frames"] == 16


@pytest.mark.parametrize("query, message", [
    ("t=nan", "t: must be a finite number"),
    ("t=inf", "t: must be a finite number"),
    ("t=1e9", "t: must be from"),
    ("t=abc", "t: expected a number"),
    ("size=100000", "size: expected a frame size from 1 to 1024"),
    ("size=1024&count=64", "count x size"),
    ("seed=-1", "seed: expected a seed"),
    ("seed=0x10", "seed: expected a seed"),
    ("seed=99999999999999999999999", "seed: expected a seed"),
    ("seed=1&seed=2", "given 2 times"),
    ("psi=nan", "psi: must be a finite number"),
    ("grids=bogus", "grids: expected one of nested, scaled"),
    ("to=1&mode=sideways", "mode: expected one of"),
    ("to=1&alpha=2", "alpha: must be from 0 to 1"),
    ("count=0", "count: expected a frame count"),
])
def test_bad_parameters_are_a_400_with_a_message(server, query, message):
    explorer, base = server
    status, body, kind = get(f"{base}/frames?{query}")
    assert status == 400 and kind.startswith("text/plain") and message in body.decode(), (status, body)
    assert explorer.prepared == 0  # refused before anything was computed


def test_unknown_path_is_404(server):
    _, base = server
    status, body, _ = get(base + "/nothing")
    assert status == 404 and b"/frames" in body


def test_explore_refuses_a_port_it_cannot_use(tmp_path, tiny_G, tiny_preset, capsys):
    from digan.checkpoint import save_snapshot
    from digan.cli.main import main

    save_snapshot(tmp_path / "run", tiny_G, tiny_preset, 16)
    assert main(["explore", "--ckpt", str(tmp_path / "run"), "--port", "70000"]) == 2
    assert "cannot listen on 127.0.0.1:70000" in capsys.readouterr().err
