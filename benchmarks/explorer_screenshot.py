"""The README's screenshot of `digan explore`: the real command, served and driven in headless Chromium.

Starts `digan explore --ckpt CKPT --port 0` as a child process, opens its page
in Debian's `chromium` (through the DevTools protocol over a pipe, standard
library only: tests/browser_helpers.py), sets the content and motion seed,
moves the time slider to --t (past 1, so the frame is an extrapolation and the
slider's red part is in use), waits for that frame, and saves the page as a
PNG.

    .venv/bin/python benchmarks/explorer_screenshot.py --ckpt runs/demo/run --out docs/img/explorer.png
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the DevTools driver the browser test uses
from browser_helpers import CHROMIUM, DevTools  # noqa: E402

WIDTH = 860  # CSS pixels: the 512-pixel canvas and slider with the page's margins, and each row of controls on one line


def screenshot(url: str, seed: int, motion: int, t: float, profile: Path) -> bytes:
    browser = DevTools(profile)
    try:
        browser.open(url)
        browser.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=900, deviceScaleFactor=1, mobile=False)
        browser.wait_for("document.getElementById('frame')?.dataset.rendered")  # /info has filled the size list
        # The seeds are set quietly and only the slider fires 'input': one frame asked for, with every control.
        browser.js(f"""{{ const $ = id => document.getElementById(id);
                       $('seed').value = '{seed}'; $('motion').value = '{motion}'; $('time').value = '{t}';
                       $('time').dispatchEvent(new Event('input')) }}""")
        browser.wait_for(
            f"document.getElementById('frame').dataset.t === '{t:g}' && "
            "document.getElementById('status').textContent === ''"
        )
        height = browser.js("Math.ceil(document.documentElement.getBoundingClientRect().height)")
        shot = browser.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
        )["data"]
    finally:
        browser.close()
    return base64.b64decode(shot)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt", required=True, help="snapshot or run directory, as digan explore takes")
    parser.add_argument("--out", required=True, type=Path, help="PNG to write")
    parser.add_argument("--seed", type=int, default=0, help="content seed (default 0)")
    parser.add_argument("--motion", type=int, help="motion seed (default: --seed, as digan generate --seeds)")
    parser.add_argument("--t", type=float, default=2.5, help="clip time on the slider, 0..4 (default 2.5)")
    args = parser.parse_args()
    args.motion = args.seed if args.motion is None else args.motion
    if CHROMIUM is None:
        sys.exit("no chromium on PATH (Debian: apt-get install chromium)")

    server = subprocess.Popen(
        [sys.executable, "-m", "digan", "explore", "--ckpt", args.ckpt, "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()  # "explorer of ... at http://127.0.0.1:PORT/ (Ctrl-C stops it)"
        found = re.search(r"http://\S+/", line)
        if found is None:
            sys.exit(f"digan explore did not start: {line.strip() or 'no output'}")
        with tempfile.TemporaryDirectory() as profile:
            png = screenshot(found.group(0), args.seed, args.motion, args.t, Path(profile))
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C, as a person stops it
        server.wait(timeout=30)
    page = Image.open(io.BytesIO(png)).convert("RGB")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    page.save(args.out, optimize=True)
    print(
        json.dumps(
            {
                "out": str(args.out),
                "size": page.size,
                "bytes": args.out.stat().st_size,
                "url": found.group(0),
                "seed": args.seed,
                "motion": args.motion,
                "t": args.t,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
