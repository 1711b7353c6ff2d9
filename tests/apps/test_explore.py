"""`digan explore`: the frame endpoint renders what render_video renders, and refuses bad parameters with a 4xx."""

import contextlib
import http.client
import io
import json
import select
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from digan.apps import explore
from digan.apps.explore import LOOPBACK, Departed, Explorer, allowed_hosts, host_name, make_server
from digan.sampling import RenderOptions, interpolate_videos, render_video

META = {"clip_frames": 16, "train_fps": 8, "path": "snapshot-000000.safetensors"}


@contextlib.contextmanager
def serving(explorer: Explorer, host: str = "127.0.0.1", **options):
    """`make_server(explorer, host, 0, **options)` serving in a thread until the block ends; yields its port."""
    server = make_server(explorer, host, 0, **options)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def server(tiny_G, one_thread):
    explorer = Explorer(tiny_G, META)
    with serving(explorer) as port:
        yield explorer, f"http://127.0.0.1:{port}"


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
    np.testing.assert_array_equal(
        frames_of(body, 4), render_video(tiny_G, 1, t, RenderOptions(size=40, grids="scaled"))
    )
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


@pytest.mark.parametrize(
    "query, message",
    [
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
    ],
)
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


# ---------------------------------------------------------------- what a hostile page or client can do (issue 24)


def request(base: str, path: str, host: str | None = "keep", timeout: float = 60) -> tuple[int, bytes]:
    """GET `path` with the Host header `host` ('keep': the URL's; None: no Host header at all)."""
    port = int(base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("GET", path, skip_host=host != "keep")
        if host not in ("keep", None):
            conn.putheader("Host", host)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:7860",
        "127.0.0.1.evil.example",
        "localhost.",
        "attacker:80",
        "[::2]:7860",
        "",
        None,
        "0.0.0.0",
        "192.168.1.5:7860",
    ],
)
def test_a_host_header_that_does_not_name_the_server_is_refused(server, host):
    """A DNS-rebinding page reaches the server under its own name: that name is refused, nothing is read."""
    explorer, base = server
    for path in ("/info", "/frames?seed=1", "/"):
        status, body = request(base, path, host)
        assert status == 403 and b"is not this server" in body, (host, path, status, body)
    assert explorer.prepared == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:7860", "localhost:9999", "LOCALHOST", "[::1]:7860", "[::1]"])
def test_loopback_names_are_served_whatever_the_port(server, host):
    _, base = server  # any port: an `ssh -L 9999:127.0.0.1:7860` tunnel keeps the name and changes the port
    status, body = request(base, "/info", host)
    assert status == 200 and json.loads(body)["resolution"] == 32


def test_a_server_opened_to_the_network_answers_addresses_and_its_own_name_only():
    names, addresses = allowed_hosts("0.0.0.0")
    assert addresses and "localhost" in names and socket.gethostname().lower() in names
    assert "evil.example" not in names
    assert allowed_hosts("192.168.1.5") == (frozenset({*LOOPBACK, "192.168.1.5"}), False)
    assert allowed_hosts("MyBox.lan")[0] >= {"mybox.lan"} and not allowed_hosts("mybox.lan")[1]
    assert host_name("[::1]:80") == "::1" and host_name("Example.COM:1") == "example.com"
    assert host_name("a:b:c") is None and host_name("") is None and host_name("[evil]") is None


def test_wildcard_server_accepts_an_ip_address_host_and_refuses_a_name(tiny_G, one_thread):
    with serving(Explorer(tiny_G, META), "0.0.0.0") as port:
        base = f"http://127.0.0.1:{port}"
        assert request(base, "/info", "192.168.1.5:7860")[0] == 200
        assert request(base, "/info", "rebind.evil.example:7860")[0] == 403


def test_info_names_the_snapshot_without_its_path(tiny_G, one_thread, tmp_path):
    secret = tmp_path / "home" / "alice" / "runs" / "snapshot-0000000016.safetensors"
    info = Explorer(tiny_G, {**META, "path": str(secret)}).info()
    assert info["snapshot"] == "snapshot-0000000016.safetensors"
    assert str(tmp_path) not in json.dumps(info) and "alice" not in json.dumps(info)


@pytest.mark.parametrize(
    "query, message",
    [
        ("seed=%D9%A3", "seed: expected a seed"),  # '٣', an Arabic-Indic 3: str.isdigit and int() take it
        ("seed=%C2%B2", "seed: expected a seed"),  # '²': str.isdigit takes it, int() raises
        ("size=%EF%BC%94%EF%BC%98", "size: expected a frame size"),  # fullwidth '４８'
        ("count=%C2%B3", "count: expected a frame count"),
        ("t=%D9%A1.%D9%A5", "t: expected a number"),  # '١.٥': float() takes it
        ("psi=1_0", "psi: expected a number"),
        ("t=%201", "t: expected a number"),
    ],
)
def test_non_ascii_digits_are_a_400(server, query, message):
    explorer, base = server
    status, body, kind = get(f"{base}/frames?{query}")
    assert status == 400 and message in body.decode(), (status, body)
    assert explorer.prepared == 0


def test_a_render_whose_client_left_is_dropped(server):
    """While another render holds the model, a client asks for a large chunk and leaves: its render is dropped
    when its turn comes, instead of making the next request wait for frames nobody will read."""
    explorer, base = server
    port = int(base.rsplit(":", 1)[1])
    with explorer.lock:  # a render in progress
        gone = socket.create_connection(("127.0.0.1", port))
        gone.sendall(b"GET /frames?seed=4&size=256&count=64&dt=0.01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.2)
        gone.close()
    deadline = time.time() + 30
    while explorer.dropped == 0 and time.time() < deadline:
        time.sleep(0.02)
    assert explorer.dropped == 1 and explorer.prepared == 0  # not even its code was prepared
    status, _, _ = get(f"{base}/frames?seed=1")
    assert status == 200 and explorer.dropped == 1


def test_a_client_that_leaves_mid_render_stops_it_between_chunks(tiny_G, one_thread):
    explorer = Explorer(tiny_G, META)
    answers = iter([True, True, False])
    with pytest.raises(Departed):
        explorer.frames({"seed": ["1"], "count": ["64"], "size": ["64"], "dt": ["0.01"]}, lambda: next(answers))
    assert explorer.dropped == 1


def test_idle_connections_time_out(tiny_G, one_thread):
    with serving(Explorer(tiny_G, META), idle_timeout=0.5) as port:
        start = time.time()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(b"GET /info HTTP/1.1\r\nHost: 127.0.")  # half a request, then silence
            assert s.recv(1024) == b""  # the server closed the connection
        assert time.time() - start < 10


def test_a_request_sent_a_byte_at_a_time_is_cut_off(tiny_G, one_thread):
    # each byte comes well within the idle timeout: only a deadline for the whole request ends it
    with serving(Explorer(tiny_G, META), idle_timeout=1.0) as port:
        start = time.time()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            s.sendall(b"GET /info HTTP/1.1\r\n")
            with pytest.raises(OSError):  # a send into the closed connection fails, or the read below is empty
                for _ in range(100):
                    s.sendall(b"X")
                    time.sleep(0.1)
                    if select.select([s], [], [], 0)[0] and s.recv(1024) == b"":
                        raise ConnectionResetError("closed by the server")
        assert 1.0 <= time.time() - start < 5


def test_connections_past_the_cap_are_answered_503(tiny_G, one_thread, monkeypatch):
    monkeypatch.setattr(explore, "MAX_CONNECTIONS", 1)
    with serving(Explorer(tiny_G, META), idle_timeout=5) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as idle:
            idle.sendall(b"GET /info HTTP/1.1\r\n")  # holds the only slot
            time.sleep(0.2)
            with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
                assert s.recv(1024).startswith(b"HTTP/1.0 503")
        deadline = time.time() + 20
        while time.time() < deadline:  # the slot comes back once the idle connection has gone
            if request(f"http://127.0.0.1:{port}", "/info", timeout=20)[0] == 200:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the slot of a closed connection was not given back")


def test_a_failed_render_is_a_500_and_the_server_goes_on(server, monkeypatch, capsys):
    explorer, base = server

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory\nsecond line")

    monkeypatch.setattr(explore, "render_code", broken)
    status, body, _ = get(f"{base}/frames?seed=1")
    assert status == 500 and b"RuntimeError: out of memory" in body and b"second line" not in body
    monkeypatch.undo()
    assert get(f"{base}/frames?seed=1")[0] == 200
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "host, shown, where",
    [
        ("", "http://127.0.0.1:", "every IPv4 interface"),
        ("0.0.0.0", "http://127.0.0.1:", "every IPv4 interface"),
        ("127.0.0.1", "http://127.0.0.1:", None),
    ],
)
def test_explore_says_a_usable_address(tmp_path, tiny_G, tiny_preset, capsys, monkeypatch, host, shown, where):
    from digan.checkpoint import save_snapshot
    from digan.cli import show
    from digan.cli.main import main

    made = []

    def stopped_at_once(*args):
        server = make_server(*args)
        made.append(server)
        server.serve_forever = lambda: (_ for _ in ()).throw(KeyboardInterrupt)
        return server

    monkeypatch.setattr(show, "make_server", stopped_at_once)
    save_snapshot(tmp_path / "run", tiny_G, tiny_preset, 16)
    assert main(["explore", "--ckpt", str(tmp_path / "run"), "--host", host, "--port", "0"]) == 130
    out, err = capsys.readouterr()
    port = made[0].server_address[1]
    assert f"{shown}{port}/" in out and "http://:" not in out and "listening on :" not in err
    assert (f"listening on {where}, port {port}" in err) if where else "warning" not in err


def test_an_ipv6_loopback_host_listens_and_answers(tiny_G, one_thread):
    """--host ::1 (the loopback name the Host check accepts) failed to bind: the server was IPv4 only."""
    try:
        server = make_server(Explorer(tiny_G, META), "::1", 0)
    except OSError as e:  # a machine without IPv6
        pytest.skip(f"no IPv6 loopback here ({e})")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(f"http://[::1]:{server.server_address[1]}/info", timeout=30) as r:
            assert r.status == 200 and json.loads(r.read())["resolution"] == 32
    finally:
        server.shutdown()
        server.server_close()
