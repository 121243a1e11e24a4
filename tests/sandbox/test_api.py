"""The library API: run / spawn / arun, as an agent frontend would call it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from cordon.sandbox import SandboxPolicy, arun, run, spawn

from cordon import sandbox

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux API"),
]


def unique_sleep() -> str:
    """A sleep duration no other process on the host uses, to find leftovers by cmdline."""
    return f"{300 + os.getpid() % 9000}.{time.monotonic_ns() % 1000:03d}"


def leftovers(marker: str) -> list[int]:
    return _alive(p.pid for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", marker])


def _alive(pids) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_import_is_cheap_and_lazy() -> None:
    code = "import sys, sandbox; assert 'pydantic' not in sys.modules; print(sorted(sandbox.__all__)[:3])"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert {"SandboxPolicy", "run", "spawn", "arun"} <= set(sandbox.__all__)


def test_run_returns_completed_process(scratch: Path) -> None:
    r = run(["sh", "-c", "echo out; echo err >&2; cat; exit 3"], cwd=scratch, stdin=b"in\n")
    assert isinstance(r, subprocess.CompletedProcess)
    assert (r.returncode, r.stdout, r.stderr) == (3, b"out\nin\n", b"err\n")
    assert r.engine == "bwrap" and not r.setup_failed
    t = run(["echo", "text"], cwd=scratch, text=True)
    assert t.stdout == "text\n"
    with pytest.raises(subprocess.CalledProcessError):
        run(["false"], cwd=scratch, check=True)


def test_run_confines_with_the_given_policy(scratch: Path) -> None:
    ws = scratch / "ws"
    ws.mkdir()
    r = run(["sh", "-c", f"echo a > {ws}/f && echo b > {scratch}/g; echo c > /etc/cordon-api-x"], cwd=ws)
    assert r.returncode != 0 and b"Read-only" in r.stderr
    assert (ws / "f").exists()
    assert not (scratch / "g").exists()  # landed in the private /tmp, discarded
    assert not Path("/etc/cordon-api-x").exists()
    ro = run(["sh", "-c", "echo a > f2"], cwd=ws, policy=SandboxPolicy(mode="read-only"))
    assert ro.returncode != 0 and not (ws / "f2").exists()


def test_env_policy_applies_to_given_env(scratch: Path) -> None:
    env = {"PATH": os.environ["PATH"], "GITHUB_TOKEN": "ghp_x", "KEEP": "1"}
    r = run(["env"], cwd=scratch, env=env, text=True)
    assert "ghp_x" not in r.stdout and "KEEP=1" in r.stdout and "CORDON_SANDBOX=bwrap" in r.stdout


def test_timeout_kills_the_whole_sandbox(scratch: Path) -> None:
    marker = unique_sleep()
    t0 = time.monotonic()
    with pytest.raises(sandbox.SandboxTimeout) as e:
        run(["sh", "-c", f"echo started; sleep {marker} & sleep {marker}"], cwd=scratch, timeout=4)
    assert time.monotonic() - t0 < 15
    assert isinstance(e.value, subprocess.TimeoutExpired)
    assert e.value.output == b"started\n"
    time.sleep(0.3)
    assert leftovers(marker) == []


def test_spawn_streams_and_signals(scratch: Path) -> None:
    script = (
        'trap "echo bye; exit 9" TERM; for i in 1 2 3; do echo line$i; done; while :; do sleep 0.05; done'
    )
    with spawn(["sh", "-c", script], cwd=scratch, text=True) as p:
        assert [p.stdout.readline().strip() for _ in range(3)] == ["line1", "line2", "line3"]
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 9
        assert p.stdout.read().strip() == "bye"


def test_spawn_kill_ends_everything(scratch: Path) -> None:
    p = spawn(["sh", "-c", "echo ready; sleep 300"], cwd=scratch)
    assert p.stdout.readline() == b"ready\n"
    tree = [c.pid for c in psutil.Process(p.pid).children(recursive=True)]
    p.kill()
    assert p.wait(timeout=20) == 128 + signal.SIGKILL
    deadline = time.monotonic() + 10
    while _alive(tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive(tree) == []
    p.__exit__(None, None, None)


def test_arun_and_cancellation(scratch: Path) -> None:
    async def main():
        r = await arun(["sh", "-c", "cat; exit 5"], cwd=scratch, stdin=b"x")
        assert (r.returncode, r.stdout) == (5, b"x")
        marker = unique_sleep()
        task = asyncio.create_task(arun(["sh", "-c", f"sleep {marker}"], cwd=scratch))
        deadline = time.monotonic() + 20
        while not leftovers(marker) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert leftovers(marker), "the command never started"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return marker

    marker = asyncio.run(main())
    time.sleep(0.3)
    assert leftovers(marker) == []


def test_setup_failure_is_reported_not_run(scratch: Path) -> None:
    with pytest.raises(sandbox.SandboxError, match="does not exist"):
        run(["true"], cwd=scratch, policy=SandboxPolicy(writable_roots=[str(scratch / "missing")]))


def test_danger_mode_runs_unwrapped_and_says_so(scratch: Path, caplog) -> None:
    with caplog.at_level("WARNING", logger="sandbox"):
        r = run(
            ["sh", "-c", "echo $CORDON_SANDBOX"], cwd=scratch, policy=SandboxPolicy(mode="danger-full-access")
        )
    assert r.stdout == b"none\n" and r.engine == "none"
    assert "UNCONFINED" in caplog.text


def test_load_config_reads_files(scratch: Path, monkeypatch) -> None:
    (scratch / "c.toml").write_text('mode = "read-only"\n')
    monkeypatch.setenv("XDG_CONFIG_HOME", str(scratch / "nohome"))
    pol = sandbox.load_config(scratch, [str(scratch / "c.toml")])
    assert pol.mode == "read-only"


def test_update_network_needs_proxy_mode(tmp_path):
    from cordon.sandbox import SandboxPolicy, spawn
    from cordon.sandbox.errors import SandboxError

    p = spawn(["sleep", "5"], policy=SandboxPolicy(workspace=tmp_path), cwd=tmp_path)
    try:
        with pytest.raises(SandboxError, match="proxy mode"):
            p.update_network(allow=["example.test"])
    finally:
        p.kill()
        p.wait()
