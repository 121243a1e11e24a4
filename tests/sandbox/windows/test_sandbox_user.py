"""The sandbox-user method, its provisioning probe, and the refusal when it is missing.

Against the recording fake of Win32: what Cordon asks Windows to do, and that it never
runs a command with less confinement than the policy asks for unless the policy says
which guarantee it gives up (``allow_unenforced``).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys

import cordon.sandbox.windows
import pytest
from cordon.sandbox.errors import SandboxError
from cordon.sandbox.model import NetworkMode, NetworkPolicy
from cordon.sandbox.windows import inner, win32
from cordon.sandbox.windows.plan import METHOD_TOKEN, METHOD_USER

from tests.sandbox.windows.fake_win32 import (
    ACCOUNT_SIDS,
    PASSWORD,
    STD,
    FakeWin32,
    firewall_registry,
    provisioned,
)
from tests.sandbox.windows.test_win32 import WS, make_plan, policy

SSH = r"C:\Users\dev\.ssh"
OFFLINE_SID = ACCOUNT_SIDS["CordonSandboxOffline"]
WRITE_BITS = 0x2 | 0x4 | 0x10 | 0x100 | 0x10000 | 0x40 | 0x40000 | 0x80000
READ_BITS = 0x1 | 0x8 | 0x20 | 0x80  # read data/list, read EA, execute/traverse, read attributes
LAUNCHES = {"CreateProcessAsUserW", "CreateProcessWithLogonW"}
ACL_WRITES = {"SetNamedSecurityInfoW"}


def user_plan(**kw):
    return make_plan(method=METHOD_USER, **kw)


def run(pol, fake, argv=("cmd", "/c", "exit 7")):
    warnings: list[str] = []
    code = cordon.sandbox.windows.run(
        pol, list(argv), {"USERPROFILE": r"C:\Users\dev"}, api=fake, warn=warnings.append
    )
    return code, warnings


# -- probe -------------------------------------------------------------------------------


def test_probe_on_a_bare_machine_names_everything_missing_and_changes_nothing():
    fake = FakeWin32()
    missing = win32.probe(user_plan(), fake)
    assert missing == [
        "local account CordonSandboxOffline",
        "stored credential cordon-sandbox/CordonSandboxOffline",
        "firewall rule CordonSandboxOffline-BlockRemote (not found)",
        "firewall rule CordonSandboxOffline-BlockLoopbackTCP (not found)",
        "firewall rule CordonSandboxOffline-BlockLoopbackUDP (not found)",
        "Windows Firewall on for DomainProfile",
        "Windows Firewall on for StandardProfile",
        "Windows Firewall on for PublicProfile",
    ]
    assert not (set(fake.names()) & (LAUNCHES | ACL_WRITES))
    assert fake.handles == {} and fake.allocs == {}


def test_probe_on_a_provisioned_machine_every_call():
    plan = user_plan()
    fake = provisioned(plan)
    assert win32.probe(plan, fake) == []
    key = win32.FIREWALL_RULES_KEY
    hk = win32.HKEY_LOCAL_MACHINE
    rules = [
        call
        for name in ("BlockRemote", "BlockLoopbackTCP", "BlockLoopbackUDP")
        for call in (
            ("RegGetValueW", hk, key, f"CordonSandboxOffline-{name}", 0x2, "size"),
            ("RegGetValueW", hk, key, f"CordonSandboxOffline-{name}", 0x2, "fill"),
        )
    ]
    profiles = [
        ("RegGetValueW", hk, f"{win32.FIREWALL_PROFILES_KEY}\\{p}", "EnableFirewall", 0x10, "fill")
        for p in ("DomainProfile", "StandardProfile", "PublicProfile")
    ]
    assert fake.calls == [
        ("LookupAccountNameW", None, "CordonSandboxOffline", "size"),
        ("LookupAccountNameW", None, "CordonSandboxOffline", "fill"),
        ("ConvertSidToStringSidW", OFFLINE_SID),
        ("LocalFree", "sid-string"),
        ("CredReadW", "cordon-sandbox/CordonSandboxOffline", 1, 0),
        ("CredFree", "credential cordon-sandbox/CordonSandboxOffline"),
        *rules,
        *profiles,
    ]
    assert fake.handles == {} and fake.allocs == {}


@pytest.mark.parametrize(
    ("override", "why"),
    [
        ({"Action": "Allow"}, "Action is not Block"),
        ({"Active": "FALSE"}, "Active is not TRUE"),
        ({"Dir": "In"}, "Dir is not Out"),
        ({"LUAuth": "O:LSD:(A;;CC;;;S-1-5-21-9-9-9-500)"}, "not scoped to the sandbox account"),
        ({"LUAuth": None}, "not scoped to the sandbox account"),
        ({"Protocol": "17"}, "protocol is not"),
        ({"RPort": "1-65535"}, "remote ports are not"),
    ],
)
def test_probe_rejects_a_rule_that_does_not_block_as_planned(override, why):
    plan = user_plan()
    fake = provisioned(plan)
    fake.registry.update(firewall_registry(plan, **override))
    missing = win32.probe(plan, fake)
    assert missing and all(why in m for m in missing if m.startswith("firewall rule")), missing


def test_probe_rejects_a_disabled_firewall_profile_and_a_missing_credential():
    plan = user_plan()
    fake = provisioned(plan)
    fake.registry[(f"{win32.FIREWALL_PROFILES_KEY}\\PublicProfile", "EnableFirewall")] = 0
    fake.credentials.clear()
    assert win32.probe(plan, fake) == [
        "stored credential cordon-sandbox/CordonSandboxOffline",
        "Windows Firewall on for PublicProfile",
    ]


def test_unreadable_rule_store_counts_as_missing():
    plan = user_plan()
    fake = provisioned(plan, fail={"RegGetValueW"})
    assert len(win32.probe(plan, fake)) == 6  # 3 rules + 3 profiles: a doubt is a refusal


# -- run: refuse, opt out, or enforce ----------------------------------------------------------


def test_run_refuses_without_provisioning_and_says_what_to_do(capsys):
    fake = FakeWin32()
    code, _ = run(policy(), fake)
    assert code == 125
    err = capsys.readouterr().err
    assert "refusing to run: network, deny-read cannot be enforced" in err
    assert "missing: local account CordonSandboxOffline" in err
    assert "New-LocalUser CordonSandboxOffline" in err and "cmdkey /generic:" in err
    assert 'allow_unenforced=["network", "deny-read"]' in err
    # nothing was changed and nothing ran
    assert not (set(fake.names()) & (LAUNCHES | ACL_WRITES | {"CreateJobObjectW"}))
    assert fake.handles == {} and fake.allocs == {}


def test_a_partial_opt_out_still_refuses_naming_what_is_left(capsys):
    fake = FakeWin32()
    code, _ = run(policy(allow=["network"]), fake)
    assert code == 125
    err = capsys.readouterr().err
    assert "refusing to run: deny-read cannot" in err and 'allow_unenforced=["deny-read"]' in err
    assert not (set(fake.names()) & LAUNCHES)


def test_proxy_mode_without_provisioning_refuses(capsys):
    fake = FakeWin32()
    pol = policy(deny_read=[], network=NetworkPolicy(mode=NetworkMode.PROXY, allow_domains=["x.test"]))
    assert run(pol, fake)[0] == 125
    assert "refusing to run: network cannot be enforced" in capsys.readouterr().err


def test_network_on_with_deny_read_needs_the_online_account(capsys):
    fake = FakeWin32()
    assert run(policy(network=NetworkPolicy(mode=NetworkMode.ON)), fake)[0] == 125
    err = capsys.readouterr().err
    assert "deny-read cannot be enforced" in err and "local account CordonSandboxOnline" in err
    assert "firewall" not in err.split("missing:")[1].split(")")[0]  # online needs no firewall rule


def test_explicit_opt_out_runs_with_the_restricted_token_and_says_so():
    fake = FakeWin32(exit_code=7)
    code, warnings = run(policy(allow=["network", "deny-read"]), fake)
    assert code == 7
    assert any("not provisioned" in w and "allow_unenforced" in w for w in warnings)
    assert any(w.startswith("NOT ENFORCED: network=off") for w in warnings)
    assert "CreateProcessAsUserW" in fake.names() and "CreateProcessWithLogonW" not in fake.names()
    assert fake.handles == {} and fake.allocs == {}


def test_nothing_to_give_up_runs_without_probing():
    fake = FakeWin32(exit_code=3)
    pol = policy(deny_read=[], network=NetworkPolicy(mode=NetworkMode.ON))
    assert run(pol, fake)[0] == 3
    assert "LookupAccountNameW" not in fake.names() and "CreateProcessAsUserW" in fake.names()


def test_unknown_guarantee_in_allow_unenforced_is_refused(capsys):
    fake = FakeWin32()
    assert run(policy(allow=["network", "everything"]), fake)[0] == 2  # a config error
    assert "allow_unenforced" in capsys.readouterr().err and fake.calls == []


def test_provisioned_machine_runs_as_the_account_every_call():
    plan = user_plan()
    cap = plan.token.capability_sid
    fake = provisioned(plan, exit_code=7)
    code, warnings = run(policy(), fake, argv=["python", "-c", "print('hi there')"])
    assert code == 7
    assert not any("network=" in w or "deny_read: reads" in w for w in warnings)
    launch = fake.calls[fake.names().index("LookupAccountNameW", 2) :]  # after the probe

    def ace(path, sid, rights, mode):
        return [
            ("GetNamedSecurityInfoW", path, 1, 4),
            (
                "SetEntriesInAclW",
                1,
                "old",
                {"rights": rights, "mode": mode, "inherit": 3, "trustee_form": 0, "sid": sid},
            ),
            ("SetNamedSecurityInfoW", path, 1, 4, sid),
        ]

    grant = 0x120089 | 0x120116 | 0x1200A0 | 0x10000
    spec = json.loads(_last_arg(launch[launch.index(_first(launch, "CreateProcessWithLogonW"))][6]))
    expected_cmdline = subprocess.list2cmdline(
        [sys.executable, "-m", "cordon.sandbox.windows.inner", json.dumps(spec, separators=(",", ":"))]
    )
    create = _first(launch, "CreateProcessWithLogonW")
    assert launch == [
        ("LookupAccountNameW", None, "CordonSandboxOffline", "size"),
        ("LookupAccountNameW", None, "CordonSandboxOffline", "fill"),
        ("ConvertStringSidToSidW", cap),
        *ace(WS, cap, grant, 1),
        *ace(WS, OFFLINE_SID, grant, 1),
        *ace(WS + "\\.git", cap, WRITE_BITS, 3),
        # deny-read: DENY_ACCESS for the account's own SID, read and write bits, inherited
        *ace(SSH, OFFLINE_SID, READ_BITS | WRITE_BITS, 3),
        ("CreateJobObjectW", None, None),
        ("SetInformationJobObject", "job", "extended", 0x2000 | 0x400 | 0x8, 512),
        ("SetInformationJobObject", "job", "ui", 0xFF),
        ("CredReadW", "cordon-sandbox/CordonSandboxOffline", 1, 0),
        ("CredFree", "credential cordon-sandbox/CordonSandboxOffline"),
        ("GetStdHandle", -10),
        ("GetStdHandle", -11),
        ("GetStdHandle", -12),
        (
            "CreateProcessWithLogonW",
            "CordonSandboxOffline",
            ".",
            PASSWORD,
            1,  # LOGON_WITH_PROFILE
            None,
            expected_cmdline,
            0x4 | 0x400,  # suspended, unicode environment
            create[8],
            WS,
            (True, 0x100, STD[-10], STD[-11], STD[-12]),
        ),
        ("AssignProcessToJobObject", "job", "process"),
        ("ResumeThread", "thread"),
        ("WaitForSingleObject", "process", 100),
        ("GetExitCodeProcess", "process"),
        ("CloseHandle", "thread"),
        ("CloseHandle", "process"),
        ("CloseHandle", "job"),
        *[c for c in launch if c[0] == "LocalFree"],  # checked below: each released once
    ]
    assert fake.handles == {} and fake.allocs == {}
    assert fake.password_buffer.value == ""  # the password is zeroed after use
    # the runner gets the token and job parts, no environment and no ACL changes
    assert spec["method"] == METHOD_TOKEN and spec["acl"] == [] and spec["env"] == {}
    assert spec["argv"] == ["python", "-c", "print('hi there')"]
    assert spec["token"]["flags"] == ["DISABLE_MAX_PRIVILEGE", "LUA_TOKEN", "WRITE_RESTRICTED"]
    # the command's environment travels in the logon call; profile variables are the account's
    env = dict(kv.split("=", 1) for kv in create[8].split("\0") if kv)
    assert env["USERPROFILE"] == r"C:\Users\CordonSandboxOffline"
    assert env["TEMP"] == r"C:\Users\CordonSandboxOffline\AppData\Local\Temp"
    assert env["CORDON_SANDBOX_NETWORK"] == "off"


def _first(calls, name):
    return next(c for c in calls if c[0] == name)


def split_windows(cmdline: str) -> list[str]:
    """CommandLineToArgvW's rules (MS C runtime): how the runner's Python will see its argv."""
    args, cur, quoted, i, have = [], [], False, 0, False
    while i < len(cmdline):
        c = cmdline[i]
        if c == "\\":
            n = 0
            while i < len(cmdline) and cmdline[i] == "\\":
                n, i = n + 1, i + 1
            if i < len(cmdline) and cmdline[i] == '"':
                cur.append("\\" * (n // 2))
                if n % 2:
                    cur.append('"')
                    i += 1
            else:
                cur.append("\\" * n)
            have = True
            continue
        if c == '"':
            quoted, have = not quoted, True
        elif c in " \t" and not quoted:
            if have:
                args.append("".join(cur))
            cur, have = [], False
        else:
            cur.append(c)
            have = True
        i += 1
    if have:
        args.append("".join(cur))
    return args


def _last_arg(cmdline: str) -> str:
    return split_windows(cmdline)[-1]


def test_windows_splitter_round_trips_list2cmdline():
    for argv in (["a b", 'c"d', "e\\", 'f\\\\"g', ""], ["x", '{"a":"b \\"c\\""}']):
        assert split_windows(subprocess.list2cmdline(argv)) == argv


def test_missing_deny_read_path_is_skipped_and_said_never_its_parent():
    plan = user_plan()
    fake = provisioned(plan, missing={SSH})
    warnings: list[str] = []
    assert win32.launch(plan, fake, warn=warnings.append) == 0
    assert f"not protected (does not exist, cannot carry an ACE): {SSH}" in warnings
    touched = [c[1] for c in fake.calls if c[0] == "SetNamedSecurityInfoW"]
    assert SSH not in touched and r"C:\Users\dev" not in touched


@pytest.mark.parametrize(
    "step",
    [
        "LookupAccountNameW",
        "SetNamedSecurityInfoW",
        "CreateJobObjectW",
        "CredReadW",
        "CreateProcessWithLogonW",
    ],
)
def test_sandbox_user_failure_before_the_process_refuses_and_releases_everything(step):
    plan = user_plan()
    fake = provisioned(plan, fail={step})
    with pytest.raises(SandboxError, match=f"{step}.*failed.*not run") as e:
        win32.launch(plan, fake, warn=lambda _: None)
    assert e.value.exit_code == 125
    assert "ResumeThread" not in fake.names()
    assert fake.handles == {} and fake.allocs == {}
    if step == "CreateProcessWithLogonW":
        assert fake.password_buffer.value == ""


@pytest.mark.parametrize("step", ["AssignProcessToJobObject", "ResumeThread"])
def test_sandbox_user_runner_outside_the_job_is_terminated(step):
    plan = user_plan()
    fake = provisioned(plan, fail={step})
    with pytest.raises(SandboxError, match=step):
        win32.launch(plan, fake, warn=lambda _: None)
    assert list(fake.process_state.values()) == ["terminated:125"]
    assert fake.handles == {} and fake.allocs == {}


def test_proxy_mode_on_a_provisioned_machine_uses_the_fixed_port(monkeypatch):
    import cordon.sandbox.windows.plan as plan_mod

    with socket.socket() as s:  # a free port stands in for the provisioned one
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(plan_mod, "PROXY_PORT", port)
    pol = policy(deny_read=[], network=NetworkPolicy(mode=NetworkMode.PROXY, allow_domains=["x.test"]))
    seen = {}

    class Probe(FakeWin32):
        def CreateProcessWithLogonW(self, *a):
            env = a[7][: len(a[7]) - 1]
            seen.update(kv.split("=", 1) for kv in env.split("\0") if kv)
            socket.create_connection(("127.0.0.1", port), timeout=2).close()  # the proxy listens there
            return super().CreateProcessWithLogonW(*a)

    plan = cordon.sandbox.windows.build_plan(pol, ["curl"], {})
    assert plan.network.proxy_port == port and plan.network.firewall_rules[1].remote_ports == (
        f"1-{port - 1},{port + 1}-65535"
    )
    fake = Probe(
        accounts=["CordonSandboxOffline"],
        credentials=[plan.identity.credential],
        registry=firewall_registry(plan),
    )
    assert run(pol, fake, argv=["curl", "https://x.test"])[0] == 0
    assert seen["HTTPS_PROXY"].startswith("http://cordon:") and seen["HTTPS_PROXY"].endswith(f":{port}")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# -- the runner (as the account) ---------------------------------------------------------------


def test_runner_derives_the_restricted_token_and_passes_its_environment(monkeypatch):
    plan = user_plan()
    spec = json.loads(_last_arg(win32.runner_command_line(plan)))
    monkeypatch.setattr(
        "os.environ", {"PATH": r"C:\Windows", "USERPROFILE": r"C:\Users\CordonSandboxOffline"}
    )
    fake = FakeWin32(exit_code=5)
    assert inner.main([json.dumps(spec)], api=fake) == 5
    names = fake.names()
    assert "CreateRestrictedToken" in names and "SetNamedSecurityInfoW" not in names
    (create,) = [c for c in fake.calls if c[0] == "CreateProcessAsUserW"]
    assert create[3] == plan.command_line and create[7] == WS
    assert create[6] == "PATH=C:\\Windows\0USERPROFILE=C:\\Users\\CordonSandboxOffline\0\0"
    (token,) = [c for c in fake.calls if c[0] == "CreateRestrictedToken"]
    assert token[2] == 0x1 | 0x4 | 0x8 and token[3][0] == plan.token.capability_sid


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s.update(method=METHOD_USER),
        lambda s: s.update(acl=[{**_deny(), "path": "C:\\x"}]),
    ],
)
def test_runner_refuses_a_spec_that_would_change_acls_or_recurse(mutate, capsys):
    spec = json.loads(_last_arg(win32.runner_command_line(user_plan())))
    mutate(spec)
    fake = FakeWin32()
    assert inner.main([json.dumps(spec)], api=fake) == 125
    assert fake.calls == [] and "runner" in capsys.readouterr().err


def _deny():
    return dataclasses.asdict(user_plan().acl[-1])


def test_runner_rejects_garbage(capsys):
    assert inner.main(["{not json"], api=FakeWin32()) == 125
    assert inner.main([], api=FakeWin32()) == 125
