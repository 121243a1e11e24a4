"""Shipped rule sets: `execpolicy check` with the shipped files vs `codex execpolicy check`.

What a frontend pays per command when it adopts Cordon's shipped sets: load
default.rules (+ python/node/git-readonly), validate every example, match, print.
Codex loads the very same files (they are plain Codex .rules).
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness import Case

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "rules"


def cases(ctx) -> list[Case]:
    codex = ctx.get("codex")
    py = ctx.get("python") or sys.executable
    out = []
    for label, names in (
        ("default", ["default"]),
        ("all-command-sets", ["default", "python", "node", "git-readonly"]),
    ):
        argv = ["git", "push", "--force", "origin", "main"]
        installed = Path(ctx["cordon_bin"]) / "execpolicy" if ctx.get("cordon_bin") else None
        cordon = (
            [str(installed), "check"]
            if installed and installed.exists()
            else [py, "-m", "cordon.policy", "check"]
        )
        peer = [str(codex), "execpolicy", "check"] if codex else None
        for n in names:
            cordon += ["--rules", n]  # by name: the shipped-set lookup is part of the cost
            if peer:
                peer += ["--rules", str(RULES / f"{n}.rules")]
        variants = {"cordon": [*cordon, "--", *argv]}
        if label == "default":
            # The first check on a machine: no user cache (--no-cache), so a single shipped set
            # comes from the store built at install (policy/cache.py); several sets are parsed.
            at = cordon.index("check") + 1
            variants["cordon (first run)"] = [*cordon[:at], "--no-cache", *cordon[at:], "--", *argv]
        if peer:
            variants["codex"] = [*peer, "--", *argv]
        out.append(
            Case(
                f"check with shipped {label}",
                variants,
                rounds=15,
                cwd=REPO,
                note="cold process each round; Cordon's parsed-policy cache warm after round 1",
            )
        )
    return out
