"""LangChain's ShellToolMiddleware with Cordon's execution policy, driven by a scripted model.

    python examples/langchain_shell.py [WORKSPACE]

The fake chat model asks for one shell command that writes a file in the workspace and then
tries to write /etc; the shell session runs confined, so the first works and the second is
refused. Replace the fake model with a real one (``init_chat_model("...")``) for a real agent.
Needs: pip install 'cordon-sandbox[langchain]'.
"""

import sys
import tempfile

from cordon.integrations.langchain import CordonExecutionPolicy
from langchain.agents import create_agent
from langchain.agents.middleware import ShellToolMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage


class ScriptedChat(GenericFakeChatModel):
    """LangChain's fake chat model; it answers from its script whatever tools it is given."""

    def bind_tools(self, tools, **kwargs):
        return self


def main() -> None:
    workspace = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="cordon-langchain-")
    command = "echo hello > notes.txt && cat notes.txt; echo pwned > /etc/cordon-demo || echo refused"
    model = ScriptedChat(
        messages=iter(
            [
                AIMessage(
                    content="", tool_calls=[{"name": "shell", "args": {"command": command}, "id": "1"}]
                ),
                AIMessage(content="done"),
            ]
        )
    )
    shell = ShellToolMiddleware(
        workspace_root=workspace,
        # Writable: the workspace only; network: off (add allow_domains=[...] for a proxy).
        execution_policy=CordonExecutionPolicy(),
    )
    agent = create_agent(model, middleware=[shell])
    result = agent.invoke({"messages": [("user", "write a note")]})
    for message in result["messages"]:
        if message.type == "tool":
            print(message.content)


if __name__ == "__main__":
    main()
