"""Faults: the launcher killed by SIGKILL, bubblewrap missing, user namespaces unavailable.

Each must end with nothing left running and, when the sandbox cannot be built, exit
125 with the precise reason on stderr. Never a silent unconfined run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support.identities import REPO

pytestmark = pytest.mark.sandbox
BWRAP = shutil.which("bwrap") or "/usr/bin/bwrap"


def _alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_launcher_sigkill_leaves_no_process_or_mount(identity) -> None:
    ws = identity.workspace
    marker = f"{300 + os.getpid() % 9000}.{time.monotonic_ns() % 1000:03d}"  # a unique sleep argument
    mounts_before = Path("/proc/self/mountinfo").read_text()
    p = subprocess.Popen(
        identity.sandbox_argv("run", "--", "sh", "-c", f"echo ready; sleep {marker} & wait"),
        cwd=ws,
        env=identity.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **identity.popen_kwargs(),
    )
    try:
        assert p.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        tree: list[int] = []
        while time.monotonic() < deadline:
            try:
                tree = [c.pid for c in psutil.Process(p.pid).children(recursive=True)]
                names = [psutil.Process(c).cmdline() for c in _alive(tree)]
            except psutil.Error:  # a process of the tree changed under us: look again
                continue
            if ["sleep", marker] in names:
                break
            time.sleep(0.05)
        assert len(tree) >= 4, tree  # bwrap, its PID 1, the command and its sleep
        placeholders = [ws / n for n in (".git", ".codex", ".agents", ".cordon.toml")]
        assert all(x.is_dir() for x in placeholders)  # bwrap's mount points, on the host
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(tree) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive(tree) == [], "processes outlived the launcher"
        leftovers = [
            q.pid for q in psutil.process_iter(["cmdline"]) if marker in " ".join(q.info["cmdline"] or [])
        ]
        assert _alive(leftovers) == []
        # Sandbox mounts live in the sandbox's own mount namespace: the host table is unchanged.
        assert str(ws) not in Path("/proc/self/mountinfo").read_text().replace(mounts_before, "")
        # The placeholders outlive a SIGKILLed launcher (nobody was left to remove them); the
        # next launch finds its journal unlocked and sweeps them.
        assert any(x.exists() for x in placeholders)
        r = identity.run(identity.sandbox_argv("run", "--", "true"), cwd=ws)
        assert r.returncode == 0, r.stderr
        assert [x for x in placeholders if x.exists()] == []
    finally:
        if p.poll() is None:
            p.kill()


def test_sweep_spares_a_running_sandbox(identity) -> None:
    """Another launch (which sweeps orphaned placeholders) while a sandbox runs in the same
    workspace: the running sandbox's placeholders stay, and keep protecting the names."""
    ws = identity.workspace
    script = "echo ready; read go; mkdir .codex/x 2>/dev/null && echo made || echo denied; mkdir .git 2>/dev/null && echo made || echo denied"
    p = subprocess.Popen(
        identity.sandbox_argv("run", "--", "sh", "-c", script),
        cwd=ws,
        env=identity.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **identity.popen_kwargs(),
    )
    try:
        assert p.stdout.readline().strip() == "ready"
        r = identity.run(identity.sandbox_argv("run", "--", "true"), cwd=ws)
        assert r.returncode == 0, r.stderr
        assert (ws / ".codex").is_dir() and (ws / ".git").is_dir()  # still the first sandbox's
        out, err = p.communicate("go\n", timeout=30)
        assert p.returncode == 0, err
        assert out.split() == ["denied", "denied"]
    finally:
        if p.poll() is None:
            p.kill()
    assert not (ws / ".codex").exists() and not (ws / ".git").exists()  # its own cleanup ran


def test_bwrap_missing_exits_125_with_reason(identity) -> None:
    env = identity.env(PATH=str(Path(sys.executable).parent))  # a PATH without bubblewrap
    r = identity.run([sys.executable, "-m", "cordon.sandbox", "run", "--", "/bin/echo", "RAN"], env=env)
    assert r.returncode == 125
    assert "RAN" not in r.stdout
    assert "bubblewrap (bwrap) was not found" in r.stderr and "unconfined" in r.stderr


def test_fake_bwrap_in_workspace_is_ignored(identity) -> None:
    ws = identity.workspace
    fake = ws / "bwrap"
    fake.write_text("#!/bin/sh\necho FAKE-BWRAP\nexit 0\n")
    fake.chmod(0o755)
    os.chown(fake, identity.uid, identity.gid)
    env = identity.env(PATH=f"{ws}:{identity.env()['PATH']}")
    r = identity.run([sys.executable, "-m", "cordon.sandbox", "run", "--", "/bin/echo", "ran"], env=env)
    assert r.returncode == 0, r.stderr
    assert "FAKE-BWRAP" not in r.stdout and r.stdout.strip() == "ran"


def test_bwrap_missing_with_landlock_fallback_is_stated_and_confined(identity) -> None:
    env = identity.env(PATH=str(Path(sys.executable).parent))  # no /usr/bin: no bubblewrap
    outside = identity.home / f"cordon-fallback-{os.getpid()}"  # /tmp and /var/tmp are writable here
    r = identity.run(
        [
            sys.executable,
            "-m",
            "cordon.sandbox",
            "run",
            "--fallback=landlock",
            "--",
            "/bin/sh",
            "-c",
            f"echo x > {outside} 2>/dev/null && echo WROTE; echo ran",
        ],
        env=env,
    )
    try:
        if r.returncode == 125 and "inner" in r.stderr:
            pytest.skip(f"inner stage unavailable: {r.stderr.strip()}")
        assert r.returncode == 0, r.stderr
        assert "FALLBACK" in r.stderr and "Landlock" in r.stderr
        assert r.stdout.split() == ["ran"]
        assert not outside.exists()
    finally:
        outside.unlink(missing_ok=True)


def _outer_disable_userns(identity, inner: list[str]) -> list[str]:
    """Run ``inner`` inside a bwrap whose nested user namespaces are disabled."""
    ws = str(identity.workspace)
    return [
        BWRAP,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--bind",
        ws,
        ws,
        "--unshare-user",
        "--unshare-pid",
        "--disable-userns",
        "--die-with-parent",
        "--chdir",
        ws,
        "--",
        *inner,
    ]


def test_user_namespaces_unavailable_exits_125_with_reason(identity) -> None:
    argv = _outer_disable_userns(
        identity, [sys.executable, "-m", "cordon.sandbox", "run", "--", "/bin/echo", "RAN"]
    )
    r = identity.run(argv)
    assert r.returncode == 125, (r.stdout, r.stderr)
    assert "RAN" not in r.stdout
    assert "could not be set up" in r.stderr
    assert "max_user_namespaces is 0" in r.stderr or "user namespace" in r.stderr


def test_user_namespaces_unavailable_doctor_says_why(identity) -> None:
    argv = _outer_disable_userns(identity, [sys.executable, "-m", "cordon.sandbox", "doctor", "--json"])
    r = identity.run(argv)
    assert r.returncode == 0, r.stderr
    import json

    d = json.loads(r.stdout)
    assert d["user_namespaces"]["available"] is False
    assert "max_user_namespaces" in d["user_namespaces"]["reason"]
    assert d["run_engine"] == "refuse"


def test_doctor_reads_the_fallback_run_would_use(identity) -> None:
    """`sandbox doctor` reads the same configuration as `run`: with fallback = landlock in a
    config file, a host without user namespaces gets "landlock", not "refuse"."""
    import json

    cfg = identity.workspace / "fallback.toml"
    cfg.write_text('fallback = "landlock"\n')
    cfg.chmod(0o644)
    doctor = [sys.executable, "-m", "cordon.sandbox", "doctor", "--json", "--config", str(cfg)]
    r = identity.run(_outer_disable_userns(identity, doctor))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["config_files"][-1] == str(cfg)
    if not (d["landlock_abi"] and d["seccomp"] and d["inner_stage"]):
        pytest.skip("no Landlock/seccomp inner stage here: the fallback would not apply")
    assert d["run_engine"] == "landlock" and "fallback = landlock" in d["explanation"]


def test_user_namespaces_unavailable_fallback_landlock(identity) -> None:
    argv = _outer_disable_userns(
        identity,
        [sys.executable, "-m", "cordon.sandbox", "run", "--fallback", "landlock", "--", "/bin/echo", "RAN"],
    )
    r = identity.run(argv)
    if r.returncode == 125 and "inner" in r.stderr:
        pytest.skip(f"inner stage unavailable: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "RAN"
    assert "FALLBACK" in r.stderr and "user namespaces are unavailable" in r.stderr


def test_danger_full_access_is_loud(identity) -> None:
    r = identity.run(identity.sandbox_argv("run", "--mode", "danger-full-access", "--", "/bin/echo", "ran"))
    assert r.returncode == 0 and r.stdout.strip() == "ran"
    assert "UNCONFINED" in r.stderr


def test_usage_errors_exit_2_and_run_nothing(identity) -> None:
    r = identity.run(identity.sandbox_argv("run", "--network", "sideways", "--", "/bin/echo", "RAN"))
    assert r.returncode == 2 and "RAN" not in r.stdout and "--network" in r.stderr
    r = identity.run(identity.sandbox_argv("run", "--bogus", "--", "/bin/echo", "RAN"))
    assert r.returncode == 2 and "unknown option --bogus" in r.stderr


def test_root_locks_are_bounded_and_shared_per_bucket(tmp_path) -> None:
    """One lock file per bucket, not per root ever used (they could never be deleted)."""
    from cordon.sandbox.linux.launch import LOCK_BUCKETS, root_locks

    roots = [f"/nonexistent/cordon-root-{i}" for i in range(3 * LOCK_BUCKETS)]
    locks = root_locks(roots, str(tmp_path / "locks"))
    try:
        assert set(locks) == set(roots)
        assert len(os.listdir(tmp_path / "locks")) == len(set(locks.values())) <= LOCK_BUCKETS
    finally:
        for fd in set(locks.values()):
            os.close(fd)


def test_roots_sharing_a_lock_bucket_are_cleaned_up(identity) -> None:
    """Two writable roots of one launch in the same bucket: one fd holds the bucket, so the
    cleanup's upgrade to an exclusive lock succeeds and both roots' placeholders go."""
    import zlib

    from cordon.sandbox.linux.launch import LOCK_BUCKETS

    base = identity.workspace
    buckets: dict[int, Path] = {}
    pair = None
    for i in range(10 * LOCK_BUCKETS):
        d = base / f"r{i}"
        b = zlib.crc32(os.fsencode(os.path.realpath(d))) % LOCK_BUCKETS
        if b in buckets:
            pair = (buckets[b], d)
            break
        buckets[b] = d
    assert pair is not None
    for d in pair:
        d.mkdir()
        os.chown(d, identity.uid, identity.gid)
    r = identity.run(
        identity.sandbox_argv(
            "run",
            "--writable-root",
            str(pair[0]),
            "--writable-root",
            str(pair[1]),
            "--",
            "sh",
            "-c",
            "test -d .codex",
        ),
        cwd=pair[0],
    )
    assert r.returncode == 0, r.stderr  # the placeholder was there inside
    left = [p for d in pair for p in d.iterdir()]
    assert left == [], left


# --- containers, Ubuntu's AppArmor, no user namespaces (issue 17) -------------------------------------------
def _docker_like_filter(path: Path) -> Path:
    """A seccomp program like Docker's default profile in the one respect that matters here:
    new user namespaces are refused with EPERM (clone3 gets ENOSYS so libc falls back)."""
    import errno

    import pyseccomp as sc

    f = sc.SyscallFilter(sc.ALLOW)
    newuser = 0x10000000
    for name in ("unshare", "clone"):
        f.add_rule(sc.ERRNO(errno.EPERM), name, sc.Arg(0, sc.MASKED_EQ, newuser, newuser))
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    with open(path, "wb") as out:
        f.export_bpf(out)
    path.chmod(0o644)
    return path


def _outer_container(identity, inner: list[str], scratch: Path, *, docker: bool):
    """Run ``inner`` in a container-like sandbox the test builds (an unprivileged user
    namespace with a fresh root holding the host's top-level folders) and, with ``docker``,
    Docker's marker file plus a seccomp filter that refuses user namespaces, as Docker's
    default profile does. Without ``docker``: the same, no marker, no filter (the control)."""
    ws = str(identity.workspace)
    argv = [BWRAP, "--tmpfs", "/"]
    for name in sorted(os.listdir("/")):
        p = f"/{name}"
        if name in ("proc", "dev", "tmp", ".dockerenv", "lost+found") or not os.path.exists(p):
            continue
        if os.path.islink(p):
            argv += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            argv += ["--ro-bind", p, p]
    argv += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--bind", ws, ws]
    # A checkout or venv under /tmp (a CI clone) must stay visible in the container.
    for p in sorted({str(REPO), os.path.realpath(sys.prefix)}):
        if p.startswith("/tmp/") and not ws.startswith(p + "/"):
            argv += ["--ro-bind", p, p]
    fds: list[int] = []
    if docker:
        marker = os.open(os.devnull, os.O_RDONLY)
        prog = os.open(_docker_like_filter(scratch / "docker-like.bpf"), os.O_RDONLY)
        fds = [marker, prog]
        argv += ["--ro-bind-data", str(marker), "/.dockerenv", "--seccomp", str(prog)]
    argv += ["--unshare-user", "--unshare-pid", "--die-with-parent", "--chdir", ws, "--", *inner]
    try:
        return identity.run(argv, pass_fds=fds, env=identity.env(HOME=str(identity.workspace)))
    finally:
        for fd in fds:
            os.close(fd)


def test_doctor_in_an_unprivileged_container_prints_the_fix(identity, scratch) -> None:
    import json

    doctor = [sys.executable, "-m", "cordon.sandbox", "doctor", "--json"]
    control = _outer_container(identity, doctor, scratch, docker=False)
    assert control.returncode == 0, control.stderr
    c = json.loads(control.stdout)
    # Control: the same nesting without Docker's filter and marker can make a user namespace,
    # and no Docker is reported (nested bubblewrap itself still fails on this host: its /proc
    # mount is refused two namespaces down, which doctor reports as bubblewrap's error).
    assert c["user_namespaces"]["available"] is True and c["container"] != "docker", c
    r = _outer_container(identity, doctor, scratch, docker=True)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["container"] == "docker"
    assert d["user_namespaces"]["available"] is False and "EPERM" in d["user_namespaces"]["reason"]
    assert d["run_engine"] == "refuse"
    assert "docker run --security-opt seccomp=unconfined" in d["fix"]
    assert "--fallback=landlock" in d["explanation"] and "cannot enforce" in d["explanation"]
    # The same in `sandbox run`: what is wrong, the fix, and the explicit weaker mode.
    r = _outer_container(
        identity,
        [sys.executable, "-m", "cordon.sandbox", "run", "--", "/bin/echo", "RAN"],
        scratch,
        docker=True,
    )
    assert r.returncode == 125 and "RAN" not in r.stdout
    assert "docker run --security-opt seccomp=unconfined" in r.stderr
    assert "--fallback=landlock" in r.stderr and "cannot enforce" in r.stderr and "private /tmp" in r.stderr


def test_no_user_namespaces_run_offers_the_landlock_mode(identity) -> None:
    argv = _outer_disable_userns(
        identity, [sys.executable, "-m", "cordon.sandbox", "run", "--", "/bin/echo", "RAN"]
    )
    r = identity.run(argv)
    assert r.returncode == 125 and "RAN" not in r.stdout
    assert "user namespace" in r.stderr
    # The offer names the flag and what that mode cannot enforce.
    assert "--fallback=landlock" in r.stderr and "cannot enforce" in r.stderr
    for lost in ("deny-read masks inside writable roots", "private /tmp", "PID, IPC and UTS isolation"):
        assert lost in r.stderr


def test_apparmor_and_sysctl_fixes_as_data() -> None:
    """Ubuntu 24.04's AppArmor restriction cannot be produced on this Debian kernel: the
    diagnosis is a pure function of the facts, checked here branch by branch."""
    from cordon.sandbox.linux import diagnose

    base = {"container": None, "user_namespace": False, "apparmor_restrict": 0, "bwrap": "/usr/bin/bwrap"}
    fix = diagnose.fix(None, dict(base, apparmor_restrict=1))
    assert "profile cordon-bwrap /usr/bin/bwrap flags=(unconfined)" in fix and "userns," in fix
    assert "apparmor_parser -r /etc/apparmor.d/cordon-bwrap" in fix
    assert "apparmor_restrict_unprivileged_userns=0" in fix
    reason = "user namespaces are disabled: /proc/sys/user/max_user_namespaces is 0"
    assert "sysctl -w user.max_user_namespaces=" in diagnose.fix(reason, base)
    assert "kernel.unprivileged_userns_clone=1" in diagnose.fix("... unprivileged_userns_clone is 0", base)
    for runtime, words in (
        ("podman", "unmask=ALL"),
        ("kubernetes", "Unconfined"),
        ("lxc", "security.nesting"),
    ):
        assert words in diagnose.fix("... (EPERM)", dict(base, container=runtime))


# --- `/` as the working directory, bubblewrap under a writable root (issue 17) ------------------------------
def test_root_as_working_directory(identity) -> None:
    """A container's working directory is `/`: read-only mode and an explicit workspace work
    there, and doctor finds bubblewrap (it lies under `/`, which nothing makes writable)."""
    import json

    sandbox = [sys.executable, "-m", "cordon.sandbox"]
    r = identity.run([*sandbox, "run", "--mode", "read-only", "--", "pwd"], cwd=Path("/"))
    assert r.returncode == 0 and r.stdout.strip() == "/", r.stderr
    ws = identity.workspace
    r = identity.run(
        [*sandbox, "run", "--workspace", str(ws), "--", "sh", "-c", f"echo ok > {ws}/w; pwd"], cwd=Path("/")
    )
    assert r.returncode == 0 and r.stdout.strip() == "/", r.stderr
    assert (ws / "w").read_text() == "ok\n"
    r = identity.run([*sandbox, "doctor", "--json"], cwd=Path("/"))
    d = json.loads(r.stdout)
    assert d["bwrap"]["path"] == os.path.realpath(BWRAP) and d["run_engine"] == "bwrap", d
    # The default workspace there would be `/` itself: refused, saying what to do instead.
    r = identity.run([*sandbox, "run", "--", "true"], cwd=Path("/"))
    assert r.returncode == 2 and "--workspace DIR" in r.stderr and "--mode read-only" in r.stderr, r.stderr


def test_bwrap_only_inside_a_writable_root_is_refused_saying_so(identity) -> None:
    ws = identity.workspace
    bindir = ws / "bin"
    bindir.mkdir()
    fake = bindir / "bwrap"
    fake.write_text("#!/bin/sh\necho FAKE-BWRAP\n")
    fake.chmod(0o755)
    for p in (bindir, fake):
        os.chown(p, identity.uid, identity.gid)
    env = identity.env(PATH=f"{bindir}:{Path(sys.executable).parent}")  # no other bubblewrap
    sandbox = [sys.executable, "-m", "cordon.sandbox", "run", "--", "/bin/echo", "RAN"]
    r = identity.run(sandbox, env=env)
    assert r.returncode == 125 and "RAN" not in r.stdout and "FAKE-BWRAP" not in r.stdout
    assert f"{fake} is inside the writable root {ws}" in r.stderr, r.stderr
    # Control: the same bwrap is fine when nothing makes its folder writable (read-only mode),
    # which proves the refusal is about the writable root, not the file.
    r = identity.run([*sandbox[:4], "--mode", "read-only", *sandbox[4:]], env=env)
    # (it is the one chosen: probed for its version, then refused for lacking bwrap's options)
    assert f"bubblewrap FAKE-BWRAP at {fake}" in r.stderr and "inside the writable root" not in r.stderr, (
        r.stderr
    )


def test_a_launch_specific_failure_does_not_blame_the_container(monkeypatch) -> None:
    """In a container where bubblewrap works (this host may be one), a setup failure of one
    launch (a path gone during the mounts, say) is not reported as the container's fault."""
    from cordon.sandbox.commands import run
    from cordon.sandbox.linux import diagnose, probe

    facts = {"container": "docker", "user_namespace": True, "apparmor_restrict": None, "bwrap": BWRAP}
    monkeypatch.setattr(diagnose, "facts", lambda bwrap=None: dict(facts))
    text = run._why_setup_failed()
    assert "docker run" not in text and "see bubblewrap's message above" in text  # a real bwrap works here
    monkeypatch.setattr(
        probe, "bwrap_works", lambda path, **kw: (False, "bwrap: setting up uid map: Permission denied")
    )
    assert "docker run --security-opt seccomp=unconfined" in run._why_setup_failed()  # control


@pytest.mark.sandbox
def test_a_busy_embedding_process_does_not_scramble_the_sandbox_fds(scratch):
    """An embedding process with many fds open: the launcher's copies of the plan, the native
    stage and the other descriptors it maps to 200-204 must not be overwritten by each other
    (they used to be placed from fd 100 up, so with 100-199 taken one landed on a target).
    In a fresh process: no other thread may race the dup2 calls that fill 100-199."""
    code = (
        "import os, sys\n"
        "from cordon.sandbox import SandboxPolicy, run\n"
        "null = os.open(os.devnull, os.O_RDONLY)\n"
        "for fd in range(100, 200):\n"
        "    try:\n"
        "        os.fstat(fd)\n"
        "    except OSError:\n"
        "        os.dup2(null, fd)\n"
        "r = run(['sh', '-c', 'echo ok'], policy=SandboxPolicy(), cwd=sys.argv[1])\n"
        "print(r.returncode, r.stdout.decode().strip(), r.stderr.decode()[-300:])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run(
        [sys.executable, "-c", code, str(scratch)], capture_output=True, text=True, env=env, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[:2] == ["0", "ok"], r.stdout


@pytest.mark.sandbox
def test_parallel_launches_in_one_workspace_leave_no_placeholders(scratch):
    """Sandboxes that end while another still runs in the same workspace must keep their
    protected-name placeholders (removing a mount point would unprotect the name there); the
    last one to end removes what they kept, so a burst leaves the workspace as it found it."""
    from concurrent.futures import ThreadPoolExecutor

    from cordon.sandbox import SandboxPolicy, run

    def go(_):
        return run(["sh", "-c", "sleep 0.05"], policy=SandboxPolicy(), cwd=scratch).returncode

    with ThreadPoolExecutor(4) as ex:
        codes = list(ex.map(go, range(24)))
    assert codes == [0] * 24
    assert sorted(p.name for p in scratch.iterdir()) == []


def test_kill_reaches_what_bwrap_started_before_it_armed_die_with_parent(tmp_path) -> None:
    """bubblewrap's first child waits for the id maps before it arms its parent-death signal;
    a kill in that window must not leave it behind. A stand-in for bwrap reports a child that
    never arms anything (as bwrap's status pipe would), then the sandbox is killed: the child
    is gone too (it closes the status pipe, so that without the fix this fails instead of
    waiting for it: a real one keeps the pipe, and the launcher's wait() hung with it).
    Positive control: the child was alive just before the kill."""
    from cordon.sandbox.linux.launch import STATUS_FD_TOKEN, Launch, SandboxProcess

    pidfile = tmp_path / "child"
    # $1 is the status pipe's descriptor (the launcher substitutes it for the token).
    script = (
        '(eval "exec sleep 300 $1>&-") & echo $! > ' + str(pidfile) + "; "
        "printf '{\"child-pid\": %d}\\n' $! >&$1; wait"
    )
    proc = SandboxProcess(Launch("/bin/sh", ["sh", "-c", script, "sh", STATUS_FD_TOKEN], dict(os.environ)))
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.01)
    child = int(pidfile.read_text())
    assert _alive([child]) == [child]  # positive control
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5
    while _alive([child]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _alive([child]) == [], "the sandbox's first child outlived the kill"


RACE_EMPTY_FOLDERS = r"""
import os, shutil, sys, threading
from cordon.sandbox.errors import SandboxError
from cordon.sandbox.linux import assemble
base = sys.argv[1]
paths = tuple(os.path.join(base, name) for name, _, _ in assemble.EMPTY_DIRS)
failures = []
for _ in range(40):
    shutil.rmtree(base, ignore_errors=True)
    gate = threading.Barrier(6)
    def one():
        gate.wait()
        try:
            assemble.make_empty_dirs(paths)
        except SandboxError as e:
            failures.append(str(e))
    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads: t.start()
    for t in threads: t.join()
    bad = [p for p, (_, mode, folder) in zip(paths, assemble.EMPTY_DIRS) if assemble.empty_problem(p, mode, folder)]
    if bad: failures.append(f"left unsound: {bad}")
print(len(failures), failures[:3])
"""


def test_launches_racing_to_make_the_empty_folders_all_start(identity) -> None:
    """Parallel launches sharing a fresh cache (Ray's workers, a thread pool) all make Cordon's
    empty folders and file at once: every one succeeds and what is left is sound (one lost
    the race with "File exists" before; a half-made 0700 folder, or one replaced under a check
    (read mid-unlink, link count 0), looked unsound to the others)."""
    base = identity.workspace / "race"
    base.mkdir()
    os.chown(base, identity.uid, identity.gid)
    r = identity.run([sys.executable, "-c", RACE_EMPTY_FOLDERS, str(base / "cordon")])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "0", r.stdout
