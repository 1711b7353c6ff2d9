"""`digan explore`: a local page that renders a snapshot's frames on demand, one HTTP request per frame or chunk.

Random access is the model's property (DIGAN Sec. 3.1: every frame depends
only on its own t), so a slider jump renders only the frame asked for, and
playback asks for a chunk of frames at a time; nothing is precomputed. The
prepared code of each (content seed, motion seed, psi), or of each point of an
interpolation, is kept in a small LRU cache, so a request costs one render.

The server is the standard library's `http.server` (docs/showing.md says why).
It has no authentication: it listens on 127.0.0.1 unless told otherwise, and
answers only requests whose `Host` names it (`allowed_hosts`), so a page on
another site cannot reach it through DNS rebinding. A connection that stays
silent for `IDLE_TIMEOUT` seconds, or that takes longer than that to send a
request's line and headers (a byte at a time keeps no slot), is closed, at most
`MAX_CONNECTIONS` are served at once, and a render whose client has gone is
dropped between chunks.
"""

from __future__ import annotations

import io
import ipaddress
import json
import math
import re
import select
import socket
import sys
import threading
from collections import OrderedDict
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import torch
from PIL import Image

from ..models import Generator, VideoCode
from ..models.generator import GRID_MODES
from ..sampling.options import RenderOptions
from ..sampling.render import INTERPOLATION_MODES, MAX_SEED, interpolation_code, prepare_videos, render_code
from ..timebase import Timebase

MAX_SIZE = 1024  # pixels a side of one frame
MAX_CHUNK = 64  # frames in one playback request
MAX_CHUNK_PIXELS = 2**22
MAX_ABS_T = 1e4  # clip times beyond this are refused (the motion code grows with t)
CACHE = 64  # prepared codes kept
IDLE_TIMEOUT = 30  # seconds a connection may stay silent (a half-sent request holds a thread until then)
MAX_CONNECTIONS = 32  # connections served at once; more are answered 503 at once
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("", "0.0.0.0", "::")  # bind addresses that mean every interface
# A number as a person types it: ASCII digits only ('٣' and '²' are digits to Python's str.isdigit).
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)


class BadRequest(ValueError):
    """A parameter the explorer cannot render; the message says which and why (HTTP 400)."""


class Departed(Exception):
    """The client closed its connection before its frames were rendered: the render is dropped."""


def _one(query: dict, name: str, default: str | None = None) -> str:
    values = query.get(name)
    if not values:
        if default is None:
            raise BadRequest(f"missing parameter '{name}'")
        return default
    if len(values) > 1:
        raise BadRequest(f"parameter '{name}' given {len(values)} times")
    return values[0]


def _number(
    query: dict, name: str, default: str | None = None, low: float = -math.inf, high: float = math.inf
) -> float:
    text = _one(query, name, default)
    try:
        value = float(text) if text.isascii() else None
    except ValueError:
        value = None
    if value is not None and not math.isfinite(value):
        raise BadRequest(f"{name}: must be a finite number, got '{text[:40]}'")
    if value is None or not NUMBER.fullmatch(text):
        raise BadRequest(f"{name}: expected a number, got '{text[:40]}'")
    if not low <= value <= high:
        raise BadRequest(f"{name}: must be from {low:g} to {high:g}, got {value:g}")
    return value


def _integer(query: dict, name: str, default: str | None, low: int, high: int, what: str = "an integer") -> int:
    text = _one(query, name, default)
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(f"{name}: expected {what} from {low} to {high}, got '{text[:40]}'")
    value = int(text)
    if not low <= value <= high:
        raise BadRequest(f"{name}: expected {what} from {low} to {high}, got {text[:40]}")
    return value


def _choice(query: dict, name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _one(query, name, default)
    if value not in choices:
        raise BadRequest(f"{name}: expected one of {', '.join(choices)}, got '{value[:40]}'")
    return value


class Explorer:
    """What the server renders: frames of seeds or interpolation points, with cached prepared codes."""

    def __init__(self, G: Generator, meta: dict, render: RenderOptions = RenderOptions()):
        """`render`: how frames are rendered; each request sets its own size, grids and psi."""
        self.G = G.eval()
        self.meta = meta
        self.render = render
        self.timebase = Timebase.from_meta(meta)
        self.codes: OrderedDict[tuple, VideoCode] = OrderedDict()
        self.lock = threading.Lock()  # one render at a time: the CPU or GPU is shared anyway
        self.prepared = 0  # codes computed (the rest came from the cache)
        self.dropped = 0  # renders dropped because their client had gone

    def info(self) -> dict:
        return {
            "resolution": self.G.resolution,
            "clip_frames": self.timebase.clip_frames,
            "train_fps": self.timebase.train_fps,
            "snapshot": Path(str(self.meta.get("path", ""))).name,
            "max_size": MAX_SIZE,
            "max_chunk": MAX_CHUNK,
            "grids": list(GRID_MODES),
            "modes": list(INTERPOLATION_MODES),
        }

    def _code(self, key: tuple) -> VideoCode:
        code = self.codes.get(key)
        if code is not None:
            self.codes.move_to_end(key)
            return code
        seed, motion, psi, other, alpha, mode = key
        if other is None:
            code = prepare_videos(self.G, [seed], [motion], psi)
        else:
            code = interpolation_code(self.G, seed, other, torch.tensor([alpha]), mode, base_seed=seed, psi=psi)
        self.prepared += 1
        self.codes[key] = code
        while len(self.codes) > CACHE:
            self.codes.popitem(last=False)
        return code

    def parse(self, query: dict) -> tuple[tuple, tuple[int, int], str]:
        """(code key, size, grids) of a request; BadRequest names the first bad parameter."""
        res = self.G.resolution
        seed = _integer(query, "seed", "0", 0, MAX_SEED, "a seed")
        motion = _integer(query, "motion", str(seed), 0, MAX_SEED, "a seed")
        psi = _number(query, "psi", "1", -2, 2)
        if "to" in query:  # interpolation from (seed, motion seed's motion when mode keeps it) to seed `to`
            other = _integer(query, "to", None, 0, MAX_SEED, "a seed")
            alpha = _number(query, "alpha", "0", 0, 1)
            mode = _choice(query, "mode", "both", INTERPOLATION_MODES)
            if motion != seed:
                raise BadRequest("motion: give either a motion seed or an interpolation (to=), not both")
        else:
            other, alpha, mode = None, 0.0, "both"
        size = _integer(query, "size", str(res), 1, MAX_SIZE, "a frame size")
        width = _integer(query, "width", str(size), 1, MAX_SIZE, "a frame width")
        grids = _choice(query, "grids", "nested", GRID_MODES)
        return (seed, motion, psi, other, alpha, mode), (size, width), grids

    def frames(self, query: dict, connected=lambda: True) -> np.ndarray:
        """uint8 `[T, H, W, 3]`: the frame at `t`, or `count` frames from `t` every `dt` (a playback chunk).

        `connected()` is asked once the render's turn has come and before each chunk: when it says the client
        has gone, the render stops there (`Departed`), so the requests behind it do not wait for it.
        """
        key, size, grids = self.parse(query)
        t0 = _number(query, "t", "0", -MAX_ABS_T, MAX_ABS_T)
        count = _integer(query, "count", "1", 1, MAX_CHUNK, "a frame count")
        dt = _number(query, "dt", "0", -1, 1)
        if count * size[0] * size[1] > MAX_CHUNK_PIXELS:
            raise BadRequest(
                f"count x size: {count} frames of {size[0]}x{size[1]} is more than "
                f"{MAX_CHUNK_PIXELS:,} pixels a request; ask for fewer frames or a smaller size"
            )
        t = t0 + dt * torch.arange(count, dtype=torch.float64)
        if not bool((t.abs() <= MAX_ABS_T).all()):
            raise BadRequest(f"t + dt x count: times past {MAX_ABS_T:g} are refused")
        with self.lock, torch.no_grad():
            chunks = []
            if not connected():
                self.dropped += 1
                raise Departed
            code = self._code(key)
            options = self.render.replace(size=size, grids=grids, chunk=None)
            rendered = 0
            for chunk in render_code(self.G, code, t.float(), options):  # each chunk renders when asked for
                chunks.append(chunk)
                rendered += chunk.shape[1]
                if rendered < count and not connected():
                    self.dropped += 1
                    raise Departed
            return np.concatenate(chunks, axis=1)[0]


def png(frames: np.ndarray) -> bytes:
    """uint8 `[T, H, W, 3]` as one PNG: the frames side by side, left to right (the page slices them)."""

    strip = np.concatenate(list(frames), axis=1)  # (H, T*W, 3)
    buffer = io.BytesIO()
    Image.fromarray(strip).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def host_name(header: str | None) -> str | None:
    """The name in a `Host` header, lower case and without its port ('[::1]:7860' -> '::1'); None if malformed."""
    if not header:
        return None
    header = header.strip().lower()
    match = re.fullmatch(r"\[([0-9a-f:.]+)\](:\d{1,5})?|([^:\[\]]+)(:\d{1,5})?", header)
    if match is None:
        return None
    return match.group(1) or match.group(3)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def allowed_hosts(host: str) -> tuple[frozenset[str], bool]:
    """The `Host` names a server bound to `host` answers, and whether it also answers any IP address.

    Always the loopback names, whatever the port (an `ssh -L` tunnel changes it). A server bound to one
    other address or name also answers that one. A server bound to every interface (0.0.0.0, ::, '') also
    answers this machine's names and any IP address: a DNS-rebinding page reaches a server only through a
    name its attacker controls, never through an address typed as such.
    """
    names = set(LOOPBACK)
    host = host.strip().lower().strip("[]")
    if host in WILDCARDS:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        return frozenset(names), True
    names.add(host)
    return frozenset(names), False


def make_handler(explorer: Explorer):
    class Handler(BaseHTTPRequestHandler):
        server_version = "digan-explore"
        timeout = IDLE_TIMEOUT  # StreamRequestHandler sets it on the socket: a silent client is dropped

        def setup(self):
            self.timeout = getattr(self.server, "idle_timeout", IDLE_TIMEOUT)
            super().setup()

        def handle_one_request(self):
            # The socket's timeout bounds each silence, not a request sent a byte at a time: a deadline for the
            # request line and headers as a whole, so that a slow sender cannot hold one of the slots for good.
            self.deadline = threading.Timer(self.timeout, self.drop)
            self.deadline.daemon = True
            self.deadline.start()
            try:
                super().handle_one_request()
            finally:
                self.deadline.cancel()

        def parse_request(self) -> bool:
            ok = super().parse_request()  # the headers have been read: the deadline has done its work
            self.deadline.cancel()
            return ok

        def drop(self) -> None:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)  # the blocked read returns; the handler ends
            except OSError:
                pass

        def log_message(self, format, *args):  # one line per request is noise here
            pass

        def connected(self) -> bool:
            """Whether the client is still there: a closed connection reads as end of file at once."""
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                return not readable or self.connection.recv(1, socket.MSG_PEEK) != b""
            except (OSError, ValueError):
                return False

        def host_allowed(self) -> bool:
            name = host_name(self.headers.get("Host"))
            names, addresses = getattr(self.server, "allowed_hosts", (frozenset(LOOPBACK), False))
            return name is not None and (name in names or (addresses and _is_address(name)))

        def send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            text = "text/plain; charset=utf-8"
            if not self.host_allowed():
                host = (self.headers.get("Host") or "")[:80]
                self.send(
                    HTTPStatus.FORBIDDEN,
                    f"Host '{host}' is not this server: open it as "
                    f"http://127.0.0.1:{self.server.server_address[1]}/".encode(),
                    text,
                )
                return
            url = urlparse(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            try:
                if url.path == "/":
                    self.send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")
                elif url.path == "/info":
                    self.send(HTTPStatus.OK, json.dumps(explorer.info()).encode(), "application/json")
                elif url.path == "/frames":
                    self.send(HTTPStatus.OK, png(explorer.frames(query, self.connected)), "image/png")
                else:
                    self.send(HTTPStatus.NOT_FOUND, f"no page {url.path}: try / or /frames".encode(), text)
            except BadRequest as e:
                self.send(HTTPStatus.BAD_REQUEST, str(e).encode(), text)
            except (Departed, ConnectionError):  # the client has gone: nobody to answer
                self.close_connection = True
            except Exception as e:  # a render that failed (out of memory, ...): a 500 and one line, no traceback
                line = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''}"
                print(f"digan explore: {url.path} failed ({line})", file=sys.stderr, flush=True)
                self.send(HTTPStatus.INTERNAL_SERVER_ERROR, f"render failed ({line})".encode(), text)

    return Handler


class Server(ThreadingHTTPServer):
    """A thread per connection, at most `MAX_CONNECTIONS` of them; those past it are answered 503 at once."""

    daemon_threads = True

    def __init__(self, address, handler, idle_timeout: float = IDLE_TIMEOUT):
        self.idle_timeout = idle_timeout
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.allowed_hosts = allowed_hosts(address[0])
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def address_family(host: str) -> int:
    """AF_INET6 for an IPv6 address (or a name that has only one), else AF_INET."""
    if host in WILDCARDS[:2]:
        return socket.AF_INET
    try:
        families = {info[0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError):
        return socket.AF_INET  # binding then fails with the resolver's message
    return socket.AF_INET if socket.AF_INET in families or not families else socket.AF_INET6


def make_server(
    explorer: Explorer, host: str = "127.0.0.1", port: int = 7860, idle_timeout: float = IDLE_TIMEOUT
) -> ThreadingHTTPServer:
    """A server bound to (host, port) (port 0: any free one); `serve_forever()` runs it.

    `host` '' (like 0.0.0.0) is every IPv4 interface, '::' every IPv6 one. `idle_timeout`: seconds a
    connection may stay silent, or take to send a request's line and headers, before it is closed.
    """
    host = host.strip()
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1] as in a URL
    server_class = type("Server", (Server,), {"address_family": address_family(host)})
    return server_class((host, port), make_handler(explorer), idle_timeout)


def listening(host: str, port: int) -> tuple[str, str]:
    """(a URL to open, where the server listens) for a server bound to `host`: every interface reads as such."""
    bare = host.strip("[]")
    if bare in WILDCARDS:
        local = "[::1]" if bare == "::" else "127.0.0.1"
        return f"http://{local}:{port}/", f"every {'IPv6' if bare == '::' else 'IPv4'} interface, port {port}"
    shown = f"[{bare}]" if ":" in bare else bare
    return f"http://{shown}:{port}/", f"{shown}:{port}"


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DIGAN explorer</title>
<style>
body { font-family: sans-serif; margin: 1.5em; background: #fafafa; }
label { margin-right: 1em; white-space: nowrap; }
input[type=number] { width: 6em; }
#time { width: 512px; margin: 0; }
#band { height: 6px; width: 512px; margin-bottom: 1em; }
canvas { image-rendering: pixelated; background: #000; width: 512px; }
#status { color: #a00; min-height: 1.2em; }
</style></head><body>
<h1>DIGAN explorer</h1>
<p>Every frame is rendered when asked for: the generator is a function of (x, y, t).
t from 0 to 1 is one training clip (green below the slider); past 1 the model extrapolates.</p>
<div>
<label>content seed <input id="seed" type="number" min="0" value="0"></label>
<label>motion seed <input id="motion" type="number" min="0" value="0"></label>
<label>psi <input id="psi" type="number" step="0.05" value="1"></label>
<label>size <select id="size"></select></label>
<label>grids <select id="grids"><option>nested</option><option>scaled</option></select></label>
</div>
<div>
<label><input id="interp" type="checkbox"> interpolate to seed <input id="to" type="number" min="0" value="1"></label>
<label>alpha <input id="alpha" type="range" min="0" max="1" step="0.01" value="0"></label>
<label>mode <select id="mode"><option>both</option><option>content</option><option>motion</option></select></label>
</div>
<div><label>t <span id="tval">0.00</span></label><br>
<input id="time" type="range" min="0" max="4" step="0.01" value="0"><div id="band"></div></div>
<div><button id="play">play</button> <label>fps <input id="fps" type="number" min="1" max="60" value="8"></label></div>
<p id="status"></p>
<canvas id="frame" width="32" height="32"></canvas>
<script>
const $ = id => document.getElementById(id);
let info = null, playing = false, token = 0, asked = 0;  // asked: the latest single-frame request
function params(t, count, dt) {
  const p = new URLSearchParams({seed: $("seed").value, psi: $("psi").value, size: $("size").value,
                                 grids: $("grids").value, t: t, count: count, dt: dt});
  if ($("interp").checked) { p.set("to", $("to").value); p.set("alpha", $("alpha").value); p.set("mode", $("mode").value); }
  else p.set("motion", $("motion").value);
  return p;
}
async function fetchFrames(t, count, dt) {
  const r = await fetch("/frames?" + params(t, count, dt));
  if (!r.ok) { throw new Error(await r.text()); }
  return await createImageBitmap(await r.blob());
}
function draw(strip, k, count, t) {
  const w = strip.width / count, c = $("frame");
  c.width = w; c.height = strip.height;
  c.getContext("2d").drawImage(strip, k * w, 0, w, strip.height, 0, 0, w, strip.height);
  c.dataset.t = String(t); c.dataset.rendered = String(++token);
}
function setTime(t) { $("time").value = t; $("tval").textContent = t.toFixed(2); }
async function show() {
  // A slider drag sends a request per step and the server answers them in any order: only the latest
  // request's answer is drawn, so the frame shown is the one the controls say.
  const t = Number($("time").value), mine = ++asked;
  $("tval").textContent = t.toFixed(2);
  try {
    const strip = await fetchFrames(t, 1, 0);
    if (mine === asked) { draw(strip, 0, 1, t); $("status").textContent = ""; }
  } catch (e) { if (mine === asked) $("status").textContent = e.message; }
}
async function play() {
  const fps = Math.max(1, Number($("fps").value)), dt = info.train_fps / (fps * (info.clip_frames - 1));
  const count = Math.min(info.max_chunk, Math.ceil(fps)), end = Number($("time").max);
  let t0 = Number($("time").value), next = fetchFrames(t0, count, dt);
  while (playing) {
    let strip;
    try { strip = await next; $("status").textContent = ""; }
    catch (e) { $("status").textContent = e.message; break; }
    const t1 = t0 + count * dt > end ? 0 : t0 + count * dt;
    next = fetchFrames(t1, count, dt);  // the next chunk renders while this one plays
    next.catch(() => {});
    for (let k = 0; playing && k < count; k++) {
      setTime(t0 + k * dt); draw(strip, k, count, t0 + k * dt);
      await new Promise(r => setTimeout(r, 1000 / fps));
    }
    t0 = t1;
  }
  playing = false;
  $("play").textContent = "play";
}
fetch("/info").then(r => r.json()).then(i => {
  info = i;
  for (const k of [1, 2, 4, 8]) { const o = document.createElement("option"); o.value = o.textContent = i.resolution * k;
    if (i.resolution * k <= i.max_size) $("size").appendChild(o); }
  const end = 100 / Number($("time").max);
  $("band").style.background = `linear-gradient(to right, #3c3 0%, #3c3 ${end}%, #d33 ${end}%, #d33 100%)`;
  show();
});
for (const id of ["seed", "motion", "psi", "size", "grids", "interp", "to", "alpha", "mode", "time"]) $(id).addEventListener("input", () => { if (!playing) show(); });
$("play").addEventListener("click", () => { playing = !playing; $("play").textContent = playing ? "stop" : "play"; if (playing) { asked++; play(); } });
</script>
</body></html>
"""
