"""sandbox run: start-up vs `codex sandbox` (workspace-write) and `srt`, in-process run(), scaling.

* `sandbox run -- true`, default policy (workspace-write, network off, secrets masked),
  a fresh process per round; Codex gets workspace-write via `-c sandbox_mode=...`
  (its default for `codex sandbox` is read-only); srt runs with its defaults.
  "cordon" is a non-editable install of this checkout (what scripts/install.sh gives users);
  "cordon (editable checkout)" shows what a developer's editable install's import hook adds.
* `sandbox.run(["true"])` from an already-running Python process (what an agent
  frontend does) against Codex's CLI.
* Peak RSS is wait4's ru_maxrss, which also counts the pages a child shares with the
  harness between fork and exec: keep the harness small (run this module alone) or
  check with `/usr/bin/time -f %M sandbox run -- true` (about 12-17 MB here).
* (the overhead of resource limits is in bench_limits.py)
* launch time with 10 / 100 / 1,000 extra writable roots, and 10 / 100 / 1,000 deny-read
  paths (each one a real directory, so each one becomes a mount). Each writable root costs
  a bind plus three protected-name placeholders (12 bwrap arguments): past ~700 roots
  bubblewrap's 9,000-argument limit is reached and `sandbox run` refuses with exit 125.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from harness import Case

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _workspace() -> Path:
    ws = Path(tempfile.mkdtemp(prefix="cordon-bench-sbx-"))
    (ws / "README").write_text("bench\n")
    return ws


def _dirs(base: Path, name: str, n: int) -> list[str]:
    out = []
    for i in range(n):
        d = base / f"{name}{i}"
        d.mkdir(parents=True, exist_ok=True)
        out.append(str(d))
    return out


def cases(ctx) -> list[Case]:
    py = ctx["python"]
    editable_cli = str(Path(py).parent / "sandbox")
    installed = ctx.get("cordon_bin")
    sandbox_cli = str(Path(installed) / "sandbox") if installed else editable_cli
    ws = _workspace()
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    codex = ctx.get("codex")
    srt = ctx.get("srt")

    start = {
        "cordon": [sandbox_cli, "run", "--", "true"],
        "cordon (editable checkout)": [editable_cli, "run", "--", "true"],
    }
    if codex:
        start["codex sandbox (ws-write)"] = [
            str(codex),
            "sandbox",
            "-c",
            'sandbox_mode="workspace-write"',
            "--",
            "true",
        ]
    if srt:
        start["srt"] = [str(srt), "true"]
    out = [Case("sandbox run -- true", start, rounds=20, cwd=ws, env=env, note="default policy")]

    def in_process() -> None:
        # Imported on first call, not while the cases are built: a big harness process
        # inflates every child's ru_maxrss (the child shares its pages until exec).
        from cordon.sandbox import run

        r = run(["true"], cwd=ws)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)

    inproc = {"cordon sandbox.run()": in_process}
    if codex:
        inproc["codex sandbox (CLI)"] = start["codex sandbox (ws-write)"]
    out.append(Case("sandbox.run(['true']) in-process", inproc, rounds=20, cwd=ws, env=env))

    scale_base = Path(tempfile.mkdtemp(prefix="cordon-bench-scale-", dir=os.path.expanduser("~")))
    for n in (10, 100, 1000):
        roots = _dirs(scale_base, f"w{n}-", n)
        cfg = scale_base / f"roots{n}.toml"
        cfg.write_text("writable_roots = [" + ", ".join(f'"{r}"' for r in roots) + "]\n")
        variants = {f"cordon {n} roots": [sandbox_cli, "run", "--config", str(cfg), "--", "true"]}
        if codex and n <= 100:  # codex needs ~4 s at 100 roots already; 1,000 would take many minutes
            variants[f"codex {n} roots"] = [
                str(codex),
                "sandbox",
                "-c",
                'sandbox_mode="workspace-write"',
                "-c",
                "sandbox_workspace_write.writable_roots=[" + ",".join(f'"{r}"' for r in roots) + "]",
                "--",
                "true",
            ]
        if n > 700:  # 12 bwrap arguments per root; bwrap takes at most 9000: refused, measured as such
            out.append(
                Case(
                    f"writable roots x{n}",
                    variants,
                    rounds=5,
                    cwd=ws,
                    env=env,
                    ok_codes=(0, 125),
                    note="cordon refuses (exit 125): over bubblewrap's 9000-argument limit",
                )
            )
            continue
        out.append(Case(f"writable roots x{n}", variants, rounds=8, cwd=ws, env=env))
    for n in (10, 100, 1000):
        denied = _dirs(scale_base, f"d{n}-", n)
        cfg = scale_base / f"deny{n}.toml"
        cfg.write_text("deny_read = [" + ", ".join(f'"{r}"' for r in denied) + "]\n")
        out.append(
            Case(
                f"deny-read paths x{n}",
                {f"cordon {n} deny-read": [sandbox_cli, "run", "--config", str(cfg), "--", "true"]},
                rounds=8,
                cwd=ws,
                env=env,
            )
        )
    return out
