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


def _one_host_snapshot(monkeypatch) -> None:
    """The host's unix sockets and its root-only files under /etc are read at every plan; other
    tests' servers and files (other suites run at once on this host) come and go between the
    plans compared here, so every plan sees the first plan's lists (the plan is what is compared)."""
    from cordon.sandbox.linux import fswatch, sockets

    real_sockets, real_etc, seen = sockets.host_sockets, fswatch.root_only_files, {}
    monkeypatch.setattr(sockets, "host_sockets", lambda **kw: seen.setdefault(repr(kw), real_sockets(**kw)))
    monkeypatch.setattr(fswatch, "root_only_files", lambda: list(seen.setdefault("etc", real_etc())))


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
    _one_host_snapshot(monkeypatch)
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


def _run_started(asm, stdout: bool = True) -> tuple[int, str]:
    """Run a started plan's launch: (exit status, what it wrote on stderr, and stdout too)."""
    from cordon.sandbox.linux.launch import SandboxProcess

    r, w = os.pipe()
    proc = SandboxProcess(asm.launch, None, w if stdout else None, w)
    os.close(w)
    rc = proc.wait()
    out = os.read(r, 65536).decode()
    os.close(r)
    return rc, out


def test_the_planned_launch_runs(scratch, monkeypatch):
    """The other half: starting a plan built here runs the command confined."""
    from cordon.sandbox.linux import build_plan, start
    from cordon.sandbox.resolve import resolve

    policy = resolve(cwd=scratch)
    plan = build_plan(policy, ["sh", "-c", "touch inside && touch /etc/outside"], dict(os.environ))
    rc, err = _run_started(start(plan, warn=lambda m: None), stdout=False)
    assert rc != 0 and "Read-only file system" in err
    assert (scratch / "inside").exists() and not Path("/etc/outside").exists()


# -- planning is pure: `sandbox plan` and build_plan write nothing and take no lock ------------------
def _tree(top: Path) -> dict[str, tuple]:
    """Every path under ``top`` with what a write would change (type, mode, size, mtime)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def _fresh_home(base: Path, uid: int = 0, gid: int = 0) -> dict[str, str]:
    """An empty HOME whose XDG folders do not exist yet: whatever Cordon makes shows."""
    base.mkdir()
    os.chown(base, uid, gid)
    from tests.support.identities import XDG_DIRS

    return {"HOME": str(base), **{var: str(base / "xdg" / sub) for var, sub in XDG_DIRS.items()}}


@pytest.mark.parametrize("case", [*CASES, "workspace is the home"])
def test_planning_writes_nothing_and_takes_no_lock(case, scratch, monkeypatch, capsys):
    """``sandbox plan`` and the plan ``run`` makes (build_plan) leave an empty home as it was and
    take no lock; ``start`` then makes what the launch needs (the control: the same home
    shows Cordon's folders, caches and locks once started) and the plan made afterwards is the
    one printed before anything existed."""
    import fcntl

    from cordon.sandbox.linux import assemble

    home = scratch / "home"
    for var, value in _fresh_home(home).items():
        monkeypatch.setenv(var, value)
    ws = home if case == "workspace is the home" else scratch / "ws"
    (ws / "vendor").mkdir(parents=True)
    (ws / "secret.txt").write_text("s3cret")
    (scratch / "extra").mkdir()
    monkeypatch.chdir(ws)
    flags = [
        a.format(extra=scratch / "extra", denials=scratch / "denials.jsonl") for a in CASES.get(case, [])
    ]
    argv = [*flags, "--", "sh", "-c", "echo hi"]
    _one_host_snapshot(monkeypatch)
    locked = []
    real_flock, real_lockf = fcntl.flock, fcntl.lockf
    monkeypatch.setattr(fcntl, "flock", lambda fd, op: (locked.append(fd), real_flock(fd, op))[1])
    monkeypatch.setattr(fcntl, "lockf", lambda fd, op, *a: (locked.append(fd), real_lockf(fd, op, *a))[1])

    before = _tree(scratch)
    printed = _printed_plan(capsys, argv)
    assert _tree(scratch) == before and locked == []  # `sandbox plan`: not even the --denials file
    real_start = assemble.start
    started = _run_plan(monkeypatch, argv)
    after = {p: v for p, v in _tree(scratch).items() if not p.endswith("denials.jsonl")}  # run opens it
    assert after == before and locked == []
    assert json.loads(json.dumps(started.as_data())) == printed

    asm = real_start(started, start_bridge=False, warn=lambda m: None)
    try:
        cache = home / "xdg" / "cache" / "cordon"
        if printed["engine"] == "none":
            assert _tree(home) == {p: v for p, v in before.items() if p.startswith(f"{home}/")}
            return
        if started.policy.writable_roots:  # the writable roots' locks: start's
            assert locked and asm.launch.locks
        assert (cache / "empty-ro").is_dir() and (cache / "empty-000").is_dir()
        assert (cache / "state").is_dir() and (cache / "journals").is_dir()
        # A cache inside a writable root is neither read nor written (statetrust); else the probe's is kept.
        assert (cache / "bwrap-probe.txt").is_file() == (case != "workspace is the home")
        if case == "workspace is the home":
            # Cordon's state inside a writable root: made, then bound read-only and pinned
            assert (home / ".config" / "cordon").is_dir() and (home / "xdg" / "config" / "cordon").is_dir()
            assert (
                str(cache) in printed["bwrap"]["read_only"]
                and str(home / "xdg") in printed["bwrap"]["pinned"]
            )
    finally:
        for fd in set(asm.launch.locks.values()):
            os.close(fd)
    # What start made was planned as made: the plan is the same now that it exists.
    assert _printed_plan(capsys, argv) == printed


def test_sandbox_plan_writes_nothing_as_each_identity(identity, scratch):
    """The same through the command, as root and as the unprivileged account: ``sandbox plan``
    leaves a fresh home untouched; ``sandbox run`` there makes Cordon's folders (the control),
    and ``sandbox plan`` afterwards prints the plan it printed before."""
    env = identity.env(**_fresh_home(scratch / "home", identity.uid, identity.gid))
    plan = identity.sandbox_argv("plan", "--json", "--", "sh", "-c", "echo hi")

    before = _tree(scratch / "home")
    r = identity.run(plan, env=env)
    assert r.returncode == 0, r.stderr
    assert _tree(scratch / "home") == before == {}
    ran = identity.run(identity.sandbox_argv("run", "--", "sh", "-c", "echo hi"), env=env)
    assert ran.returncode == 0 and ran.stdout == "hi\n", ran.stderr
    assert (scratch / "home" / "xdg" / "cache" / "cordon" / "empty-ro").is_dir()
    again = identity.run(plan, env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(r.stdout)


def test_start_plans_again_when_a_bound_folder_vanished_before_the_locks(scratch, monkeypatch):
    """The plan reads the filesystem before ``start`` takes the writable roots' locks: a
    placeholder another sandbox removed in between (here: removed by hand) is not bound as
    an existing folder (bubblewrap would fail), the plan is made again under the locks."""
    from cordon.sandbox.linux import build_plan, start
    from cordon.sandbox.resolve import resolve

    (scratch / ".codex").mkdir()
    policy = resolve(cwd=scratch)
    plan = build_plan(policy, ["sh", "-c", "mkdir .codex/x || echo REFUSED"], dict(os.environ))
    assert (
        str(scratch / ".codex") in plan.bwrap.protected and str(scratch / ".codex") not in plan.placeholders
    )
    (scratch / ".codex").rmdir()
    asm = start(plan, warn=lambda m: None)
    assert asm.plan is not plan and str(scratch / ".codex") in asm.plan.placeholders
    rc, out = _run_started(asm)
    assert rc == 0 and "REFUSED" in out, out
    assert not (scratch / ".codex").exists()  # the placeholder is gone with the sandbox
