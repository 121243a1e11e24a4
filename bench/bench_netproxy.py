"""netproxy: proxied sandbox runs vs srt (bulk CONNECT download, small requests, keep-alive and tunnel rates with the proxy process's peak RSS, start-up).

Every harness case includes the sandbox start-up of both tools (that is what a user waits for).
The request-rate rows (plain-HTTP keep-alive, requests inside CONNECT tunnels, a new tunnel
per request) are measured by the client inside each sandbox, after start-up, against an
HTTP/1.1 keep-alive upstream; the tools alternate batch by batch.
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


# Run *inside* each sandbox: CLIENTS threads, each on one proxy connection (keep-alive), or one
# CONNECT tunnel with keep-alive requests inside, or a new tunnel per request. Prints requests/s.
RATE_CLIENT = r"""
import base64, json, os, socket, sys, threading, time
from urllib.parse import urlsplit
mode, port, total, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
u = urlsplit(os.environ["HTTP_PROXY"])
auth = "Proxy-Authorization: Basic " + base64.b64encode(f"{u.username}:{u.password}".encode()).decode() + "\r\n"
authority = f"127.0.0.1:{port}"
plain = f"GET http://{authority}/ HTTP/1.1\r\nHost: {authority}\r\n{auth}\r\n".encode()
inner = f"GET / HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()
connect = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{auth}\r\n".encode()

def reply(s, buf):
    while not buf.endswith(b"ok"):
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("connection closed early")
        buf += chunk
    return buf

def open_tunnel():
    s = socket.create_connection((u.hostname, u.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(connect)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    if b" 200 " not in head.split(b"\r\n")[0] + b" ":
        raise SystemExit(f"CONNECT refused: {head[:80]!r}")
    return s

def work(n):
    if mode == "tunnel-new":
        for _ in range(n):
            s = open_tunnel()
            s.sendall(inner)
            reply(s, b"")
            s.close()
        return
    if mode == "tunnel":
        s, req = open_tunnel(), inner
    else:
        s, req = socket.create_connection((u.hostname, u.port)), plain
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(n):
        s.sendall(req)
        reply(s, b"")
    s.close()

t0 = time.perf_counter()
ts = [threading.Thread(target=work, args=(total // clients,)) for _ in range(clients)]
[t.start() for t in ts]
[t.join() for t in ts]
print(json.dumps({"per_s": (total // clients) * clients / (time.perf_counter() - t0)}))
"""

RATE_CASES = [
    ("plain HTTP keep-alive, 1 client", "http", 1500, 1),
    ("plain HTTP keep-alive, 8 clients", "http", 3200, 8),
    ("requests inside a CONNECT tunnel, 1 client", "tunnel", 3000, 1),
    ("requests inside CONNECT tunnels, 8 clients", "tunnel", 6400, 8),
    ("a new CONNECT tunnel per request, 8 clients", "tunnel-new", 800, 8),
]


def _keepalive_upstream() -> int:
    """An HTTP/1.1 keep-alive server answering ``ok`` (in this process, on its own threads)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def _is_proxy(name: str, proc, top_pid: int) -> bool:
    """The process that runs each tool's proxy: Cordon's per-sandbox proxy process; srt's own
    node process (its HTTP and SOCKS proxies run inside the CLI)."""
    if name == "srt":
        return proc.pid == top_pid
    try:
        return any("proxy_daemon" in part for part in proc.cmdline())
    except Exception:
        return False


def _run_watching_proxy(name: str, argv: list[str], cwd: Path) -> tuple[str, int]:
    """Run ``argv``; return its stdout and the proxy process's peak RSS in KiB (VmHWM, sampled
    while it runs: the kernel keeps the high-water mark, so a late sample sees the peak)."""
    import subprocess
    import threading

    import psutil

    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def watch() -> None:
        top = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                family = [top, *top.children(recursive=True)]
            except psutil.Error:
                return
            for p in family:
                if not _is_proxy(name, p, proc.pid):
                    continue
                try:
                    with open(f"/proc/{p.pid}/status") as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                peak[0] = max(peak[0], int(line.split()[1]))
                except OSError:
                    pass
            threading.Event().wait(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate(timeout=300)
    watcher.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: exit {proc.returncode}: {err[-400:]}")
    return out, peak[0]


def rate_rows(ctx, work: Path, srt_settings: Path | None, batches: int = 5) -> list[dict]:
    import statistics

    port = _keepalive_upstream()
    client = work / "rate_client.py"
    client.write_text(RATE_CLIENT)
    sandbox = str(Path(ctx["cordon_bin"]) / "sandbox") if ctx.get("cordon_bin") else None
    cordon = [sandbox] if sandbox else [ctx["python"], "-m", "cordon.sandbox"]
    cordon += ["run", "--allow-domain", f"127.0.0.1:{port}", "--"]
    rows = []
    for title, mode, total, clients in RATE_CASES:
        argv = ["/usr/bin/python3", str(client), mode, str(port), str(total), str(clients)]
        variants = {"cordon": cordon + argv}
        if srt_settings is not None:
            variants["srt"] = [str(ctx["srt"]), "-s", str(srt_settings), "-c", " ".join(_q(a) for a in argv)]
        got: dict[str, list[float]] = {name: [] for name in variants}
        peaks: dict[str, list[int]] = {name: [] for name in variants}
        for _ in range(batches):
            for name, run in variants.items():
                out, peak_kb = _run_watching_proxy(name, run, work)
                got[name].append(json.loads(out.strip().splitlines()[-1])["per_s"])
                peaks[name].append(peak_kb)
        rate = {name: statistics.median(v) for name, v in got.items()}
        print(f"\n## netproxy: {title} (requests/s measured inside the sandbox, median of {batches})")
        print(f"{'variant':<28}{'req/s':>12}{'cordon/peer':>14}{'proxy peak RSS':>18}")
        for name, r in rate.items():
            ratio = rate["cordon"] / r if name != "cordon" else None
            rss = max(peaks[name]) / 1024
            print(f"{name:<28}{r:>12,.0f}{(f'{ratio:.2f}x' if ratio else '-'):>14}{rss:>15.1f} MB")
            rows.append(
                {"case": f"netproxy: {title}", "variant": name, "rate_per_s": r, "ratio_vs_cordon": ratio,
                 "proxy_peak_rss_mb": rss}
            )  # fmt: skip
    return rows


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
    ctx.setdefault("extra_rows", []).extend(rate_rows(ctx, work, settings if srt else None))

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
