"""examples/agent_loop.py driven non-interactively: decides, asks, runs sandboxed, streams.

Runs as root and as the unprivileged test user. The user's answers are fed on stdin;
streaming is proven without timing: a command prints a line and then waits for a file
that the test creates only after it has READ that line from the loop's output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(sys.platform != "linux", reason="runs the Linux sandbox"),
]


def test_agent_loop(identity, scratch):
    ws = identity.workspace
    outside = scratch / "outside"
    outside.mkdir(mode=0o777)
    outside.chmod(0o777)
    rules = scratch / "ask-touch.rules"
    rules.write_text(
        'prefix_rule(pattern=["touch"], decision="prompt", justification="asks", match=["touch x"])\n'
    )
    plan = scratch / "plan.txt"
    plan.write_text(
        "\n".join(
            [
                "echo one; while [ ! -e go ]; do sleep 0.05; done; echo two",
                "rm -rf /",
                "touch approved.txt",
                "touch declined.txt",
                f"echo pwned > {outside}/x; echo rc=$?",
            ]
        )
        + "\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "examples" / "agent_loop.py"),
            "--rules",
            "default",
            "--rules",
            str(rules),
            "--commands",
            str(plan),
            "--workspace",
            str(ws),
        ],
        cwd=ws,
        env=identity.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **identity.popen_kwargs(),
    )
    proc.stdin.write("y\nn\n")  # approve the first prompt, decline the second
    proc.stdin.close()
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line.rstrip("\n"))
            if line.startswith("│ one"):
                assert not any(s.startswith("│ two") for s in seen)
                (ws / "go").touch()  # only now may the sandboxed command finish
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    out = "\n".join(seen)
    assert proc.returncode == 0, err
    assert seen.index("│ one") < seen.index("│ two")
    assert "refused: `bash -c 'rm -rf /'` rejected:" in out
    assert (ws / "approved.txt").exists() and not (ws / "declined.txt").exists()
    assert "skipped: the user declined" in out
    assert err.count("[y]es/[a]lways/[N]o") == 2
    # the last command ran sandboxed: its write outside the workspace failed
    assert "│ rc=1" in out and not (outside / "x").exists()
