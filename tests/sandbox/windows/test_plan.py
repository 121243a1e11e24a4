"""The Windows plan as data, for representative policies. Nothing here runs on Windows."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from pathlib import Path

import pytest
from cordon.policy.envpolicy import EnvironmentPolicy
from cordon.sandbox.errors import ConfigError
from cordon.sandbox.model import NetworkMode, NetworkPolicy, SandboxMode
from cordon.sandbox.windows import WindowsPlan, build_plan
from cordon.sandbox.windows.plan import (
    DENY_READ_RIGHTS,
    DENY_WRITE_RIGHTS,
    EVERYONE_SID,
    GRANT_RIGHTS,
    LOGON_SID,
    METHOD_TOKEN,
    METHOD_USER,
    PROXY_PORT,
    READ_RIGHTS,
    capability_name,
    derive_capability_sid,
    environment_block,
)

from tests.sandbox.macos.policies import resolved

WS = r"C:\Users\dev\proj"
HOME = r"C:\Users\dev"
ENV = {
    "PATH": r"C:\Windows\system32",
    "USERPROFILE": HOME,
    "OPENAI_API_KEY": "sk-x",
    "AWS_SECRET_ACCESS_KEY": "y",
}


def win_policy(**kw):
    kw.setdefault("workspace", WS)
    kw.setdefault("deny_read", [HOME + r"\.ssh", HOME + r"\.aws"])
    kw.setdefault("deny_sockets", [])
    return resolved(**kw)


def plan(**kw) -> WindowsPlan:
    argv = kw.pop("argv", ["git", "status"])
    method = kw.pop("method", None)
    return build_plan(win_policy(**kw), argv, ENV, method=method)


def token_plan(**kw) -> WindowsPlan:
    return plan(method=METHOD_TOKEN, **kw)


def test_plan_has_token_job_acl_network_parts_and_serialises():
    d = json.loads(json.dumps(plan().as_data()))
    assert {"token", "job", "acl", "network", "not_enforced"} <= set(d)


def test_token_is_write_restricted_lua_with_capability_logon_everyone():
    p = plan()
    assert p.token.api == "CreateRestrictedToken"
    assert p.token.flags == ["DISABLE_MAX_PRIVILEGE", "LUA_TOKEN", "WRITE_RESTRICTED"]
    assert p.token.restricting_sids == [p.token.capability_sid, LOGON_SID, EVERYONE_SID]
    assert p.token.privileges_kept == ["SeChangeNotifyPrivilege"]


def test_capability_sid_is_deterministic_per_workspace_and_well_formed():
    a, b = plan(), plan()
    assert a.token.capability_sid == b.token.capability_sid
    other = plan(workspace=r"C:\Users\dev\other")
    assert other.token.capability_sid != a.token.capability_sid
    # case-insensitive file system: the same folder spelled differently is the same sandbox
    assert plan(workspace=WS.upper()).token.capability_sid == a.token.capability_sid
    m = re.fullmatch(r"S-1-15-3-1024((?:-\d+){8})", a.token.capability_sid)
    assert m and all(0 <= int(x) < 2**32 for x in m.group(1)[1:].split("-"))


def test_derive_capability_sid_is_sha256_of_upper_utf16():
    import hashlib

    digest = hashlib.sha256("ABC".encode("utf-16-le")).digest()
    expected = "S-1-15-3-1024-" + "-".join(
        str(int.from_bytes(digest[i : i + 4], "little")) for i in range(0, 32, 4)
    )
    assert derive_capability_sid("abc") == expected == derive_capability_sid("ABC")


def test_capability_name_depends_on_mode_and_roots():
    assert capability_name(win_policy()) != capability_name(win_policy(extra_roots=[r"D:\cache"]))


def test_job_kills_on_close_limits_processes_and_ui():
    j = plan().job
    assert "JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE" in j.limits
    assert "JOB_OBJECT_LIMIT_ACTIVE_PROCESS" in j.limits and j.active_process_limit == 512
    assert {
        "JOB_OBJECT_UILIMIT_DESKTOP",
        "JOB_OBJECT_UILIMIT_READCLIPBOARD",
        "JOB_OBJECT_UILIMIT_HANDLES",
    } <= set(j.ui_restrictions)


def test_acl_grants_roots_and_denies_protected_names():
    p = token_plan(extra_roots=[r"D:\cache"])
    cap = p.token.capability_sid
    grants = [(a.path, a.sid) for a in p.acl if a.access == "grant"]
    assert grants == [(WS, cap), (r"D:\cache", cap)]
    denies = {a.path for a in p.acl if a.access == "deny"}
    for root in (WS, r"D:\cache"):
        for name in (".git", ".codex", ".agents"):
            assert root + "\\" + name in denies
    for a in p.acl:
        assert a.sid == cap
        assert a.inheritance == ["OBJECT_INHERIT_ACE", "CONTAINER_INHERIT_ACE"]
        assert a.rights == list(GRANT_RIGHTS if a.access == "grant" else DENY_WRITE_RIGHTS)
    # No FILE_DELETE_CHILD on roots: it would override a child's deny of DELETE (.git rename).
    assert "FILE_DELETE_CHILD" not in GRANT_RIGHTS and "DELETE" in DENY_WRITE_RIGHTS


def test_read_only_paths_get_deny_write_aces():
    p = token_plan(read_only_paths=[WS + r"\vendor"])
    (ace,) = [a for a in p.acl if a.path == WS + r"\vendor"]
    assert ace.access == "deny" and ace.reason == "read-only path"


def test_read_only_mode_grants_nothing():
    p = token_plan(mode=SandboxMode.READ_ONLY)
    assert [a for a in p.acl if a.access == "grant"] == []
    assert "WRITE_RESTRICTED" in p.token.flags


def test_danger_mode_drops_write_restriction():
    p = plan(mode=SandboxMode.DANGER_FULL_ACCESS)
    assert "WRITE_RESTRICTED" not in p.token.flags and p.token.restricting_sids == []
    assert [a for a in p.acl if a.access == "grant"] == []


def test_gaps_are_stated_in_the_restricted_token_plan():
    p = token_plan()
    assert p.method == METHOD_TOKEN and p.unenforced == ["network", "deny-read"]
    text = "\n".join(p.not_enforced)
    assert "reads" in text and "Everyone" in text
    assert HOME + r"\.ssh" in text  # deny-read is named as not blocked for reads
    assert "network=off" in text and "advisory" in text
    assert "does not exist yet" in text


def test_restricted_token_network_off_is_advisory_environment():
    p = token_plan()
    assert p.network.mode == "off" and p.network.enforced is False
    assert p.env["HTTPS_PROXY"] == "http://127.0.0.1:9"
    assert p.env["CODEX_SANDBOX_NETWORK_DISABLED"] == "1"
    assert any("Firewall" in x for x in p.network.limits)
    assert p.network.firewall_rules == [] and p.requires == []


def test_network_on_and_proxy():
    on = plan(network=NetworkPolicy(mode=NetworkMode.ON), deny_read=[])
    assert on.method == METHOD_TOKEN and on.unenforced == [] and on.requires == []
    assert (
        on.network.enforced
        and "HTTPS_PROXY" not in on.env
        and not any("network=" in x for x in on.not_enforced)
    )
    px = token_plan(network=NetworkPolicy(mode=NetworkMode.PROXY))
    assert px.network.mode == "proxy" and not px.network.enforced and "network" in px.unenforced


# -- the sandbox-user method ------------------------------------------------------------


@pytest.mark.parametrize(
    ("network", "deny_read", "method", "account", "unenforced"),
    [
        (NetworkMode.OFF, True, METHOD_USER, "CordonSandboxOffline", []),
        (NetworkMode.PROXY, False, METHOD_USER, "CordonSandboxOffline", []),
        (NetworkMode.ON, True, METHOD_USER, "CordonSandboxOnline", []),
        (NetworkMode.ON, False, METHOD_TOKEN, None, []),
    ],
)
def test_method_follows_what_the_policy_asks_for(network, deny_read, method, account, unenforced):
    kw = {} if deny_read else {"deny_read": []}
    p = plan(network=NetworkPolicy(mode=network), **kw)
    assert (p.method, p.identity.account, p.unenforced) == (method, account, unenforced)


def test_danger_mode_asks_for_no_guarantee():
    p = plan(mode=SandboxMode.DANGER_FULL_ACCESS)
    assert p.method == METHOD_TOKEN and p.unenforced == []


def test_sandbox_user_identity_and_requirements():
    p = plan()
    assert dataclasses.asdict(p.identity) == {
        "method": METHOD_USER,
        "account": "CordonSandboxOffline",
        "account_sid": "account:CordonSandboxOffline",
        "credential": "cordon-sandbox/CordonSandboxOffline",
        "runner": ["python-of-this-cordon", "-m", "cordon.sandbox.windows.inner"],
    }
    # the token is still write-restricted, now derived from the account's token in the runner
    assert p.token.flags == ["DISABLE_MAX_PRIVILEGE", "LUA_TOKEN", "WRITE_RESTRICTED"]
    assert "sandbox account" in p.token.base
    assert [(r.kind, r.name) for r in p.requires] == [
        ("account", "CordonSandboxOffline"),
        ("credential", "cordon-sandbox/CordonSandboxOffline"),
        ("firewall-rule", "CordonSandboxOffline-BlockRemote"),
        ("firewall-rule", "CordonSandboxOffline-BlockLoopbackTCP"),
        ("firewall-rule", "CordonSandboxOffline-BlockLoopbackUDP"),
        ("firewall-enabled", "DomainProfile"),
        ("firewall-enabled", "StandardProfile"),
        ("firewall-enabled", "PublicProfile"),
    ]
    online = plan(network=NetworkPolicy(mode=NetworkMode.ON))
    assert [r.kind for r in online.requires] == ["account", "credential"]  # no firewall for online


def test_sandbox_user_grants_roots_to_the_account_and_the_capability():
    p = plan(extra_roots=[r"D:\cache"])
    cap = p.token.capability_sid
    grants = [(a.path, a.sid, a.when_absent) for a in p.acl if a.access == "grant"]
    acct = "account:CordonSandboxOffline"
    assert grants == [
        (WS, cap, "refuse"),
        (WS, acct, "refuse"),
        (r"D:\cache", cap, "refuse"),
        (r"D:\cache", acct, "refuse"),
    ]
    ro = plan(mode=SandboxMode.READ_ONLY)
    assert [(a.path, a.sid, a.rights) for a in ro.acl if a.access == "grant"] == [
        (WS, acct, list(READ_RIGHTS))
    ]


def test_deny_read_is_an_explicit_read_deny_for_the_account():
    p = plan()
    denies = {a.path: a for a in p.acl if a.reason == "deny-read path"}
    assert set(denies) == {HOME + r"\.ssh", HOME + r"\.aws"}
    for ace in denies.values():
        assert ace.access == "deny" and ace.sid == "account:CordonSandboxOffline"
        assert ace.when_absent == "skip"
        assert {
            "FILE_READ_DATA",
            "FILE_LIST_DIRECTORY",
            "FILE_READ_ATTRIBUTES",
            "FILE_READ_EA",
            "FILE_EXECUTE",
        } <= set(ace.rights)
        assert set(DENY_WRITE_RIGHTS) <= set(ace.rights) and ace.rights == list(DENY_READ_RIGHTS)
        assert ace.inheritance == ["OBJECT_INHERIT_ACE", "CONTAINER_INHERIT_ACE"]
    # never the nearest existing parent: only the named paths carry a read deny
    assert not any(a.path == HOME and a.access == "deny" for a in p.acl)
    assert any("absent at launch" in x for x in p.not_enforced)
    # with the restricted token the same paths only get deny-write ACEs for the capability
    t = token_plan()
    (ssh,) = [a for a in t.acl if a.path == HOME + r"\.ssh"]
    assert ssh.sid == t.token.capability_sid and ssh.rights == list(DENY_WRITE_RIGHTS)


def test_network_off_firewall_rules_scoped_to_the_account():
    p = plan()
    n = p.network
    assert n.enforced and n.proxy_port == PROXY_PORT and "Firewall" in n.method
    scope = "O:LSD:(A;;CC;;;account:CordonSandboxOffline)"
    assert [dataclasses.asdict(r) for r in n.firewall_rules] == [
        {
            "name": "CordonSandboxOffline-BlockRemote",
            "direction": "Outbound",
            "action": "Block",
            "protocol": "Any",
            "remote_addresses": [
                "0.0.0.0-126.255.255.255",
                "128.0.0.0-255.255.255.255",
                "::2-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            ],
            "remote_ports": "Any",
            "local_user": scope,
        },
        {
            "name": "CordonSandboxOffline-BlockLoopbackTCP",
            "direction": "Outbound",
            "action": "Block",
            "protocol": "TCP",
            "remote_addresses": ["127.0.0.0/8", "::1"],
            "remote_ports": f"1-{PROXY_PORT - 1},{PROXY_PORT + 1}-65535",
            "local_user": scope,
        },
        {
            "name": "CordonSandboxOffline-BlockLoopbackUDP",
            "direction": "Outbound",
            "action": "Block",
            "protocol": "UDP",
            "remote_addresses": ["127.0.0.0/8", "::1"],
            "remote_ports": "Any",
            "local_user": scope,
        },
    ]
    assert not any("network=" in x for x in p.not_enforced)
    # the advisory variables stay as a second layer (tools fail fast instead of timing out)
    assert p.env["HTTPS_PROXY"] == "http://127.0.0.1:9" and p.env["PIP_NO_INDEX"] == "1"


def test_proxy_mode_points_at_the_provisioned_port():
    p = plan(network=NetworkPolicy(mode=NetworkMode.PROXY))
    assert p.network.enforced and p.network.mode == "proxy"
    assert p.env["HTTPS_PROXY"] == f"http://127.0.0.1:{PROXY_PORT}"
    q = build_plan(
        win_policy(network=NetworkPolicy(mode=NetworkMode.PROXY)),
        ["x"],
        ENV,
        proxy_url=f"http://cordon:s3cret@127.0.0.1:{PROXY_PORT}",
    )
    assert q.env["HTTP_PROXY"] == q.env["HTTPS_PROXY"] == f"http://cordon:s3cret@127.0.0.1:{PROXY_PORT}"


def test_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="method"):
        plan(method="appcontainer")


def test_refusal_message_says_why_and_what_to_do():
    from cordon.sandbox.windows.plan import refusal

    msg = refusal(["network", "deny-read"], ["local account CordonSandboxOffline"], "CordonSandboxOffline")
    assert msg.startswith("refusing to run: network, deny-read cannot be enforced")
    assert "missing: local account CordonSandboxOffline" in msg
    assert "New-LocalUser CordonSandboxOffline" in msg and "New-NetFirewallRule" in msg
    assert "cmdkey /generic:cordon-sandbox/CordonSandboxOffline" in msg
    assert 'allow_unenforced=["network", "deny-read"]' in msg


def test_environment_policy_applies():
    p = plan()
    assert "OPENAI_API_KEY" not in p.env and "AWS_SECRET_ACCESS_KEY" not in p.env
    assert p.env["CORDON_SANDBOX"] == "windows"
    q = build_plan(win_policy(env=EnvironmentPolicy(inherit="none", set={"A": "1"})), ["x"], ENV)
    assert "PATH" not in q.env and q.env["A"] == "1"


@pytest.mark.parametrize(
    "argv",
    [["git", "status"], ["a b", 'c"d', "e\\", 'f\\\\"g', ""], [r"C:\Program Files\x.exe", "--flag=a b"]],
)
def test_command_line_quoting(argv):
    assert plan(argv=argv).command_line == subprocess.list2cmdline(argv)


def test_bad_argv_is_refused():
    with pytest.raises(ConfigError):
        build_plan(win_policy(), [], ENV)
    with pytest.raises(ConfigError):
        build_plan(win_policy(), ["a\0b"], ENV)


def test_environment_block_is_sorted_case_insensitively_and_double_nul_terminated():
    assert environment_block({"b": "2", "A": "1", "c": "x=y"}) == "A=1\0b=2\0c=x=y\0\0"
    assert environment_block({}) == "\0"
    with pytest.raises(ConfigError):
        environment_block({"A=B": "1"})
    with pytest.raises(ConfigError):
        environment_block({"A": "1\0"})


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("default", {}),
        ("restricted-token", {"method": METHOD_TOKEN}),
        ("proxy", {"network": NetworkPolicy(mode=NetworkMode.PROXY, allow_domains=["pypi.org"])}),
    ],
)
def test_golden_windows_plan(name, kw):
    """Whole plans for representative policies, stored; regenerate with CORDON_REGEN_GOLDEN=1."""
    import os

    golden = Path(__file__).parent / "golden" / f"{name}.json"
    text = json.dumps(plan(**kw).as_data(), indent=2) + "\n"  # what `sandbox plan --json` prints
    if os.environ.get("CORDON_REGEN_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_deny_read_caveats_only_when_there_is_a_deny_read_list():
    with_list = "\n".join(plan().not_enforced)
    assert "absent at launch" in with_list and "protected DACL" in with_list
    without = "\n".join(plan(deny_read=[]).not_enforced)
    assert "absent at launch" not in without and "protected DACL" not in without


def test_sandbox_user_profile_variables_point_at_the_account():
    env = plan().env
    assert env["USERPROFILE"] == r"C:\Users\CordonSandboxOffline"
    assert env["TEMP"] == env["TMP"] == r"C:\Users\CordonSandboxOffline\AppData\Local\Temp"
    assert token_plan().env["USERPROFILE"] == HOME  # your own token: your own profile


@pytest.mark.parametrize("method", [None, METHOD_TOKEN])
@pytest.mark.parametrize(
    ("allow", "user_set", "expected"),
    [
        (["pypi.org"], {}, "localhost,127.0.0.1,::1"),
        (["pypi.org"], {"NO_PROXY": "corp.example"}, "corp.example,localhost,127.0.0.1,::1"),
        (["127.0.0.1:8080"], {}, ""),  # a host service: only the proxy may reach it
        (["[::1]:9000"], {"NO_PROXY": "corp.example"}, "corp.example"),
    ],
)  # fmt: skip
def test_proxy_mode_no_proxy_is_linuxs_list_merged_with_the_users(allow, user_set, expected, method):
    p = plan(
        network=NetworkPolicy(mode=NetworkMode.PROXY, allow_domains=allow),
        env=EnvironmentPolicy(inherit="core", set=user_set),
        method=method,
    )
    assert p.network.mode == "proxy"
    assert p.env["NO_PROXY"] == p.network.env["NO_PROXY"] == expected
