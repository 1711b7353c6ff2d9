"""The explorer's page in headless Chromium: moving the time slider shows render_video's frame for that t.

Chromium is driven through the DevTools protocol over a pipe (tests/browser_helpers.py), so the test needs
no Python package beyond the standard library.
"""

import base64
import io
import threading
import time

import numpy as np
import pytest
import torch
from browser_helpers import CHROMIUM, DevTools
from PIL import Image

from digan.apps.explore import Explorer, make_server
from digan.sampling import render_video

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="headless browser test skipped: no chromium on PATH "
        "(Debian: apt-get install chromium; .ci/run installs it)",
    ),
]


def canvas_frame(browser) -> np.ndarray:
    url = browser.js("document.getElementById('frame').toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def test_time_slider_shows_the_frame_render_video_gives(tmp_path, tiny_G, one_thread):
    server = make_server(Explorer(tiny_G, {"clip_frames": 16, "train_fps": 8, "path": "tiny"}), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = DevTools(tmp_path / "profile")
    try:
        browser.open(f"http://127.0.0.1:{server.server_address[1]}/")
        browser.wait_for("document.getElementById('frame')?.dataset.rendered")  # the first frame, t = 0
        first = canvas_frame(browser)
        browser.js(
            "{ const s = document.getElementById('time'); s.value = '2.5'; s.dispatchEvent(new Event('input')) }"
        )
        browser.wait_for("document.getElementById('frame').dataset.t === '2.5'")
        moved = canvas_frame(browser)
        shot = browser.call("Page.captureScreenshot", format="png")["data"]
        (tmp_path / "explorer.png").write_bytes(base64.b64decode(shot))
        # playback from t = 0.5 at 16 fps: chunks of 16 frames, each asked for while the one before plays
        browser.js(
            "{ const s = document.getElementById('time'); s.value = '0.5'; s.dispatchEvent(new Event('input'));"
            "document.getElementById('fps').value = '16'; document.getElementById('play').click() }"
        )
        played = float(browser.wait_for("(t => t > 1.6 && t)(Number(document.getElementById('frame').dataset.t))"))
        browser.js("document.getElementById('play').click()")
        status = browser.js("document.getElementById('status').textContent")
    finally:
        browser.close()
        server.shutdown()
        server.server_close()
    expected = render_video(tiny_G, 0, torch.tensor([0.0, 2.5]))
    assert not np.array_equal(first, moved)
    np.testing.assert_array_equal(first, expected[0])
    np.testing.assert_array_equal(moved, expected[1])
    assert Image.open(tmp_path / "explorer.png").size[0] > 100
    assert played > 1.6 and status == ""  # played into the third chunk (each 16 frames, 0.53 of t), without an error


class SlowAt(Explorer):
    """An explorer that answers the request for one t late, as a busy server can."""

    def __init__(self, *args, slow_t: str, delay: float):
        super().__init__(*args)
        self.slow_t, self.delay, self.slow_answered = slow_t, delay, threading.Event()

    def frames(self, query, *args, **kwargs):
        if query.get("t") == [self.slow_t]:
            time.sleep(self.delay)
            try:
                return super().frames(query, *args, **kwargs)
            finally:
                self.slow_answered.set()
        return super().frames(query, *args, **kwargs)


def test_a_late_answer_to_an_older_slider_position_is_not_drawn(tmp_path, tiny_G, one_thread):
    explorer = SlowAt(tiny_G, {"clip_frames": 16, "train_fps": 8, "path": "tiny"}, slow_t="3", delay=1.0)
    server = make_server(explorer, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = DevTools(tmp_path / "profile")
    try:
        browser.open(f"http://127.0.0.1:{server.server_address[1]}/")
        browser.wait_for("document.getElementById('frame')?.dataset.rendered")
        # a drag: t = 3 is asked for first and answered last
        browser.js(
            "{ const s = document.getElementById('time'); for (const v of ['3', '0.5']) { s.value = v; "
            "s.dispatchEvent(new Event('input')) } }"
        )
        browser.wait_for("document.getElementById('frame').dataset.t === '0.5'")
        assert explorer.slow_answered.wait(30)
        time.sleep(0.5)  # the late answer has reached the page
        shown = browser.js("document.getElementById('frame').dataset.t")
        label = browser.js("document.getElementById('tval').textContent")
        frame = canvas_frame(browser)
    finally:
        browser.close()
        server.shutdown()
        server.server_close()
    assert (shown, label) == ("0.5", "0.50")
    np.testing.assert_array_equal(frame, render_video(tiny_G, 0, torch.tensor([0.5]))[0])
