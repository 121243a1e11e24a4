"""Warm sandboxes (cordon.sandbox.Pool): the same walls as an ordinary launch, one sandbox per
command, nothing shared between commands. Attacked as root and as the unprivileged user."""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.support.identities import INSIDE_PYTHON

pytestmark = pytest.mark.sandbox

# Runs as the identity: a pool in its workspace; each probe is one pooled command.
RUNNER = """
import json, os, sys
from cordon.sandbox import Pool, SandboxPolicy
ws, outside, secret = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
with Pool(SandboxPolicy(), cwd=ws, size=2) as pool:
    out["warm_ready"] = pool.wait_ready()
    def run(*argv, **kw):
        pool.wait_ready()
        r = pool.run(list(argv), text=True, **kw)
        return {"rc": r.returncode, "out": r.stdout, "err": r.stderr}
    out["workspace_write"] = run("sh", "-c", "echo made > inside.txt && cat inside.txt")
    out["outside_write"] = run("sh", "-c", f"echo x > {outside}")
    out["secret_read"] = run("cat", secret)
    out["unshare"] = run("unshare", "-Ur", "true")
    out["tmp_plant"] = run("sh", "-c", "echo mine > /tmp/left-behind && ls /tmp")
    out["tmp_next"] = run("sh", "-c", "ls -A /tmp; cat /tmp/left-behind 2>&1; true")
    out["stdio"] = run("sh", "-c", "read x; echo got:$x; echo to-err >&2; exit 7", input_text="hello")
    out["env"] = run("sh", "-c", "echo $POOL_PROBE:$CORDON_SANDBOX:${AWS_SECRET_ACCESS_KEY:-unset}",
                     env={**os.environ, "POOL_PROBE": "seen", "AWS_SECRET_ACCESS_KEY": "hunter2"})
    out["init"] = run("sh", "-c", "cat /proc/1/stat | cut -d' ' -f22")
    out["init2"] = run("sh", "-c", "cat /proc/1/stat | cut -d' ' -f22")
    out["stats"] = pool.stats
print(json.dumps(out))
""".replace("input_text=", "stdin=")


def _unconfined(identity, *argv):
    return identity.run(list(argv))


def test_a_pooled_command_meets_every_wall(identity):
    ws = identity.workspace
    outside = identity.home / f"pool-outside-{os.getpid()}"
    secret_dir = identity.home / ".ssh"
    secret_dir.mkdir(exist_ok=True)
    secret = secret_dir / "id_pool_test"
    secret.write_text("PRIVATE\n")
    for p in (secret_dir, secret):
        os.chown(p, identity.uid, identity.gid)
    try:
        # Positive controls: each operation works for this identity without the sandbox.
        assert _unconfined(identity, "sh", "-c", f"echo x > {outside}").returncode == 0
        assert outside.exists()
        outside.unlink()
        assert _unconfined(identity, "cat", str(secret)).stdout == "PRIVATE\n"
        assert _unconfined(identity, "unshare", "-Ur", "true").returncode == 0

        r = identity.run([sys.executable, "-c", RUNNER, str(ws), str(outside), str(secret)], timeout=180)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
    finally:
        secret.unlink(missing_ok=True)
        outside.unlink(missing_ok=True)

    assert out["warm_ready"] is True
    assert out["workspace_write"] == {"rc": 0, "out": "made\n", "err": ""}
    assert (ws / "inside.txt").read_text() == "made\n"
    assert out["outside_write"]["rc"] != 0 and not outside.exists()
    assert out["secret_read"]["rc"] != 0 and "PRIVATE" not in out["secret_read"]["out"]
    assert out["unshare"]["rc"] != 0
    # A fresh private /tmp per command: the next command never sees what the last one left.
    assert "left-behind" in out["tmp_plant"]["out"]
    assert "left-behind" not in out["tmp_next"]["out"].split("\n")[0]
    assert "mine" not in out["tmp_next"]["out"]
    assert out["stdio"] == {"rc": 7, "out": "got:hello\n", "err": "to-err\n"}
    # The environment policy applies to each command's own environment.
    assert out["env"]["out"] == "seen:bwrap:unset\n"
    # Never reused: each command ran in a sandbox of its own (a different PID 1).
    assert out["init"]["out"] != out["init2"]["out"]
    # Served warm, not by the ordinary launch path.
    assert out["stats"]["warm"] >= 10 and out["stats"]["cold"] == 0, out["stats"]


def test_closing_the_pool_ends_its_idle_sandboxes(scratch):
    from cordon.sandbox import Pool, SandboxPolicy

    pool = Pool(SandboxPolicy(), cwd=scratch, size=2)
    assert pool.wait_ready()
    pids = [w.proc.pid for w in pool._ready]
    assert pids and all(os.path.exists(f"/proc/{p}") for p in pids)
    pool.close()
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)
    with pytest.raises(Exception, match="closed"):
        pool.run(["true"])


def test_a_timeout_kills_the_pooled_sandbox(scratch):
    from cordon.sandbox import Pool, SandboxPolicy, SandboxTimeout

    with Pool(SandboxPolicy(), cwd=scratch, size=1) as pool:
        assert pool.wait_ready()
        with pytest.raises(SandboxTimeout):
            pool.run([INSIDE_PYTHON, "-c", "import time; time.sleep(60)"], timeout=1)
        pool.wait_ready()
        assert pool.run(["true"]).returncode == 0
        assert pool.stats["warm"] == 2


def test_a_command_that_does_not_exist_fails_like_a_shell(scratch):
    from cordon.sandbox import Pool, SandboxPolicy

    with Pool(SandboxPolicy(), cwd=scratch, size=1) as pool:
        assert pool.wait_ready()
        r = pool.run(["no-such-command-here"])
        assert r.returncode == 127 and b"no-such-command-here" in r.stderr
        assert pool.stats["warm"] == 1


def test_without_the_native_stage_the_pool_launches_the_ordinary_way(scratch, monkeypatch):
    from cordon.sandbox import Pool, SandboxPolicy

    monkeypatch.setenv("CORDON_INNER", "python")
    with Pool(SandboxPolicy(), cwd=scratch, size=1) as pool:
        assert pool.wait_ready() is False
        r = pool.run(["sh", "-c", "touch /etc/pool-x || echo blocked"])
        assert r.stdout == b"blocked\n"
        assert pool.stats == {"warm": 0, "cold": 1, "started": 0}


def test_a_pooled_command_reports_its_denials_like_an_ordinary_launch(scratch, monkeypatch):
    from cordon.sandbox import Pool, SandboxPolicy, run

    monkeypatch.setenv("POOL_TEST_TOKEN", "x")
    script = ["sh", "-c", "touch /etc/pool-denial-probe; unshare -U true; echo done"]
    cold = run(script, policy=SandboxPolicy(), cwd=scratch)
    with Pool(SandboxPolicy(), cwd=scratch, size=1) as pool:
        assert pool.wait_ready()
        warm = pool.run(script)
        assert pool.stats["warm"] == 1
    assert warm.stdout == cold.stdout == b"done\n"

    def facts(result):
        return sorted((d.layer, d.operation, d.target, d.allow_with) for d in result.denials)

    assert facts(cold), "the ordinary launch must report these denials, or the comparison proves nothing"
    assert facts(warm) == facts(cold)
    assert ("env", "inherit", "POOL_TEST_TOKEN") in {f[:3] for f in facts(warm)}
