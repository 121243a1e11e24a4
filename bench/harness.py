"""Side-by-side timing: alternate Cordon and its peers run by run, report medians and ratios.

A benchmark module (``bench/bench_*.py``) defines ``cases(ctx) -> list[Case]``. Each
``Case`` has named variants (``cordon`` first, then peers); the harness runs the
variants in turn, round after round, so drift in machine load hits all alike. Wall
time comes from ``perf_counter``. Peak memory comes from a few extra, untimed runs under
``/usr/bin/time -f %M`` (the largest resident set of the command and its waited-for
descendants): ``wait4``'s ``ru_maxrss`` on a child of this process cannot go below this
process's own resident set (a child started by fork or vfork carries it until exec), so
every small command read ~15 MB. Without ``/usr/bin/time`` the ``wait4`` figure is kept.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

Runner = list[str] | Callable[[], None]


@dataclasses.dataclass
class Case:
    """One measurement: variant name -> argv (a process) or a callable (in-process)."""

    name: str
    variants: dict[str, Runner]
    rounds: int = 15
    cwd: Path | None = None
    env: dict[str, str] | None = None
    # Accept a non-zero exit for a variant (some peers exit 1 on purpose, e.g. a deny).
    ok_codes: tuple[int, ...] = (0,)
    note: str = ""
    # Work per call for in-process callables, to report a rate (calls/s) too.
    per_call_ops: int = 0


@dataclasses.dataclass
class Result:
    case: str
    variant: str
    wall_ms: list[float]
    maxrss_kb: list[int]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.wall_ms)

    @property
    def median_rss_kb(self) -> float:
        return statistics.median(self.maxrss_kb) if self.maxrss_kb else 0.0


def _run_process(
    argv: list[str], cwd: Path | None, env: dict | None, ok: tuple[int, ...]
) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - t0) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode not in ok:
        raise RuntimeError(f"{argv[:4]}... exited {proc.returncode}: {err[-400:]}")
    return wall, usage.ru_maxrss


TIME = "/usr/bin/time"  # GNU time: -f %M prints the peak RSS (KB) of what it ran
RSS_ROUNDS = 3


def measure(case: Case, warmup: int = 2) -> list[Result]:
    results = {name: Result(case.name, name, [], []) for name in case.variants}
    for _ in range(warmup):
        for runner in case.variants.values():
            _once(case, runner)
    for _ in range(case.rounds):
        for name, runner in case.variants.items():
            wall, rss = _once(case, runner)
            results[name].wall_ms.append(wall)
            if rss:
                results[name].maxrss_kb.append(rss)
    if os.access(TIME, os.X_OK):
        for name, runner in case.variants.items():
            if callable(runner):
                continue
            rss = [_peak_rss_kb(case, runner) for _ in range(RSS_ROUNDS)]
            if all(rss):
                results[name].maxrss_kb = rss
    return list(results.values())


def _peak_rss_kb(case: Case, argv: list[str]) -> int:
    """The command's own peak resident set, measured by GNU time (a small process that forks
    the command itself); 0 if it could not be read."""
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
        proc = subprocess.run(
            [TIME, "-f", "%M", "-o", out.name, *argv],
            cwd=case.cwd,
            env=case.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        text = out.read().strip().splitlines()
    if proc.returncode not in case.ok_codes or not text or not text[-1].isdigit():
        return 0
    return int(text[-1])


def _once(case: Case, runner: Runner) -> tuple[float, int]:
    if callable(runner):
        t0 = time.perf_counter()
        runner()
        return (time.perf_counter() - t0) * 1000, 0
    return _run_process(runner, case.cwd, case.env, case.ok_codes)


def report(case: Case, results: list[Result]) -> list[dict]:
    """Print one table for ``case`` and return rows (ratios are cordon / peer)."""
    base = results[0]
    print(f"\n## {case.name}" + (f"  ({case.note})" if case.note else ""))
    print(f"{'variant':<28}{'median ms':>12}{'peak RSS MB':>14}{'cordon/peer':>14}{'rate/s':>14}")
    rows = []
    for r in results:
        ratio = base.median_ms / r.median_ms if r is not base and r.median_ms else None
        rate = case.per_call_ops / (r.median_ms / 1000) if case.per_call_ops and r.median_ms else None
        rss = r.median_rss_kb / 1024 if r.maxrss_kb else None
        print(
            f"{r.variant:<28}{r.median_ms:>12.2f}{(f'{rss:.1f}' if rss else '-'):>14}"
            f"{(f'{ratio:.2f}x' if ratio else '-'):>14}{(f'{rate:,.0f}' if rate else '-'):>14}"
        )
        rows.append(
            {
                "case": case.name,
                "variant": r.variant,
                "median_ms": r.median_ms,
                "peak_rss_mb": rss,
                "ratio_vs_cordon": ratio,
                "rate_per_s": rate,
                "rounds": len(r.wall_ms),
            }
        )
    return rows
