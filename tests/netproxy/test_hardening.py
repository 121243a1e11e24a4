"""Issue 16's battery on loopback: framing and smuggling over raw sockets, keep-alive, caps,
timeouts, descriptor exhaustion, teardown, unreachable upstreams and what the log says."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from cordon.netproxy.limits import Limits

from tests.netproxy.test_proxy import _auth, log_lines, parse, socks_connect, tunnel

pytestmark = pytest.mark.network


class NaiveUpstream:
    """An HTTP server that answers every request head it sees on a connection, ignores
    ``Connection: close`` and never switches protocols: what lets smuggled bytes through a
    proxy that relays raw bytes. ``received`` holds everything each connection sent."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytearray] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            buf = bytearray()
            self.received.append(buf)
            threading.Thread(target=self._serve, args=(c, buf), daemon=True).start()

    def _serve(self, c, buf):
        pending = b""
        with c:
            while True:
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                pending += data
                while b"\r\n\r\n" in pending:
                    head, _, pending = pending.partition(b"\r\n\r\n")
                    path = head.split(b" ")[1] if b" " in head else b"?"
                    body = b"saw " + path
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    @property
    def everything(self) -> bytes:
        return b"".join(self.received)

    def close(self):
        self.sock.close()


@pytest.fixture
def naive():
    u = NaiveUpstream()
    yield u
    u.close()


def read_responses(s: socket.socket, n: int, timeout: float = 5) -> list[bytes]:
    """Read ``n`` responses with Content-Length bodies (or until the proxy closes)."""
    s.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                return [*out, buf] if buf else out
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        out.append(head + b"\r\n\r\n" + rest[:length])
        buf = rest[length:]
    return out


def request(p, target: str, host: str, extra: bytes = b"") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: {host}\r\n".encode() + _auth(p) + extra + b"\r\n"


# -- item 2/3: framing, smuggling, keep-alive ------------------------------------------------------------


def test_keep_alive_serves_and_judges_every_request(make_proxy, naive, tmp_path):
    p = make_proxy([f"127.0.0.1:{naive.port}"])
    authority = f"127.0.0.1:{naive.port}"
    with socket.create_connection(p.address, timeout=5) as s:
        for i in range(5):
            s.sendall(request(p, f"http://{authority}/r{i}", authority))
            (resp,) = read_responses(s, 1)
            assert resp.startswith(b"HTTP/1.1 200") and resp.endswith(b"saw /r%d" % i)
    assert len(naive.received) == 1, "one upstream connection, kept alive"
    allowed = [e for e in log_lines(tmp_path) if e["verdict"] == "allow"]
    assert len(allowed) == 5 and {e["host"] for e in allowed} == {"127.0.0.1"}


def test_pipelined_request_to_a_denied_host_is_judged(make_proxy, naive, tmp_path):
    """Two requests in one write: the second names a deny-listed host and must not reach anyone."""
    p = make_proxy([f"127.0.0.1:{naive.port}"], ["evil.test"])
    authority = f"127.0.0.1:{naive.port}"
    with socket.create_connection(p.address, timeout=5) as s:
        s.sendall(
            request(p, f"http://{authority}/first", authority) + request(p, "http://evil.test/x", "evil.test")
        )
        first, second = read_responses(s, 2)
    assert first.endswith(b"saw /first")
    assert parse(second)[0] == 403 and parse(second)[1]["x-proxy-error"] == "deny-listed"
    time.sleep(0.2)
    assert b"evil.test" not in naive.everything
    denial = log_lines(tmp_path)[-1]
    assert (denial["host"], denial["port"], denial["reason"], denial["rule"]) == (
        "evil.test",
        80,
        "deny-listed",
        "evil.test",
    )


def test_fake_upgrade_without_101_stays_http(make_proxy, naive, tmp_path):
    """An ordinary server ignores Upgrade; the bytes after it are still HTTP, still judged."""
    p = make_proxy([f"127.0.0.1:{naive.port}"], ["evil.test"])
    authority = f"127.0.0.1:{naive.port}"
    upgrade = request(
        p, f"http://{authority}/up", authority, b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
    )
    with socket.create_connection(p.address, timeout=5) as s:
        s.sendall(upgrade)
        (resp,) = read_responses(s, 1)
        assert resp.startswith(b"HTTP/1.1 200")
        s.sendall(b"GET http://evil.test/smuggled HTTP/1.1\r\nHost: evil.test\r\n\r\n")
        rest = read_responses(s, 1)
    assert rest and parse(rest[0])[0] in (403, 407)
    time.sleep(0.2)
    assert b"smuggled" not in naive.everything and b"evil.test" not in naive.everything


def test_non_websocket_upgrade_is_not_forwarded(make_proxy, naive):
    p = make_proxy([f"127.0.0.1:{naive.port}"])
    authority = f"127.0.0.1:{naive.port}"
    with socket.create_connection(p.address, timeout=5) as s:
        s.sendall(request(p, f"http://{authority}/h2c", authority, b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"))  # fmt: skip
        read_responses(s, 1)
    sent = bytes(naive.everything).lower()
    assert b"upgrade" not in sent and b"http2-settings" not in sent


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 44\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 44\r\n",
        b"Content-Length: 44\r\nContent-Length: 45\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        b"Content-Length: +44\r\n",
        b"Transfer-Encoding : chunked\r\n",
    ],
    ids=["cl-te", "te-cl", "two-lengths", "unknown-coding", "two-te", "signed-length", "space-before-colon"],
)
def test_ambiguous_framing_is_400_and_nothing_is_forwarded(make_proxy, naive, tmp_path, framing):
    p = make_proxy([f"127.0.0.1:{naive.port}"], ["evil.test"])
    authority = f"127.0.0.1:{naive.port}"
    smuggled = b"0\r\n\r\nGET http://evil.test/x HTTP/1.1\r\nHost: evil.test\r\n\r\n"
    raw = (
        f"POST http://{authority}/ HTTP/1.1\r\nHost: {authority}\r\n".encode()
        + _auth(p)
        + framing
        + b"\r\n"
        + smuggled
    )
    with socket.create_connection(p.address, timeout=5) as s:
        s.sendall(raw)
        out = read_responses(s, 2)
    assert parse(out[0])[0] == 400, out
    assert len(out) == 1, "the connection ends after a framing error"
    time.sleep(0.2)
    assert naive.everything == b""
    line = log_lines(tmp_path)[-1]
    assert (line["host"], line["port"], line["reason"]) == ("127.0.0.1", naive.port, "bad-request")


def test_request_body_is_forwarded_exactly(make_proxy, naive):
    """A chunked body goes up as the proxy framed it; what follows it is a new, judged request."""
    p = make_proxy([f"127.0.0.1:{naive.port}"], ["evil.test"])
    authority = f"127.0.0.1:{naive.port}"
    body = b"5\r\nhello\r\n0\r\n\r\n"
    raw = f"POST http://{authority}/post HTTP/1.1\r\nHost: {authority}\r\nTransfer-Encoding: chunked\r\n".encode() + _auth(p) + b"\r\n" + body  # fmt: skip
    with socket.create_connection(p.address, timeout=5) as s:
        s.sendall(raw + b"GET http://evil.test/x HTTP/1.1\r\nHost: evil.test\r\n" + _auth(p) + b"\r\n")
        first, second = read_responses(s, 2)
    assert first.endswith(b"saw /post") and parse(second)[0] == 403
    sent = bytes(naive.everything)
    assert sent.endswith(b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n") and b"evil" not in sent


def test_websocket_relayed_only_after_a_real_101(make_proxy):
    """Positive control for the upgrade cases: a server that does switch gets raw bytes both ways."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def serve():
        c, _ = srv.accept()
        head = b""
        while b"\r\n\r\n" not in head:
            head += c.recv(4096)
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhi")
        while data := c.recv(4096):
            c.sendall(data)
        c.close()

    threading.Thread(target=serve, daemon=True).start()
    p = make_proxy([f"127.0.0.1:{port}"])
    with socket.create_connection(p.address, timeout=5) as s:
        s.sendall(request(p, f"http://127.0.0.1:{port}/ws", f"127.0.0.1:{port}", b"Connection: Upgrade\r\nUpgrade: websocket\r\n") + b"\x81\x01x")  # fmt: skip
        got = b""
        while not got.endswith(b"hi\x81\x01x"):
            got += s.recv(4096)
        assert got.startswith(b"HTTP/1.1 101")
    srv.close()


# -- item 5: unreachable upstreams and what the log names -------------------------------------------------


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_upstream_is_502_and_socks_connection_refused(make_proxy, tmp_path):
    port = _closed_port()
    p = make_proxy([f"127.0.0.1:{port}"], socks=("127.0.0.1", 0))
    s, head = tunnel(p, f"127.0.0.1:{port}")
    s.close()
    status, headers, _ = parse(head)
    assert (status, headers["x-proxy-error"]) == (502, "upstream-failed")
    s, code = socks_connect(p, "127.0.0.1", port)
    s.close()
    assert code == 5  # connection refused, not success-then-close
    with socket.create_connection(p.address, timeout=5) as c:
        c.sendall(request(p, f"http://127.0.0.1:{port}/", f"127.0.0.1:{port}"))
        assert parse(read_responses(c, 1)[0])[0] == 502
    failures = [e for e in log_lines(tmp_path) if e["reason"] == "upstream-failed"]
    assert len(failures) == 3 and all((e["host"], e["port"]) == ("127.0.0.1", port) for e in failures)


@pytest.mark.parametrize(
    ("raw", "host", "port", "reason"),
    [
        (b"GET http://named.test:8080/ HTTP/1.1\r\nHost: named.test:8080\r\n\r\n", "named.test", 8080, "auth-required"),
        (b"CONNECT named.test:443 HTTP/1.1\r\nHost: named.test:443\r\n\r\n", "named.test", 443, "auth-required"),
        (b"GET https://named.test/ HTTP/1.1\r\nHost: named.test\r\nAUTH\r\n", "named.test", 443, "unsupported"),
        (b"GET http://named.test/ HTTP/1.1\r\nHost: named.test\r\nHost: other.test\r\nAUTH\r\n", "named.test", 80, "bad-request"),
        (b"get http://named.test/ HTTP/1.1\r\nHost: named.test\r\nAUTH\r\n", "named.test", 80, "bad-request"),
    ],
    ids=["no-credential", "connect-no-credential", "https-absolute", "two-hosts", "lowercase-method"],
)  # fmt: skip
def test_every_refusal_names_host_and_port(make_proxy, tmp_path, raw, host, port, reason):
    p = make_proxy(["named.test"])
    raw = raw.replace(b"AUTH\r\n", _auth(p))
    with socket.create_connection(p.address, timeout=5) as s:
        s.sendall(raw + b"\r\n")
        read_responses(s, 1)
    line = log_lines(tmp_path)[-1]
    assert (line["host"], line["port"], line["reason"], line["verdict"]) == (host, port, reason, "deny")
    assert line["rule"]


def test_socks5_refused_credential_is_logged_with_its_target_and_dials_nothing(make_proxy, naive, tmp_path):
    p = make_proxy([f"127.0.0.1:{naive.port}"])
    s, code = socks_connect(p, "127.0.0.1", naive.port, password="wrong")
    s.close()
    with socket.create_connection(p.address, timeout=5) as s:  # offers "no authentication" only
        s.sendall(b"\x05\x01\x00")
        assert s.recv(2) == b"\x05\x00"
        s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + naive.port.to_bytes(2, "big"))
        assert s.recv(10)[:2] == b"\x05\x02"
    assert code == 2 and naive.received == []  # refused, and the upstream never saw a connection
    lines = [e for e in log_lines(tmp_path) if e["reason"] == "auth-required"]
    assert [(e["host"], e["port"], e["verdict"]) for e in lines] == [("127.0.0.1", naive.port, "deny")] * 2
    assert ["wrong" in lines[0]["detail"], "missing" in lines[1]["detail"]] == [True, True]
    # Control: the right credential reaches the same target.
    s, code = socks_connect(p, "127.0.0.1", naive.port)
    with s:
        assert code == 0
        s.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_responses(s, 1)[0].endswith(b"saw /ok")


def test_a_line_without_a_target_says_why(make_proxy, tmp_path):
    """Where no target can be known the log says why (null host, ``target_unknown``), never an empty host."""
    p = make_proxy(["named.test"])
    with socket.create_connection(p.address, timeout=5) as s:  # SOCKS5 offering GSSAPI only
        s.sendall(b"\x05\x01\x01")
        assert s.recv(2) == b"\x05\xff"
    with socket.create_connection(p.address, timeout=5) as s:  # not a request line at all
        s.sendall(b"\x01\x02\x03\r\n\r\n")
        assert parse(read_responses(s, 1)[0])[0] == 400
    # A refusal is logged by the connection's own thread, possibly after its answer was sent:
    # wait for both lines (in either order) rather than read the log at once.
    deadline = time.monotonic() + 5
    lines: list = []
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            lines = log_lines(tmp_path)
        if len(lines) >= 2:
            break
        time.sleep(0.02)
    assert sorted(e["proto"] for e in lines) == ["http", "socks5"]
    for e in lines:
        assert (e["host"], e["port"], e["verdict"]) == (None, None, "deny")
        assert e["target_unknown"]


def test_private_address_refusal_says_how_to_allow_it(make_proxy, http_server, tmp_path):
    p = make_proxy(["mirror.test"], resolve={"mirror.test": "127.0.0.1"})
    with socket.create_connection(p.address, timeout=5) as s:
        s.sendall(request(p, f"http://mirror.test:{http_server.port}/", f"mirror.test:{http_server.port}"))
        status, headers, body = parse(read_responses(s, 1)[0])
    hint = f"--allow-domain 127.0.0.1:{http_server.port}"
    assert (status, headers["x-proxy-error"], json.loads(body)["allow_with"]) == (
        403,
        "private-address",
        hint,
    )
    assert log_lines(tmp_path)[-1]["allow_with"] == hint
    # Following the hint works.
    p2 = make_proxy(["mirror.test", f"127.0.0.1:{http_server.port}"], resolve={"mirror.test": "127.0.0.1"})
    with socket.create_connection(p2.address, timeout=5) as s:
        s.sendall(request(p2, f"http://mirror.test:{http_server.port}/", f"mirror.test:{http_server.port}"))
        assert parse(read_responses(s, 1)[0])[0] == 200


# -- item 4: descriptors, caps, timeouts, teardown --------------------------------------------------------


def test_header_sent_byte_by_byte_times_out(make_proxy, naive, tmp_path):
    p = make_proxy([f"127.0.0.1:{naive.port}"], limits=Limits(head_timeout=0.6))
    head = request(p, f"http://127.0.0.1:{naive.port}/", f"127.0.0.1:{naive.port}")
    with socket.create_connection(p.address, timeout=5) as s:
        got = b""
        for i in range(60):  # at most ~6 s of trickling; the head timeout is 0.6 s
            try:
                s.sendall(head[i : i + 1])
                time.sleep(0.1)
            except OSError:
                break
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                got += s.recv(4096)
            s.setblocking(True)
            if got:
                break
    assert got.startswith(b"HTTP/1.1 408"), got
    assert naive.everything == b""
    assert log_lines(tmp_path)[-1]["reason"] == "timeout"


def test_idle_keep_alive_connection_is_closed(make_proxy, naive):
    p = make_proxy([f"127.0.0.1:{naive.port}"], limits=Limits(idle_timeout=0.5))
    authority = f"127.0.0.1:{naive.port}"
    with socket.create_connection(p.address, timeout=10) as s:
        s.sendall(request(p, f"http://{authority}/", authority))
        read_responses(s, 1)
        assert s.recv(10) == b""  # closed by the proxy after 0.5 s idle (the client waits up to 10 s)


def _flood_from(address: str, port: int, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.socket()
        s.bind((address, 0))
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
        out.append(s)
    return out


def test_per_client_cap_refuses_clearly_and_others_are_served(make_proxy, naive, tmp_path):
    """A flood from 127.0.0.2 hits its own cap (503, logged with host and port); 127.0.0.1 is still served."""
    p = make_proxy(
        [f"127.0.0.1:{naive.port}"],
        limits=Limits(max_connections=60, max_per_client=20, max_unauthenticated=60),
    )
    authority = f"127.0.0.1:{naive.port}"
    flood = _flood_from("127.0.0.2", p.address[1], 30)
    try:
        time.sleep(0.3)
        refused = []
        for s in flood[20:]:
            s.sendall(request(p, f"http://{authority}/flood", authority))
            refused.append(parse(read_responses(s, 1)[0]))
        assert all((r[0], r[1]["x-proxy-error"]) == (503, "capacity") for r in refused)
        with socket.create_connection(p.address, timeout=5) as s:
            s.sendall(request(p, f"http://{authority}/ok", authority))
            assert read_responses(s, 1)[0].endswith(b"saw /ok")
    finally:
        for s in flood:
            s.close()
    lines = [e for e in log_lines(tmp_path) if e["reason"] == "capacity"]
    assert len(lines) == 10 and all((e["host"], e["port"]) == ("127.0.0.1", naive.port) for e in lines)
    assert "limit is 20" in lines[0]["detail"]


def test_connections_shed_unread_are_logged_with_the_reason_there_is_no_target(make_proxy, naive, tmp_path):
    """Over the cap with every refusal slot busy a connection is closed unread (that is what the
    slot bound saves): its line says so instead of naming an empty host. The one that got the
    refusal slot is answered 503 and logged with the host and port it asked for."""
    p = make_proxy(
        [f"127.0.0.1:{naive.port}"],
        limits=Limits(max_connections=1, max_per_client=1, max_unauthenticated=8, max_refusing=1),
    )
    authority = f"127.0.0.1:{naive.port}"
    held = socket.create_connection(p.address, timeout=5)
    refused = socket.create_connection(p.address, timeout=5)
    shed = socket.create_connection(p.address, timeout=5)
    try:
        assert shed.recv(1) == b""  # closed unanswered
        refused.sendall(request(p, f"http://{authority}/", authority))
        status, headers, _ = parse(read_responses(refused, 1)[0])
        assert (status, headers["x-proxy-error"]) == (503, "capacity")
        # Control: once the held connection goes, the same request is served.
        held.close()
        deadline = time.monotonic() + 5
        while p.server.open_connections and time.monotonic() < deadline:
            time.sleep(0.02)
        with socket.create_connection(p.address, timeout=5) as s:
            s.sendall(request(p, f"http://{authority}/ok", authority))
            assert read_responses(s, 1)[0].endswith(b"saw /ok")
    finally:
        for s in (held, refused, shed):
            s.close()
    lines = [e for e in log_lines(tmp_path) if e["reason"] == "capacity"]
    unread = [e for e in lines if e["host"] is None]
    assert len(unread) == 1 and unread[0]["target_unknown"] == "closed before its request was read"
    assert "closed unanswered" in unread[0]["detail"]
    assert [(e["host"], e["port"]) for e in lines if e["host"]] == [("127.0.0.1", naive.port)]


def test_global_cap_refuses_socks_with_a_failure_code(make_proxy, naive):
    p = make_proxy(
        [f"127.0.0.1:{naive.port}"],
        limits=Limits(max_connections=5, max_per_client=5, max_unauthenticated=10),
    )
    held = [socket.create_connection(p.address, timeout=5) for _ in range(5)]
    try:
        time.sleep(0.3)
        s, code = socks_connect(p, "127.0.0.1", naive.port)
        s.close()
        assert code == 1  # general SOCKS server failure: a clear refusal, not a hang
    finally:
        for s in held:
            s.close()


def test_idle_unauthenticated_flood_cannot_starve_real_clients(make_proxy, naive, tmp_path):
    """The flood test: 300 idle connections that never authenticate (bounded: 300 sockets,
    5 s timeouts); the oldest are dropped and an authenticated client is served throughout."""
    p = make_proxy([f"127.0.0.1:{naive.port}"], limits=Limits(max_connections=200, max_unauthenticated=32))
    authority = f"127.0.0.1:{naive.port}"
    flood = _flood_from("127.0.0.1", p.address[1], 300)
    try:
        for i in range(3):
            with socket.create_connection(p.address, timeout=5) as s:
                s.sendall(request(p, f"http://{authority}/real{i}", authority))
                assert read_responses(s, 1)[0].endswith(b"saw /real%d" % i)
        dropped = 0
        for s in flood[:100]:
            s.settimeout(5)
            with contextlib.suppress(OSError):
                dropped += s.recv(1) == b""
        assert dropped == 100, "the oldest idle connections were dropped for the newcomers"
    finally:
        for s in flood:
            s.close()
    dropped_lines = [e for e in log_lines(tmp_path) if "had not authenticated" in e.get("detail", "")]
    assert dropped_lines and all(e["host"] is None and e["target_unknown"] for e in dropped_lines)


def test_teardown_of_many_tunnels_does_not_stall_new_requests(make_proxy, naive):
    """500 open tunnels closed at once; a request right after is answered (within 5 s) and the relay empties."""
    p = make_proxy([f"127.0.0.1:{naive.port}"])
    authority = f"127.0.0.1:{naive.port}"
    tunnels = []
    for _ in range(500):
        s, head = tunnel(p, authority)
        assert parse(head)[0] == 200
        s.sendall(b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n")
        tunnels.append(s)
    for s in tunnels:
        assert read_responses(s, 1)[0].endswith(b"saw /t")
    assert len(p.server.relay) == 500
    for s in tunnels:
        s.close()
    with socket.create_connection(p.address, timeout=5) as s:
        s.sendall(request(p, f"http://{authority}/after", authority))
        assert read_responses(s, 1)[0].endswith(b"saw /after")
    deadline = time.monotonic() + 5
    while (len(p.server.relay) or p.server.open_connections > 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(p.server.relay) == 0 and p.server.open_connections == 0


SUBPROCESS = r"""
import resource, socket, sys, time, threading
sys.path.insert(0, sys.argv[1])
mode = sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
from cordon import netproxy
from cordon.netproxy.limits import Limits
if mode == "raise":
    p = netproxy.start(["127.0.0.1"])
    print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard and hard > 64)
    sys.exit(0)
# mode "emfile": keep the limit at 64 and let the caps allow more than that.
from cordon.netproxy.policy import NetPolicy
from cordon.netproxy.server import ProxyServer
events = []
server = ProxyServer(NetPolicy.from_lists(["127.0.0.1"], []), token=None, on_event=events.append,
                     limits=Limits(max_connections=1000, max_per_client=1000, max_unauthenticated=1000))
host, port = server.listen_tcp("127.0.0.1", 0)
print(port, flush=True)
sys.stdin.readline()  # the parent has opened its flood
t0 = time.process_time()
time.sleep(1.0)
print(round(time.process_time() - t0, 3), any("out of file descriptors" in e.get("detail", "") for e in events), flush=True)
"""


def test_soft_descriptor_limit_is_raised_to_the_hard_limit():
    import resource

    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] <= 64:
        pytest.skip("the hard descriptor limit here is too low to see a raise")
    out = subprocess.run(
        [sys.executable, "-c", SUBPROCESS, os.getcwd(), "raise"], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "True", out.stderr


def test_accept_does_not_spin_when_descriptors_run_out():
    proc = subprocess.Popen([sys.executable, "-c", SUBPROCESS, os.getcwd(), "emfile"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    flood = []
    try:
        port = int(proc.stdout.readline())
        for _ in range(120):  # more than the proxy's 64 descriptors
            flood.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        proc.stdin.write("go\n")
        proc.stdin.flush()
        cpu, logged = proc.stdout.readline().split()
    finally:
        for s in flood:
            s.close()
        proc.kill()
        proc.wait()
    assert logged == "True"
    assert float(cpu) < 0.5, f"the accept loop used {cpu} s of CPU in 1 s (a spin uses ~1 s)"


def test_a_stopped_proxy_gives_back_its_descriptors(naive):
    """A library user starting and stopping proxies keeps no descriptor of theirs (the relay's
    selector and wake pipe included), and a tunnel the relay ran is closed with the proxy."""
    from cordon import netproxy

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    def cycle() -> None:
        with netproxy.start([f"127.0.0.1:{naive.port}"]) as p:
            s, head = tunnel(p, f"127.0.0.1:{naive.port}")
            with s:
                assert b" 200 " in head
                s.sendall(b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_responses(s, 1)[0].endswith(b"saw /t")

    cycle()  # first use: imports, lazily created module state
    before = open_fds()
    for _ in range(10):
        cycle()
    deadline = time.monotonic() + 5
    while open_fds() > before and time.monotonic() < deadline:
        time.sleep(0.05)  # the relay thread closes its tunnels and its own descriptors as it ends
    assert open_fds() <= before
