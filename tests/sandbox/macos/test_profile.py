"""The Seatbelt profile, read back with our own s-expression reader and checked for meaning.

Verified as data only: nothing here runs sandbox-exec (this is Linux).
"""

from __future__ import annotations

import re

import pytest
from cordon.sandbox.errors import ConfigError
from cordon.sandbox.macos import build_plan
from cordon.sandbox.macos.profile import darwin_path, regex_escape, sbpl_string
from cordon.sandbox.model import NetworkMode, NetworkPolicy, SandboxMode

from tests.sandbox.macos.policies import CASES, HOME, TRICKY, WORKSPACE, resolved
from tests.sandbox.macos.sbpl import Profile, Query, Str, read

WRITE = "file-write-create"
READ = "file-read-data"


def plan_for(policy, **kw):
    return build_plan(
        policy, ["true"], {"PATH": "/usr/bin"}, tmpdir=kw.pop("tmpdir", "/tmp/cordon-sandbox.abc"), **kw
    )


def profile_of(policy, **kw) -> Profile:
    plan = plan_for(policy, **kw)
    return Profile(plan.profile, plan.params)


def write_allow_subpaths(p: Profile) -> list[str]:
    """Values of the positive (subpath ...) terms of every write allow."""
    out = []
    for rule in p.rules_for("allow", "file-write"):
        for f in rule.filters:
            term = f[1] if f[0] == "require-all" else f
            if term[0] == "subpath":
                out.append(p.value(term[1]))
    return out


# -- structure -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_profile_parses_and_starts_with_version_and_deny_default(name):
    policy_factory, kw = CASES[name]
    plan = plan_for(policy_factory(), **kw)
    forms = read(plan.profile)
    assert forms[0] == ["version", 1]
    assert forms[1] == ["deny", "default"]
    p = Profile(plan.profile, plan.params)
    assert p.version == 1 and p.default == "deny"
    # every (param ...) the profile names is passed, and every passed one is used
    used = set(re.findall(r'\(param "([A-Z0-9_]+)"\)', plan.profile))
    assert used == set(plan.params)


def test_unknown_parameter_is_an_error_in_the_reader():
    p = Profile('(version 1)(deny default)(allow file-write* (subpath (param "NOPE")))', {})
    with pytest.raises(KeyError):
        p.decide(WRITE, "/x")


# -- writes --------------------------------------------------------------------


def test_every_writable_root_appears_exactly_once_under_a_write_allow():
    policy = resolved(extra_roots=["/tmp/build", "/Volumes/cache"])
    p = profile_of(policy)
    subpaths = write_allow_subpaths(p)
    for root in ["/Users/dev/proj", "/private/tmp/build", "/Volumes/cache"]:
        assert subpaths.count(root) == 1, (root, subpaths)
    # and nothing else is writable but the private temp folder and /dev/fd
    assert "/dev/fd" in subpaths
    assert sorted(s for s in subpaths if s != "/dev/fd") == sorted(
        ["/Users/dev/proj", "/private/tmp/build", "/Volumes/cache", "/private/tmp/cordon-sandbox.abc"]
    )


@pytest.mark.parametrize(
    "path,verdict",
    [
        (WORKSPACE + "/src/main.c", "allow"),
        (WORKSPACE, "allow"),
        (WORKSPACE + "/sub/.git/config", "allow"),  # a nested repository is the user's work
        (WORKSPACE + "/.gitignore", "allow"),
        (WORKSPACE + "/.git", "deny"),
        (WORKSPACE + "/.git/config", "deny"),
        (WORKSPACE + "/.git/hooks/pre-commit", "deny"),
        (WORKSPACE + "/.codex", "deny"),
        (WORKSPACE + "/.codex/config.toml", "deny"),
        (WORKSPACE + "/.agents/x", "deny"),
        (WORKSPACE + "/.GIT/hooks/post-checkout", "deny"),  # case variant on APFS
        (WORKSPACE + "/.Codex", "deny"),
        (WORKSPACE + "2/file", "deny"),  # sibling with the root as a string prefix
        ("/Users/dev/other/file", "deny"),
        ("/Users/dev/.zshrc", "deny"),
        ("/private/tmp/x", "deny"),  # the host's /tmp is not the private temp folder
        ("/private/tmp/cordon-sandbox.abc/x", "allow"),
        ("/usr/local/bin/evil", "deny"),
        ("/Users/dev/.ssh/authorized_keys", "deny"),
    ],
)
def test_write_verdicts_default_policy(path, verdict):
    assert profile_of(resolved()).verdict(WRITE, path) == verdict


def test_protected_names_are_carved_out_by_require_not():
    p = profile_of(resolved())
    (rule,) = [
        r
        for r in p.rules_for("allow", "file-write")
        if r.filters[0][0] == "require-all" and r.filters[0][1] == ["subpath", ["param", "WRITABLE_ROOT_0"]]
    ]
    nots = [f[1] for f in rule.filters[0][1:] if f[0] == "require-not"]
    carved = {p.value(f[1]) for f in nots if f[0] == "subpath"}
    assert {WORKSPACE + "/.git", WORKSPACE + "/.codex", WORKSPACE + "/.agents"} <= carved


def test_read_only_mode_writes_only_the_private_temp_folder():
    p = profile_of(resolved(mode=SandboxMode.READ_ONLY))
    assert write_allow_subpaths(p) == ["/dev/fd", "/private/tmp/cordon-sandbox.abc"]
    assert p.verdict(WRITE, WORKSPACE + "/a") == "deny"
    assert p.verdict("file-write-data", "/dev/null") == "deny"  # not a character device query
    assert p.verdict("file-write-data", Query(path="/dev/null", vnode="CHARACTER-DEVICE")) == "allow"


def test_read_only_paths_inside_a_root_are_not_writable():
    p = profile_of(resolved(read_only_paths=[WORKSPACE + "/vendor"]))
    assert p.verdict(WRITE, WORKSPACE + "/vendor/lib.c") == "deny"
    assert p.verdict(WRITE, WORKSPACE + "/vendor") == "deny"
    assert p.verdict(WRITE, WORKSPACE + "/vendored") == "allow"


def test_audited_git_mode_opens_objects_and_refs_but_not_hooks_or_config():
    p = profile_of(resolved(allow_git_write=True))
    for ok in (
        "objects/ab/cdef",
        "refs/heads/main",
        "index",
        "index.lock",
        "logs/HEAD",
        "HEAD",
        "COMMIT_EDITMSG",
    ):
        assert p.verdict(WRITE, f"{WORKSPACE}/.git/{ok}") == "allow", ok
    for no in ("hooks/pre-commit", "config", "config.lock", "info/attributes", "modules/x/config"):
        assert p.verdict(WRITE, f"{WORKSPACE}/.git/{no}") == "deny", no
    assert p.verdict(WRITE, f"{WORKSPACE}/.git") == "deny"  # cannot be replaced
    assert p.verdict(WRITE, f"{WORKSPACE}/.codex/x") == "deny"


def test_shared_tmp_allows_the_host_temp_folders():
    policy = resolved(share_tmp=True)
    plan = build_plan(policy, ["true"], {"TMPDIR": "/var/folders/xy/abc/T/"})
    p = Profile(plan.profile, plan.params)
    assert plan.tmpdir is None and "PRIVATE_TMP" not in plan.params
    assert p.verdict(WRITE, "/private/tmp/x") == "allow"
    assert p.verdict(WRITE, "/private/var/folders/xy/abc/T/x") == "allow"
    assert p.verdict(WRITE, "/private/var/folders/xy/other") == "deny"


def test_danger_full_access_writes_everywhere():
    p = profile_of(resolved(mode=SandboxMode.DANGER_FULL_ACCESS))
    assert p.verdict(WRITE, "/usr/local/bin/x") == "allow"


# -- reads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "rel", ["/.ssh", "/.ssh/id_ed25519", "/.aws/credentials", "/.codex/auth.json", "/.config/gh/hosts.yml"]
)
def test_deny_read_paths_are_denied(rel):
    p = profile_of(resolved())
    assert p.verdict(READ, HOME + rel) == "deny"
    assert p.verdict(WRITE, HOME + rel) == "deny"


def test_reads_elsewhere_are_allowed_and_etc_is_under_private():
    p = profile_of(resolved())
    assert p.verdict(READ, "/usr/bin/git") == "allow"
    assert p.verdict(READ, WORKSPACE + "/README") == "allow"
    assert p.verdict(READ, HOME + "/.sshx") == "allow"  # a sibling, not the denied folder
    assert p.verdict(READ, "/private/etc/shadow") == "deny"
    assert p.verdict(READ, "/private/etc/hosts") == "allow"


def test_host_control_sockets_are_unreadable_and_unreachable_with_network_on():
    p = profile_of(resolved(network=NetworkPolicy(mode=NetworkMode.ON)))
    assert p.verdict(READ, "/private/var/run/docker.sock") == "deny"
    # The one verdict that relies on Seatbelt's later-rule-wins order (an explicit deny
    # after the unfiltered network allow).
    assert p.decide("network-outbound", Query(unix_socket="/private/var/run/docker.sock")) == "deny"
    assert p.decide("network-outbound", Query(unix_socket="/run/containerd/containerd.sock")) == "deny"
    assert p.decide("network-outbound", Query(unix_socket="/private/tmp/app.sock")) == "allow"
    assert p.verdict("network-outbound", Query(remote="*:443")) == "allow"


def test_no_deny_read_means_plain_allow():
    p = profile_of(resolved(deny_read=[], deny_sockets=[]))
    assert p.verdict(READ, "/anything") == "allow"


# -- network -------------------------------------------------------------------

NET_OPS = ("network-outbound", "network-inbound", "network-bind")


def network_allows(p: Profile) -> list:
    return [r for r in p.rules if r.action == "allow" and any(o.startswith("network") for o in r.ops)]


def test_network_off_allows_nothing():
    p = profile_of(resolved())
    assert network_allows(p) == []
    for op in NET_OPS:
        for q in (Query(remote="localhost:3128"), Query(remote="*:443"), Query(unix_socket="/private/tmp/s")):
            assert p.verdict(op, q) == "deny"


def test_proxy_mode_allows_only_the_proxy_port():
    p = profile_of(resolved(network=NetworkPolicy(mode=NetworkMode.PROXY)), proxy_port=3128)
    rules = network_allows(p)
    assert len(rules) == 1 and rules[0].ops == ["network-outbound"]
    assert rules[0].filters == [["remote", "ip", "localhost:3128"]]
    assert p.verdict("network-outbound", Query(remote="localhost:3128")) == "allow"
    assert p.verdict("network-outbound", Query(remote="localhost:3129")) == "deny"
    assert p.verdict("network-outbound", Query(remote="*:443")) == "deny"
    assert p.verdict("network-inbound", Query(remote="localhost:3128")) == "deny"
    assert p.verdict("network-bind", Query(remote="localhost:8080")) == "deny"


def test_proxy_port_from_the_environment_when_not_given():
    policy = resolved(network=NetworkPolicy(mode=NetworkMode.PROXY))
    plan = build_plan(
        policy, ["true"], {"HTTPS_PROXY": "http://127.0.0.1:8888", "HTTP_PROXY": "http://proxy.corp:80"}
    )
    assert plan.proxy_ports == [8888]  # the non-loopback proxy is not a way out
    assert 'remote ip "localhost:8888"' in plan.profile and "proxy.corp" not in plan.profile


def test_proxy_mode_without_port_fails_closed():
    plan = build_plan(resolved(network=NetworkPolicy(mode=NetworkMode.PROXY)), ["true"], {})
    p = Profile(plan.profile, plan.params)
    assert network_allows(p) == [] and plan.proxy_ports == []
    assert any("fail closed" in n for n in plan.notes)


@pytest.mark.parametrize("port", [0, 65536, -1, "3128"])
def test_bad_proxy_port_is_a_config_error(port):
    with pytest.raises(ConfigError) as e:
        build_plan(resolved(network=NetworkPolicy(mode=NetworkMode.PROXY)), ["true"], {}, proxy_port=port)
    assert e.value.field == "network.proxy_port"


# -- paths and escaping ----------------------------------------------------------


@pytest.mark.parametrize(
    "given,expected",
    [
        ("/tmp", "/private/tmp"),
        ("/tmp/a/../b", "/private/tmp/b"),
        ("/var/folders/x/T", "/private/var/folders/x/T"),
        ("/etc/hosts", "/private/etc/hosts"),
        ("/etcetera/x", "/etcetera/x"),
        ("/private/tmp/x", "/private/tmp/x"),
        ("/Users/dev//proj/", "/Users/dev/proj"),
        ("//tmp", "/private/tmp"),
    ],
)
def test_darwin_path_handles_private_aliases(given, expected):
    assert darwin_path(given) == expected


@pytest.mark.parametrize("bad", ["relative/path", "/a\0b"])
def test_darwin_path_rejects_bad_paths(bad):
    with pytest.raises(ConfigError):
        darwin_path(bad)


@pytest.mark.parametrize("s", ['a"b', "a\\b", 'x\\"y', "line\nbreak\ttab\r", "ünïcødé ✓", "\x01\x7f", ""])
def test_sbpl_string_round_trips_through_the_reader(s):
    (parsed,) = read(sbpl_string(s))
    assert isinstance(parsed, Str) and parsed == s


def test_tricky_paths_travel_as_parameters_and_guards_are_escaped():
    secret = TRICKY + "/secret\nline"
    policy = resolved(workspace=TRICKY, deny_read=[secret])
    plan = plan_for(policy)
    p = Profile(plan.profile, plan.params)
    assert plan.params["WRITABLE_ROOT_0"] == TRICKY
    assert plan.params["DENY_READ_0"] == secret
    assert ["-D", f"WRITABLE_ROOT_0={TRICKY}"] == plan.argv[
        plan.argv.index(f"WRITABLE_ROOT_0={TRICKY}") - 1 :
    ][:2]
    # the raw path is never an SBPL string; only the escaped regex guard mentions it
    for s in p.strings():
        assert TRICKY not in s
    (guard,) = [s for s in p.strings() if s.startswith("^") and "ttys" not in s]
    assert guard.startswith("^" + regex_escape(TRICKY) + "/(")
    assert p.verdict(WRITE, TRICKY + "/ok.txt") == "allow"
    assert p.verdict(WRITE, TRICKY + "/.GiT/config") == "deny"
    assert p.verdict(READ, secret) == "deny"
    assert p.verdict(READ, TRICKY + "/secret") == "allow"


def test_regex_guard_does_not_treat_path_characters_as_regex():
    # "/a.b" escaped: a root "/aXb" must not be matched by the guard of "/a.b"
    rx = "^" + regex_escape("/a.b(c)+") + "/x$"
    assert re.search(rx, "/a.b(c)+/x")
    assert not re.search(rx, "/aXb(c)+/x") and not re.search(rx, "/a.bcc/x")


def test_no_user_path_is_pasted_into_the_profile():
    plan = plan_for(resolved(extra_roots=["/Volumes/cache"], read_only_paths=[WORKSPACE + "/vendor"]))
    p = Profile(plan.profile, plan.params)
    literals = set(p.strings())
    for value in plan.params.values():
        assert value not in literals
    # the only path strings are fixed system paths; regexes are the tty one or escaped guards
    fixed = {"/", "/dev/null", "/dev/zero", "/dev/dtracehelper", "/dev/tty", "/dev/fd", "/dev/ptmx"}
    roots = [plan.params[k] for k in plan.params if re.fullmatch(r"WRITABLE_ROOT_\d+", k)]
    for s in literals:
        if s.startswith("/"):
            assert s in fixed, s
        elif s.startswith("^"):
            assert s == "^/dev/ttys[0-9]+$" or any(
                s.startswith("^" + regex_escape(r) + "/(") for r in roots
            ), s
