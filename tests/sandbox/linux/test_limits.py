"""Resource limits through the real ``sandbox run``: each runaway is stopped and named, and the
same kind of work below the limit passes (the positive control). Run as root (cgroups v1 on
this host) and as the unprivileged account, both with a cgroup delegated to it (as systemd
delegates one) and without (the rlimit fallbacks, where the kernel gives no evidence to name
the limit by, so only the stop is asserted).

Every runaway is bounded: 600 MB against a 200M limit, 60 processes against 40, a busy loop
for at most ~2 s of CPU, ``sleep 30`` ended at 2 s, 5 MB against 1M, 40 MB against an 8M /tmp.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid

import pytest

from tests.sandbox.linux.confine_support import sandbox_run
from tests.support.identities import INSIDE_PYTHON

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(
        sys.platform != "linux" or shutil.which("bwrap") is None, reason="needs Linux and bubblewrap"
    ),
]


def py(source: str) -> list[str]:
    return [INSIDE_PYTHON, "-I", "-S", "-c", source]


# (limit, runaway, work under the limit, exit status of the runaway or None for "not 0")
CASES = {
    "memory": (
        "memory=200M",
        py("b = bytearray(600 << 20)"),
        py("b = bytearray(60 << 20); print('ok')"),
        None,
    ),
    "pids": (
        "pids=40",
        ["/bin/sh", "-c", "for i in $(seq 60); do sleep 1 & done; wait"],
        ["/bin/sh", "-c", "for i in $(seq 20); do sleep 1 & done; wait; echo ok"],
        None,
    ),
    "cpu": ("cpu=1", py("while True: pass"), py("sum(range(10**5)); print('ok')"), None),
    "wall": ("wall=2", ["sleep", "30"], ["/bin/sh", "-c", "sleep 0.2; echo ok"], 143),
    "file-size": (
        "file-size=1M",
        ["/bin/sh", "-c", "head -c 5000000 /dev/zero > big"],
        ["/bin/sh", "-c", "head -c 500000 /dev/zero > small && echo ok"],
        153,  # SIGXFSZ
    ),
    "tmp": (
        "tmp=8M",
        ["/bin/sh", "-c", "head -c 40000000 /dev/zero > /tmp/big"],
        ["/bin/sh", "-c", "head -c 4000000 /dev/zero > /tmp/small && echo ok"],
        None,
    ),
}
# What names the limit on stderr, per case.
MESSAGES = {
    "memory": "sandbox: memory limit 200M reached; the command was killed",
    "pids": "sandbox: pids limit 40 reached;",
    "cpu": "sandbox: cpu limit 1s reached; the command was killed",
    "wall": "sandbox: wall limit 2s reached; the sandbox was ended",
    "file-size": "sandbox: file-size limit 1M reached; the command was killed",
    "tmp": "sandbox: tmp limit 8M reached; /tmp or /dev/shm was full",
}
# Without a cgroup these are per-process rlimits: the kernel refuses the allocation or the
# fork, and nothing tells the launcher that a limit (not the command's own error) was the cause.
NO_EVIDENCE_WITHOUT_CGROUP = ("memory", "pids")


@pytest.fixture
def delegated(identity):
    """For the unprivileged account: v1 memory, pids and cpuacct cgroups chowned to it, and an
    argv prefix that moves the launcher into them before it starts (systemd's delegation, by
    hand). For root: no prefix (root may create cgroups anywhere)."""
    from cordon.sandbox.linux.limits import hierarchies

    if identity.is_root:
        yield []
        return
    if os.geteuid() != 0:
        pytest.skip("delegating a cgroup to the test account needs the suite to run as root")
    h = hierarchies()
    name = f"delegated-{uuid.uuid4().hex[:8]}"
    dirs = []
    for ctrl in ("memory", "pids", "cpuacct"):
        if ctrl not in h.v1:
            pytest.skip(f"this host has no cgroup v1 {ctrl} hierarchy to delegate")
        d = os.path.join(h.v1[ctrl], name)
        os.mkdir(d)
        dirs.append(d)
        for entry in [d, *(os.path.join(d, f) for f in os.listdir(d))]:
            os.chown(entry, identity.uid, identity.gid)
    moves = " && ".join(f"echo $$ > {d}/cgroup.procs" for d in dirs)
    yield ["/bin/sh", "-c", f'{moves} && exec "$@"', "sh"]
    for d in dirs:
        leftovers = [n for n in os.listdir(d) if n.startswith("cordon-")]
        for _ in range(250):  # the last exited processes may take a moment to leave the cgroup
            try:
                os.rmdir(d)
                break
            except OSError:
                time.sleep(0.02)
        assert not leftovers, f"cgroups left behind in {d}: {leftovers}"


def run_limited(identity, prefix, flags, cmd, **kw):
    flags = [flags] if isinstance(flags, str) else flags
    limit_args = [x for f in flags for x in ("--limit", f)]
    argv = [*prefix, *identity.sandbox_argv("run", *limit_args, "--", *cmd)]
    return identity.run(argv, cwd=identity.workspace, timeout=60, **kw)


@pytest.mark.parametrize("case", list(CASES))
def test_runaway_is_stopped_and_named(identity, delegated, case):
    flag, runaway, work, status = CASES[case]
    r = run_limited(identity, delegated, flag, runaway)
    assert r.returncode != 0, (case, r.stdout, r.stderr)
    if status is not None:
        assert r.returncode == status, (case, r.returncode, r.stderr)
    assert MESSAGES[case] in r.stderr, (case, r.returncode, r.stderr)
    ok = run_limited(identity, delegated, flag, work)
    assert ok.returncode == 0 and ok.stdout.strip() == "ok", (case, ok.returncode, ok.stderr)
    assert "limit" not in ok.stderr, ok.stderr


@pytest.fixture
def unprivileged(scratch_session):
    """The unprivileged account alone (root always gets a cgroup here: the fallbacks are the
    unprivileged account's)."""
    from tests.support import identities

    ident = identities.identity_for("user", scratch_session)
    yield ident
    identities.cleanup(ident.workspace)


@pytest.mark.parametrize("case", list(CASES))
def test_runaway_without_delegation(unprivileged, case, inner_executor):
    """The unprivileged account with no cgroup of its own: rlimits and the tmpfs size stop each
    runaway (in both inner stages, which set the rlimits)."""
    identity = unprivileged
    flag, runaway, work, _ = CASES[case]
    r = run_limited(identity, [], flag, runaway)
    assert r.returncode != 0, (case, r.stdout, r.stderr)
    if case in NO_EVIDENCE_WITHOUT_CGROUP:
        assert ("MemoryError" if case == "memory" else "fork") in r.stderr, r.stderr
    else:
        assert MESSAGES[case] in r.stderr, (case, r.returncode, r.stderr)
    ok = run_limited(identity, [], flag, work)
    assert ok.returncode == 0 and ok.stdout.strip() == "ok", (case, ok.returncode, ok.stderr)


def test_unlimited_positive_control(identity):
    """The same runaways without --limit are not stopped (bounded ones only: the file and /tmp
    writes and the 600 MB allocation), so the tests above prove the limits did it."""
    for case in ("memory", "file-size", "tmp"):
        _, runaway, _, _ = CASES[case]
        r = sandbox_run(identity, cmd=runaway)
        assert r.returncode == 0, (case, r.stderr)


def test_limits_cannot_be_lifted_from_inside(identity, delegated):
    """The command cannot raise its rlimits, leave its cgroup, or change its cgroup's limits."""
    from cordon.sandbox.linux.limits import hierarchies

    h = hierarchies()
    targets = [os.path.join(h.v1[c], "cgroup.procs") for c in ("memory", "pids") if c in h.v1]
    source = (
        "import os, resource\n"
        "try:\n"
        "    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2); print('rlimit raised')\n"
        "except (ValueError, OSError) as e: print('rlimit kept', e)\n"
        "for t in %r:\n"
        "    try:\n"
        "        open(t, 'w').write(str(os.getpid())); print('escaped', t)\n"
        "    except OSError as e: print('stayed', e.errno)\n"
        "for name in os.listdir('/sys/fs/cgroup/pids') if os.path.isdir('/sys/fs/cgroup/pids') else ():\n"
        "    if name.startswith('cordon-'):\n"
        "        try:\n"
        "            open('/sys/fs/cgroup/pids/' + name + '/pids.max', 'w').write('max'); print('raised', name)\n"
        "        except OSError as e: print('limit kept', e.errno)\n"
    ).replace("%r", repr(targets))
    r = run_limited(
        identity, delegated, ["file-size=1M", "pids=50", "memory=500M"], [INSIDE_PYTHON, "-I", "-c", source]
    )
    assert r.returncode == 0, r.stderr
    assert "rlimit kept" in r.stdout, r.stdout
    assert "escaped" not in r.stdout and "raised" not in r.stdout, r.stdout
    assert r.stdout.count("stayed") == len(targets), r.stdout


def test_cgroup_of_a_sigkilled_launcher_is_swept(identity, delegated):
    """SIGKILL the launcher while its sandbox runs: --die-with-parent ends the sandbox, the
    cgroup stays, and the next launch that makes a cgroup beside it removes it (ending
    whatever might still run in it)."""
    import signal
    import subprocess

    from cordon.sandbox.linux.limits import hierarchies

    parent = delegated_parent(identity, delegated, hierarchies())
    before = set(os.listdir(parent))
    argv = [*delegated, *identity.sandbox_argv("run", "--limit", "pids=50", "--", "sleep", "30")]
    proc = subprocess.Popen(argv, cwd=identity.workspace, env=identity.env(), **identity.popen_kwargs())
    try:
        deadline = time.monotonic() + 30
        mine = []
        while not mine and time.monotonic() < deadline:
            mine = [n for n in set(os.listdir(parent)) - before if n.startswith(f"cordon-{proc.pid}-")]
            time.sleep(0.05)
        assert mine, "the launch made no cgroup"
        while len(_procs(os.path.join(parent, mine[0]))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # until bwrap, its PID 1 and the command all run
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    orphan = os.path.join(parent, mine[0])
    for _ in range(250):  # --die-with-parent: the sandbox follows its launcher
        if not _procs(orphan):
            break
        time.sleep(0.02)
    assert os.path.isdir(orphan)
    # Anything still in it (a bwrap killed before it armed --die-with-parent) is ended too.
    r = run_limited(identity, delegated, "pids=50", ["true"])
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(orphan)


def _procs(d: str) -> list[str]:
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            return f.read().split()
    except OSError:
        return []


def delegated_parent(identity, prefix, h) -> str:
    """Where a launch of ``identity`` makes its pids cgroup: the test's own (root) or the
    delegated one (named in the prefix)."""
    if identity.is_root:
        return h.v1["pids"]
    return next(word.split()[-1].rsplit("/", 1)[0] for word in prefix[2].split(" && ") if "/pids/" in word)


def test_cgroups_are_removed_and_orphans_swept(identity, delegated):
    """A launch removes its cgroup; one left by a launcher that was SIGKILLed is removed by the
    next launch that makes a cgroup there."""
    from cordon.sandbox.linux.limits import hierarchies

    if identity.is_root:
        parent = hierarchies().v1["pids"]
        orphan = os.path.join(parent, "cordon-999999999-1-deadbeef")  # no such launcher
        os.mkdir(orphan)
    else:
        orphan = None
    try:
        r = run_limited(identity, delegated, "pids=50", ["true"])
        assert r.returncode == 0, r.stderr
        if orphan:
            assert not os.path.exists(orphan)
    finally:
        if orphan and os.path.isdir(orphan):
            os.rmdir(orphan)


def test_unenforceable_limit_is_refused_unless_allowed(identity):
    """--share-tmp has no private /tmp to size: tmp=8M is refused (125, the reason named),
    and runs when the loss is accepted explicitly."""
    r = sandbox_run(identity, "--share-tmp", "--limit", "tmp=8M", cmd=["true"])
    assert r.returncode == 125, r.stderr
    assert "tmp=8M: there is no private /tmp" in r.stderr and "--allow-unenforced limits" in r.stderr
    r = sandbox_run(
        identity, "--share-tmp", "--limit", "tmp=8M", "--allow-unenforced", "limits", cmd=["true"]
    )
    assert r.returncode == 0, r.stderr
    r = sandbox_run(identity, "--mode", "danger-full-access", "--limit", "wall=5", cmd=["true"])
    assert r.returncode == 125 and "cannot be enforced" in r.stderr, r.stderr


def test_explain_and_plan_say_how_each_limit_is_enforced(identity, delegated):
    argv = [
        *delegated,
        *identity.sandbox_argv(
            "run", "--explain", "--limit", "memory=200M", "--limit", "wall=5", "--", "true"
        ),
    ]
    r = identity.run(argv, cwd=identity.workspace)
    assert r.returncode == 0, r.stderr
    assert "limit memory 200M: cgroup v1 memory controller; the whole tree" in r.stderr, r.stderr
    assert "limit wall 5s: launcher timer" in r.stderr
    assert "limit tmp " in r.stderr and "(default): tmpfs size" in r.stderr
    import json

    plan = identity.run(identity.sandbox_argv("plan", "--json", "--limit", "file-size=1M", "--", "true"))
    assert plan.returncode == 0, plan.stderr
    data = json.loads(plan.stdout)
    assert {e["key"]: e["mechanism"] for e in data["limits"]}["file-size"] == "rlimit RLIMIT_FSIZE"
    assert data["inner"]["rlimits"] == [{"resource": "RLIMIT_FSIZE", "soft": 1 << 20, "hard": 1 << 20}]
    assert "--size" in data["bwrap"]["argv"]


def test_library_result_names_the_limit(scratch):
    from cordon.sandbox import SandboxPolicy, run

    r = run(["sleep", "30"], policy=SandboxPolicy(limits={"wall": 1}), cwd=scratch)
    assert r.returncode == 143 and r.limit_hit is not None
    assert (r.limit_hit.key, r.limit_hit.value, r.limit_hit.shown) == ("wall", 1.0, "1s")
    assert r.limit_hit.message == "wall limit 1s reached; the sandbox was ended"
    ok = run(["true"], policy=SandboxPolicy(limits={"wall": 30}), cwd=scratch)
    assert ok.returncode == 0 and ok.limit_hit is None


def test_pool_applies_limits_and_launches_wall_limited_commands_cold(scratch):
    """A warm sandbox carries the policy's limits (rlimits, its own cgroup); a wall limit counts
    from the command's start, so such a pool launches each command the ordinary way."""
    from cordon.sandbox import Pool, SandboxPolicy

    big = [INSIDE_PYTHON, "-I", "-S", "-c", "open('big', 'wb').write(bytes(5 << 20))"]
    with Pool(SandboxPolicy(limits={"file-size": "1M", "tmp": "8M"}), cwd=scratch, size=1) as pool:
        assert pool.wait_ready()
        r = pool.run(big)
        assert r.returncode != 0 and b"File too large" in r.stderr, r.stderr
        assert pool.stats["warm"] == 1
    with Pool(SandboxPolicy(limits={"wall": 1}), cwd=scratch, size=1) as pool:
        r = pool.run(["sleep", "30"])
        assert r.returncode == 143 and r.limit_hit is not None and r.limit_hit.key == "wall"
        assert pool.stats["warm"] == 0
