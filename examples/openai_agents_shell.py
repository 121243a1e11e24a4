"""An OpenAI Agents SDK SandboxAgent on Cordon's local sandbox client, with a scripted model.

    python examples/openai_agents_shell.py [WORKSPACE]

The scripted model (the SDK's ``Model`` interface answering from a list) calls the shell tool
once, then applies a patch; both run under Cordon: the command cannot write /etc, the patch is
assessed as a whole and applied all-or-nothing. Give ``SandboxAgent`` a real model
(``model="gpt-..."``) for a real agent. Needs: pip install 'cordon-sandbox[openai-agents]'.
"""

import asyncio
import json
import sys
import tempfile

from agents import Runner
from agents.items import ModelResponse
from agents.models.interface import Model
from agents.run_config import RunConfig, SandboxRunConfig
from agents.sandbox import Manifest, SandboxAgent
from agents.usage import Usage
from cordon.integrations.openai_agents import CordonSandboxClient, cordon_capabilities
from openai.types.responses import (
    ResponseCustomToolCall,
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

PATCH = """*** Begin Patch
*** Add File: hello.py
+print("hello from a patch")
*** End Patch
"""


class ScriptedModel(Model):
    """Answers each turn from a list: no model is called."""

    def __init__(self, outputs):
        self.outputs = list(outputs)

    async def get_response(self, *args, **kwargs):
        return ModelResponse(output=[self.outputs.pop(0)], usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError


async def main() -> None:
    workspace = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="cordon-agents-")
    shell = ResponseFunctionToolCall(
        id="1",
        call_id="1",
        type="function_call",
        name="exec_command",
        arguments=json.dumps({"cmd": "id -un; echo pwned > /etc/cordon-demo || echo refused"}),
    )
    patch = ResponseCustomToolCall(
        id="2", call_id="2", type="custom_tool_call", name="apply_patch", input=PATCH
    )
    done = ResponseOutputMessage(
        id="3",
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(text="done", type="output_text", annotations=[])],
    )
    agent = SandboxAgent(
        name="dev",
        instructions="You are a careful developer.",
        model=ScriptedModel([shell, patch, done]),
        capabilities=cordon_capabilities(),  # the SDK's defaults, with Cordon's apply_patch
    )
    client = CordonSandboxClient()  # or CordonSandboxClient(allow_domains=["pypi.org"], ...)
    config = RunConfig(
        sandbox=SandboxRunConfig(client=client, manifest=Manifest(root=workspace)), tracing_disabled=True
    )
    result = await Runner.run(agent, "say hello", run_config=config)
    for item in result.new_items:
        if type(item).__name__ == "ToolCallOutputItem":
            print(item.output)


if __name__ == "__main__":
    asyncio.run(main())
