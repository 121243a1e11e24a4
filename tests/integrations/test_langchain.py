"""cordon.integrations.langchain: ShellToolMiddleware's shell session confined by Cordon.

The agent is LangChain's own (``create_agent``) driven by its fake chat model: the model's
scripted tool call goes through the real middleware, the real persistent ShellSession and
``CordonExecutionPolicy.spawn``. No model is called.
"""

from __future__ import annotations

import os

import pytest

pytest.importorskip("langchain.agents.middleware", reason="needs the langchain extra")

from cordon.integrations.langchain import CordonExecutionPolicy
from cordon.sandbox import ConfigError, SandboxError, SandboxPolicy
from langchain.agents.middleware.shell_tool import BaseExecutionPolicy

from tests.integrations.support import outside_targets, remove, run_program

AGENT = r"""
import json, os, sys
from langchain.agents import create_agent
from langchain.agents.middleware import HostExecutionPolicy, ShellToolMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from cordon.integrations.langchain import CordonExecutionPolicy

ws, which, *targets = sys.argv[1:]

class ScriptedChat(GenericFakeChatModel):
    def bind_tools(self, tools, **kw):  # the fake model answers from its script, tools or not
        return self

script = f"echo made > {ws}/made.txt; echo ws=$?; "
script += " ".join(f"echo pwned > {t}; echo target=$?;" for t in targets)
model = ScriptedChat(messages=iter([
    AIMessage(content="", tool_calls=[{"name": "shell", "args": {"command": script}, "id": "c1"}]),
    AIMessage(content="done"),
]))
policy = CordonExecutionPolicy() if which == "cordon" else HostExecutionPolicy()
shell = ShellToolMiddleware(workspace_root=ws, execution_policy=policy, env=dict(os.environ))
out = create_agent(model, middleware=[shell]).invoke({"messages": [("user", "go")]})
print(json.dumps([m.content for m in out["messages"] if m.type == "tool"]))
"""


def test_is_a_langchain_execution_policy():
    assert isinstance(CordonExecutionPolicy(), BaseExecutionPolicy)


def test_keywords_mirror_the_sandbox_run_flags(tmp_path):
    p = CordonExecutionPolicy(writable_roots=[tmp_path], allow_domains=["pypi.org"], command_timeout=5)
    sp = p.sandbox_policy
    assert sp.writable_roots == [tmp_path]
    assert sp.network.mode == "proxy" and sp.network.allow_domains == ["pypi.org"]
    assert p.command_timeout == 5  # LangChain's own fields keep working


def test_resource_limits_as_on_the_command_line():
    sp = CordonExecutionPolicy(limits={"memory": "512M", "pids": 64, "wall": "10m"}).sandbox_policy
    assert (sp.limits.memory, sp.limits.pids, sp.limits.wall) == (512 * 2**20, 64, 600)
    with pytest.raises(ConfigError) as e:
        CordonExecutionPolicy(limits={"memory": "lots"})
    assert "memory" in str(e.value)


def test_rules_files_add_their_network_rules(tmp_path):
    rules = tmp_path / "net.rules"
    rules.write_text('network_rule(host="api.example.com", protocol="https", decision="allow")\n')
    sp = CordonExecutionPolicy(rules=[rules]).sandbox_policy
    assert "api.example.com:443" in sp.network.allow_domains
    assert sp.network.mode == "proxy"


def test_a_policy_or_keywords_not_both():
    with pytest.raises(ConfigError) as e:
        CordonExecutionPolicy(policy=SandboxPolicy(), writable_roots=["/srv"])
    assert e.value.field == "policy"


def test_bad_policy_fails_at_construction():
    with pytest.raises(ConfigError) as e:
        CordonExecutionPolicy(network="off", allow_domains=["pypi.org"])
    assert e.value.field == "network"


def test_a_missing_writable_root_fails_before_the_shell_starts(tmp_path):
    policy = CordonExecutionPolicy(writable_roots=[tmp_path / "absent"])
    with pytest.raises(SandboxError) as e:
        policy.spawn(workspace=tmp_path, env={}, command=["/bin/bash"])
    assert "absent" in str(e.value) and "does not exist" in str(e.value)


def test_the_middleware_workspace_becomes_the_sandbox_workspace(tmp_path):
    assert CordonExecutionPolicy().policy_for(tmp_path).workspace == tmp_path
    named = SandboxPolicy(workspace=tmp_path / "w")
    (tmp_path / "w").mkdir()
    assert CordonExecutionPolicy(policy=named).policy_for(tmp_path).workspace == tmp_path / "w"


@pytest.mark.sandbox
@pytest.mark.slow
def test_shell_session_writes_its_workspace_but_not_etc_or_home(identity, scratch):
    targets = outside_targets(identity)
    try:
        out = run_program(
            identity, AGENT, str(identity.workspace), "cordon", *map(str, targets.values()), scratch=scratch
        )
        assert (identity.workspace / "made.txt").read_text() == "made\n"
        assert "ws=0" in out[0]
        assert out[0].count("target=0") == 0, out
        assert "Read-only file system" in out[0]
        assert not any(t.exists() for t in targets.values())

        # Positive control: the same agent with LangChain's host policy writes outside.
        host = run_program(
            identity, AGENT, str(identity.workspace), "host", str(targets["home"]), scratch=scratch
        )
        assert "target=0" in host[0] and targets["home"].read_text() == "pwned\n"
        if identity.is_root:
            host = run_program(
                identity, AGENT, str(identity.workspace), "host", str(targets["etc"]), scratch=scratch
            )
            assert "target=0" in host[0] and targets["etc"].exists()
    finally:
        remove(*targets.values())


@pytest.mark.sandbox
def test_limits_reach_the_shell_session(scratch, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(scratch / "cache"))
    script = "head -c 4096 /dev/zero > big; stat -c %s big\n"
    sizes = {}
    for name, limits in (("limited", {"file-size": "1K"}), ("control", None)):
        ws = scratch / name
        ws.mkdir()
        proc = CordonExecutionPolicy(limits=limits).spawn(
            workspace=ws, env=dict(os.environ), command=["/bin/bash"]
        )
        out, _ = proc.communicate(script, timeout=120)
        sizes[name] = out.split()[-1]
    assert sizes == {"limited": "1024", "control": "4096"}
