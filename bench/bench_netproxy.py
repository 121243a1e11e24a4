"""netproxy: proxied sandbox runs vs srt (bulk CONNECT download, small requests, start-up), loopback upstream.

Every case includes the sandbox start-up of both tools (that is what a user waits for).
srt gets a settings file allowing 127.0.0.1/localhost; its NO_PROXY covers 127.0.0.1, so
curl is told ``--noproxy ''`` for both tools (Cordon sets NO_PROXY empty itself).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from harness import Case

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BULK = 200_000_000
SMALL_REQUESTS = 400
THREADS = 20

# A stdlib client run *inside* each sandbox: THREADS threads, a new proxy connection per request.
CLIENT = r"""
import base64, os, socket, sys, threading
from urllib.parse import urlsplit
target, total, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
u = urlsplit(os.environ["HTTP_PROXY"])
auth = base64.b64encode(f"{u.username}:{u.password}".encode()).decode()
host = target.split("/")[2]
req = (f"GET {target} HTTP/1.1\r\nHost: {host}\r\nProxy-Authorization: Basic {auth}\r\n"
       "Connection: close\r\n\r\n").encode()
bad = []
def work(n):
    for _ in range(n):
        s = socket.create_connection((u.hostname, u.port))
        s.sendall(req)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        if not data.startswith(b"HTTP/1.1 200") and not data.startswith(b"HTTP/1.0 200"):
            bad.append(data[:80])
ts = [threading.Thread(target=work, args=(total // threads,)) for _ in range(threads)]
[t.start() for t in ts]
[t.join() for t in ts]
if bad:
    sys.exit(f"{len(bad)} failed, e.g. {bad[0]!r}")
"""

_server = None


def _upstream():
    global _server
    if _server is None:
        from tests.support.servers import EchoServer

        _server = EchoServer("127.0.0.1").__enter__()
    return _server


def cases(ctx) -> list[Case]:
    srv = _upstream()
    work = Path(tempfile.mkdtemp(prefix="bench-netproxy-"))
    work.chmod(0o755)
    client = work / "client.py"
    client.write_text(CLIENT)
    py = ctx["python"]
    allow = f"127.0.0.1:{srv.port}"
    cordon = [py, "-m", "cordon.sandbox", "run", "--allow-domain", allow, "--"]
    srt = ctx.get("srt")
    srt_argv = None
    if srt:
        settings = work / "srt-settings.json"
        settings.write_text(
            json.dumps(
                {
                    "network": {"allowedDomains": ["127.0.0.1", "localhost"], "deniedDomains": []},
                    "filesystem": {"denyRead": [], "allowWrite": [str(work)], "denyWrite": []},
                }
            )
        )
        srt_argv = [str(srt), "-s", str(settings), "-c"]

    curl = ["curl", "-sSf", "--noproxy", "", "-p", "-o", "/dev/null", f"{srv.url}/bytes/{BULK}"]
    small = ["/usr/bin/python3", str(client), f"{srv.url}/", str(SMALL_REQUESTS), str(THREADS)]

    def variants(argv: list[str]) -> dict:
        v = {"cordon": cordon + argv}
        if srt_argv:
            v["srt"] = [*srt_argv, " ".join(_q(a) for a in argv)]
        return v

    return [
        Case(
            "netproxy: 200 MB through a CONNECT tunnel (sandbox start-up included)",
            variants(curl),
            rounds=7,
            cwd=work,
            note="curl -p in the sandbox; loopback Python upstream",
        ),
        Case(
            f"netproxy: {SMALL_REQUESTS} small GETs, new connection each, {THREADS} threads",
            variants(small),
            rounds=7,
            cwd=work,
            per_call_ops=SMALL_REQUESTS,
            note="rate includes sandbox start-up for both",
        ),
        Case(
            "netproxy: start-up, `-- true` with proxied network",
            variants(["true"]),
            rounds=15,
            cwd=work,
        ),
    ]


def _q(s: str) -> str:
    import shlex

    return shlex.quote(s)
