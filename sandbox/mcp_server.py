"""An MCP server (stdio) that gives MCP clients Cordon without Python code.

Tools:
- ``shell``: run an argv, or a shell string through ``/bin/sh -c``, confined by
  ``sandbox.run`` under the ``SandboxPolicy`` the server was started with; returns the
  exit code and the (size-capped) output. With ``--rules``, the command is first decided
  by ``policy.decide``: forbidden commands are refused, and commands that need approval
  are refused unless the server was started with ``--approve-prompts`` (MCP has no
  portable way to ask the user here, so the client must).
- ``execpolicy_check``: exactly ``execpolicy check``'s JSON for an argv and rules files.
- ``decide``: ``policy.decide``'s verdict (allow sandboxed/unsandboxed, ask, reject).

Owns: the tool surface only. Must not touch: confinement (``sandbox.run`` does it) or
rule semantics (``policy``). Built on the ``mcp`` package (2.x, a dependency of
cordon-sandbox), imported only when the server is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

# Output above this many bytes per stream is cut (an MCP message is one JSON object).
MAX_OUTPUT = 256 * 1024


@dataclass
class ServerConfig:
    """What ``sandbox mcp`` was started with; every shell call runs under it."""

    workspace: Path
    mode: str = "workspace-write"
    writable_roots: list[Path] = field(default_factory=list)
    network: str = "off"
    allow_domains: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    approval: str = "on-request"
    approve_prompts: bool = False
    timeout: float = 120.0
    # Resource limits of every shell call, keyed as `--limit` (memory, pids, cpu, wall, file-size, tmp).
    limits: dict[str, Any] = field(default_factory=dict)

    def sandbox_policy(self):
        from cordon.sandbox import SandboxPolicy

        net: dict[str, Any] = {"mode": self.network}
        if self.allow_domains:
            net = {"mode": "proxy", "allow_domains": list(self.allow_domains)}
        return SandboxPolicy(
            mode=self.mode,
            workspace=self.workspace,
            writable_roots=list(self.writable_roots),
            network=net,
            limits=dict(self.limits),
        )


class ShellResult(BaseModel):
    """One sandboxed run."""

    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    truncated: bool = False
    setup_failed: bool = False
    refused: str | None = None
    decision: dict | None = None
    # The resource limit that ended or stopped the command ("memory", "wall"...) and the message.
    limit: str | None = None
    limit_message: str | None = None
    # What the sandbox blocked: each with layer, operation, target, rule, allow_with and a
    # one-line `message` ("blocked write /etc/x (mount: ...; allow with --writable-root /etc)"),
    # so a model can tell a sandbox denial from the command's own failure.
    denials: list[dict] = []


def _cap(data: bytes | str | None) -> tuple[str, bool]:
    if data is None:
        return "", False
    if isinstance(data, bytes):
        cut = len(data) > MAX_OUTPUT
        return data[:MAX_OUTPUT].decode("utf-8", "replace"), cut
    return data[:MAX_OUTPUT], len(data) > MAX_OUTPUT


def _refuse(message: str) -> Exception:
    """An error the client should read (a bad argument, a broken rules file), not a crash: MCP
    servers pass only a ``ToolError``'s text to the client."""
    from mcp.server.mcpserver.exceptions import ToolError

    return ToolError(message)


def _denials(denials, limit: int = 50) -> list[dict]:
    """Denials for the tool result (capped: one MCP message is one JSON object)."""
    return [{**d.to_dict(), "message": d.describe()} for d in denials[:limit]]


def _argv_of(command: list[str] | None, script: str | None) -> list[str]:
    if bool(command) == bool(script):
        raise _refuse("give exactly one of `command` (an argv list) or `script` (a shell string)")
    return list(command) if command else ["/bin/sh", "-c", script]  # type: ignore[list-item]


def build_server(cfg: ServerConfig):
    """The ``MCPServer`` object (not started); tests and embedders can introspect it."""
    from mcp.server.mcpserver import MCPServer

    from cordon import __version__

    server = MCPServer(
        name="cordon",
        version=__version__,
        log_level="WARNING",
        instructions=(
            "Cordon runs shell commands confined: the workspace "
            f"{cfg.workspace} is writable (mode {cfg.mode}), secrets are hidden, network is "
            f"{'limited to ' + ', '.join(cfg.allow_domains) if cfg.allow_domains else cfg.network}. "
            "Use `decide` or `execpolicy_check` to ask whether a command may run."
        ),
    )
    policy_cache: dict[tuple[str, ...], Any] = {}

    def load(rules: list[str] | None):
        from cordon import policy

        names = tuple(rules or cfg.rules or ["default"])
        if names not in policy_cache:
            try:
                policy_cache[names] = policy.load_policy(*names)
            except policy.PolicyError as e:
                raise _refuse(str(e)) from None
        return policy_cache[names]

    def _decide(argv: list[str]):
        from cordon.policy.decision import decide

        return decide(argv, policy=load(None), approval=cfg.approval, sandbox=cfg.mode)

    @server.tool(
        description="Run a command inside Cordon's sandbox (writable: the workspace only; secrets "
        "hidden; network per server flags). Pass `command` as an argv list, or `script` as a "
        "/bin/sh string. Returns exit_code, stdout, stderr."
    )
    async def shell(
        command: list[str] | None = None,
        script: str | None = None,
        cwd: str | None = None,
        timeout: float | None = None,
    ) -> ShellResult:
        argv = _argv_of(command, script)
        verdict = None
        if cfg.rules:
            d = _decide(argv)
            verdict = d.to_dict()
            if d.decision == "forbidden" or (d.decision == "prompt" and not cfg.approve_prompts):
                why = d.reason or f"policy says {d.decision}"
                return ShellResult(exit_code=None, stdout="", stderr="", refused=why, decision=verdict)
        work = Path(cwd) if cwd else cfg.workspace
        if not work.is_absolute():
            work = cfg.workspace / work
        limit = timeout or cfg.timeout

        from cordon.sandbox import arun
        from cordon.sandbox.api import SandboxTimeout
        from cordon.sandbox.errors import SandboxError

        try:
            # Every denial, reads of hidden files included: a model is the reader that most needs
            # to tell the sandbox's refusal from the command's own failure (docs/denials.md).
            res = await arun(
                argv, policy=cfg.sandbox_policy(), cwd=str(work), timeout=limit, text=True, denials="all"
            )
        except SandboxTimeout as e:
            out, _ = _cap(e.output)
            err, _ = _cap(e.stderr)
            return ShellResult(exit_code=None, stdout=out, stderr=err, timed_out=True, decision=verdict)
        except SandboxError as e:  # the sandbox could not be set up: the command did not run
            return ShellResult(exit_code=e.exit_code, stdout="", stderr=f"sandbox: {e}", setup_failed=True)
        out, cut1 = _cap(res.stdout)
        err, cut2 = _cap(res.stderr)
        return ShellResult(
            exit_code=res.returncode,
            stdout=out,
            stderr=err,
            truncated=cut1 or cut2,
            setup_failed=res.setup_failed,
            decision=verdict,
            limit=res.limit_hit.key if res.limit_hit else None,
            limit_message=res.limit_hit.message if res.limit_hit else None,
            denials=_denials(res.denials),
        )

    @server.tool(
        description="Evaluate an argv against .rules files exactly like `execpolicy check` "
        "(Codex-compatible JSON: matchedRules and decision). `rules` are shipped set names "
        "(default, python, node, git-readonly...) or paths; default: the server's --rules or 'default'."
    )
    def execpolicy_check(
        command: list[str], rules: list[str] | None = None, resolve_host_executables: bool = False
    ) -> dict[str, Any]:
        if not command:
            raise _refuse("command must be a non-empty argv list")
        ev = load(rules).check(command, resolve_host_executables=resolve_host_executables)
        return ev.to_dict()

    @server.tool(
        description="Decide whether an argv (or `bash -lc SCRIPT`) may run under the server's approval "
        "policy and sandbox mode: decision allow|prompt|forbidden, bypassSandbox, reason, "
        "proposedAmendment."
    )
    def decide(command: list[str]) -> dict[str, Any]:
        if not command:
            raise _refuse("command must be a non-empty argv list")
        return _decide(command).to_dict()

    return server


def serve(cfg: ServerConfig) -> None:
    """Run the server on stdin/stdout until the client closes the pipe."""
    from cordon.sandbox.hardening import harden_process

    # A long-lived process that brokers commands: no core dumps, no same-user ptrace. The
    # environment is left alone here; the launcher scrubs what each command gets.
    harden_process(scrub_environ=False)
    os.chdir(cfg.workspace)
    build_server(cfg).run("stdio")
