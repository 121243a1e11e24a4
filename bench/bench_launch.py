"""Launch latency at the limit: in-process vs sandlock, 8-way parallel throughput vs bare bwrap, CLI vs firejail.

* in-process: ``cordon.sandbox.run(["true"])``, a warm ``cordon.sandbox.Pool(size=2).run`` (the
  next sandbox ready, as between an agent's commands; its start and memory are printed) and ``sandlock.Sandbox(...).run(["true"])``, each
  from an already-running Python process (its own venv: bench/launch_driver.py), per-launch
  milliseconds; bare ``bwrap --unshare-all true`` started by subprocess is the floor for a
  namespace sandbox. Drivers alternate, batch after batch.
* parallel: launches per second with 8 threads launching at once, Cordon vs bare bwrap.
* parallel also runs bubblewrap alone with the argv Cordon's plan gives it (its mounts,
  masks and placeholders, ``true`` instead of the inner stage): the ceiling for Cordon's row.
* CLI: ``sandbox run -- true`` (installed) vs ``codex sandbox``, ``firejail --noprofile``
  and bare bwrap, a fresh process per round; a bare interpreter start (``python -I -S``) for
  scale; ``CORDON_BENCH_BASELINE=/path/to/other/bin/sandbox`` adds another build side by side.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import Case

HERE = Path(__file__).resolve().parent
DRIVER = str(HERE / "launch_driver.py")


_CACHE: list[str] = []


def _env() -> dict[str, str]:
    """The environment every Cordon run here gets: its own cache folder for this bench run.
    Cordon's compiled seccomp program is cached per install; another install using the same
    cache meanwhile (a helper's checkout, another build) would make each compile it afresh."""
    if not _CACHE:
        _CACHE.append(tempfile.mkdtemp(prefix="cordon-bench-cache-"))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["XDG_CACHE_HOME"] = _CACHE[0]
    return env


def _driver(py: str, tool: str, *args: str) -> dict:
    env = _env()
    out = subprocess.run([py, DRIVER, tool, *args], capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{tool} driver failed: {out.stderr[-600:]}")
    return json.loads(out.stdout)


def _batches(variants: dict[str, tuple[str, str]], make_args, batches: int) -> dict[str, list]:
    got: dict[str, list] = {name: [] for name in variants}
    for _ in range(batches):
        for name, (py, tool) in variants.items():
            got[name].append(_driver(py, tool, *make_args()))
    return got


def in_process_rows(ctx, ws: str, batches: int = 5, per_batch: int = 20) -> list[dict]:
    cordon_py = str(Path(ctx["cordon_bin"]) / "python") if ctx.get("cordon_bin") else sys.executable
    variants = {
        "cordon sandbox.run()": (cordon_py, "cordon"),
        "cordon Pool.run() (warm)": (cordon_py, "cordon-pool"),
        "bare bwrap (subprocess)": (cordon_py, "bwrap"),
    }
    if ctx.get("sandlock_python"):
        variants["sandlock Sandbox.run()"] = (str(ctx["sandlock_python"]), "sandlock")
    got = _batches(variants, lambda: ("serial", str(per_batch), ws), batches)
    pool = got["cordon Pool.run() (warm)"]
    start = statistics.median(b["pool_start_ms"] for b in pool)
    rss = statistics.median(b["pool_rss_kb"] for b in pool) / 1024
    print(
        f"\n(pool of 2: ready {start:.1f} ms after Pool(); its two waiting sandboxes hold {rss:.1f} MB RSS)"
    )
    med = {name: statistics.median([m for b in bs for m in b["ms"]]) for name, bs in got.items()}
    base = med["cordon sandbox.run()"]
    print(f"\n## sandbox.run(['true']) in-process, per launch (median of {batches * per_batch})")
    print(f"{'variant':<28}{'median ms':>12}{'cordon/peer':>14}")
    rows = []
    for name, m in med.items():
        ratio = base / m if name != "cordon sandbox.run()" else None
        print(f"{name:<28}{m:>12.2f}{(f'{ratio:.2f}x' if ratio else '-'):>14}")
        rows.append({"case": "in-process launch", "variant": name, "median_ms": m, "ratio_vs_cordon": ratio})
    rows.append(
        {
            "case": "in-process launch",
            "variant": "pool of 2: start ms / RSS MB",
            "median_ms": start,
            "peak_rss_mb": rss,
        }
    )
    print(f"\n## peak RSS of the launching process ({per_batch} launches; median of {batches} batches)")
    for name, bs in got.items():
        kb = statistics.median(b["peak_rss_kb"] for b in bs)
        print(f"{name:<28}{kb / 1024:>9.1f} MB")
        rows.append({"case": "launcher peak RSS", "variant": name, "peak_rss_mb": kb / 1024})
    warm = med["cordon Pool.run() (warm)"]
    for name, m in med.items():
        if name.startswith(("sandlock", "bare")):
            print(f"warm pool / {name}: {warm / m:.2f}x")
    return rows


def parallel_rows(ctx, ws: str, batches: int = 3, launches: int = 160, threads: int = 8) -> list[dict]:
    cordon_py = str(Path(ctx["cordon_bin"]) / "python") if ctx.get("cordon_bin") else sys.executable
    variants = {
        "cordon sandbox.run()": (cordon_py, "cordon"),
        "bare bwrap": (cordon_py, "bwrap"),
        "bwrap, Cordon's mounts only": (cordon_py, "cordon-mounts"),
    }
    if ctx.get("sandlock_python"):
        variants["sandlock"] = (str(ctx["sandlock_python"]), "sandlock")
    got = _batches(variants, lambda: ("parallel", str(launches), ws, str(threads)), batches)
    rate = {name: statistics.median(b["per_s"] for b in bs) for name, bs in got.items()}
    rss = {name: statistics.median(b["peak_rss_kb"] for b in bs) / 1024 for name, bs in got.items()}
    base = rate["cordon sandbox.run()"]
    print(f"\n## {threads}-way parallel launches of `true` (median of {batches} batches of {launches})")
    print(f"{'variant':<28}{'launches/s':>12}{'cordon/peer':>14}{'launcher RSS':>14}")
    rows = []
    for name, r in rate.items():
        ratio = base / r if name != "cordon sandbox.run()" else None
        print(f"{name:<28}{r:>12.1f}{(f'{ratio:.2f}x' if ratio else '-'):>14}{rss[name]:>11.1f} MB")
        rows.append(
            {
                "case": f"{threads}-way parallel",
                "variant": name,
                "rate_per_s": r,
                "ratio_vs_cordon": ratio,
                "peak_rss_mb": rss[name],
            }
        )
    mounts = rate["bwrap, Cordon's mounts only"] / rate["bare bwrap"]
    print(
        f"bubblewrap with Cordon's argv alone (no launcher, no inner stage) reaches {mounts:.2f}x bare bwrap: "
        "the ceiling the mounts set for the cordon row"
    )
    return rows


def cases(ctx) -> list[Case]:
    ws = tempfile.mkdtemp(prefix="cordon-bench-launch-")
    ctx.setdefault("extra_rows", []).extend(in_process_rows(ctx, ws) + parallel_rows(ctx, ws))
    installed = ctx.get("cordon_bin")
    sandbox_cli = (
        str(Path(installed) / "sandbox") if installed else str(Path(ctx["python"]).parent / "sandbox")
    )
    env = _env()
    cli = {"cordon sandbox run": [sandbox_cli, "run", "--", "true"]}
    if ctx.get("codex"):
        cli["codex sandbox (ws-write)"] = [
            str(ctx["codex"]),
            "sandbox",
            "-c",
            'sandbox_mode="workspace-write"',
            "--",
            "true",
        ]
    if ctx.get("firejail"):
        cli["firejail --noprofile"] = [ctx["firejail"], "--quiet", "--noprofile", "--net=none", "true"]
    baseline = os.environ.get("CORDON_BENCH_BASELINE")  # another build's `sandbox`, for before/after
    if baseline:
        # Its own cache folder: two builds sharing one would each find the other's compiled
        # seccomp program keyed to the other install, compile afresh (~30-50 ms) and replace it.
        cache = tempfile.mkdtemp(prefix="cordon-bench-baseline-cache-")
        cli["cordon (baseline build)"] = ["env", f"XDG_CACHE_HOME={cache}", baseline, "run", "--", "true"]
    cli["python -I -S -c pass"] = [sys.executable, "-I", "-S", "-c", "pass"]  # the interpreter alone
    cli["bare bwrap"] = [
        "bwrap",
        "--unshare-all",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "true",
    ]
    return [Case("CLI start-up, `true`", cli, rounds=20, cwd=Path(ws), env=env)]
