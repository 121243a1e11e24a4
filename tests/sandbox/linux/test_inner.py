"""The inner stage: build_inner's output and the in-sandbox program, run for real."""

from __future__ import annotations

import json
import marshal
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cordon.sandbox.linux import inner, landlock
from cordon.sandbox.model import NetworkPolicy, SandboxPolicy

from tests.sandbox.linux.confine_support import INNER, SPEC_FD, ops_argv, parse_ops, run_inner, spec_fd_source

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux inner stage")


def resolved(ws: Path, **kw):
    return SandboxPolicy(**kw).resolve(cwd=ws)


def test_build_inner_shape(tmp_path):
    stage = inner.build_inner(resolved(tmp_path), ["echo", "hi"])
    assert stage.argv[-3:] == ["--", "echo", "hi"]
    assert stage.argv[stage.argv.index("--spec-fd") + 1] == str(SPEC_FD)
    assert SPEC_FD in stage.fds
    assert stage.bwrap_args == []
    spec = stage.spec
    assert spec["landlock"]["write"][0] == str(tmp_path)
    # Network off by default; under bubblewrap its namespace (own loopback only) is the TCP wall.
    assert spec["landlock"]["net"] is False
    assert len(spec["seccomp"]) % 8 == 0 and spec["seccomp"]
    d = stage.describe()
    json.dumps(d)
    assert d["landlock"]["tcp"] == "not handled"
    families = next(r["when"] for r in d["seccomp"]["rules"] if r["when"].startswith("domain not in"))
    assert "'AF_INET'" in families and "'AF_UNIX'" in families
    # Without bubblewrap (--fallback=landlock) Landlock denies TCP and seccomp inet/unix sockets.
    d = inner.build_inner(resolved(tmp_path), ["true"], under_bwrap=False).describe()
    assert d["landlock"]["tcp"] == {"bind": "denied", "connect": "denied"}
    families = next(r["when"] for r in d["seccomp"]["rules"] if r["when"].startswith("domain not in"))
    assert "'AF_INET'" not in families and "'AF_UNIX'" not in families
    assert any(r["syscall"] == "ptrace" for r in d["seccomp"]["rules"])
    assert d["order"].index("seccomp") > d["order"].index("landlock")


def test_describe_names_what_only_bubblewrap_enforces(tmp_path):
    d = inner.build_inner(resolved(tmp_path, deny_read=["secret", "/etc/shadow"]), ["true"]).describe()
    assert d["landlock"]["outer_wall_only"] == [str(tmp_path / "secret")]
    assert "/etc/shadow" in d["landlock"]["deny_read"]


def test_network_on_and_read_only_change_the_spec(tmp_path):
    spec = inner.build_inner(
        resolved(tmp_path, mode="read-only", network=NetworkPolicy(mode="on")), ["true"]
    ).spec
    assert spec["landlock"]["net"] is False
    assert str(tmp_path) not in spec["landlock"]["write"]
    # Fallback (no bubblewrap) and read-only: the host's /tmp is not writable.
    spec = inner.build_inner(resolved(tmp_path, mode="read-only"), ["true"], under_bwrap=False).spec
    assert "/tmp" not in spec["landlock"]["write"]


def test_danger_full_access_has_no_walls(tmp_path, inner_executor):
    stage = inner.build_inner(
        resolved(tmp_path, mode="danger-full-access"), ["sh", "-c", "echo $CORDON_LANDLOCK"]
    )
    spec = stage.spec
    assert spec["landlock"] is None and not spec["seccomp"]
    r = run_stage(stage)
    assert r.returncode == 0 and r.stdout.strip() == "not-enforced"  # said, not silent


def test_empty_command_is_refused(tmp_path):
    from cordon.sandbox.errors import SandboxError

    with pytest.raises(SandboxError):
        inner.build_inner(resolved(tmp_path), [])


def run_stage(stage, *, identity=None, extra_fds=(), wrap=(), **kw):
    """Run a built stage's own argv (bootstrap + shipped code), outside bubblewrap unless
    ``wrap`` is given: the walls inner.py applies itself."""
    from cordon.sandbox.linux.launch import fd_source

    for target, data in stage.fds.items():
        r = fd_source(data)
        os.dup2(r, target)
        os.close(r)
    try:
        argv = [*wrap, *stage.argv]
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        if identity is not None:
            return identity.run(argv, pass_fds=(*stage.fds, *extra_fds), **kw)
        return subprocess.run(argv, pass_fds=(*stage.fds, *extra_fds), **kw)
    finally:
        for target in stage.fds:
            os.close(target)


def test_stage_does_not_need_its_install_location(tmp_path, inner_executor):
    """The in-sandbox program travels in the spec: it runs even where the checkout/venv is
    hidden (here under bubblewrap with the repository masked by an empty tmpfs)."""
    import shutil as sh

    if sh.which("bwrap") is None:
        pytest.skip("needs bubblewrap to hide the repository")
    repo = str(Path(inner.__file__).resolve().parents[2])
    stage = inner.build_inner(
        resolved(tmp_path), ["sh", "-c", f"ls -A {repo} | wc -l; echo $CORDON_LANDLOCK"]
    )
    assert not any(repo in a for a in stage.argv[: stage.argv.index("--spec-fd")][:4])
    wrap = ["bwrap", "--ro-bind", "/", "/", "--tmpfs", repo, "--dev", "/dev", "--proc", "/proc", "--"]
    r = run_stage(stage, wrap=wrap)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "0" and "abi=" in r.stdout


def test_bootstrap_failure_exits_125():
    stage = inner.build_inner(resolved(Path("/tmp")), ["true"], python=os.path.realpath(sys.executable))
    stage.fds[SPEC_FD] = b"garbage"
    r = run_stage(stage)
    assert r.returncode == 125 and "bootstrap" in r.stderr and "not run" in r.stderr


def test_full_stage_in_a_child(identity, inner_executor):
    """All walls at once, built from a policy: write in the workspace only, no sockets, no
    ptrace, no_new_privs and a seccomp filter visible in /proc."""
    ws = identity.workspace
    script = "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; echo \"LL=$CORDON_LANDLOCK\""
    stage = inner.build_inner(resolved(ws), ["sh", "-c", script])
    r = run_stage(stage, identity=identity, cwd=ws)
    assert r.returncode == 0, r.stderr
    assert "NoNewPrivs:\t1" in r.stdout and "Seccomp:\t2" in r.stdout
    abi = landlock.abi_version()
    assert f"LL=abi={abi} fs-rules=" in r.stdout  # the ABI in force is reported to the command
    if abi >= 6:
        # A stage planned for bubblewrap leaves TCP to the network namespace (only the
        # sandbox's own loopback there); --fallback=landlock denies it (test_attacks).
        assert "tcp=open scope=abstract_unix_socket,signal" in r.stdout
    # Outside every writable root (the scratch folder is under /tmp, which the stage makes
    # writable: it is a private tmpfs under bubblewrap), writable by file permissions.
    outside = identity.home / f".cordon-test-outside-{os.getpid()}"
    outside.mkdir(exist_ok=True)
    os.chown(outside, identity.uid, identity.gid)
    try:
        # Planned as --fallback=landlock (no network namespace): inet stays denied.
        stage = inner.build_inner(
            resolved(ws),
            ops_argv(f"write:{ws}/ok", f"write:{outside}/no", "connect:127.0.0.1:9"),
            under_bwrap=False,
        )
        got = parse_ops(run_stage(stage, identity=identity, cwd=ws).stdout)
    finally:
        shutil.rmtree(outside, ignore_errors=True)
    assert got[f"write:{ws}/ok"] == "ok"
    assert got[f"write:{outside}/no"] == "EACCES"
    assert got["connect:127.0.0.1:9"] == "EPERM"  # socket() refused by seccomp


def test_inherited_fds_are_closed(identity, tmp_path, inner_executor):
    r_fd, w_fd = os.pipe()
    os.set_inheritable(r_fd, True)
    try:
        stage = inner.build_inner(
            resolved(identity.workspace), ops_argv(f"fd:{r_fd}", "fd:2", f"fd:{SPEC_FD}")
        )
        got = parse_ops(run_stage(stage, identity=identity, extra_fds=(r_fd,), cwd=identity.workspace).stdout)
    finally:
        os.close(r_fd)
        os.close(w_fd)
    assert got[f"fd:{r_fd}"] == "EBADF"
    assert got[f"fd:{SPEC_FD}"] == "EBADF"
    assert got["fd:2"] == "ok"


def test_bad_spec_exits_125_with_a_message():
    r, w = os.pipe()
    os.write(w, b"not marshal")
    os.close(w)
    os.dup2(r, SPEC_FD)
    os.close(r)
    try:
        p = subprocess.run(
            [sys.executable, "-I", "-S", str(INNER), "--spec-fd", str(SPEC_FD), "--", "true"],
            pass_fds=(SPEC_FD,),
            capture_output=True,
            text=True,
        )
    finally:
        os.close(SPEC_FD)
    assert p.returncode == 125
    assert "inner stage failed at spec" in p.stderr and "not run" in p.stderr


def test_missing_spec_fd_exits_125():
    p = subprocess.run(
        [sys.executable, "-I", "-S", str(INNER), "--spec-fd", "250", "--", "true"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 125 and "Bad file descriptor" in p.stderr


# Execs its arguments with landlock_restrict_self failing (EPERM), everything else allowed.
REFUSE_LANDLOCK = (
    "import errno, os, sys, pyseccomp as s\n"
    "f = s.SyscallFilter(s.ALLOW)\n"
    "f.add_rule(s.ERRNO(errno.EPERM), 'landlock_restrict_self')\n"
    "f.load()\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def test_landlock_failure_exits_125(identity, inner_executor):
    # A required ruleset the kernel refuses to enforce must stop the launch.
    spec = {"v": 1, "landlock": {"read": ["/"], "write": [], "required": True, "net": True}}
    control = run_inner(spec, ["true"], identity=identity)
    assert control.returncode == 0, control.stderr
    r = run_inner(spec, ["true"], identity=identity, prefix=[sys.executable, "-c", REFUSE_LANDLOCK])
    assert r.returncode == 125
    assert "landlock_restrict_self" in r.stderr


def test_command_not_found_is_127(inner_executor):
    r = run_inner({"v": 1, "seccomp": b""}, ["cordon-no-such-command"])
    assert r.returncode == 127 and "cordon-no-such-command" in r.stderr


PRELUDE = textwrap.dedent(
    """
    import os, sys, time
    out = sys.argv[1]
    status = open("/proc/self/status").read()
    seccomp = [l for l in status.splitlines() if l.startswith("Seccomp:")][0]
    with open(out, "w") as f:
        f.write(f"{os.getpid()} {seccomp.split()[1]}\\n")
    os.dup2(os.open("/dev/null", os.O_WRONLY), 2)  # let the test's output capture finish
    print("ready", flush=True)
    time.sleep(30)
    """
)


def test_prelude_runs_unconfined_and_detached(identity, scratch, inner_executor):
    script = scratch / "prelude.py"
    script.write_text(PRELUDE)
    marker = identity.workspace / "prelude.out"
    spec = inner.build_inner(
        resolved(identity.workspace),
        ["true"],
        prelude=[sys.executable, "-I", "-S", str(script), str(marker)],
    ).spec
    check = (
        "import os,sys; pid=int(open(sys.argv[1]).read().split()[0]); "
        "print(open(f'/proc/{pid}/status').read().split('PPid:')[1].split()[0], os.getpid())"
    )
    r = run_inner(
        spec,
        [sys.executable, "-I", "-S", "-c", check, str(marker)],
        identity=identity,
        cwd=identity.workspace,
    )
    try:
        assert r.returncode == 0, r.stderr
        prelude_pid, prelude_seccomp = marker.read_text().split()
        assert prelude_seccomp == "0"  # started before the filter
        ppid, me = r.stdout.split()
        assert ppid != me  # not a child of the command (it would see it in wait())
    finally:
        try:
            os.kill(int(prelude_pid), 9)
        except (OSError, UnboundLocalError):
            pass


def test_prelude_that_never_gets_ready_fails_125(identity, scratch, inner_executor):
    spec = {"v": 1, "prelude": ["sh", "-c", "echo starting; exit 3"], "seccomp": b""}
    r = run_inner(spec, ["true"], identity=identity)
    assert r.returncode == 125
    assert "prelude" in r.stderr and "starting" in r.stderr


@pytest.mark.slow
def test_prelude_timeout_fails_125(scratch, inner_executor):
    spec = {"v": 1, "prelude": ["sleep", "30"], "seccomp": b""}
    r = run_inner(spec, ["true"])
    assert r.returncode == 125 and "timed out" in r.stderr


def test_in_sandbox_program_stays_lean(tmp_path):
    """The sandbox half (bootstrap + shipped code), with every wall applied, imports no
    pydantic/typer/lark, not even json, re or ctypes (-X importtime; it runs on every launch)."""
    import copy

    stage = copy.copy(
        inner.build_inner(resolved(tmp_path), ["true"], python=os.path.realpath(sys.executable))
    )
    assert "-I" in stage.argv and "-S" in stage.argv
    spec = marshal.loads(stage.fds[SPEC_FD])
    assert spec["landlock"] and spec["seccomp"]
    stage.argv = [stage.argv[0], "-X", "importtime", *stage.argv[1:]]
    r = run_stage(stage)
    assert r.returncode == 0, r.stderr
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    assert "_ctypes" in imported  # the walls were applied in this run
    heavy = {
        "pydantic",
        "typer",
        "lark",
        "json",
        "re",
        "subprocess",
        "ctypes",
        "sandbox",
        "landlock",
        "pyseccomp",
    }
    assert not heavy & imported, heavy & imported


# --- the native executor (cordon-inner) -------------------------------------------------------
def run_native_raw(data: bytes, argv: list[str]):
    """cordon-inner with ``data`` on its spec fd, as it is (no encoding)."""
    from tests.sandbox.linux.confine_support import native_inner

    r = spec_fd_source(data)
    os.dup2(r, SPEC_FD)
    os.close(r)
    try:
        return subprocess.run(
            [str(native_inner()), "--spec-fd", str(SPEC_FD), "--", *argv],
            pass_fds=(SPEC_FD,),
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        os.close(SPEC_FD)


@pytest.mark.parametrize(
    "data, says",
    [
        (b"", "not a native inner-stage plan"),
        (b"CORDONI0", "not a native inner-stage plan"),
        (b"CORDONI1P\x05\x00\x00", "truncated spec"),
        (b"CORDONI1P\x09\x00\x00\x00true", "truncated spec"),
        (b"CORDONI1Z\x00\x00\x00\x00", "unknown spec record"),
        (b"CORDONI1L\x01\x00\x00\x00\x01", "bad Landlock record"),
        (b"CORDONI1S\x03\x00\x00\x00abc", "not a whole number of instructions"),
    ],
)
def test_native_refuses_a_malformed_plan(data, says, tmp_path):
    marker = tmp_path / "ran"
    r = run_native_raw(data, ["touch", str(marker)])
    assert r.returncode == 125, r.stderr
    assert says in r.stderr and "the command was not run" in r.stderr
    assert not marker.exists()


def test_native_usage_errors_exit_125():
    from tests.sandbox.linux.confine_support import native_inner

    for args in (
        [],
        ["--spec-fd", "200", "true"],
        ["--spec-fd", "x", "--", "true"],
        ["--spec-fd", "250", "--", "true"],
    ):
        r = subprocess.run([str(native_inner()), *args], capture_output=True, text=True)
        assert r.returncode == 125 and "not run" in r.stderr, (args, r.stderr)


def test_both_executors_build_the_same_landlock_rules(identity, tmp_path):
    """The "read / except the secrets" expansion is done by each program as seen from inside:
    same spec, same number of rules, same walls."""
    from cordon.sandbox.linux.inner import native_helper

    assert native_helper(), "the native inner stage is not installed"
    policy = resolved(identity.workspace, deny_read=["/etc/ssl", "/usr/share/doc"])
    spec = inner.build_inner(policy, ["true"]).spec
    out = {}
    for executor in ("native", "python"):
        r = run_inner(
            spec,
            [
                "sh",
                "-c",
                'echo "$CORDON_LANDLOCK"; cat /etc/ssl/openssl.cnf >/dev/null 2>&1; echo $?; cat /etc/hostname >/dev/null; echo $?',
            ],
            identity=identity,
            executor=executor,
            cwd=identity.workspace,
        )
        assert r.returncode == 0, r.stderr
        out[executor] = r.stdout.split("\n")
    assert out["native"] == out["python"]
    assert "fs-rules=" in out["native"][0] and out["native"][1:3] == ["1", "0"]


def test_native_stage_is_static():
    """No program interpreter: LD_PRELOAD, LD_AUDIT and the like cannot run code inside the
    stage, before Landlock and seccomp exist (the install builds it with -static)."""
    import struct

    from tests.sandbox.linux.confine_support import native_inner

    data = native_inner().read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2  # 64-bit
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    assert 3 not in types  # PT_INTERP


def test_launcher_refuses_a_native_stage_others_can_write(tmp_path):
    from cordon.sandbox.errors import SandboxError
    from cordon.sandbox.linux.launch import fd_source

    from tests.sandbox.linux.confine_support import native_inner

    copy = tmp_path / "cordon-inner"
    shutil.copy2(native_inner(), copy)
    copy.chmod(0o777)
    with pytest.raises(SandboxError, match="writable only by its owner"):
        fd_source(("file", str(copy)))
    copy.chmod(0o755)
    os.close(fd_source(("file", str(copy))))
