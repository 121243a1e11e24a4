"""End to end through ``sandbox run --allow-domain``: the proxy is the only way out, as root and as a user."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

from tests.support.identities import INSIDE_PYTHON

pytestmark = [pytest.mark.sandbox, pytest.mark.network]

if not shutil.which("curl"):
    pytest.skip("curl is needed inside the sandbox for these tests", allow_module_level=True)


def run(identity, *args: str, timeout: int = 60):
    return identity.run(identity.sandbox_argv("run", *args), timeout=timeout)


def test_allowed_and_denied_through_the_proxy(identity, http_server):
    r = run(
        identity,
        "--allow-domain",
        f"127.0.0.1:{http_server.port}",
        "--",
        "curl",
        "-sS",
        f"{http_server.url}/in",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["path"] == "/in"
    r = run(
        identity,
        "--allow-domain",
        f"127.0.0.1:{http_server.port}",
        "--",
        "curl",
        "-sS",
        "-i",
        "http://evil.test/",
    )
    assert "403" in r.stdout.splitlines()[0] and "X-Proxy-Error: not-allowed" in r.stdout
    # the launcher's denial summary names the host, the rule and the grant (sandbox.denials)
    assert "blocked http evil.test:80 (proxy: not in the allowed domains" in r.stderr
    assert "allow with --allow-domain evil.test)" in r.stderr


def test_direct_connections_bypassing_the_proxy_fail(identity, http_server):
    """No route out, nothing on the namespace's loopback, no DNS. (Unix sockets of its own the
    command may use; the host's are masked: tests/sandbox/linux/test_local_ipc.py.)"""
    probe = r"""
import os, socket, sys, errno
port = int(sys.argv[1])
results = {}
def attempt(name, fn):
    try:
        fn()
        results[name] = "OPEN"
    except OSError as e:
        results[name] = errno.errorcode.get(e.errno, str(e.errno))
def tcp(host, p, fam=socket.AF_INET):
    s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(2); s.connect((host, p)); s.close()
attempt("loopback", lambda: tcp("127.0.0.1", port))
attempt("loopback6", lambda: tcp("::1", port, socket.AF_INET6))
attempt("public", lambda: tcp("93.184.216.34", 80))
attempt("udp_dns", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53)))
attempt("resolve", lambda: socket.getaddrinfo("example.com", 80))
print(results)
"""
    r = run(
        identity,
        "--allow-domain",
        f"127.0.0.1:{http_server.port}",
        "--",
        INSIDE_PYTHON,
        "-c",
        probe,
        str(http_server.port),
    )
    assert r.returncode == 0, r.stderr
    res = eval(r.stdout)  # a dict literal printed by the probe
    assert "OPEN" not in res.values(), res
    assert res["loopback"] == "ECONNREFUSED"
    assert res["public"] == "ENETUNREACH"
    assert res["udp_dns"] == "ENETUNREACH"
    r = run(
        identity,
        "--allow-domain",
        f"127.0.0.1:{http_server.port}",
        "--",
        "curl",
        "-sS",
        "--noproxy",
        "*",
        f"{http_server.url}/direct",
    )
    assert r.returncode == 7, r.stdout


# The bridge's unix socket is reachable by the command now that unix sockets between its own
# processes work; the proxy still checks the credential and the domain filter there:
# tests/sandbox/linux/test_local_ipc.py::test_proxy_socket_reached_directly_still_filters.


def test_https_with_pinned_name_and_sni(identity, https_server):
    cert = identity.workspace / "ca.pem"
    shutil.copy(https_server.cert_file, cert)
    cert.chmod(0o644)
    port = https_server.port
    r = run(
        identity,
        "--allow-domain",
        f"allowed.test:{port}",
        "--allow-domain",
        f"127.0.0.1:{port}",
        "--resolve",
        "allowed.test=127.0.0.1",  # the HOST=ADDR spelling
        "--",
        "curl",
        "-sS",
        "--cacert",
        str(cert),
        f"https://allowed.test:{port}/secure",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["path"] == "/secure"


def test_allow_listed_localhost_goes_through_the_proxy(identity, http_server):
    r = run(
        identity,
        "--allow-domain",
        f"localhost:{http_server.port}",
        "--",
        "curl",
        "-sS",
        f"http://localhost:{http_server.port}/lh",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["path"] == "/lh"


def test_socks5_from_inside_and_net_log(identity, http_server):
    log = identity.workspace / "net.jsonl"
    r = run(
        identity,
        "--allow-domain",
        f"127.0.0.1:{http_server.port}",
        "--net-log",
        str(log),
        "--",
        "sh",
        "-c",
        f'curl -sS -x "$ALL_PROXY" {http_server.url}/socks; curl -sS -x "$ALL_PROXY" http://evil.test/ ; exit 0',
    )
    assert r.returncode == 0, r.stderr
    assert '"path": "/socks"' in r.stdout
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(x["proto"], x["verdict"]) for x in lines] == [("socks5", "allow"), ("socks5", "deny")]
    assert lines[1]["host"] == "evil.test"


def test_bad_pattern_is_a_config_error(identity):
    r = run(identity, "--allow-domain", "*.1.2.3.4", "--", "true")
    assert r.returncode != 0
    assert "*.1.2.3.4" in r.stderr and "never match" in r.stderr


HOLD_TUNNEL = r"""
import base64, os, socket, sys
from urllib.parse import urlsplit
u = urlsplit(os.environ["HTTP_PROXY"])
auth = base64.b64encode(f"{u.username}:{u.password}".encode()).decode()
target = sys.argv[1]
s = socket.create_connection((u.hostname, u.port))
s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {auth}\r\n\r\n".encode())
print(s.recv(4096).split(b"\r\n")[0].decode(), flush=True)
s.sendall(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
print("first", b"200 OK" in s.recv(65536), flush=True)
sys.stdin.readline()
s.settimeout(5)
try:
    s.sendall(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
    print("second", b"200 OK" in s.recv(65536), flush=True)
except OSError as e:
    print("second", type(e).__name__, flush=True)
"""


def test_live_update_cuts_a_tunnel_of_a_running_sandbox(identity, http_server):
    """A frontend revokes a domain while the sandboxed command holds a tunnel to it."""
    target = f"127.0.0.1:{http_server.port}"
    script = identity.workspace / "hold.py"
    script.write_text(HOLD_TUNNEL)
    script.chmod(0o644)
    runner = (
        "import sys\n"
        "from cordon.sandbox import SandboxPolicy, spawn\n"
        "from cordon.sandbox.model import NetworkPolicy\n"
        f"pol = SandboxPolicy(network=NetworkPolicy(mode='proxy', allow_domains=[{target!r}]))\n"
        f"p = spawn([{INSIDE_PYTHON!r}, {str(script)!r}, {target!r}], policy=pol, stdin=-1, text=True)\n"
        "print(p.stdout.readline().strip(), '|', p.stdout.readline().strip(), flush=True)\n"
        "print('cut', p.update_network(allow=['other.test']), flush=True)  # the public library call\n"
        "p.stdin.write('go\\n'); p.stdin.flush()\n"
        "print(p.stdout.readline().strip(), flush=True)\n"
        "p.wait(10)\n"
    )
    r = identity.run([sys.executable, "-c", runner], timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "HTTP/1.1 200 Connection established | first True"
    assert lines[1] == "cut 1"
    assert lines[2] != "second True", lines


def test_nothing_is_left_behind(identity, http_server):
    runtime = identity.workspace / "rt"
    runtime.mkdir()
    os.chown(runtime, identity.uid, identity.gid)
    env = identity.env(XDG_RUNTIME_DIR=str(runtime))
    argv = identity.sandbox_argv("run", "--allow-domain", f"127.0.0.1:{http_server.port}", "--", "true")
    r = identity.run(argv, env=env)
    assert r.returncode == 0, r.stderr
    assert list(runtime.iterdir()) == []


# In-sandbox scripts (stdlib only): ``tunnel(target)`` opens an authenticated CONNECT through $HTTP_PROXY.
_TUNNEL = r"""
import base64, os, socket, sys
from urllib.parse import urlsplit
u = urlsplit(os.environ["HTTP_PROXY"])
auth = base64.b64encode(f"{u.username}:{u.password}".encode()).decode()

def tunnel(target):
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {auth}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head

def read_all(s):
    got = b""
    try:
        while chunk := s.recv(65536):
            got += chunk
    except OSError:
        pass
    return got
"""

HOLD_MANY = (
    _TUNNEL
    + r"""
target, count = sys.argv[1], int(sys.argv[2])
held = []
for i in range(count):
    s, head = tunnel(target)
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit(f"tunnel {i} refused: {head[:80]!r}")
    held.append(s)
print("held", len(held))
"""
)


def test_a_sandbox_holds_hundreds_of_tunnels(identity):
    """The per-sandbox proxy used to drop new connections silently at ~430 tunnels (1024 files)."""
    import socket

    srv = socket.create_server(("127.0.0.1", 0), backlog=1024)  # handshakes complete in the backlog
    try:
        target = f"127.0.0.1:{srv.getsockname()[1]}"
        r = run(
            identity,
            "--allow-domain",
            target,
            "--",
            INSIDE_PYTHON,
            "-c",
            HOLD_MANY,
            target,
            "700",
            timeout=120,
        )
    finally:
        srv.close()
    assert r.returncode == 0, r.stderr[-500:]
    assert r.stdout.strip() == "held 700"


def test_loopback_servers_inside_bypass_the_proxy_and_no_proxy_is_merged(identity, http_server):
    """NO_PROXY carries the user's entries and loopback; a server the command starts on its own
    loopback answers a proxy-honouring client (curl), while allowed hosts still go through the proxy."""
    serve_and_fetch = (
        f"{INSIDE_PYTHON} -m http.server 18765 --bind 127.0.0.1 >/dev/null 2>&1 & "
        "for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18765/ && break; sleep 0.1; done; "
        "curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:18765/; "
        "curl -s -o /dev/null -w '%{http_code} ' http://localhost:18765/; "
        'echo "$NO_PROXY|$no_proxy|$npm_config_noproxy|${npm_config_http_proxy-unset}"'
    )
    r = run(
        identity,
        "--allow-domain",
        "pypi.org",
        "--env-set",
        "NO_PROXY=corp.example",
        "--",
        "sh",
        "-c",
        serve_and_fetch,
    )
    assert r.returncode == 0, r.stderr
    codes, _, env = r.stdout.strip().rpartition(" ")
    merged = "corp.example,localhost,127.0.0.1,::1"
    assert codes.split() == ["200", "200"], r.stdout
    assert env == f"{merged}|{merged}|{merged}|unset"


SEND_HELLO = (
    _TUNNEL
    + r"""
s, head = tunnel(sys.argv[1])
s.sendall(bytes.fromhex(sys.argv[2]))
reply = read_all(s)
print(head.split(b"\r\n")[0].decode() + "|" + reply[:2].hex())
"""
)


@pytest.mark.parametrize("name", [b"evil.test:443", b"allowed.test"], ids=["port-in-sni", "control"])
def test_sni_carrying_a_port_is_refused_from_inside(identity, tcp_recorder, name):
    """The review's fail-open SNI, sent from inside the sandbox; the unaltered name is the control."""
    from tests.support.tls import client_hello, server_names, with_server_name

    port = tcp_recorder.port
    hello = with_server_name(client_hello("allowed.test"), server_names((0, name)))
    target = f"allowed.test:{port}"
    args = [
        "--allow-domain",
        target,
        "--allow-domain",
        f"127.0.0.1:{port}",
        "--resolve",
        "allowed.test=127.0.0.1",
    ]
    r = run(identity, *args, "--", INSIDE_PYTHON, "-c", SEND_HELLO, target, hello.hex(), timeout=60)
    assert r.returncode == 0, r.stderr
    status, _, alert = r.stdout.strip().partition("|")
    assert status == "HTTP/1.1 200 Connection established"
    if name == b"allowed.test":
        assert any(x.startswith(hello[:64]) for x in tcp_recorder.received)
    else:
        assert alert == "1503"  # a TLS alert record
        assert tcp_recorder.received == []
        assert "allowed.test:" in r.stderr and "sni-invalid" in r.stderr


SMUGGLE = (
    _TUNNEL
    + r"""
import re
s = socket.create_connection((u.hostname, u.port), timeout=10)
header = f"Proxy-Authorization: Basic {auth}\r\n".encode()
s.sendall(bytes.fromhex(sys.argv[1]).replace(b"AUTH\r\n", header))
print(" ".join(code.decode() for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", read_all(s))))
"""
)


@pytest.mark.parametrize(
    ("case", "expected"),
    [("pipelined-denied", "200 403"), ("pipelined-allowed", "200 200"), ("cl-te", "400")],
    ids=["pipelined-denied", "control-pipelined-allowed", "cl-te"],
)
def test_requests_smuggled_on_one_connection_are_judged_from_inside(identity, case, expected):
    """Issue 16's smuggling routes, sent from inside the sandbox to an upstream that ignores
    ``Connection: close`` and answers every head it sees: a pipelined request naming a denied
    host is judged (403) and never reaches the upstream; CL+TE is refused whole (400). The
    control pipelines a second *allowed* request, which the same upstream does receive."""
    from tests.netproxy.test_hardening import NaiveUpstream

    up = NaiveUpstream()
    try:
        allowed = f"127.0.0.1:{up.port}"
        first = f"GET http://{allowed}/first HTTP/1.1\r\nHost: {allowed}\r\nAUTH\r\n\r\n"
        if case == "cl-te":
            smuggled = "GET http://denied.test/ HTTP/1.1\r\nHost: denied.test\r\n\r\n"
            body = f"0\r\n\r\n{smuggled}"
            raw = (f"POST http://{allowed}/ HTTP/1.1\r\nHost: {allowed}\r\nAUTH\r\nContent-Length: {len(body)}\r\n"
                   f"Transfer-Encoding: chunked\r\n\r\n{body}")  # fmt: skip
        else:
            second = "denied.test" if case == "pipelined-denied" else allowed
            raw = (
                first
                + f"GET http://{second}/second HTTP/1.1\r\nHost: {second}\r\nAUTH\r\nConnection: close\r\n\r\n"
            )
        r = run(identity, "--allow-domain", allowed, "--", INSIDE_PYTHON, "-c", SMUGGLE, raw.encode().hex())
        assert r.returncode == 0, r.stderr[-500:]
        assert r.stdout.strip() == expected
        seen = up.everything
        assert b"denied.test" not in seen
        assert (b"/second" in seen) == (case == "pipelined-allowed")
    finally:
        up.close()
