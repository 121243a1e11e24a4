"""What the late-socket guard costs (sandbox/linux/unixguard.py), side by side in one run.

* per connect(): one sandbox runs N unix-socket connects and N loopback TCP connects to its
  own listeners; the default policy (every connect() made by the launcher's supervisor)
  against ``--network on`` (the same sandbox without the guard: connect() runs in the kernel
  directly). Rounds alternate; medians of microseconds per connect, and their ratio.
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
