"""The platform seam (sandbox/_platform.py): the backend is chosen once, and ``sandbox plan``
prints the very plan ``sandbox run`` starts.

The plan == run test runs both commands in this process for the same flags and captures the
plan ``run`` hands to the Linux backend's ``start`` (the command is not run): the JSON
``sandbox plan --json`` printed must equal that plan's data, byte for byte of every fd
(the inner stage's spec, the seccomp program) by digest.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "sandbox"


def test_only_the_platform_module_reads_sys_platform():
    """psutil's rule: one module decides the platform; the others ask it (``_platform.NAME``)."""
    offenders = []
    for path in sorted(SANDBOX.rglob("*.py")):
        if path.name == "_platform.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bsys\.platform\b", line):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert offenders == []


def test_backends_share_one_interface():
    from cordon.sandbox import _platform

    for name in _platform.PLATFORMS:
        mod = _platform.backend(name)
        for fn in ("build_plan", "start", "run_cli", "spawn"):
            assert callable(getattr(mod, fn, None)), f"cordon.sandbox.{name} lacks {fn}"
    from cordon.sandbox.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown platform 'beos'"):
        _platform.backend("beos")


class _Started(Exception):
    pass


def _run_plan(monkeypatch, args: list[str]):
    """The plan ``sandbox run ARGS`` hands to ``start`` (the command is not run)."""
    from cordon.sandbox.commands.run import main_run
    from cordon.sandbox.linux import assemble

    seen = []

    def capture(plan, **kw):
        seen.append(plan)
        raise _Started

    monkeypatch.setattr(assemble, "start", capture)
    assert main_run(args) == 125  # the capture aborts the start: "internal error, not run"
    assert len(seen) == 1
    return seen[0]


def _printed_plan(capsys, args: list[str]) -> dict:
    from cordon.sandbox.commands.plan import main_plan

    capsys.readouterr()
    assert main_plan(args, "linux", True) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _git_repo(ws: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(ws), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(ws)], check=True, env=env)


CASES = {
    "default": [],
    "read-only": ["--mode", "read-only"],
    "writable roots": ["--writable-root", "{extra}", "--read-only", "vendor"],
    "deny-read": ["--deny-read", "secret.txt", "--no-default-deny-read"],
    "network on": ["--network", "on"],
    "network proxy": ["--network", "proxy", "--allow-domain", "pypi.org", "--deny-domain", "evil.test"],
    "limits": ["--limit", "memory=256M", "--limit", "file-size=1M", "--limit", "pids=64"],
    "git write": ["--allow-git-write"],
    "env": ["--env-inherit", "core", "--env-set", "FOO=bar", "--env-exclude", "SECRET_*"],
    "share tmp": ["--share-tmp", "--allow-agent", "ssh"],
    "fallback allowed": ["--fallback", "landlock"],
    "denials file": ["--denials", "{denials}"],
    "danger": ["--mode", "danger-full-access"],
}


@pytest.mark.parametrize("case", CASES)
def test_plan_is_what_run_starts(case, scratch, monkeypatch, capsys):
    ws = scratch / "ws"
    (ws / "vendor").mkdir(parents=True)
    (ws / "secret.txt").write_text("s3cret")
    (scratch / "extra").mkdir()
    if case == "git write":
        _git_repo(ws)
    monkeypatch.chdir(ws)
    monkeypatch.setenv("SECRET_TOKEN", "x")
    flags = [a.format(extra=scratch / "extra", denials=scratch / "denials.jsonl") for a in CASES[case]]
    argv = [*flags, "--", "sh", "-c", "echo hi"]
    # The host's unix sockets are read at every plan; other tests' servers come and go between
    # the two plans here, so both see the first plan's list (the plan is what is compared).
    from cordon.sandbox.linux import sockets

    real, seen = sockets.host_sockets, {}
    monkeypatch.setattr(sockets, "host_sockets", lambda **kw: seen.setdefault(repr(kw), real(**kw)))
    printed = _printed_plan(capsys, argv)
    started = _run_plan(monkeypatch, argv)
    assert json.loads(json.dumps(started.as_data())) == printed
    # The plan is the launch: what it shows is what run would execute.
    assert printed["command"] == ["sh", "-c", "echo hi"]
    if case == "danger":
        assert printed["engine"] == "none" and printed["argv"] == printed["command"]
    else:
        assert printed["engine"] == "bwrap" and printed["argv"][-3:] == ["sh", "-c", "echo hi"]
    if case == "network proxy":
        assert printed["inner"]["prelude"] == ["{PROXY_FORWARDER}"] and "{PROXY_BIND}" in printed["argv"]
    if case == "limits":
        assert [e["key"] for e in printed["limits"]] == ["memory", "pids", "file-size", "tmp"]
    if case == "denials file":
        assert printed["observe"] == "all"


def test_the_planned_launch_runs(scratch, monkeypatch):
    """The other half: starting a plan built here runs the command confined."""
    from cordon.sandbox.linux import build_plan, start
    from cordon.sandbox.linux.launch import SandboxProcess
    from cordon.sandbox.resolve import resolve

    policy = resolve(cwd=scratch)
    plan = build_plan(policy, ["sh", "-c", "touch inside && touch /etc/outside"], dict(os.environ), hold=True)
    asm = start(plan, warn=lambda m: None)
    r, w = os.pipe()
    proc = SandboxProcess(asm.launch, None, None, w)
    os.close(w)
    rc = proc.wait()
    err = os.read(r, 65536).decode()
    os.close(r)
    assert rc != 0 and "Read-only file system" in err
    assert (scratch / "inside").exists() and not Path("/etc/outside").exists()
