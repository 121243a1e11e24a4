"""Ray: cordon.integrations.ray.run_many throughput vs cordon.sandbox.run in a thread pool.

Both run the same batch of short confined commands (``sh -c 'echo $0 > out-$0'`` in one
shared workspace, default policy: network off, secrets masked) with the same parallelism: Ray
tasks with ``num_cpus=1`` on a local Ray instance of ``WORKERS`` CPUs, against
``ThreadPoolExecutor(WORKERS)`` calling ``sandbox.run``. Ray is started (and its workers warmed)
once before measuring; its start-up is reported separately as a note. The rate is commands/s.

    .venv/bin/python bench/run.py ray            # with the other benches' report format
    .venv/bin/python bench/bench_ray.py          # alone

What it shows: on one machine Ray adds per-task scheduling and serialization on top of the same
sandbox launches, so the ratio is the price of being able to spread the batch over a cluster.

This machine (2 cores, shared with other work; one run, 5 rounds, medians): 24 commands took
7.2 s through run_many (3 commands/s) and 3.2 s through the thread pool (7 commands/s): the
thread pool is 2.3x faster on one node. Ray's start-up and worker warm-up: 20 s. run_many pays
off when the batch spreads over nodes (each node adds its cores) or when commands run long
enough that the per-task overhead (about 0.3 s here) disappears.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import Case

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORKERS = 2  # this machine's cores
BATCH = 24


def cases(ctx) -> list[Case]:
    import ray
    from cordon.integrations.ray import run_many
    from cordon.sandbox import SandboxPolicy, run

    ws = Path(tempfile.mkdtemp(prefix="cordon-bench-ray-"))
    os.environ.setdefault("XDG_CACHE_HOME", str(ws / ".cache-xdg"))
    policy = SandboxPolicy(workspace=ws)
    commands = [["sh", "-c", "echo $0 > out-$0", str(i)] for i in range(BATCH)]

    t = time.perf_counter()
    ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False)
    list(run_many(commands[:WORKERS], policy=policy, cwd=ws, num_cpus=1))  # workers imported
    started = time.perf_counter() - t

    def with_ray() -> None:
        results = list(run_many(commands, policy=policy, cwd=ws, num_cpus=1))
        bad = [(r.returncode, r.stderr[-300:]) for r in results if r.returncode]
        assert not bad, bad

    pool = ThreadPoolExecutor(WORKERS)

    def with_threads() -> None:
        results = list(pool.map(lambda argv: run(argv, policy=policy, cwd=ws), commands))
        bad = [(r.returncode, r.stderr[-300:]) for r in results if r.returncode]
        assert not bad, bad

    return [
        Case(
            f"{BATCH} confined commands, {WORKERS} in parallel",
            {"cordon run_many (Ray tasks)": with_ray, "sandbox.run in a thread pool": with_threads},
            rounds=5,
            per_call_ops=BATCH,
            note=f"Ray start-up and worker warm-up (not in the figures): {started:.1f} s",
        )
    ]


if __name__ == "__main__":
    import harness

    for case in cases({}):
        harness.report(case, harness.measure(case, warmup=1))
