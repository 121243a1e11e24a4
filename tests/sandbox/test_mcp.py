"""``sandbox mcp`` driven by the real MCP client library over a real stdio pipe.

The server runs as root and as the unprivileged test user (``identity``); the client
lists the tools, runs a command in the workspace, attacks a path outside it (the write
must fail), and asks the exec-policy tools about commands.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.support.cli import cli_env

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(sys.platform != "linux", reason="runs the Linux sandbox"),
]


def server_params(identity, *extra: str) -> StdioServerParameters:
    argv = [sys.executable, "-m", "cordon.sandbox", "mcp", "--workspace", str(identity.workspace), *extra]
    if os.geteuid() != identity.uid:  # launch the server itself as the unprivileged user
        argv = [
            "setpriv",
            f"--reuid={identity.uid}",
            f"--regid={identity.gid}",
            "--clear-groups",
            "--",
            *argv,
        ]
    return StdioServerParameters(
        command=argv[0], args=argv[1:], env=identity.env(), cwd=str(identity.workspace)
    )


def session_run(params: StdioServerParameters, body):
    async def main():
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await body(session)

    return asyncio.run(asyncio.wait_for(main(), timeout=120))


def server_process_state() -> dict:
    """Core limit and /proc ownership of the running `sandbox mcp` process, read from outside."""
    import psutil

    procs = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.name().startswith("python") and "mcp" in p.cmdline()
    ]
    assert len(procs) == 1, procs
    pid = procs[0].pid
    limits = Path(f"/proc/{pid}/limits").read_text().splitlines()
    core = next(line.split()[4:6] for line in limits if line.startswith("Max core file size"))
    return {"core": core, "environ_owner": os.stat(f"/proc/{pid}/environ").st_uid}


def structured(result) -> dict:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        data = result.structured_content
        return data.get("result", data) if set(data) == {"result"} else data
    return json.loads(result.content[0].text)


def test_tools_listed_and_shell_confined(identity, scratch):
    outside = scratch / "outside"
    outside.mkdir()
    os.chmod(outside, 0o777)  # DAC allows the test user: only the sandbox can stop the write
    ssh = identity.home / ".ssh"
    made_ssh = not ssh.exists()
    ssh.mkdir(mode=0o700, exist_ok=True)
    secret = ssh / f"id_cordon_mcp_{os.getpid()}"
    secret.write_text("SECRET\n")
    for p in (ssh, secret):
        os.chown(p, identity.uid, identity.gid)
    assert identity.run(["cat", str(secret)]).stdout == "SECRET\n"  # positive control: unconfined

    async def body(session):
        tools = {t.name: t for t in (await session.list_tools()).tools}
        inside = await session.call_tool("shell", {"script": "echo hello > made.txt && cat made.txt && pwd"})
        attack = await session.call_tool(
            "shell", {"command": ["/bin/sh", "-c", f"echo pwned > {outside}/x; echo status=$?"]}
        )
        argv = await session.call_tool("shell", {"command": ["sh", "-c", "exit 7"]})
        both = await session.call_tool("shell", {"command": ["true"], "script": "true"})
        read = await session.call_tool("shell", {"command": ["cat", str(secret)]})
        return tools, inside, attack, argv, both, read, server_process_state()

    try:
        tools, inside, attack, argv, both, read, state = session_run(server_params(identity), body)
    finally:
        secret.unlink()
        if made_ssh:
            ssh.rmdir()
    # a read of a hidden secret is a denial the model sees too (the server watches reads)
    r = structured(read)
    assert r["exit_code"] != 0 and "SECRET" not in r["stdout"], r
    assert [(d["operation"], d["target"], d["allow_with"]) for d in r["denials"]] == [
        ("read", str(secret), "--no-default-deny-read")
    ], r
    # the server hardened itself: no core dumps, not dumpable (its /proc files belong to root)
    assert state["core"] == ["0", "0"]
    assert state["environ_owner"] == 0
    assert {"shell", "execpolicy_check", "decide"} <= set(tools)
    assert "command" in tools["shell"].input_schema["properties"]

    r = structured(inside)
    assert r["exit_code"] == 0, r
    assert r["stdout"].split("\n")[:2] == ["hello", str(identity.workspace)]
    assert (identity.workspace / "made.txt").read_text() == "hello\n"

    r = structured(attack)
    assert r["exit_code"] == 0 and "status=0" not in r["stdout"], r  # the write failed inside
    assert not (outside / "x").exists()
    # ...and the model is told why: the host's /tmp is not visible, and what would allow it
    assert [(d["layer"], d["operation"], d["target"], d["allow_with"]) for d in r["denials"]] == [
        ("mount", "write", f"{outside}/x", "--share-tmp")
    ], r
    assert r["denials"][0]["message"].startswith(f"blocked write {outside}/x")
    assert structured(inside)["denials"] == []

    assert structured(argv)["exit_code"] == 7
    assert both.is_error and "exactly one" in both.content[0].text


def test_policy_tools_and_rule_gating(identity):
    async def body(session):
        check = await session.call_tool(
            "execpolicy_check", {"command": ["git", "push", "--force", "origin", "main"]}
        )
        named = await session.call_tool(
            "execpolicy_check", {"command": ["pip", "install", "--user", "x"], "rules": ["python"]}
        )
        decide = await session.call_tool("decide", {"command": ["bash", "-lc", "ls && rm -rf /"]})
        refused = await session.call_tool("shell", {"command": ["rm", "-rf", "/"]})
        allowed = await session.call_tool("shell", {"command": ["ls"]})
        asks = await session.call_tool("shell", {"command": ["curl", "http://127.0.0.1:9/"]})
        slow = await session.call_tool("shell", {"command": ["sleep", "30"], "timeout": 1})
        return check, named, decide, refused, allowed, asks, slow

    check, named, decide, refused, allowed, asks, slow = session_run(
        server_params(identity, "--rules", "default"), body
    )
    c = structured(check)
    assert c["decision"] == "forbidden"
    prefixes = [m["prefixRuleMatch"]["matchedPrefix"] for m in c["matchedRules"]]
    assert prefixes == [["git", "push"], ["git", "push", "--force", "origin", "main"]]
    assert structured(named)["decision"] == "forbidden"
    d = structured(decide)
    assert d["decision"] == "forbidden" and d["outcome"] == "reject"
    r = structured(refused)
    assert r["exit_code"] is None and "rejected" in r["refused"]
    assert structured(allowed)["exit_code"] == 0
    a = structured(asks)  # a prompt decision is refused: this server was not told the client asks
    assert a["exit_code"] is None and "requires approval" in a["refused"]
    t = structured(slow)
    assert t["timed_out"] is True and t["exit_code"] is None


def test_bad_rules_fail_before_serving(identity, scratch):
    bad = scratch / "bad.rules"
    bad.write_text('prefix_rule(pattern=["a"], decision="deny")\n')
    r = identity.run(identity.sandbox_argv("mcp", "--rules", str(bad)), input="")
    assert r.returncode == 2  # a configuration error, found before any client connects
    assert f"{bad}:1" in r.stderr and "invalid decision: deny" in r.stderr


def _client_configs() -> list[tuple[str, list[str]]]:
    """(where, argv after the command) of every server entry docs/mcp.md shows."""
    import re
    import shlex
    import tomllib

    text = (Path(__file__).resolve().parents[2] / "docs" / "mcp.md").read_text()
    out: list[tuple[str, list[str]]] = []
    for lang, body in re.findall(r"```(json|toml|sh)\n(.*?)```", text, re.S):
        if lang == "json":
            data = json.loads(body)
            for name, entry in (data.get("mcpServers") or data.get("servers")).items():
                assert name == "cordon" and Path(entry["command"]).name == "sandbox"
                out.append(("json", entry["args"]))
        elif lang == "toml":
            entry = tomllib.loads(body)["mcp_servers"]["cordon"]
            assert entry["command"] == "sandbox"
            out.append(("toml", entry["args"]))
        else:
            words = shlex.split(body)
            cut = words.index("--")
            assert words[cut + 1] == "sandbox"
            out.append((" ".join(words[:3]), words[cut + 2 :]))
    return out


@pytest.mark.parametrize("where,args", _client_configs(), ids=lambda v: v if isinstance(v, str) else None)
def test_every_client_config_in_the_docs_starts_the_server(where, args, tmp_path):
    """Each snippet of docs/mcp.md, with the project path filled in, passes `sandbox mcp`'s checks
    and serves (it exits when its stdin closes)."""
    args = [str(tmp_path) if a in ("/path/to/project", "${workspaceFolder}") else a for a in args]
    r = subprocess.run(
        [sys.executable, "-m", "cordon.sandbox", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=cli_env(),
    )
    assert r.returncode == 0, r.stderr
    assert f"MCP server on stdio; workspace {tmp_path}" in r.stderr


def test_docs_cover_the_clients_people_use():
    text = (Path(__file__).resolve().parents[2] / "docs" / "mcp.md").read_text()
    for client in ("Claude Code", "Claude Desktop", "Cursor", "VS Code", "Codex CLI"):
        assert f"## {client}" in text


def test_limits_apply_to_every_shell_call_and_are_reported(identity):
    """`sandbox mcp --limit`: a runaway is ended and the result names the limit; ordinary work passes."""

    async def body(session):
        slow = await session.call_tool("shell", {"command": ["sleep", "30"]})
        quick = await session.call_tool("shell", {"script": "echo ok"})
        return slow, quick

    slow, quick = session_run(server_params(identity, "--limit", "wall=1", "--limit", "memory=256M"), body)
    r = structured(slow)
    assert r["exit_code"] == 143 and r["limit"] == "wall", r
    assert r["limit_message"] == "wall limit 1s reached; the sandbox was ended"
    r = structured(quick)
    assert r["exit_code"] == 0 and r["stdout"] == "ok\n" and r["limit"] is None, r


def test_malformed_limit_fails_before_serving(identity):
    argv = [sys.executable, "-m", "cordon.sandbox", "mcp", "--workspace", str(identity.workspace)]
    r = identity.run([*argv, "--limit", "memory=lots"], stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 2 and "--limit memory" in r.stderr, r.stderr
