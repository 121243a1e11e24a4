"""sandbox.denials: the event type, attribution against a policy, the summary (pure)."""

from __future__ import annotations

import json

import pytest
from cordon.sandbox.denials import Denial, Recorder, Walls, escape, summary
from cordon.sandbox.resolve import resolve


def _walls(tmp_path, **kw) -> Walls:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    pol = resolve(cwd=ws, home=str(tmp_path / "home"), **kw)
    return Walls(
        pol, "bwrap", masked=pol.deny_read, protected=[str(ws / ".git")], home=str(tmp_path / "home")
    )


def test_escape_neutralises_terminal_control() -> None:
    assert escape("a\x1b[2Jb\nc\\d\u202e") == "a\\x1b[2Jb\\x0ac\\\\d\\u202e"


def test_write_outside_names_the_smallest_root(tmp_path) -> None:
    w = _walls(tmp_path)
    d = w.write("write", "/var/tmp/out/x.txt")
    assert (d.layer, d.allow_with) == ("mount", "--writable-root /var/tmp/out")
    assert "outside the writable roots" in d.rule
    assert w.write("write", str(tmp_path / "ws" / "f")) is None
    assert w.write("write", "/tmp/anything") is None  # the private /tmp is writable
    git = w.write("write", str(tmp_path / "ws" / ".git" / "config"))
    assert git.allow_with == "--allow-git-write"
    assert w.write("write", "/proc/sys/kernel/x").allow_with is None
    assert w.write("create", "/odd dir/f").allow_with == "--writable-root '/odd dir'"


def test_read_only_mode_proposes_the_mode(tmp_path) -> None:
    w = _walls(tmp_path, mode="read-only")
    assert w.write("write", str(tmp_path / "ws" / "f")).allow_with == "--mode workspace-write"


def test_hidden_secret_names_the_default_entry(tmp_path) -> None:
    w = _walls(tmp_path, deny_read=["~/.ssh", "/srv/private"])
    d = w.read("read", str(tmp_path / "home" / ".ssh" / "id_rsa"))
    assert (d.rule, d.allow_with) == ("default deny-read ~/.ssh", "--no-default-deny-read")
    d = w.read("read", "/srv/private/a")
    assert (d.rule, d.allow_with) == ("--deny-read /srv/private", "remove --deny-read /srv/private")
    assert w.read("read", "/etc/hostname") is None


def test_proxy_reasons(tmp_path) -> None:
    net = {"mode": "proxy", "allow_domains": ["ok.test"], "deny_domains": ["bad.test"]}
    w = _walls(tmp_path, network=net)
    d = w.proxy(
        {"verdict": "deny", "proto": "connect", "host": "x.test", "port": 443, "reason": "not-allowed"}
    )
    assert (d.layer, d.target, d.allow_with) == ("proxy", "x.test:443", "--allow-domain x.test")
    d = w.proxy(
        {"verdict": "deny", "host": "bad.test", "port": 80, "reason": "deny-listed", "detail": "bad.test"}
    )
    assert d.allow_with == "remove --deny-domain bad.test"
    d = w.proxy(
        {"verdict": "deny", "host": "in.test", "port": 80, "reason": "private-address", "detail": "loopback"}
    )
    assert d.allow_with is None and "loopback" in d.rule
    assert w.proxy({"verdict": "allow", "host": "ok.test", "port": 443}) is None
    why = "closed before its request was read"
    d = w.proxy({"verdict": "deny", "host": None, "port": None, "reason": "capacity", "target_unknown": why})
    assert d.target == f"(no target: {why})"
    # a .rules network_rule names its file:line:col (the proxy's log carries it as "origin")
    d = w.proxy(
        {
            "verdict": "deny",
            "host": "evil.test",
            "port": 443,
            "reason": "deny-listed",
            "detail": "evil.test",
            "origin": "rules/net.rules:3:1",
        }
    )
    assert d.rule == "network_rule evil.test at rules/net.rules:3:1"
    assert d.allow_with == "remove the network_rule at rules/net.rules:3:1"
    # an allowed destination that DNS or the upstream failed is not a denial
    for reason in ("resolve-failed", "upstream-failed"):
        assert w.proxy({"verdict": "deny", "host": "ok.test", "port": 443, "reason": reason}) is None


def test_env_reports_names_never_values(tmp_path) -> None:
    w = _walls(tmp_path)
    got = w.env({"AWS_SECRET_ACCESS_KEY": "hunter2", "LD_PRELOAD": "/x.so", "PATH": "/bin"}, {"PATH": "/bin"})
    assert [(d.target, d.rule) for d in got] == [
        ("AWS_SECRET_ACCESS_KEY", "default env exclude *KEY*/*SECRET*"),
        ("LD_PRELOAD", "dynamic-loader variable (it would run code before the walls exist)"),
    ]
    assert "hunter2" not in json.dumps([d.to_dict() for d in got])


def test_recorder_dedups_streams_and_writes_jsonl(tmp_path) -> None:
    seen = []
    rec = Recorder(jsonl=str(tmp_path / "d.jsonl"), on_denial=seen.append)
    a = Denial("seccomp", "ptrace", "ptrace", "debugging other processes", None)
    rec.add(a)
    rec.add(Denial("seccomp", "ptrace", "ptrace", "debugging other processes", None))
    rec.add(None)
    rec.close()
    assert [d.count for d in rec.denials] == [2]
    assert seen == [a]
    lines = (tmp_path / "d.jsonl").read_text().splitlines()
    assert [json.loads(x)["operation"] for x in lines] == ["ptrace"]
    assert Denial.from_dict(json.loads(lines[0])).key == a.key


def test_summary_is_capped_and_quiet_about_probes_and_env() -> None:
    many = [Denial("mount", "write", f"/x/{i}\x1b", "r", None) for i in range(15)]
    lines = summary(many)
    assert len(lines) == 1 + 10 + 1 and "5 more" in lines[-1]
    assert all("\x1b" not in x for x in lines)
    probe = Denial("seccomp", "socket", "socket(AF_UNIX)", "r", "--network on")
    env = Denial("env", "inherit", "TOKEN", "r", None)
    assert summary([probe, env], failed=False) == []
    assert len(summary([probe, env], failed=True)) == 2


def test_summary_says_how_to_see_reads_when_they_were_not_watched() -> None:
    """The default level does not watch reads (docs/denials.md: the measured cost): a summary
    then ends by saying how to see them; a failed command with no summary says it only to a
    person at a terminal (a script's or model's stderr keeps the command's own failure)."""
    write = Denial("mount", "write", "/etc/x", "r", "--writable-root /etc")
    lines = summary([write], failed=False, reads_watched=False)
    assert len(lines) == 3 and "--denials FILE" in lines[-1] and "not watched" in lines[-1]
    assert len(summary([write], failed=False, reads_watched=True)) == 2
    assert summary([], failed=True, reads_watched=False) == []
    (line,) = summary([], failed=True, reads_watched=False, person=True)
    assert line.startswith("sandbox: the command failed;") and "--denials FILE" in line
    assert summary([], failed=False, reads_watched=False, person=True) == []
    assert summary([], failed=True, reads_watched=True, person=True) == []


def test_unknown_layer_is_refused() -> None:
    with pytest.raises(ValueError):
        Denial("magic", "x", "y", "z", None)
