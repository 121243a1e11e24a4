"""The ctypes layer against a recording fake of Win32: every call, argument and cleanup.

This verifies what Cordon asks Windows to do, in which order, and that it refuses and
releases everything on failure. It does not verify Windows' enforcement (not run here).
"""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest
from cordon.sandbox.errors import SandboxError
from cordon.sandbox.windows import build_plan, win32
from cordon.sandbox.windows.plan import METHOD_TOKEN

from tests.sandbox.macos.policies import resolved
from tests.sandbox.windows.fake_win32 import LOGON_SID_TEXT, PSEUDO_PROCESS, STD, FakeWin32

WS = r"C:\Users\dev\proj"


def make_plan(method=METHOD_TOKEN, **kw):
    kw.setdefault("workspace", WS)
    kw.setdefault("deny_read", [r"C:\Users\dev\.ssh"])
    kw.setdefault("deny_sockets", [])
    kw.setdefault("protected_names", [".git"])
    env = {"PATH": r"C:\Windows", "USERPROFILE": r"C:\Users\dev"}
    return build_plan(resolved(**kw), ["python", "-c", "print('hi there')"], env, method=method)


def policy(allow=(), **kw):
    kw.setdefault("workspace", WS)
    kw.setdefault("deny_read", [r"C:\Users\dev\.ssh"])
    kw.setdefault("deny_sockets", [])
    kw.setdefault("protected_names", [".git"])
    return resolved(**kw).replace(allow_unenforced=tuple(allow))


def launch(fake, plan=None):
    warnings: list[str] = []
    code = win32.launch(plan or make_plan(), fake, warn=warnings.append)
    return code, warnings


def test_module_is_import_safe_and_load_api_refuses_off_windows():
    # a fresh interpreter imports the backend (and the package) without touching Win32
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import cordon.sandbox.windows.win32, sandbox.windows, cordon.sandbox.macos.execute",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert not hasattr(ctypes, "windll")
    with pytest.raises(SandboxError, match="only on Windows"):
        win32.load_api()


def test_fake_implements_exactly_the_declared_surface():
    fake_names = {n for n in dir(FakeWin32) if n[0].isupper()}
    assert fake_names == set(win32.SIGNATURES)


def test_happy_path_every_call_and_argument():
    plan = make_plan()
    cap = plan.token.capability_sid
    fake = FakeWin32(exit_code=3, timeouts=2)
    code, warnings = launch(fake, plan)
    assert code == 3
    assert warnings and all(w.startswith("NOT ENFORCED: ") for w in warnings)
    ace_calls = []
    for path, sid, rights, mode in [
        (WS, cap, 0x120089 | 0x120116 | 0x1200A0 | 0x10000, 1),
        (WS + "\\.git", cap, 0x2 | 0x4 | 0x10 | 0x100 | 0x10000 | 0x40 | 0x40000 | 0x80000, 3),
        (r"C:\Users\dev\.ssh", cap, 0x2 | 0x4 | 0x10 | 0x100 | 0x10000 | 0x40 | 0x40000 | 0x80000, 3),
    ]:
        ace_calls += [
            ("GetNamedSecurityInfoW", path, 1, 4),
            (
                "SetEntriesInAclW",
                1,
                "old",
                {"rights": rights, "mode": mode, "inherit": 3, "trustee_form": 0, "sid": sid},
            ),
            ("SetNamedSecurityInfoW", path, 1, 4, sid),
        ]
    expected_env = (
        "".join(f"{k}={v}\0" for k, v in sorted(plan.env.items(), key=lambda kv: kv[0].upper())) + "\0"
    )
    assert fake.calls == [
        ("GetCurrentProcess",),
        ("OpenProcessToken", PSEUDO_PROCESS, 0x1 | 0x2 | 0x8 | 0x80 | 0x100),
        ("ConvertStringSidToSidW", cap),
        ("GetTokenInformation", "process-token", 28, 0),
        ("GetTokenInformation", "process-token", 28, ctypes.sizeof(win32.TOKEN_GROUPS)),
        ("ConvertStringSidToSidW", "S-1-1-0"),
        ("CreateRestrictedToken", "process-token", 0x1 | 0x4 | 0x8, [cap, LOGON_SID_TEXT, "S-1-1-0"]),
        # default DACL of the new token: GENERIC_ALL (SET_ACCESS) for logon SID, capability, SYSTEM
        ("ConvertStringSidToSidW", "S-1-5-18"),
        (
            "SetEntriesInAclW",
            3,
            None,
            *(
                {"rights": 0x10000000, "mode": 2, "inherit": 0, "trustee_form": 0, "sid": sid}
                for sid in (LOGON_SID_TEXT, cap, "S-1-5-18")
            ),
        ),
        ("SetTokenInformation", "restricted-token", "default-dacl", "acl"),
        *ace_calls,
        ("CreateJobObjectW", None, None),
        ("SetInformationJobObject", "job", "extended", 0x2000 | 0x400 | 0x8, 512),
        ("SetInformationJobObject", "job", "ui", 0xFF),
        ("GetStdHandle", -10),
        ("GetStdHandle", -11),
        ("GetStdHandle", -12),
        (
            "CreateProcessAsUserW",
            "restricted-token",
            None,
            "python -c \"print('hi there')\"",
            True,
            0x4 | 0x400,
            expected_env,
            WS,
            (True, 0x100, STD[-10], STD[-11], STD[-12]),
        ),
        ("AssignProcessToJobObject", "job", "process"),
        ("ResumeThread", "thread"),
        ("WaitForSingleObject", "process", 100),
        ("WaitForSingleObject", "process", 100),
        ("WaitForSingleObject", "process", 100),
        ("GetExitCodeProcess", "process"),
        # cleanup, newest first: thread, process, then the job (kills what is left),
        # descriptors and ACLs, token, SIDs, base token
        ("CloseHandle", "thread"),
        ("CloseHandle", "process"),
        ("CloseHandle", "job"),
        ("LocalFree", "acl"),
        ("LocalFree", r"security-descriptor C:\Users\dev\.ssh"),
        ("LocalFree", "acl"),
        ("LocalFree", rf"security-descriptor {WS}\.git"),
        ("LocalFree", "acl"),
        ("LocalFree", f"security-descriptor {WS}"),
        ("LocalFree", "acl"),  # the default DACL
        ("LocalFree", "sid S-1-5-18"),
        ("CloseHandle", "restricted-token"),
        ("LocalFree", "sid S-1-1-0"),
        ("LocalFree", f"sid {cap}"),
        ("CloseHandle", "process-token"),
    ]
    assert fake.handles == {} and fake.allocs == {}


def test_process_is_in_the_job_before_it_runs():
    fake = FakeWin32()
    launch(fake)
    names = fake.names()
    assert names.index("AssignProcessToJobObject") < names.index("ResumeThread")
    create = next(c for c in fake.calls if c[0] == "CreateProcessAsUserW")
    assert create[5] & win32.CREATE_SUSPENDED


# Every step that can fail before the command starts: the command must never start
# (or, once created suspended, must be terminated) and nothing may leak.
BEFORE_PROCESS = [
    "OpenProcessToken",
    "ConvertStringSidToSidW",
    "GetTokenInformation",
    "CreateRestrictedToken",
    "SetTokenInformation",
    "GetNamedSecurityInfoW",
    "SetEntriesInAclW",
    "SetNamedSecurityInfoW",
    "CreateJobObjectW",
    "SetInformationJobObject",
    "CreateProcessAsUserW",
]


@pytest.mark.parametrize("step", BEFORE_PROCESS)
def test_failure_before_the_process_refuses_and_releases_everything(step):
    fake = FakeWin32(fail={step})
    with pytest.raises(SandboxError, match=f"{step}.*failed.*not run") as e:
        launch(fake)
    assert e.value.exit_code == 125
    assert "ResumeThread" not in fake.names()
    assert fake.handles == {} and fake.allocs == {}


@pytest.mark.parametrize("step", ["AssignProcessToJobObject", "ResumeThread"])
def test_failure_after_create_terminates_the_suspended_process(step):
    fake = FakeWin32(fail={step})
    with pytest.raises(SandboxError, match=step):
        launch(fake)
    assert ("TerminateProcess", "process", 125) in fake.calls
    assert list(fake.process_state.values()) == ["terminated:125"]
    if step == "AssignProcessToJobObject":
        assert "ResumeThread" not in fake.names()
    assert fake.handles == {} and fake.allocs == {}


def test_wait_failure_still_closes_the_job():
    fake = FakeWin32(fail={"WaitForSingleObject"})
    with pytest.raises(SandboxError, match="WaitForSingleObject"):
        launch(fake)
    assert fake.process_state == {next(iter(fake.process_state)): "killed-by-job"}
    assert fake.handles == {} and fake.allocs == {}


def test_missing_protected_name_is_warned_and_skipped_not_created():
    fake = FakeWin32(missing={WS + "\\.git"})
    code, warnings = launch(fake)
    assert code == 0
    assert any(w == rf"not protected (does not exist, cannot carry an ACE): {WS}\.git" for w in warnings)
    assert ("SetNamedSecurityInfoW", WS + "\\.git", 1, 4, make_plan().token.capability_sid) not in fake.calls


def test_missing_writable_root_is_a_refusal():
    fake = FakeWin32(missing={WS})
    with pytest.raises(SandboxError, match="GetNamedSecurityInfoW"):
        launch(fake)
    assert "CreateProcessAsUserW" not in fake.names()
    assert fake.handles == {} and fake.allocs == {}


def test_no_logon_sid_is_a_refusal():
    fake = FakeWin32(logon_groups=0)
    with pytest.raises(SandboxError, match="no logon SID"):
        launch(fake)
    assert "CreateRestrictedToken" not in fake.names()
    assert fake.handles == {} and fake.allocs == {}


def test_ctrl_c_while_waiting_kills_the_job_and_returns_130():
    class Interrupting(FakeWin32):
        def WaitForSingleObject(self, h, ms):
            super().WaitForSingleObject(h, ms)
            raise KeyboardInterrupt

    fake = Interrupting()
    code, _ = launch(fake)
    assert code == 130
    assert list(fake.process_state.values()) == ["killed-by-job"]
    assert fake.handles == {} and fake.allocs == {}


def test_danger_mode_passes_no_restricting_sids():
    fake = FakeWin32()
    plan = make_plan(
        mode=__import__("cordon.sandbox.model", fromlist=["SandboxMode"]).SandboxMode.DANGER_FULL_ACCESS
    )
    launch(fake, plan)
    (call,) = [c for c in fake.calls if c[0] == "CreateRestrictedToken"]
    assert call[2] == 0x1 | 0x4 and call[3] == []
    assert "GetTokenInformation" not in fake.names()


def test_unknown_flag_in_a_tampered_plan_is_refused():
    plan = make_plan()
    plan.token.flags.append("NOT_A_FLAG")
    fake = FakeWin32()
    with pytest.raises(SandboxError, match="unknown Win32 flag"):
        launch(fake, plan)
    assert "CreateProcessAsUserW" not in fake.names()
    assert fake.handles == {} and fake.allocs == {}


def test_package_run_turns_setup_failure_into_125(capsys):
    import cordon.sandbox.windows

    code = cordon.sandbox.windows.run(resolved(workspace=WS), ["cmd"], {})
    assert code == 125  # this host has no ctypes.windll
    assert "only on Windows" in capsys.readouterr().err


def test_package_run_with_the_fake_returns_the_exit_code():
    import cordon.sandbox.windows

    fake = FakeWin32(exit_code=42)
    pol = policy(allow=["network", "deny-read"])
    assert cordon.sandbox.windows.run(pol, ["cmd", "/c", "exit 42"], {}, api=fake, warn=lambda _: None) == 42
    assert fake.handles == {} and fake.allocs == {}


def test_package_run_in_proxy_mode_points_the_command_at_a_live_proxy_and_stops_it():
    import socket

    import cordon.sandbox.windows
    from cordon.sandbox.model import NetworkMode, NetworkPolicy

    seen = {}

    class Probe(FakeWin32):
        def CreateProcessAsUserW(self, token, app, cmdline, pa, ta, inherit, flags, env, cwd, si_ref, pi_ref):
            block = env[: len(env) - 1]
            seen.update(kv.split("=", 1) for kv in block.split("\0") if kv)
            port = int(seen["HTTPS_PROXY"].rsplit(":", 1)[1])
            socket.create_connection(("127.0.0.1", port), timeout=2).close()  # the proxy is up
            seen["port"] = port
            return super().CreateProcessAsUserW(
                token, app, cmdline, pa, ta, inherit, flags, env, cwd, si_ref, pi_ref
            )

    fake = Probe()
    pol = policy(
        allow=["network", "deny-read"],
        network=NetworkPolicy(mode=NetworkMode.PROXY, allow_domains=["x.test"]),
    )
    assert cordon.sandbox.windows.run(pol, ["curl", "https://x.test"], {}, api=fake, warn=lambda _: None) == 0
    assert seen["HTTPS_PROXY"].startswith("http://cordon:") and seen["HTTP_PROXY"] == seen["HTTPS_PROXY"]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", seen["port"]), timeout=1).close()
