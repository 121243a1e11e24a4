"""What the late-socket guard costs (sandbox/linux/unixguard.py), side by side in one run.

* per connect(): one sandbox runs N unix-socket connects and N loopback TCP connects to its
  own listeners; the default policy (every connect() made by the launcher's supervisor)
  against ``--network on`` (the same sandbox without the guard: connect() runs in the kernel
  directly). Rounds alternate; medians of microseconds per connect, and their ratio.
* per datagram: one process sends N unix datagrams and reads each back, three ways: ``sendto``
  with a pathname address (each one made by the supervisor), ``send`` on a connected socket
  (never notified) and ``sendmsg`` on a datagram socketpair (notified: the filter cannot see
  its address); unconfined, under the default policy and under ``--network on``. Medians of
  microseconds per datagram, and the ratios.
* per launch: in-process ``cordon.sandbox.run(["true"], denials=False)`` with the guard
  (its supervisor thread, the listener hand-over, the sock_diag socket) against the same
  launch with ``sockets.late_socket_guard`` switched off in this process (bench only).

Run: ``.venv/bin/python bench/bench_late_sockets.py [rounds]``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

INSIDE = r"""
import os, socket, sys, tempfile, threading, time
n = int(sys.argv[1])
d = tempfile.mkdtemp(); p = os.path.join(d, "s")
u = socket.socket(socket.AF_UNIX); u.bind(p); u.listen(1024)
t = socket.socket(); t.bind(("127.0.0.1", 0)); t.listen(1024); port = t.getsockname()[1]
def drain(s):
    while True:
        s.accept()[0].close()
for s in (u, t):
    threading.Thread(target=drain, args=(s,), daemon=True).start()
def run(make, addr):
    t0 = time.perf_counter()
    for _ in range(n):
        c = make(); c.connect(addr); c.close()
    return (time.perf_counter() - t0) / n * 1e6
print(run(lambda: socket.socket(socket.AF_UNIX), p), run(socket.socket, ("127.0.0.1", port)))
"""


DGRAM = r"""
import os, socket, sys, tempfile, time
n = int(sys.argv[1])
d = tempfile.mkdtemp(); a, b = os.path.join(d, "a"), os.path.join(d, "b")
rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); rx.bind(a)
tx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); tx.bind(b)
def timed(send, recv):
    t0 = time.perf_counter()
    for _ in range(n):
        send(b"x" * 64); recv(64)
    return (time.perf_counter() - t0) / n * 1e6
addressed = timed(lambda m: tx.sendto(m, a), rx.recv)
c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); c.connect(a)
connected = timed(c.send, rx.recv)
p, q = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
pair = timed(lambda m: p.sendmsg([m]), q.recv)
print(addressed, connected, pair)
"""


def _dgram_round(flags: list[str] | None, n: int) -> tuple[float, ...]:
    """µs per datagram (addressed sendto, connected send, socketpair sendmsg); ``flags`` None:
    unconfined."""
    inside = [sys.executable, "-I", "-S", "-c", DGRAM, str(n)]
    argv = inside if flags is None else [sys.executable, "-m", "cordon.sandbox", "run", *flags, "--", *inside]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-500:])
    return tuple(float(x) for x in r.stdout.split())


def _connect_round(flags: list[str], n: int) -> tuple[float, float]:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "cordon.sandbox",
            "run",
            *flags,
            "--",
            sys.executable,
            "-I",
            "-S",
            "-c",
            INSIDE,
            str(n),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-500:])
    a, b = r.stdout.split()
    return float(a), float(b)


def _launch_round(n: int, guard: bool) -> float:
    from cordon.sandbox import run
    from cordon.sandbox.linux import sockets

    real = sockets.late_socket_guard
    if not guard:
        sockets.late_socket_guard = lambda *a, **k: None
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            r = run(["true"], denials=False)
            assert r.returncode == 0, r.stderr
        return (time.perf_counter() - t0) / n * 1e3
    finally:
        sockets.late_socket_guard = real


def cases(ctx) -> list:
    """For bench/run.py: prints its own table (no Case rows)."""
    main()
    return []


def main(rounds: int = 5) -> int:
    os.chdir(tempfile.mkdtemp(prefix="cordon-bench-"))
    got: dict[str, list] = {"guard": [], "no guard (--network on)": []}
    for _ in range(rounds):
        got["guard"].append(_connect_round([], 2000))
        got["no guard (--network on)"].append(_connect_round(["--network", "on"], 2000))
    print("per connect() inside one sandbox (median of rounds, microseconds):")
    med = {
        k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in got.items()
    }
    for k, (un, tcp) in med.items():
        print(f"  {k:26s} unix {un:8.1f}   tcp loopback {tcp:8.1f}")
    g, o = med["guard"], med["no guard (--network on)"]
    print(f"  ratio guard / none:        unix {g[0] / o[0]:6.2f}x  tcp {g[1] / o[1]:6.2f}x")
    dg: dict[str, list] = {"unconfined": [], "guard (default)": [], "--network on": []}
    for _ in range(rounds):
        dg["unconfined"].append(_dgram_round(None, 5000))
        dg["guard (default)"].append(_dgram_round([], 5000))
        dg["--network on"].append(_dgram_round(["--network", "on"], 5000))
    print("per unix datagram, sent and read back (median of rounds, microseconds):")
    dmed = {k: [statistics.median(x[i] for x in v) for i in range(3)] for k, v in dg.items()}
    for k, (addr, conn, pair) in dmed.items():
        print(
            f"  {k:26s} sendto(path) {addr:7.1f}   connected send {conn:7.1f}   socketpair sendmsg {pair:7.1f}"
        )
    g, u, o = dmed["guard (default)"], dmed["unconfined"], dmed["--network on"]
    for label, ref in (("unconfined", u), ("--network on", o)):
        print(
            f"  ratio guard / {label:13s} sendto(path) {g[0] / ref[0]:5.2f}x   connected send "
            f"{g[1] / ref[1]:5.2f}x   socketpair sendmsg {g[2] / ref[2]:5.2f}x"
        )
    launches: dict[bool, list] = {True: [], False: []}
    _launch_round(3, True)  # warm the caches
    for _ in range(rounds):
        for guard in (True, False):
            launches[guard].append(_launch_round(20, guard))
    a, b = statistics.median(launches[True]), statistics.median(launches[False])
    print(f"per launch, in-process run(['true']): guard {a:.2f} ms, without {b:.2f} ms, ratio {a / b:.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
