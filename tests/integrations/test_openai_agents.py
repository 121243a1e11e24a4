"""cordon.integrations.openai_agents: a SandboxAgent's tools confined by the Cordon client.

The agent runs through the SDK's real ``Runner`` with a scripted ``Model`` (the SDK's model
interface answering from a list: no model is called), so the tool calls go through the real
sandbox capabilities, the real session and ``CordonSandboxClient``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("agents.sandbox", reason="needs the openai-agents extra")

from cordon.integrations.openai_agents import CordonSandboxClient, _operations_to_patch
from cordon.sandbox import ConfigError, SandboxPolicy

from tests.integrations.support import outside_targets, remove, run_program

AGENT = r"""
import asyncio, json, sys
from agents import Runner
from agents.items import ModelResponse
from agents.models.interface import Model
from agents.run_config import RunConfig, SandboxRunConfig
from agents.sandbox import Manifest, SandboxAgent
from agents.sandbox.capabilities import Capabilities
from agents.sandbox.sandboxes import UnixLocalSandboxClient
from agents.usage import Usage
from openai.types.responses import (
    ResponseCustomToolCall, ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText)
from cordon.integrations.openai_agents import CordonSandboxClient, cordon_capabilities

ws, which, tool, arg = sys.argv[1:5]

class ScriptedModel(Model):
    def __init__(self, outputs):
        self.outputs = list(outputs)
    async def get_response(self, *a, **k):
        return ModelResponse(output=[self.outputs.pop(0)], usage=Usage(), response_id=None)
    def stream_response(self, *a, **k):
        raise NotImplementedError

done = ResponseOutputMessage(id="m", type="message", role="assistant", status="completed",
                             content=[ResponseOutputText(text="done", type="output_text", annotations=[])])
if tool == "shell":
    call = ResponseFunctionToolCall(id="c1", call_id="c1", type="function_call", name="exec_command",
                                    arguments=json.dumps({"cmd": arg}))
else:
    call = ResponseCustomToolCall(id="p1", call_id="p1", type="custom_tool_call", name="apply_patch", input=arg)
# "cordon": Cordon's client and capabilities; "stock-tools": Cordon's client, the SDK's own tools;
# "host": the SDK's UnixLocalSandboxClient (the positive control).
capabilities = cordon_capabilities() if which == "cordon" else Capabilities.default()
client = UnixLocalSandboxClient() if which == "host" else CordonSandboxClient()
agent = SandboxAgent(name="t", instructions="t", model=ScriptedModel([call, done]), capabilities=capabilities)

async def main():
    run = RunConfig(sandbox=SandboxRunConfig(client=client, manifest=Manifest(root=ws)), tracing_disabled=True)
    result = await Runner.run(agent, "go", run_config=run)
    return [str(i.output) for i in result.new_items if type(i).__name__ == "ToolCallOutputItem"]

print(json.dumps(asyncio.run(main())))
"""

HOOK_PATCH = """*** Begin Patch
*** Add File: notes.txt
+fine
*** Add File: .git/hooks/pre-commit
+#!/bin/sh
+echo owned
*** End Patch
"""


def test_keywords_mirror_the_sandbox_run_flags(tmp_path):
    c = CordonSandboxClient(writable_roots=[tmp_path], allow_domains=["pypi.org"])
    assert c.policy.writable_roots == [tmp_path] and c.policy.network.allow_domains == ["pypi.org"]
    assert CordonSandboxClient(policy=SandboxPolicy(mode="read-only")).policy.mode == "read-only"
    assert CordonSandboxClient(limits={"pids": 32}).policy.limits.pids == 32
    with pytest.raises(ConfigError):
        CordonSandboxClient(policy=SandboxPolicy(), network="on")


def test_json_operations_become_one_patch():
    raw = '{"operations": [{"type": "create_file", "path": "a.txt", "diff": "+hi\\n"},'
    raw += ' {"type": "update_file", "path": "b.txt", "move_to": "c.txt", "diff": "@@\\n-x\\n+y\\n"},'
    raw += ' {"type": "delete_file", "path": "d.txt"}]}'
    assert _operations_to_patch(raw) == (
        "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** Update File: b.txt\n*** Move to: c.txt\n"
        "@@\n-x\n+y\n*** Delete File: d.txt\n*** End Patch\n"
    )


@pytest.mark.sandbox
@pytest.mark.slow
def test_shell_tool_runs_confined(identity, scratch):
    targets = outside_targets(identity)
    ws = identity.workspace
    script = f"echo made > {ws}/made.txt; echo ws=$?; " + " ".join(
        f"echo pwned > {t}; echo target=$?;" for t in targets.values()
    )
    try:
        out = run_program(identity, AGENT, str(ws), "cordon", "shell", script, scratch=scratch)
        assert "ws=0" in out[0] and "target=0" not in out[0], out
        assert "Read-only file system" in out[0]
        assert (ws / "made.txt").read_text() == "made\n"
        assert not any(t.exists() for t in targets.values())

        # Positive control: the SDK's own local client runs the same command unconfined.
        host = run_program(
            identity,
            AGENT,
            str(ws),
            "host",
            "shell",
            f"echo pwned > {targets['home']}; echo target=$?",
            scratch=scratch,
        )
        assert "target=0" in host[0] and targets["home"].exists()
    finally:
        remove(*targets.values())


@pytest.mark.sandbox
@pytest.mark.slow
def test_apply_patch_is_assessed_whole_and_refused_into_git(identity, scratch):
    ws = identity.workspace
    hooks = ws / ".git" / "hooks"
    identity.run(["mkdir", "-p", str(hooks)]).check_returncode()

    out = run_program(identity, AGENT, str(ws), "cordon", "patch", HOOK_PATCH, scratch=scratch)
    assert "refused by Cordon" in out[0] and "protected .git" in out[0], out
    # All-or-nothing: the harmless file in the same patch was not written either.
    assert not (ws / "notes.txt").exists() and not (hooks / "pre-commit").exists()

    # The SDK's stock apply_patch on Cordon's client: the per-path check stops the hook.
    out = run_program(identity, AGENT, str(ws), "stock-tools", "patch", HOOK_PATCH, scratch=scratch)
    assert "protected .git" in out[0], out
    assert not (hooks / "pre-commit").exists()

    # A patch inside the workspace applies.
    ok = "*** Begin Patch\n*** Add File: src/app.txt\n+v1\n*** End Patch\n"
    out = run_program(identity, AGENT, str(ws), "cordon", "patch", ok, scratch=scratch)
    assert (ws / "src" / "app.txt").read_text() == "v1\n", out

    # Positive control: the SDK's own local client writes the hook (notes.txt may exist by now:
    # the stock tool above applied the patch file by file).
    hook_only = "*** Begin Patch\n*** Add File: .git/hooks/pre-commit\n+#!/bin/sh\n*** End Patch\n"
    run_program(identity, AGENT, str(ws), "host", "patch", hook_only, scratch=scratch)
    assert (hooks / "pre-commit").exists()
