"""The runnable examples of docs/langchain.md, docs/openai-agents.md and docs/ray.md run as shown.

Their confinement claims are attacked as root and as the test user in the framework test files;
here each example is run once as a user would (root on this machine) and its output checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.timeout(600)]


def run_example(name: str, *args: str, tmp_path: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO), XDG_CACHE_HOME=str(tmp_path / "cache"))
    r = subprocess.run(
        [sys.executable, str(REPO / "examples" / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=500,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_langchain_example(tmp_path):
    pytest.importorskip("langchain.agents.middleware", reason="needs the langchain extra")
    ws = tmp_path / "ws"
    ws.mkdir()
    out = run_example("langchain_shell.py", str(ws), tmp_path=tmp_path)
    assert "hello" in out and "refused" in out and "Read-only file system" in out
    assert (ws / "notes.txt").read_text() == "hello\n"


def test_openai_agents_example(tmp_path):
    pytest.importorskip("agents.sandbox", reason="needs the openai-agents extra")
    ws = tmp_path / "ws"
    ws.mkdir()
    out = run_example("openai_agents_shell.py", str(ws), tmp_path=tmp_path)
    assert "refused" in out and "Success. Updated the following files:" in out
    assert (ws / "hello.py").read_text() == 'print("hello from a patch")\n'


def test_ray_example(tmp_path):
    pytest.importorskip("ray", reason="needs the ray extra")
    out = run_example("ray_many.py", tmp_path=tmp_path).splitlines()
    assert [line.split()[1:3] for line in out[:4]] == [["task", str(i) + ":"] for i in range(4)]
    assert all("3 words" in line and "b'3\\n'" in line for line in out[:4])
    assert out[4:] == ["Linux", "refused"]
