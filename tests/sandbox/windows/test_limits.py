"""Resource limits on Windows, as data and through the fake Win32 surface: a job object limits
memory, processes and CPU time; the launcher's timer ends the job at the wall limit; file-size
and tmp have no Windows mechanism and are refused unless the loss is accepted."""

from __future__ import annotations

from cordon.sandbox.limits import resolve as resolve_limits
from cordon.sandbox.windows import build_plan, win32
from cordon.sandbox.windows.plan import ACTIVE_PROCESS_LIMIT, METHOD_TOKEN

from tests.sandbox.windows.fake_win32 import FakeWin32
from tests.sandbox.windows.test_win32 import policy

ENV = {"PATH": r"C:\Windows", "USERPROFILE": r"C:\Users\dev"}


def limited(allow=(), **limits):
    return policy(allow).replace(limits=resolve_limits(limits))


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


def test_plan_says_how_each_reached_limit_is_recognised():
    """Each enforced limit carries its evidence as data: the job object's completion-port
    message (id and name, as in winnt.h), the exit status Windows gives the job's processes
    where it gives one, and the words the launcher prints."""
    p = plan_for(limited(memory="512M", pids=40, cpu=2, wall="1m"))
    got = {e.key: (e.job_message, e.job_message_name, e.exit_code) for e in p.resource_limits}
    assert got == {
        "memory": (10, "JOB_OBJECT_MSG_JOB_MEMORY_LIMIT", None),
        "pids": (3, "JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT", None),
        "cpu": (1, "JOB_OBJECT_MSG_END_OF_JOB_TIME", 1816),  # ERROR_NOT_ENOUGH_QUOTA
        "wall": (None, None, 143),
    }
    by = {e.key: e.reached_by for e in p.resource_limits}
    assert by["memory"] == "JOB_OBJECT_MSG_JOB_MEMORY_LIMIT on the job's I/O completion port"
    assert "ERROR_NOT_ENOUGH_QUOTA (1816)" in by["cpu"] and "timer" in by["wall"]
    # Unenforceable limits carry no evidence: nothing would report them.
    lost = plan_for(limited(allow=["limits"], **{"file-size": "1M"})).resource_limits
    assert [(e.key, e.reached_by, e.job_message) for e in lost] == [("file-size", None, None)]


def test_limit_reached_needs_evidence():
    from cordon.sandbox.windows.plan import limit_reached

    p = plan_for(limited(memory="512M", pids=40, cpu=2, wall="1m"))
    assert limit_reached(p, [], 1) is None  # a plain failure is the command's own
    assert limit_reached(p, [4, 7], 0) is None  # ACTIVE_PROCESS_ZERO, EXIT_PROCESS: not limits
    assert limit_reached(p, [7, 10], 1).key == "memory"
    assert limit_reached(p, [3], 1).key == "pids"
    assert limit_reached(p, [], 1816).key == "cpu"  # the message may be lost: the status is not
    assert limit_reached(p, [], 143, wall_ended=True).key == "wall"
    assert limit_reached(p, [], 143) is None  # 143 from the command itself, no timer fired
    assert limit_reached(plan_for(limited(cpu=2)), [10], 1) is None  # no memory limit asked for


def test_win32_reports_the_limit_the_job_posted(capsys):
    """Through the fake: a completion port is made and associated with the job only when a
    limit reports through it; the job's message becomes the launcher's sentence."""
    fake = FakeWin32(job_messages=[6, 10], exit_code=1)  # NEW_PROCESS, then JOB_MEMORY_LIMIT
    code = win32.launch(plan_for(limited(memory="256M")), fake, warn=lambda _: None)
    assert code == 1
    assert ("SetInformationJobObject", "job", "completion-port") in fake.calls
    err = capsys.readouterr().err
    assert (
        "sandbox: memory limit 256M reached; an allocation was refused "
        "(the job's committed memory is at the limit)"
    ) in err
    assert not fake.handles, f"handles left open: {fake.handles}"  # the port is closed too
    fake = FakeWin32(exit_code=win32_quota())
    assert win32.launch(plan_for(limited(cpu=1)), fake, warn=lambda _: None) == 1816
    assert "sandbox: cpu limit 1s reached; the job was ended" in capsys.readouterr().err
    # Positive control: the same launches with nothing posted and a clean exit say nothing.
    control = FakeWin32(job_messages=[6, 7, 4])
    assert win32.launch(plan_for(limited(memory="256M", cpu=1)), control, warn=lambda _: None) == 0
    assert "limit" not in capsys.readouterr().err
    # Without such limits no port is made at all.
    bare = FakeWin32()
    win32.launch(plan_for(limited(wall=60)), bare, warn=lambda _: None)
    assert "CreateIoCompletionPort" not in bare.names()


def win32_quota() -> int:
    from cordon.sandbox.windows.plan import ERROR_NOT_ENOUGH_QUOTA

    return ERROR_NOT_ENOUGH_QUOTA
