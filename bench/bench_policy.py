"""execpolicy: `check` on a 1,000-rule file vs `codex execpolicy check`, in-process Policy.check rate, parse scaling.

* check (warm): a fresh process per round, start-up included; Cordon's parsed-policy cache
  is warm after the harness's warm-up rounds (that is the steady state of an agent frontend).
* check (no cache): Cordon parses the file every time (``--no-cache``): the first-run cost.
* python -S: the same check without site initialisation, to show what the editable-install
  hook in this checkout's venv costs (a wheel install does not have it).
* Policy.check: calls per second on the 1,000-rule policy, in-process.
* parse scaling: load_policy on 250 / 1,000 / 4,000 rules (no cache), and Codex on the same files.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

from harness import Case

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORDS = [
    "git",
    "npm",
    "cargo",
    "make",
    "docker",
    "kubectl",
    "python3",
    "node",
    "go",
    "rustc",
    "ls",
    "cat",
    "rm",
]
SUBS = ["status", "log", "push", "pull", "run", "test", "build", "install", "apply", "get", "exec", "diff"]


def rules_text(n: int, seed: int = 1) -> str:
    """n realistic rules: multi-line and one-line calls, alternatives, justifications, examples."""
    rnd = random.Random(seed)
    out = [f"# generated benchmark policy: {n} rules"]
    for i in range(n):
        w = rnd.choice(WORDS)
        sub = [rnd.choice(SUBS), rnd.choice(SUBS)] if i % 7 == 0 else rnd.choice(SUBS)
        pat = [w, sub, f"arg{i}"]
        dec = rnd.choice(["allow", "prompt", "forbidden"])
        pat_s = (
            "["
            + ", ".join(
                f'"{t}"' if isinstance(t, str) else "[" + ", ".join(f'"{x}"' for x in t) + "]" for t in pat
            )
            + "]"
        )
        if i % 10 == 0:
            first_sub = sub[0] if isinstance(sub, list) else sub
            out.append(
                f'prefix_rule(\n    pattern = {pat_s},\n    decision = "{dec}",\n'
                f'    justification = "rule {i}",\n    match = ["{w} {first_sub} arg{i} --x"],\n)'
            )
        else:
            out.append(f'prefix_rule(pattern={pat_s}, decision="{dec}")')
    return "\n".join(out) + "\n"


def cases(ctx) -> list[Case]:
    codex = ctx.get("codex")
    py = ctx.get("python") or sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="cordon-bench-policy-"))
    files = {}
    for n in (250, 1000, 4000):
        files[n] = tmp / f"rules-{n}.rules"
        files[n].write_text(rules_text(n))
    big = str(files[1000])
    argv = ["git", "status", "arg17", "--short"]
    # The non-editable install users get (bench/peers.cordon_install), else this environment's.
    script = Path(ctx.get("cordon_bin") or Path(py).parent) / "execpolicy"
    cordon = [str(script)] if script.exists() else [py, "-m", "cordon.policy"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "XDG_CACHE_HOME": str(tmp / "xdg-cache"),
        "PYTHONPATH": str(REPO),
    }
    peer = [str(codex), "execpolicy", "check"] if codex else None
    out = []

    def with_peer(variants, args):
        if peer:
            variants["codex"] = [*peer, *args]
        return variants

    out.append(
        Case(
            "check, 1,000-rule file (cache warm)",
            with_peer(
                {
                    "cordon": [*cordon, "check", "-r", big, *argv],
                    "cordon (python -S)": [py, "-S", "-m", "cordon.policy", "check", "-r", big, *argv],
                },
                ["-r", big, *argv],
            ),
            rounds=25,
            env=env,
            note="fresh process per round; start-up included",
        )
    )
    out.append(
        Case(
            "check, 1,000-rule file (no cache: parse every time)",
            with_peer({"cordon": [*cordon, "check", "--no-cache", "-r", big, *argv]}, ["-r", big, *argv]),
            rounds=15,  # Codex's run varies by several ms round to round: enough rounds for a steady median
            env=env,
        )
    )

    from cordon.policy import load_policy

    policy = load_policy(big)
    argvs = [["git", "status", f"arg{i}", "-s"] for i in range(1000)] + [
        ["ls", "-la"],
        ["/usr/bin/git", "push"],
    ]
    per_call = 20_000

    def check_many():
        check = policy.check
        for i in range(per_call):
            check(argvs[i % 1002])

    out.append(
        Case(
            "Policy.check in-process, 1,000 rules",
            {"cordon": check_many},
            rounds=9,
            per_call_ops=per_call,
            note="rate/s = Policy.check calls per second (target >= 100,000)",
        )
    )
    for n, f in files.items():
        text = f.read_text()
        variants = {"cordon load_policy (in-process)": lambda text=text: load_policy(text=text)}
        if peer:
            variants["codex (process)"] = [*peer, "-r", str(f), "x"]
        out.append(
            Case(
                f"parse {n} rules ({len(text) // 1024} KiB)",
                variants,
                rounds=5,
                note="scaling: Cordon parse+evaluate+validate, no cache",
            )
        )
    return out
