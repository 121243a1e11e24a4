"""Resource limits through the real ``sandbox run``: each runaway is stopped and named, and the
same kind of work below the limit passes (the positive control). Run as root (cgroups v1 on
this host) and as the unprivileged account, both with a cgroup delegated to it (as systemd
delegates one) and without one: the unprivileged account as it is, root with the cgroup
filesystems remounted read-only in a mount namespace of its own (as in most containers). There
the launcher's monitor samples the sandbox's tree (memory, cpu; pids named, or for root ended).

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
from tests.support.identities import INSIDE_PYTHON, READ_ONLY_CGROUPS

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
# Without a cgroup, RLIMIT_NPROC refuses the fork and the monitor names the limit from the
# tree it sees at it: a fork loop that holds its processes a moment after the refusal (dash's
# loop above exits within microseconds of it; the monitor's look at that exit usually, not
# always, still finds the tree at the limit).
HOLDING_FORK_LOOP = py(
    "import os, time\n"
    "for i in range(60):\n"
    "    try:\n"
    "        pid = os.fork()\n"
    "    except OSError:\n"
    "        time.sleep(0.5); raise\n"
    "    if pid == 0:\n"
    "        time.sleep(2); os._exit(0)\n"
    "time.sleep(2)\n"  # root is never refused: the loop ends, and the tree holds what it made
)
MONITOR_CASES = {**CASES, "pids": ("pids=40", HOLDING_FORK_LOOP, CASES["pids"][2], None)}
# Root is exempt from RLIMIT_NPROC: without a cgroup the monitor ends the sandbox above the limit.
ROOT_PIDS_MESSAGE = "sandbox: pids limit 40 reached; the command was killed"


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
def no_cgroup(identity, inner_executor):
    """An argv prefix under which the launcher finds no cgroup it may use: none for the
    unprivileged account (nobody delegated one to it), read-only cgroup filesystems for root.
    Checked through --explain, so the tests below cannot pass on a cgroup by accident."""
    if identity.is_root and shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to give root read-only cgroup filesystems")
    prefix = READ_ONLY_CGROUPS if identity.is_root else []
    argv = [*prefix, *identity.sandbox_argv("run", "--explain", "--limit", "memory=200M", "--", "true")]
    r = identity.run(argv, cwd=identity.workspace)
    assert r.returncode == 0, r.stderr
    assert "limit memory 200M: launcher monitor" in r.stderr, r.stderr
    return prefix


@pytest.mark.parametrize("case", list(CASES))
def test_runaway_without_cgroup(identity, no_cgroup, case):
    """No cgroup: the monitor, rlimits and the tmpfs size stop each runaway and name the
    limit, as root and as the user, in both inner stages (which set the rlimits)."""
    flag, runaway, work, status = MONITOR_CASES[case]
    r = run_limited(identity, no_cgroup, flag, runaway)
    assert r.returncode != 0, (case, r.stdout, r.stderr)
    message = ROOT_PIDS_MESSAGE if case == "pids" and identity.is_root else MESSAGES[case]
    assert message in r.stderr, (case, r.returncode, r.stderr)
    if case == "memory" or (case == "pids" and identity.is_root):
        assert r.returncode == 137, (case, r.returncode, r.stderr)  # the monitor's SIGKILL
    elif case == "cpu":  # one busy process: the monitor or, at the same second, RLIMIT_CPU
        assert r.returncode in (137, 152), (case, r.returncode, r.stderr)
    elif status is not None:
        assert r.returncode == status, (case, r.returncode, r.stderr)
    ok = run_limited(identity, no_cgroup, flag, work)
    assert ok.returncode == 0 and ok.stdout.strip() == "ok", (case, ok.returncode, ok.stderr)
    assert "limit" not in ok.stderr, ok.stderr


# Several processes, each well under the limit, together over it: what per-process rlimits
# (RLIMIT_AS, RLIMIT_CPU) let through and the monitor must stop. (limit, a higher limit, one process)
TREE_CASES = {
    "memory": (
        "memory=200M",
        "memory=1G",
        "import time; b = bytearray(60 << 20); time.sleep(3)",  # bytearray() writes every page
    ),
    "cpu": (
        "cpu=1",
        "cpu=10",
        "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass",
    ),
}


@pytest.mark.parametrize("case", list(TREE_CASES))
def test_monitor_limits_the_whole_tree(identity, no_cgroup, case):
    """Five processes of 60 MB each (300 MB) under memory=200M, four of 0.6 s CPU each (2.4 s)
    under cpu=1: each process alone is within the limit, the tree is not. The same tree under
    a higher limit runs to its end (the positive control: nothing else stopped it)."""
    over, under, child = TREE_CASES[case]
    n = 5 if case == "memory" else 4
    script = f'for i in $(seq {n}); do {INSIDE_PYTHON} -I -S -c "$0" & done; wait; echo ok'
    cmd = ["/bin/sh", "-c", script, child]
    r = run_limited(identity, no_cgroup, over, cmd)
    assert r.returncode == 137, (case, r.returncode, r.stdout, r.stderr)
    assert MESSAGES[case] in r.stderr, (case, r.stderr)
    ok = run_limited(identity, no_cgroup, under, cmd)
    assert ok.returncode == 0 and ok.stdout.strip() == "ok", (case, ok.returncode, ok.stderr)
    assert "limit" not in ok.stderr, ok.stderr


def test_pids_limit_named_when_fork_is_refused_and_command_goes_on(identity, no_cgroup):
    """A refused fork need not end the command: a loop that tries again later and then fails
    is still told which limit refused it (the monitor saw the tree at the limit)."""
    if identity.is_root:
        pytest.skip("root is exempt from RLIMIT_NPROC: there the monitor ends the sandbox (tested above)")
    loop = py(
        "import os, sys, time\n"
        "kids, refused = [], 0\n"
        "for i in range(60):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        refused += 1; time.sleep(0.05); continue\n"
        "    if pid == 0:\n"
        "        time.sleep(1); os._exit(0)\n"
        "    kids.append(pid)\n"
        "for k in kids: os.waitpid(k, 0)\n"
        "print('refused', refused); sys.exit(3 if refused else 0)\n"
    )
    r = run_limited(identity, no_cgroup, "pids=40", loop)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    assert "refused" in r.stdout and MESSAGES["pids"] in r.stderr, (r.stdout, r.stderr)


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
    assert "--size" in data["argv"]


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


def _mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def test_default_tmp_size_filling_up_is_named(identity):
    """Without tmp= the private /tmp still has a size (a quarter of RAM, at most 4G), and a
    command that fills it is told so, with the flag that changes it. The fill is one
    fallocate of exactly the free space (fast; the memory is freed with the sandbox), then one
    more byte, which the full tmpfs refuses. Ordinary use of the same /tmp passes unnamed."""
    from cordon.sandbox.limits import default_tmp_size, show

    size = default_tmp_size()
    if _mem_available() < size + (4 << 30):
        pytest.skip(f"filling the default /tmp ({show('tmp', size)}) needs that much free memory and more")
    fill = py(
        "import os\n"
        "st = os.statvfs('/tmp')\n"
        "fd = os.open('/tmp/fill', os.O_CREAT | os.O_WRONLY)\n"
        "os.posix_fallocate(fd, 0, st.f_bavail * st.f_frsize)\n"
        "os.pwrite(fd, b'x', st.f_bavail * st.f_frsize)\n"
    )
    r = sandbox_run(identity, cmd=fill)
    assert r.returncode == 1 and "No space left on device" in r.stderr, (r.returncode, r.stderr)
    assert (
        f"sandbox: tmp limit {show('tmp', size)} reached; /tmp or /dev/shm was full "
        "(the default size; --limit tmp=SIZE sets another)"
    ) in r.stderr, r.stderr
    ok = sandbox_run(identity, cmd=CASES["tmp"][2])
    assert ok.returncode == 0 and ok.stdout.strip() == "ok" and "limit" not in ok.stderr, ok.stderr


def test_monitor_stop_is_a_limit_event(identity, no_cgroup):
    """What the monitor stopped reaches the denial stream as a "limit" event (the layer
    sandbox/denials.py gives limits), naming the mechanism; a run under the limit adds none."""
    import json

    jsonl = identity.workspace / "limits.jsonl"
    flags = ["--denials", str(jsonl), "--limit", "memory=200M"]
    argv = [*no_cgroup, *identity.sandbox_argv("run", *flags, "--", *CASES["memory"][1])]
    r = identity.run(argv, cwd=identity.workspace, timeout=60)
    assert r.returncode == 137 and MESSAGES["memory"] in r.stderr, (r.returncode, r.stderr)
    events = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    limit_events = [e for e in events if e["layer"] == "limit"]
    assert [(e["operation"], e["target"]) for e in limit_events] == [("memory", "memory 200M")], events
    assert "launcher monitor" in limit_events[0]["rule"], limit_events[0]
    ok = [*no_cgroup, *identity.sandbox_argv("run", *flags, "--", *CASES["memory"][2])]
    assert identity.run(ok, cwd=identity.workspace, timeout=60).returncode == 0
    events = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    assert [e for e in events if e["layer"] == "limit"] == limit_events  # no new limit event
