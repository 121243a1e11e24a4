"""Resource limits as data: values, the CLI flag, the [limits] table, SandboxPolicy, and which
mechanism the Linux backend picks for a given cgroup layout (a fake cgroupfs tree stands in for
cgroup v2, which this host cannot run: its controllers are all bound to v1)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cordon.sandbox import SandboxPolicy
from cordon.sandbox import limits as L
from cordon.sandbox.config import load_layers, to_policy
from cordon.sandbox.errors import ConfigError
from cordon.sandbox.frozen import Record
from cordon.sandbox.linux import limits as LL

from tests.support.cli import cli_env

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "key,value,expected",
    [
        ("memory", "512M", 512 << 20),
        ("memory", "2G", 2 << 30),
        ("memory", "1.5G", int(1.5 * (1 << 30))),
        ("memory", "64MiB", 64 << 20),
        ("memory", 1000, 1000),
        ("tmp", "8m", 8 << 20),
        ("file-size", "1K", 1024),
        ("pids", "40", 40),
        ("pids", 7, 7),
        ("cpu", "1.5", 1.5),
        ("wall", "10m", 600.0),
        ("wall", "2h", 7200.0),
        ("wall", 3, 3.0),
    ],
)
def test_values(key, value, expected):
    assert L.parse(key, value) == expected


@pytest.mark.parametrize(
    "key,value",
    [
        ("memory", "lots"),
        ("memory", "12X"),
        ("memory", ""),
        ("pids", "1.5"),
        ("pids", "0"),
        ("cpu", "-1"),
        ("wall", "soon"),
        ("tmp", True),
        ("file-size", "M"),
    ],
)
def test_bad_values_name_the_key(key, value):
    with pytest.raises(ConfigError) as e:
        L.parse(key, value)
    assert e.value.field == f"limits.{key}"


def test_show_round_trips():
    for key, text in (("memory", "512M"), ("tmp", "4G"), ("pids", "40"), ("wall", "2s"), ("cpu", "1.5s")):
        assert L.show(key, L.parse(key, text)) == text


def test_default_tmp_is_well_below_ram():
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    size = L.default_tmp_size()
    assert 64 << 20 <= size <= min(ram // 4, L.DEFAULT_TMP_CAP)


def test_policy_takes_limits_and_names_a_bad_key():
    p = SandboxPolicy(limits={"memory": "512M", "file-size": "1M", "wall": 30})
    r = p.resolve()
    assert (r.limits.memory, r.limits.file_size, r.limits.wall) == (512 << 20, 1 << 20, 30.0)
    with pytest.raises(ConfigError) as e:
        SandboxPolicy(limits={"memory": "lots"})
    assert e.value.field == "limits.memory"
    with pytest.raises(ConfigError) as e:
        SandboxPolicy(limits={"swap": "1G"})
    assert e.value.field == "limits.swap"


def test_config_table_and_project_may_only_lower(tmp_path):
    user = tmp_path / "xdg"
    (user / "cordon").mkdir(parents=True)
    (user / "cordon" / "config.toml").write_text('[limits]\nmemory = "1G"\nwall = "10m"\n')
    proj = tmp_path / "proj"
    proj.mkdir()
    env = {"XDG_CONFIG_HOME": str(user), "HOME": str(tmp_path)}
    (proj / ".cordon.toml").write_text('[limits]\nmemory = "512M"\npids = 100\n')
    opts = load_layers(str(proj), environ=env)
    assert opts["limits"] == {"memory": 512 << 20, "wall": 600.0, "pids": 100}
    assert to_policy(opts).limits.pids == 100
    (proj / ".cordon.toml").write_text('[limits]\nmemory = "2G"\n')
    with pytest.raises(ConfigError) as e:
        load_layers(str(proj), environ=env)
    assert e.value.field == "limits.memory" and "only tighten" in e.value.message
    (proj / ".cordon.toml").write_text('[limits]\ntmp = "64G"\n')  # above the default size
    with pytest.raises(ConfigError):
        load_layers(str(proj), environ=env)
    (proj / ".cordon.toml").write_text('[limits]\nmemory = "lots"\n')
    with pytest.raises(ConfigError) as e:
        load_layers(str(proj), environ=env)
    assert e.value.field == "limits.memory" and e.value.source == str(proj / ".cordon.toml")


def sandbox(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "cordon.sandbox", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "flag,words",
    [
        ("memory=lots", "--limit memory"),
        ("bogus=1", "--limit bogus"),
        ("memory", "KEY=VALUE"),
        ("pids=0", "--limit pids"),
    ],
)
def test_cli_malformed_limit_is_a_usage_error(tmp_path, flag, words):
    r = sandbox("run", "--limit", flag, "--", "true", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr


# ---- which mechanism, by cgroup layout (fake cgroupfs trees) ----------------------------------
FULL = Record(memory=200 << 20, pids=40, cpu=1.0, wall=2.0, file_size=1 << 20, tmp=8 << 20)
NONE_AVAILABLE = LL.Hierarchies(v1={}, v2=None)


def by_key(lp):
    return {e.key: e for e in lp.entries}


def test_no_cgroup_means_the_monitor_with_rlimits_as_backstop():
    lp = LL.plan(FULL, h=NONE_AVAILABLE, is_root=False)
    e = by_key(lp)
    assert lp.cgroup == {} and lp.unenforced == []
    assert (
        e["memory"].mechanism.startswith("launcher monitor")
        and "RLIMIT_AS per process" in e["memory"].mechanism
        and "(1224M)" in e["memory"].mechanism
    )
    assert e["memory"].scope.startswith("the whole tree") and "overshoot" in e["memory"].scope
    assert (
        e["pids"].mechanism.startswith("rlimit RLIMIT_NPROC")
        and "named by the launcher monitor" in e["pids"].mechanism
    )
    assert e["cpu"].mechanism.startswith("launcher monitor") and "RLIMIT_CPU" in e["cpu"].mechanism
    assert e["tmp"].mechanism.startswith("tmpfs size") and lp.tmp_size == 8 << 20 and lp.report_tmp
    assert lp.monitor == {"memory": (200 << 20, "kill"), "pids": (40, "name"), "cpu": (1.0, "kill")}
    got = {r[0]: r[1:] for r in lp.rlimits}
    assert got == {
        LL.RLIMIT_AS: ((1 << 30) + (200 << 20),) * 2,  # the backstop: 4x, at least the limit + 1G
        LL.RLIMIT_NPROC: (41, 41),  # + bubblewrap's PID 1
        LL.RLIMIT_CPU: (1, 2),  # SIGXCPU at 1 s, SIGKILL a second later
        LL.RLIMIT_FSIZE: (1 << 20, 1 << 20),
    }
    big = LL.plan(Record(memory=1 << 30), h=NONE_AVAILABLE, is_root=False)
    assert big.rlimits == [(LL.RLIMIT_AS, 4 << 30, 4 << 30)]


def test_root_without_cgroup_is_limited_by_the_monitor_not_rlimit_nproc():
    """Root is exempt from RLIMIT_NPROC (the kernel skips the check for uid 0): the monitor
    ends the sandbox above the limit instead."""
    lp = LL.plan(FULL, h=NONE_AVAILABLE, is_root=True)
    assert lp.monitor["pids"] == (40, "kill")
    assert [r for r in lp.rlimits if r[0] == LL.RLIMIT_NPROC] == []
    assert "root is exempt from RLIMIT_NPROC" in by_key(lp)["pids"].mechanism


def test_without_bubblewrap_rlimits_stay_per_process():
    """--fallback=landlock: no PID namespace closes the tree, so no monitor; rlimits per process."""
    lp = LL.plan(FULL, h=NONE_AVAILABLE, under_bwrap=False, private_tmp=False, is_root=False)
    e = by_key(lp)
    assert lp.monitor == {}
    assert e["memory"].mechanism.startswith("rlimit RLIMIT_AS") and "not the tree" in e["memory"].scope
    assert {r[0]: r[1:] for r in lp.rlimits}[LL.RLIMIT_AS] == (200 << 20, 200 << 20)


def test_default_tmp_is_reported_too():
    lp = LL.plan(Record(memory=None), h=NONE_AVAILABLE)
    assert lp.tmp_size == LL_default_tmp() and lp.report_tmp and lp.monitor == {}
    hit = LL.verdict(lp, 1, None, {}, None, tmp_full=True)
    assert hit.key == "tmp" and hit.message == (
        f"tmp limit {hit.shown} reached; /tmp or /dev/shm was full "
        "(the default size; --limit tmp=SIZE sets another)"
    )


def LL_default_tmp():
    from cordon.sandbox.limits import default_tmp_size

    return default_tmp_size()


def test_sample_tree_counts_descendants_memory_and_cpu():
    """The monitor's view of a real tree: this process's child shell and its two sleeps."""
    import subprocess

    p = subprocess.Popen(["/bin/sh", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        for _ in range(200):
            u = LL.sample_tree(p.pid, overhead=0)
            if u.tasks == 3:
                break
            time.sleep(0.01)
        assert u.tasks == 3 and len(u.pids) == 3 and p.pid in u.pids
        assert u.memory > 0 and u.cpu >= 0 and u.cost > 0
        assert LL.sample_tree(p.pid, overhead=0, memory_limit=1).memory > 0  # PSS, readable here
    finally:
        p.kill()
        p.wait()
    assert LL.sample_tree(p.pid).tasks <= 0  # gone: nothing left to count


def fake_v2(tmp_path, subtree: str) -> LL.Hierarchies:
    d = tmp_path / "cg2"
    d.mkdir()
    (d / "cgroup.controllers").write_text("cpu memory pids\n")
    (d / "cgroup.subtree_control").write_text(subtree + "\n")
    return LL.Hierarchies(v1={}, v2=str(d))


def test_v2_used_only_for_delegated_controllers(tmp_path):
    lp = LL.plan(FULL, h=fake_v2(tmp_path, "memory"), is_root=False)
    e = by_key(lp)
    assert e["memory"].mechanism == "cgroup v2 memory controller"
    assert e["pids"].mechanism.startswith("rlimit RLIMIT_NPROC")  # pids not delegated: rlimit + monitor
    assert e["cpu"].mechanism.startswith("cgroup v2 CPU accounting")  # cpu.stat needs no controller
    assert lp.cgroup["memory"][0] == "v2" and [r for r in lp.rlimits if r[0] == LL.RLIMIT_AS] == []


def test_v2_launch_cgroup_files(tmp_path, monkeypatch):
    """The files a v2 launch writes and reads, on a fake tree (v2 cannot run on this host)."""
    h = fake_v2(tmp_path, "memory pids")
    lp = LL.plan(FULL, h=h)
    cg = LL.LaunchCgroup(lp.cgroup)
    real = os.mkdir

    def mkdir(path, mode=0o777):  # a real cgroupfs makes the interface files itself
        real(path, mode)
        for name in ("cgroup.procs", "memory.events", "pids.events", "cpu.stat"):
            Path(path, name).write_text("")

    monkeypatch.setattr(LL.os, "mkdir", mkdir)
    cg.create()
    monkeypatch.undo()
    d = Path(cg.created[0])
    assert d.parent == Path(h.v2) and d.name.startswith(f"cordon-{os.getpid()}-")
    assert (d / "memory.max").read_text() == str(200 << 20)
    assert (d / "memory.swap.max").read_text() == "0"
    assert (d / "pids.max").read_text() == str(40 + LL.PIDS_OVERHEAD_CGROUP)
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (d / "pids.events").write_text("max 4\n")
    (d / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\n")
    assert cg.events() == {"oom_kill": 1, "pids_max": 4}
    assert cg.cpu_seconds() == 1.5


def test_unenforceable_limits():
    lp = LL.plan(FULL, h=NONE_AVAILABLE, bwrap_size=False)
    assert lp.unenforced == ["tmp"] and lp.tmp_size is None
    lp = LL.plan(FULL, h=NONE_AVAILABLE, under_bwrap=False, private_tmp=False)
    assert sorted(lp.unenforced) == ["pids", "tmp"]  # RLIMIT_NPROC would count the whole user
    # Without tmp= asked for, a missing --size only leaves the default off: nothing to refuse.
    lp = LL.plan(
        Record(memory=None, pids=None, cpu=None, wall=None, file_size=None, tmp=None), bwrap_size=False
    )
    assert lp.unenforced == [] and lp.entries == []


def test_verdict_needs_evidence():
    lp = LL.plan(FULL, h=NONE_AVAILABLE, is_root=False)
    assert LL.verdict(lp, 1, None, {}, None) is None  # a plain failure is the command's own
    assert LL.verdict(lp, 153, None, {}, None).key == "file-size"
    assert LL.verdict(lp, 152, None, {}, None).key == "cpu"
    assert LL.verdict(lp, 137, None, {"oom_kill": 1}, None).message == (
        "memory limit 200M reached; the command was killed"
    )
    hit = LL.verdict(lp, 2, None, {"pids_max": 3}, None)
    assert hit.key == "pids" and "3 process creation(s) were refused" in hit.message
    assert LL.verdict(lp, 143, None, {}, "wall").message == "wall limit 2s reached; the sandbox was ended"
    assert LL.verdict(lp, 1, None, {}, None, tmp_full=True).key == "tmp"
    assert LL.verdict(lp, 0, None, {}, None, tmp_full=True) is None  # full but it succeeded
    # The monitor saw the tree at the pids limit: named when the command failed, not otherwise
    # (holding exactly the limit is allowed).
    hit = LL.verdict(lp, 2, None, {}, None, at_limit={"pids"})
    assert hit.key == "pids" and hit.message.startswith("pids limit 40 reached;")
    assert LL.verdict(lp, 0, None, {}, None, at_limit={"pids"}) is None
    assert (
        LL.verdict(lp, 137, None, {}, "memory").message == "memory limit 200M reached; the command was killed"
    )
