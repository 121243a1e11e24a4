"""LangChain: ``CordonExecutionPolicy``, a shell execution policy that confines the session.

    from langchain.agents.middleware import ShellToolMiddleware
    from cordon.integrations.langchain import CordonExecutionPolicy

    shell = ShellToolMiddleware(
        workspace_root="/src/project",
        execution_policy=CordonExecutionPolicy(allow_domains=["pypi.org"]),
    )

``ShellToolMiddleware`` keeps one persistent shell per agent run and writes each command to its
stdin. This policy starts that shell under Cordon's sandbox: the workspace (and the writable
roots given) is writable, the rest of the filesystem read-only with secrets hidden, the network
off or limited to the allow-list through Cordon's proxy. Everything the shell starts stays in
the same sandbox; killing the session (LangChain kills the process group) ends the sandbox.

Needs the ``langchain`` extra: ``pip install 'cordon-sandbox[langchain]'``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

try:
    # Not re-exported by langchain.agents.middleware; shell_tool is the module that consumes it.
    from langchain.agents.middleware.shell_tool import BaseExecutionPolicy
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "cordon.integrations.langchain needs LangChain: pip install 'cordon-sandbox[langchain]'"
    ) from e

from cordon.integrations._launch import spawn_confined
from cordon.integrations._policy import build_policy
from cordon.sandbox import SandboxPolicy


@dataclass
class CordonExecutionPolicy(BaseExecutionPolicy):
    """Run ``ShellToolMiddleware``'s shell confined by Cordon.

    Either pass a full ``policy`` (a ``cordon.sandbox.SandboxPolicy``), or the keywords that
    mirror ``sandbox run``'s flags: ``writable_roots``, ``read_only_paths``, ``deny_read``,
    ``network`` (``off``/``on``/``proxy``), ``allow_domains``/``deny_domains`` (proxy mode),
    ``rules`` (rules files or shipped names whose ``network_rule`` entries are added), ``mode``,
    ``allow_git_write``, ``limits`` (``{"memory": "512M", "pids": 256, "cpu": 60, "wall": "10m",
    "file-size": "1G", "tmp": "256M"}``: the whole shell session's tree). The middleware's workspace becomes the sandbox's writable workspace
    unless the policy names one. Timeouts and output limits are LangChain's own fields.

    A bad policy raises ``cordon.sandbox.ConfigError`` here, at construction; a sandbox that
    cannot be set up raises ``cordon.sandbox.SandboxError`` when the session starts.
    """

    policy: SandboxPolicy | None = None
    mode: str | None = None
    writable_roots: Sequence[str | os.PathLike[str]] = ()
    read_only_paths: Sequence[str | os.PathLike[str]] = ()
    deny_read: Sequence[str | os.PathLike[str]] = ()
    network: str | None = None
    allow_domains: Sequence[str] = ()
    deny_domains: Sequence[str] = ()
    rules: Sequence[str | os.PathLike[str]] = ()
    allow_git_write: bool = False
    limits: Mapping[str, int | float | str] | None = None
    python: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sandbox_policy: SandboxPolicy = build_policy(
            self.policy,
            mode=self.mode,
            writable_roots=self.writable_roots,
            read_only_paths=self.read_only_paths,
            deny_read=self.deny_read,
            network=self.network,
            allow_domains=self.allow_domains,
            deny_domains=self.deny_domains,
            rules=self.rules,
            allow_git_write=self.allow_git_write,
            limits=self.limits,
        )

    def policy_for(self, workspace: Path) -> SandboxPolicy:
        """The policy one session runs under: the workspace filled in, every path checked."""
        policy = self.sandbox_policy
        if policy.workspace is None:
            policy = policy.model_copy(update={"workspace": Path(workspace)})
        policy.resolve(cwd=workspace)  # raises ConfigError/SandboxError before anything starts
        return policy

    def spawn(
        self,
        *,
        workspace: Path,
        env: Mapping[str, str],
        command: Sequence[str],
    ) -> subprocess.Popen[str]:
        policy = self.policy_for(workspace)
        return spawn_confined(
            policy.model_dump_json(),
            list(command),
            python=self.python,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workspace,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            env=dict(env),
            start_new_session=True,
        )


__all__ = ["CordonExecutionPolicy"]
