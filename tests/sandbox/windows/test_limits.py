"""Resource limits on Windows, as data and through the fake Win32 surface: a job object limits
memory, processes and CPU time; the launcher's timer ends the job at the wall limit; file-size
and tmp have no Windows mechanism and are refused unless the loss is accepted."""

from __future__ import annotations

from cordon.sandbox.model import ResourceLimits
from cordon.sandbox.windows import build_plan, win32
from cordon.sandbox.windows.plan import ACTIVE_PROCESS_LIMIT, METHOD_TOKEN

from tests.sandbox.windows.fake_win32 import FakeWin32
from tests.sandbox.windows.test_win32 import policy

ENV = {"PATH": r"C:\Windows", "USERPROFILE": r"C:\Users\dev"}


def limited(allow=(), **limits):
    return policy(allow).model_copy(update={"limits": ResourceLimits(**limits)})


def plan_for(pol):
    return build_plan(pol, ["python", "-c", "print('hi')"], ENV, method=METHOD_TOKEN)


def test_job_object_carries_memory_process_and_cpu_limits():
    p = plan_for(limited(memory="512M", pids=40, cpu=2, wall="1m"))
    assert p.job.job_memory_limit == 512 << 20
    assert p.job.active_process_limit == 40
    assert p.job.job_time_limit == 2 * 10_000_000  # 100 ns units
    assert p.job.wall_seconds == 60.0
    assert {
        "JOB_OBJECT_LIMIT_JOB_MEMORY",
        "JOB_OBJECT_LIMIT_JOB_TIME",
        "JOB_OBJECT_LIMIT_ACTIVE_PROCESS",
    } <= set(p.job.limits)
    assert all(e.enforced for e in p.resource_limits) and "limits" not in p.unenforced
    assert [e.key for e in p.resource_limits] == ["memory", "pids", "cpu", "wall"]


def test_no_limits_keep_the_defaults():
    p = plan_for(policy())
    assert p.job.active_process_limit == ACTIVE_PROCESS_LIMIT
    assert p.job.job_memory_limit is None and p.job.job_time_limit is None and p.job.wall_seconds is None
    assert p.resource_limits == [] and "JOB_OBJECT_LIMIT_JOB_MEMORY" not in p.job.limits


def test_file_size_and_tmp_cannot_be_enforced():
    p = plan_for(limited(**{"file-size": "1M", "tmp": "8M"}))
    assert "limits" in p.unenforced
    assert {e.key: e.enforced for e in p.resource_limits} == {"file-size": False, "tmp": False}


def test_win32_sets_the_job_limits():
    fake = FakeWin32()
    code = win32.launch(plan_for(limited(memory="256M", cpu=1.5)), fake, warn=lambda _: None)
    assert code == 0
    assert fake.job_limits == {"memory": 256 << 20, "time": 15_000_000}
    flags = next(c for c in fake.calls if c[0] == "SetInformationJobObject" and c[2] == "extended")[3]
    assert flags & win32.JOB_LIMIT_BITS["JOB_OBJECT_LIMIT_JOB_MEMORY"]
    assert flags & win32.JOB_LIMIT_BITS["JOB_OBJECT_LIMIT_JOB_TIME"]


def test_wall_limit_ends_the_job(capsys):
    fake = FakeWin32(timeouts=10**6)  # the command would never end by itself
    code = win32.launch(plan_for(limited(wall=0.05)), fake, warn=lambda _: None)
    assert code == win32.EXIT_WALL == 143
    assert ("TerminateJobObject", "job", 143) in fake.calls
    assert "sandbox: wall limit 0.05s reached; the sandbox was ended" in capsys.readouterr().err
    control = FakeWin32(timeouts=3)  # ends on its own well before a long wall limit
    assert win32.launch(plan_for(limited(wall=60)), control, warn=lambda _: None) == 0
    assert "TerminateJobObject" not in control.names()


def test_run_refuses_unenforceable_limits_unless_accepted(capsys):
    from cordon.sandbox.windows import run

    pol = limited(allow=["network", "deny-read"], **{"file-size": "1M"})
    assert run(pol, ["python", "-V"], ENV, api=FakeWin32(), warn=lambda _: None) == 125
    err = capsys.readouterr().err
    assert "file-size=1M: Windows has no per-process limit" in err and "--allow-unenforced limits" in err
    pol = limited(allow=["network", "deny-read", "limits"], **{"file-size": "1M"})
    assert run(pol, ["python", "-V"], ENV, api=FakeWin32(), warn=lambda _: None) == 0
