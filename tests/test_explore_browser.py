"""The explorer's page in headless Chromium: moving the time slider shows render_video's frame for that t.

Chromium is driven through the DevTools protocol over a pipe (--remote-debugging-pipe: JSON messages ended
by a NUL byte on file descriptors 3 and 4), so the test needs no Python package beyond the standard library.
"""

import base64
import fcntl
import io
import json
import os
import shutil
import subprocess
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from digan.explore import Explorer, make_server
from digan.sampling import render_video

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="headless browser test skipped: no chromium on PATH "
                                 "(Debian: apt-get install chromium; .ci/run installs it)")]


class DevTools:
    """A Chromium started with --remote-debugging-pipe, and one page of it."""

    def __init__(self, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def child_fds():  # Chromium reads commands on fd 3 and writes replies on fd 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w)]  # clear of 3 and 4
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        # close_fds=False: fds 3 and 4 are made in preexec_fn, after which close_fds would close them; every
        # other fd of this process is close-on-exec (PEP 446), so nothing else leaks into the browser.
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--mute-audio",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            close_fds=False, preexec_fn=child_fds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer, self.next_id, self.session = b"", 0, None

    def call(self, method, timeout=60, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" in self.buffer:
                line, self.buffer = self.buffer.split(b"\0", 1)
                reply = json.loads(line)
                if reply.get("id") == self.next_id:
                    assert "error" not in reply, reply
                    return reply["result"]
            chunk = os.read(self.from_chrome, 1 << 20)
            assert chunk, "chromium closed the pipe"
            self.buffer += chunk
        raise TimeoutError(method)

    def open(self, url):
        target = self.call("Target.createTarget", url=url)["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def js(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait_for(self, expression, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(expression)

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except (AssertionError, OSError, TimeoutError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.to_chrome)
        os.close(self.from_chrome)


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
        browser.js("{ const s = document.getElementById('time'); s.value = '2.5'; "
                   "s.dispatchEvent(new Event('input')) }")
        browser.wait_for("document.getElementById('frame').dataset.t === '2.5'")
        moved = canvas_frame(browser)
        shot = browser.call("Page.captureScreenshot", format="png")["data"]
        (tmp_path / "explorer.png").write_bytes(base64.b64decode(shot))
        # playback from t = 0.5 at 16 fps: chunks of 16 frames, each asked for while the one before plays
        browser.js("{ const s = document.getElementById('time'); s.value = '0.5'; s.dispatchEvent(new Event('input'));"
                   "document.getElementById('fps').value = '16'; document.getElementById('play').click() }")
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
