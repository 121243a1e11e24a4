"""The proxy itself, spoken to directly over loopback: HTTP, CONNECT, SOCKS5 and the attacks on them."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import threading
import time

import pytest

from cordon import netproxy
from tests.support.tls import client_hello, server_names, with_server_name

pytestmark = pytest.mark.network


def _auth(p) -> bytes:
    return b"Proxy-Authorization: Basic " + base64.b64encode(f"cordon:{p.token}".encode()) + b"\r\n"


def exchange(p, data: bytes, timeout: float = 5) -> bytes:
    """Send raw bytes to the proxy and read until it closes."""
    with socket.create_connection(p.address, timeout=timeout) as s:
        s.sendall(data)
        out = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := s.recv(65536):
                out += chunk
        return out


def get(
    p, url: str, host: str | None = None, auth: bool = True, extra: bytes = b""
) -> tuple[int, dict, bytes]:
    authority = url.split("/")[2]
    head = (
        f"GET {url} HTTP/1.1\r\nHost: {host or authority}\r\nConnection: close\r\n".encode()
        + (_auth(p) if auth else b"")
        + extra
    )
    return parse(exchange(p, head + b"\r\n"))


def parse(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return status, headers, body


def log_lines(tmp_path) -> list[dict]:
    return [json.loads(x) for x in (tmp_path / "net.jsonl").read_text().splitlines()]


def tunnel(p, target: str, auth: bool = True) -> tuple[socket.socket, bytes]:
    s = socket.create_connection(p.address, timeout=5)
    s.sendall(
        f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n".encode() + (_auth(p) if auth else b"") + b"\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head


def socks_connect(
    p, host: str, port: int, *, cmd: int = 1, password: str | None = None
) -> tuple[socket.socket, int]:
    s = socket.create_connection(p.socks_address, timeout=5)
    s.sendall(b"\x05\x01\x02")
    assert s.recv(2) == b"\x05\x02"
    pw = (password if password is not None else p.token).encode()
    s.sendall(b"\x01\x06cordon" + bytes([len(pw)]) + pw)
    status = s.recv(2)
    if status != b"\x01\x00":
        return s, -1
    name = host.encode()
    s.sendall(bytes([5, cmd, 0, 3, len(name)]) + name + port.to_bytes(2, "big"))
    reply = s.recv(10)
    return s, reply[1]


# -- plain HTTP ------------------------------------------------------------------------------------------


def test_allowed_absolute_form(make_proxy, http_server, tmp_path):
    p = make_proxy([f"127.0.0.1:{http_server.port}"])
    status, _, body = get(p, f"{http_server.url}/hello")
    assert status == 200
    echoed = json.loads(body)
    assert echoed["path"] == "/hello"
    assert "Proxy-Authorization" not in echoed["headers"]
    line = log_lines(tmp_path)[-1]
    assert (line["host"], line["port"], line["verdict"], line["reason"]) == (
        "127.0.0.1",
        http_server.port,
        "allow",
        "allowed",
    )


def test_origin_form_is_judged_by_host(make_proxy, http_server):
    p = make_proxy([f"127.0.0.1:{http_server.port}"])
    ok = exchange(
        p,
        f"GET /o HTTP/1.1\r\nHost: 127.0.0.1:{http_server.port}\r\nConnection: close\r\n".encode()
        + _auth(p)
        + b"\r\n",
    )
    assert parse(ok)[0] == 200
    bad = parse(exchange(p, b"GET /o HTTP/1.1\r\nHost: evil.test\r\n" + _auth(p) + b"\r\n"))
    assert (bad[0], bad[1]["x-proxy-error"]) == (403, "not-allowed")


def test_port_not_allowed(make_proxy, http_server):
    p = make_proxy([f"127.0.0.1:{http_server.port + 1}"])
    status, headers, body = get(p, f"{http_server.url}/")
    assert (status, headers["x-proxy-error"]) == (403, "not-allowed")
    assert json.loads(body)["port"] == http_server.port


def test_apex_vs_wildcard(make_proxy, http_server):
    port = http_server.port
    pins = {"allowed.test": "127.0.0.1", "www.allowed.test": "127.0.0.1"}
    p = make_proxy(["*.allowed.test", f"127.0.0.1:{port}"], resolve=pins)
    assert get(p, f"http://www.allowed.test:{port}/")[0] == 200
    status, headers, _ = get(p, f"http://allowed.test:{port}/")
    assert (status, headers["x-proxy-error"]) == (403, "not-allowed")


def test_deny_wins(make_proxy, http_server):
    p = make_proxy(["127.0.0.0/8"], [f"127.0.0.1:{http_server.port}"])
    status, headers, _ = get(p, f"{http_server.url}/")
    assert (status, headers["x-proxy-error"]) == (403, "deny-listed")


@pytest.mark.parametrize(
    "spelling", ["2130706433", "127.1", "0x7f.0.0.1", "0177.0.0.1", "[::ffff:127.0.0.1]"]
)
def test_alternate_ip_spellings_allowed(make_proxy, http_server, spelling):
    p = make_proxy([f"127.0.0.1:{http_server.port}"])
    status, _, body = get(p, f"http://{spelling}:{http_server.port}/x")
    assert status == 200, body
    assert json.loads(body)["server"][0] == "127.0.0.1"


@pytest.mark.parametrize("spelling", ["2130706433", "127.1", "0x7f000001", "[::ffff:7f00:1]"])
def test_alternate_ip_spellings_denied(make_proxy, http_server, spelling):
    p = make_proxy(["0.0.0.0/0"], ["127.0.0.1"])
    status, headers, _ = get(p, f"http://{spelling}:{http_server.port}/x")
    assert (status, headers["x-proxy-error"]) == (403, "deny-listed")


def test_ipv6_upstream(make_proxy, http_server6):
    p = make_proxy([f"[::1]:{http_server6.port}"])
    status, _, body = get(p, f"{http_server6.url}/six")
    assert status == 200 and json.loads(body)["server"][0] == "::1"


def test_name_pinned_to_loopback_needs_the_address_allowed(make_proxy, http_server, tmp_path):
    port = http_server.port
    p = make_proxy(["app.test"], resolve={"app.test": "127.0.0.1"})
    status, headers, body = get(p, f"http://app.test:{port}/")
    assert (status, headers["x-proxy-error"]) == (403, "private-address")
    assert json.loads(body)["detail"] == "loopback"
    p2 = make_proxy(["app.test", f"127.0.0.1:{port}"], resolve={"app.test": "127.0.0.1"})
    assert get(p2, f"http://app.test:{port}/")[0] == 200


def test_host_mismatch_is_refused(make_proxy, tcp_recorder):
    p = make_proxy([f"127.0.0.1:{tcp_recorder.port}", "evil.test"])
    status, headers, _ = get(p, f"http://127.0.0.1:{tcp_recorder.port}/", host="evil.test")
    assert (status, headers["x-proxy-error"]) == (400, "host-mismatch")
    two = exchange(
        p,
        f"GET http://127.0.0.1:{tcp_recorder.port}/ HTTP/1.1\r\nHost: 127.0.0.1:{tcp_recorder.port}\r\n"
        f"Host: evil.test\r\n".encode()
        + _auth(p)
        + b"\r\n",
    )
    assert parse(two)[0] == 400
    time.sleep(0.3)
    assert tcp_recorder.received == []


def test_userinfo_and_authority_tricks(make_proxy, tcp_recorder):
    port = tcp_recorder.port
    p = make_proxy([f"127.0.0.1:{port}"])
    status, headers, _ = get(p, f"http://127.0.0.1:{port}@evil.test/", host="evil.test")
    assert (status, headers["x-proxy-error"]) == (400, "bad-request")
    status, headers, _ = get(p, f"http://evil.test@127.0.0.1:{port}/", host=f"127.0.0.1:{port}")
    assert status == 400
    s, head = tunnel(p, f"evil.test:443@127.0.0.1:{port}")
    s.close()
    assert parse(head)[0] == 400
    s, head = tunnel(p, "127.0.0.1:0")
    s.close()
    assert parse(head)[0] == 400
    assert get(p, "http://127.0.0.1:0/")[0] == 400
    time.sleep(0.3)
    assert tcp_recorder.received == []


def test_missing_or_wrong_credential(make_proxy, http_server, tmp_path):
    p = make_proxy([f"127.0.0.1:{http_server.port}"])
    status, headers, _ = get(p, f"{http_server.url}/", auth=False)
    assert status == 407 and headers["proxy-authenticate"].startswith("Basic")
    wrong = base64.b64encode(b"cordon:nope")
    status, _, _ = get(
        p, f"{http_server.url}/", auth=False, extra=b"Proxy-Authorization: Basic " + wrong + b"\r\n"
    )
    assert status == 407
    s, head = tunnel(p, f"127.0.0.1:{http_server.port}", auth=False)
    s.close()
    assert parse(head)[0] == 407
    assert log_lines(tmp_path)[-1]["reason"] == "auth-required"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"get http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n",
        b"GET http://" + b"a" * 300 + b".test/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET http://" + b"a" * 70 + b".test/ HTTP/1.1\r\n\r\n",
        b"CONNECT [fe80::1%25eth0]:443 HTTP/1.1\r\n\r\n",
        b"GET ftp://x.test/ HTTP/1.1\r\nHost: x.test\r\n\r\n",
        b"\x16\x03\x01\x00\x05hello\r\n\r\n",
        b"GET / HTTP/1.1\r\nbroken header line\r\n\r\n",
    ],
)
def test_malformed_requests_get_400_and_the_proxy_survives(make_proxy, http_server, request_bytes):
    p = make_proxy([f"127.0.0.1:{http_server.port}"])
    raw = request_bytes.replace(b"\r\n\r\n", b"\r\n" + _auth(p) + b"\r\n", 1)
    status, headers, _ = parse(exchange(p, raw))
    assert status == 400, raw
    assert headers["x-proxy-error"] in ("bad-request", "unsupported")
    assert get(p, f"{http_server.url}/still-alive")[0] == 200


def test_oversized_head_is_431(make_proxy, http_server):
    p = make_proxy([f"127.0.0.1:{http_server.port}"])
    raw = f"GET {http_server.url}/ HTTP/1.1\r\n".encode() + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n"
    assert parse(exchange(p, raw))[0] == 431
    assert get(p, f"{http_server.url}/")[0] == 200


# -- CONNECT and SNI -----------------------------------------------------------------------------------------


def test_connect_tls_with_matching_sni(make_proxy, https_server, tmp_path):
    port = https_server.port
    p = make_proxy([f"allowed.test:{port}", f"127.0.0.1:{port}"], resolve={"allowed.test": "127.0.0.1"})
    s, head = tunnel(p, f"allowed.test:{port}")
    assert parse(head)[0] == 200
    ctx = ssl.create_default_context(cafile=str(https_server.cert_file))
    with ctx.wrap_socket(s, server_hostname="allowed.test") as tls:
        tls.sendall(b"GET /tls HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    assert b'"path": "/tls"' in data


def test_connect_tls_without_sni_to_ip_literal(make_proxy, https_server):
    p = make_proxy([f"127.0.0.1:{https_server.port}"])
    s, head = tunnel(p, f"127.0.0.1:{https_server.port}")
    assert parse(head)[0] == 200
    ctx = ssl.create_default_context(cafile=str(https_server.cert_file))
    with ctx.wrap_socket(s, server_hostname="127.0.0.1") as tls:  # IP: no SNI is sent
        tls.sendall(b"GET /nosni HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert b"HTTP/1.1 200" in tls.recv(65536)


def test_sni_mismatch_never_reaches_upstream(make_proxy, tcp_recorder, tmp_path):
    port = tcp_recorder.port
    p = make_proxy([f"127.0.0.1:{port}"])
    s, head = tunnel(p, f"127.0.0.1:{port}")
    assert parse(head)[0] == 200
    s.sendall(client_hello("evil.test"))
    reply = b""
    with contextlib.suppress(OSError):
        while chunk := s.recv(100):
            reply += chunk
    s.close()
    assert reply.startswith(b"\x15\x03")  # a TLS alert, then close
    time.sleep(0.3)
    assert tcp_recorder.received == []
    denial = log_lines(tmp_path)[-1]
    assert (denial["verdict"], denial["reason"]) == ("deny", "sni-mismatch")


@pytest.mark.parametrize(
    ("ext", "reason"),
    [
        (server_names((0, b"evil.test:443")), "sni-invalid"),
        (server_names((1, b"x"), (0, b"evil.test")), "sni-invalid"),
        (server_names((0, b"allowed.test"), (0, b"evil.test")), "sni-invalid"),
        (server_names((0, b"127.0.0.1")), "sni-invalid"),
        (server_names((0, b"evil.test")), "sni-mismatch"),
        (None, "sni-missing"),
    ],
    ids=["port", "odd-entry-first", "two-names", "address", "deny-listed", "no-sni-for-a-name"],
)
@pytest.mark.parametrize("via", ["connect", "socks5"])
def test_odd_sni_is_refused_before_the_upstream(make_proxy, tcp_recorder, tmp_path, ext, reason, via):
    """The review's fail-open cases: each hello is a real one with its server_name replaced."""
    port = tcp_recorder.port
    p = make_proxy([f"allowed.test:{port}", f"127.0.0.1:{port}"], ["evil.test"], resolve={"allowed.test": "127.0.0.1"},
                   socks=("127.0.0.1", 0))  # fmt: skip
    if via == "connect":
        s, head = tunnel(p, f"allowed.test:{port}")
        assert parse(head)[0] == 200
    else:
        s, code = socks_connect(p, "allowed.test", port)
        assert code == 0
    s.sendall(with_server_name(client_hello("allowed.test"), ext))
    reply = b""
    with contextlib.suppress(OSError):
        while chunk := s.recv(100):
            reply += chunk
    s.close()
    assert reply.startswith(b"\x15\x03")  # a TLS alert, then close
    time.sleep(0.3)
    assert [r for r in tcp_recorder.received if r] == []
    denial = log_lines(tmp_path)[-1]
    assert (denial["verdict"], denial["reason"], denial["host"], denial["port"]) == (
        "deny",
        reason,
        "allowed.test",
        port,
    )


def test_well_formed_sni_to_a_named_target_passes(make_proxy, tcp_recorder):
    """Positive control for the test above: the unaltered hello reaches the upstream."""
    port = tcp_recorder.port
    p = make_proxy([f"allowed.test:{port}", f"127.0.0.1:{port}"], resolve={"allowed.test": "127.0.0.1"})
    s, _ = tunnel(p, f"allowed.test:{port}")
    hello = with_server_name(client_hello("allowed.test"), server_names((0, b"allowed.test")))
    s.sendall(hello)
    deadline = time.time() + 3
    while not any(tcp_recorder.received) and time.time() < deadline:
        time.sleep(0.05)
    s.close()
    assert any(r.startswith(hello[:100]) for r in tcp_recorder.received)


def test_sni_of_another_allowed_host_passes(make_proxy, tcp_recorder):
    port = tcp_recorder.port
    p = make_proxy([f"127.0.0.1:{port}", "other.test"])
    s, _ = tunnel(p, f"127.0.0.1:{port}")
    hello = client_hello("other.test")
    s.sendall(hello)
    time.sleep(0.5)
    s.close()
    deadline = time.time() + 3
    while not tcp_recorder.received and time.time() < deadline:
        time.sleep(0.05)
    assert tcp_recorder.received and tcp_recorder.received[0].startswith(hello[:100])


def test_hello_split_across_writes_is_still_checked(make_proxy, tcp_recorder):
    p = make_proxy([f"127.0.0.1:{tcp_recorder.port}"])
    s, _ = tunnel(p, f"127.0.0.1:{tcp_recorder.port}")
    hello = client_hello("evil.test")
    for i in range(0, len(hello), 7):
        s.sendall(hello[i : i + 7])
        time.sleep(0.002)
    with contextlib.suppress(OSError):
        s.recv(100)
    s.close()
    time.sleep(0.3)
    assert tcp_recorder.received == []


def test_non_tls_on_a_tunnel_is_relayed(make_proxy, http_server):
    p = make_proxy([f"127.0.0.1:{http_server.port}"])
    s, _ = tunnel(p, f"127.0.0.1:{http_server.port}")
    s.sendall(b"GET /opaque HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    assert b'"path": "/opaque"' in data


def test_server_speaks_first_protocol(make_proxy):
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    seen = []

    def serve():
        c, _ = srv.accept()
        c.sendall(b"SSH-2.0-test\r\n")
        seen.append(c.recv(100))
        c.close()

    threading.Thread(target=serve, daemon=True).start()
    p = make_proxy([f"127.0.0.1:{port}"])
    s, head = tunnel(p, f"127.0.0.1:{port}")
    banner = head.partition(b"\r\n\r\n")[2]  # the banner may come in the same read as the 200
    while len(banner) < 14:
        banner += s.recv(100)
    assert banner == b"SSH-2.0-test\r\n"
    s.sendall(b"SSH-2.0-client\r\n")
    time.sleep(0.3)
    s.close()
    srv.close()
    assert seen == [b"SSH-2.0-client\r\n"]


def test_late_client_hello_is_still_checked(make_proxy):
    """A client that waits for the proxy to dial first cannot smuggle a bad SNI afterwards."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    got = []

    def serve():
        c, _ = srv.accept()
        c.settimeout(3)
        with contextlib.suppress(OSError):
            got.append(c.recv(100))
        c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    p = make_proxy([f"127.0.0.1:{port}"])
    s, _ = tunnel(p, f"127.0.0.1:{port}")
    time.sleep(1.0)  # longer than the first-bytes wait: the proxy has dialled
    s.sendall(client_hello("evil.test"))
    t.join(5)
    s.close()
    srv.close()
    assert got == [b""]


def test_connect_denied(make_proxy):
    p = make_proxy(["allowed.test"])
    s, head = tunnel(p, "evil.test:443")
    s.close()
    status, headers, _ = parse(head)
    assert (status, headers["x-proxy-error"]) == (403, "not-allowed")


# -- SOCKS5 -------------------------------------------------------------------------------------------


def test_socks5_allowed(make_proxy, http_server):
    p = make_proxy([f"127.0.0.1:{http_server.port}"], socks=("127.0.0.1", 0))
    s, code = socks_connect(p, "127.0.0.1", http_server.port)
    assert code == 0
    s.sendall(b"GET /socks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    assert b'"path": "/socks"' in data


@pytest.mark.parametrize(("host", "reason"), [("evil.test", "not-allowed"), ("2130706433", "deny-listed")])
def test_socks5_refused_with_0x02(make_proxy, http_server, tmp_path, host, reason):
    p = make_proxy(["allowed.test"], ["127.0.0.1"])
    s, code = socks_connect(p, host, http_server.port)
    s.close()
    assert code == 2
    assert log_lines(tmp_path)[-1]["reason"] == reason


@pytest.mark.parametrize("cmd", [2, 3])  # BIND, UDP ASSOCIATE
def test_socks5_bind_and_udp_refused(make_proxy, http_server, cmd):
    p = make_proxy([f"127.0.0.1:{http_server.port}"])
    s, code = socks_connect(p, "127.0.0.1", http_server.port, cmd=cmd)
    s.close()
    assert code == 7


def test_socks5_needs_the_credential(make_proxy, tmp_path):
    p = make_proxy(["allowed.test"])
    with socket.create_connection(p.address, timeout=5) as s:
        s.sendall(b"\x05\x01\x00")  # offers "no authentication" only: refused at the request
        assert s.recv(2) == b"\x05\x00"
        s.sendall(b"\x05\x01\x00\x03\x0callowed.test\x00\x50")
        assert s.recv(10)[:2] == b"\x05\x02"
    s, code = socks_connect(p, "allowed.test", 80, password="wrong")
    assert code == 2  # "not allowed": the credential is refused once the target is known
    s.close()
    refusals = [e for e in log_lines(tmp_path) if e["reason"] == "auth-required"]
    assert [(e["host"], e["port"]) for e in refusals] == [("allowed.test", 80)] * 2
    with socket.create_connection(p.address, timeout=5) as s:  # SOCKS4: refused ("request rejected")
        s.sendall(b"\x04\x01\x00\x50\x7f\x00\x00\x01cordon\x00")
        assert s.recv(10)[:2] == b"\x00\x5b"
    socks4 = log_lines(tmp_path)[-1]
    assert (socks4["proto"], socks4["host"], socks4["port"], socks4["reason"]) == (
        "socks4",
        "127.0.0.1",
        80,
        "unsupported",
    )


# -- WebSocket, live updates ---------------------------------------------------------------------------


def _ws_server():
    srv = socket.create_server(("127.0.0.1", 0))

    def serve():
        c, _ = srv.accept()
        head = b""
        while b"\r\n\r\n" not in head:
            head += c.recv(4096)
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        while data := c.recv(4096):
            c.sendall(data)
        c.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv


def test_websocket_upgrade_to_allowed_host(make_proxy):
    srv = _ws_server()
    port = srv.getsockname()[1]
    p = make_proxy([f"127.0.0.1:{port}"])
    with socket.create_connection(p.address, timeout=5) as s:
        s.sendall(
            f"GET http://127.0.0.1:{port}/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\n"
            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n".encode()
            + _auth(p)
            + b"\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101")
        s.sendall(b"\x81\x05hello")
        assert s.recv(100) == b"\x81\x05hello"
    srv.close()
    denied = make_proxy(["other.test"])
    status, headers, _ = get(
        denied, f"http://127.0.0.1:{port}/ws", extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
    )
    assert (status, headers["x-proxy-error"]) == (403, "not-allowed")


def test_policy_update_cuts_open_tunnel(make_proxy, http_server, tmp_path):
    port = http_server.port
    p = make_proxy([f"127.0.0.1:{port}", "other.test"])
    s, _ = tunnel(p, f"127.0.0.1:{port}")
    s.sendall(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive inside the tunnel
    assert b"200 OK" in s.recv(65536)
    assert p.update(allow=["other.test"]) == 1
    s.settimeout(3)
    with contextlib.suppress(OSError):
        s.sendall(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
    rest = b""
    with contextlib.suppress(OSError):
        while chunk := s.recv(65536):
            rest += chunk
    s.close()
    assert b"200 OK" not in rest
    revoked = log_lines(tmp_path)[-1]
    assert (revoked["verdict"], revoked["reason"]) == ("deny", "not-allowed")
    assert revoked["detail"].startswith("revoked")
    assert get(p, f"{http_server.url}/")[0] == 403  # new requests see the new policy too


def test_policy_update_cuts_streaming_http_and_keeps_others(make_proxy, http_server):
    port = http_server.port
    p = make_proxy([f"127.0.0.1:{port}"])
    s = socket.create_connection(p.address, timeout=5)
    s.sendall(
        f"GET {http_server.url}/bytes/2000000000 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
        + _auth(p)
        + b"\r\n"
    )
    assert s.recv(65536)
    assert p.update(allow=[f"127.0.0.1:{port}", "more.test"]) == 0  # still allowed: untouched
    assert s.recv(65536)
    assert p.update(allow=["more.test"]) == 1
    total = 0
    s.settimeout(5)
    with contextlib.suppress(OSError):
        while chunk := s.recv(1 << 20):
            total += len(chunk)
    s.close()
    assert total < 2_000_000_000


def test_invalid_update_keeps_old_policy(make_proxy, http_server):
    p = make_proxy([f"127.0.0.1:{http_server.port}"])
    with pytest.raises(netproxy.PatternError):
        p.update(allow=["*.1.2.3.4"])
    assert get(p, f"{http_server.url}/")[0] == 200


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "copy-loop"])
def test_bulk_transfer_is_complete(make_proxy, http_server, monkeypatch, splice):
    """Both byte movers: splice(2) on Linux, the copy loop used where splice does not exist."""
    from cordon.netproxy import relay

    if not splice:
        monkeypatch.setattr(relay, "HAVE_SPLICE", False)
    elif not relay.HAVE_SPLICE:
        pytest.skip("this platform has no splice(2)")
    p = make_proxy([f"127.0.0.1:{http_server.port}"])
    s, _ = tunnel(p, f"127.0.0.1:{http_server.port}")
    n = 20_000_000
    s.sendall(f"GET /bytes/{n} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = bytearray()
    while chunk := s.recv(1 << 20):
        data += chunk
    s.close()
    assert data.endswith(b"x" * 1000) and len(data.partition(b"\r\n\r\n")[2]) == n


def test_connect_tls_to_ipv6_upstream(make_proxy):
    from tests.support.servers import EchoServer

    with EchoServer("::1", tls=True, cert_names=("localhost",)) as srv:
        p = make_proxy([f"[::1]:{srv.port}"])
        s, head = tunnel(p, f"[::1]:{srv.port}")
        assert parse(head)[0] == 200
        ctx = ssl.create_default_context(cafile=str(srv.cert_file))
        with ctx.wrap_socket(s, server_hostname="::1") as tls:
            tls.sendall(b"GET /v6 HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
        assert b'"path": "/v6"' in data


def test_half_closed_client_still_gets_its_response(make_proxy, http_server):
    """srt answers nothing when the client sends FIN right after its request; Cordon still answers."""
    p = make_proxy([f"127.0.0.1:{http_server.port}"])
    with socket.create_connection(p.address, timeout=5) as s:
        s.sendall(
            f"GET {http_server.url}/half HTTP/1.1\r\nHost: 127.0.0.1:{http_server.port}\r\n".encode()
            + _auth(p)
            + b"\r\n"
        )
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status, _, body = parse(data)
    assert status == 200
    assert json.loads(body)["path"] == "/half"
