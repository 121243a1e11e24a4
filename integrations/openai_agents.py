"""OpenAI Agents SDK: a local sandbox client whose commands run confined by Cordon.

    from agents import Runner
    from agents.run_config import RunConfig, SandboxRunConfig
    from agents.sandbox import SandboxAgent
    from cordon.integrations.openai_agents import CordonSandboxClient, cordon_capabilities

    agent = SandboxAgent(name="dev", instructions="...", capabilities=cordon_capabilities())
    client = CordonSandboxClient(allow_domains=["pypi.org"])
    result = await Runner.run(agent, "run the tests",
                              run_config=RunConfig(sandbox=SandboxRunConfig(client=client)))

The SDK's remote providers (E2B, Modal, Daytona...) implement ``BaseSandboxClient``; its only
local one, ``UnixLocalSandboxClient``, adds no OS-level confinement on Linux. This client is
that local client with every command (the ``exec_command`` shell tool, PTY sessions, the SDK's
own ``session.exec``) started under Cordon's sandbox: the session's workspace (and the writable
roots given) writable, the rest read-only with secrets hidden, the network off or limited to an
allow-list through Cordon's proxy.

File edits are done by the SDK in this process, not by a sandboxed command, so they get
Cordon's patch safety instead of the kernel's walls:

* ``cordon_capabilities()`` (or ``CordonFilesystem()`` in your own list) replaces the
  ``apply_patch`` tool with one that assesses the WHOLE patch with ``cordon.policy.assess_patch``
  (every path inside a writable root, never in ``.git``/``.codex``/``.agents``, no symlink
  escape, no hard-linked target) and applies it all-or-nothing with ``cordon.policy.apply_patch``,
  re-checking each path as it writes. A patch that is not auto-approvable is not applied; the
  model is told why.
* Whatever tool writes through the session's file API (the SDK's stock ``apply_patch`` too)
  is held to the same per-path checks: a write into ``.git/hooks`` or through a symlink out of
  the workspace raises ``PatchSafetyError`` instead of happening.

Needs the ``openai-agents`` extra: ``pip install 'cordon-sandbox[openai-agents]'``.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

try:
    from agents.sandbox.capabilities import Compaction, Filesystem, FilesystemToolSet, Shell
    from agents.sandbox.capabilities.tools import SandboxApplyPatchTool
    from agents.sandbox.sandboxes.unix_local import (
        UnixLocalSandboxClient,
        UnixLocalSandboxSession,
        UnixLocalSandboxSessionState,
    )
    from agents.sandbox.session import SandboxSession
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "cordon.integrations.openai_agents needs the OpenAI Agents SDK: "
        "pip install 'cordon-sandbox[openai-agents]'"
    ) from e

from cordon.integrations._launch import command as launch_command
from cordon.integrations._policy import build_policy
from cordon.policy import PatchError, apply_patch, assess_patch
from cordon.sandbox import SandboxPolicy

from cordon.errors import CordonError

# UnixLocalSandboxSession builds every argv it starts in _confined_exec_command (where macOS gets
# sandbox-exec). Confinement hangs on that hook: if an SDK release stops calling it, refuse to
# load rather than run commands unconfined.
for _method in ("_exec_internal", "pty_exec_start"):
    if "_confined_exec_command" not in getattr(UnixLocalSandboxSession, _method).__code__.co_names:
        raise ImportError(
            f"cordon.integrations.openai_agents: this openai-agents release no longer routes "
            f"UnixLocalSandboxSession.{_method} through _confined_exec_command; refusing to load "
            "(commands would run unconfined). Install the version the cordon-sandbox extra pins."
        )


class PatchSafetyError(CordonError):
    """A file write through the session was refused by Cordon's patch safety checks."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class CordonSandboxSession(UnixLocalSandboxSession):
    """A ``UnixLocalSandboxSession`` whose commands start inside Cordon's sandbox."""

    cordon_policy: SandboxPolicy

    @classmethod
    def for_policy(cls, state: UnixLocalSandboxSessionState, policy: SandboxPolicy) -> CordonSandboxSession:
        session = cls.from_state(state)
        session.cordon_policy = policy
        return session

    def session_policy(self) -> SandboxPolicy:
        """The policy with this session's workspace filled in (when the policy names none)."""
        policy = self.cordon_policy
        if policy.workspace is None:
            policy = policy.model_copy(update={"workspace": Path(self.state.manifest.root)})
        return policy

    # The one place UnixLocalSandboxSession turns a command into the argv it starts (plain,
    # PTY and its own helper commands alike); on macOS it puts sandbox-exec here.
    def _confined_exec_command(
        self, *, command_parts: list[str], workspace_root: Path, env: Mapping[str, str]
    ) -> list[str]:
        policy = self.session_policy()
        if policy.workspace is None:
            policy = policy.model_copy(update={"workspace": workspace_root})
        return launch_command(policy.model_dump_json(), command_parts, cwd=workspace_root)

    # -- file API: Cordon's per-path patch checks before the SDK writes on the host ----------

    def _check_write(self, path: Path | str, kind: Literal["add", "delete"]) -> None:
        # Only once the session runs: materializing the manifest (and restoring a snapshot) while
        # it starts is the application's own setup, which may legitimately bring a .git along.
        if not self._running:
            return
        target = os.fspath(path)
        root = self.state.manifest.root
        if not os.path.isabs(target):
            target = os.path.join(root, target)
        if "\n" in target or "\r" in target:
            raise PatchSafetyError(target, "the path contains a line break")
        header = "Add File" if kind == "add" else "Delete File"
        body = "+\n" if kind == "add" else ""
        text = f"*** Begin Patch\n*** {header}: {target}\n{body}*** End Patch\n"
        resolved = self.session_policy().resolve(cwd=root)
        verdict = assess_patch(
            text,
            cwd=resolved.workspace or root,
            writable_roots=[os.fspath(r) for r in resolved.writable_roots],
            sandbox=resolved.mode,
            approval="never",
            verify=False,
        )
        if verdict.decision != "auto-approve":
            problem = verdict.problems[0].problem if verdict.problems else (verdict.reason or "refused")
            raise PatchSafetyError(target, problem)

    async def write(self, path: Path, data: io.IOBase, *, user: Any = None) -> None:
        self._check_write(path, "add")
        await super().write(path, data, user=user)

    async def _write_new_file(self, path: Path, data: io.IOBase, *, user: Any = None) -> None:
        self._check_write(path, "add")
        await super()._write_new_file(path, data, user=user)

    async def mv(self, source: Path | str, destination: Path | str, *, user: Any = None) -> None:
        self._check_write(source, "delete")
        self._check_write(destination, "add")
        await super().mv(source, destination, user=user)

    async def rm(self, path: Path | str, *, recursive: bool = False, user: Any = None) -> None:
        self._check_write(path, "delete")
        await super().rm(path, recursive=recursive, user=user)

    async def mkdir(self, path: Path | str, *, parents: bool = False, user: Any = None) -> None:
        self._check_write(path, "add")
        await super().mkdir(path, parents=parents, user=user)


class CordonSandboxClient(UnixLocalSandboxClient):
    """The SDK's local sandbox client, with every command confined by Cordon.

    Either pass a full ``policy`` (``cordon.sandbox.SandboxPolicy``) or the keywords that mirror
    ``sandbox run``'s flags (``writable_roots``, ``read_only_paths``, ``deny_read``, ``network``,
    ``allow_domains``, ``deny_domains``, ``rules``, ``mode``, ``allow_git_write``, ``limits``: per
    command). The session's
    workspace (the manifest root; a fresh temporary directory by default) is the sandbox's
    writable workspace unless the policy names one. Other keywords are the SDK client's own
    (``instrumentation``, ``dependencies``, ``inherit_host_environment``,
    ``host_environment_allowlist``). A bad policy raises
    ``cordon.sandbox.ConfigError`` here.
    """

    def __init__(
        self,
        *,
        policy: SandboxPolicy | None = None,
        mode: str | None = None,
        writable_roots: Sequence[str | os.PathLike[str]] = (),
        read_only_paths: Sequence[str | os.PathLike[str]] = (),
        deny_read: Sequence[str | os.PathLike[str]] = (),
        network: str | None = None,
        allow_domains: Sequence[str] = (),
        deny_domains: Sequence[str] = (),
        rules: Sequence[str | os.PathLike[str]] = (),
        allow_git_write: bool = False,
        limits: Mapping[str, int | float | str] | None = None,
        **client_options: Any,
    ) -> None:
        super().__init__(**client_options)
        self.policy = build_policy(
            policy,
            mode=mode,
            writable_roots=writable_roots,
            read_only_paths=read_only_paths,
            deny_read=deny_read,
            network=network,
            allow_domains=allow_domains,
            deny_domains=deny_domains,
            rules=rules,
            allow_git_write=allow_git_write,
            limits=limits,
        )

    def _confine(self, session: SandboxSession) -> SandboxSession:
        # UnixLocalSandboxClient builds its session class by name; re-wrap its state in ours.
        plain = session._inner
        inner = CordonSandboxSession.for_policy(plain.state, self.policy)
        # The host-environment filter is the client's, never the session state's (as the SDK does).
        inner._host_environment_allowlist = plain._host_environment_allowlist
        return self._wrap_session(inner, instrumentation=self._instrumentation)

    async def create(self, *, snapshot=None, manifest=None, options=None) -> SandboxSession:
        return self._confine(await super().create(snapshot=snapshot, manifest=manifest, options=options))

    async def resume(self, state) -> SandboxSession:
        return self._confine(await super().resume(state))


# -- apply_patch with Cordon's whole-patch assessment --------------------------------------


def _operations_to_patch(raw_input: str) -> str:
    """The JSON form of the tool's input (``{"operations": [...]}``) as apply_patch text."""
    payload = json.loads(raw_input)
    if isinstance(payload, Mapping):
        ops = payload.get("operations") or [payload.get("operation") or payload]
    else:
        ops = payload
    lines = ["*** Begin Patch"]
    for op in ops:
        kind, path = op.get("type"), op.get("path")
        if kind == "create_file":
            lines.append(f"*** Add File: {path}")
        elif kind == "delete_file":
            lines.append(f"*** Delete File: {path}")
        elif kind == "update_file":
            lines.append(f"*** Update File: {path}")
            if op.get("move_to"):
                lines.append(f"*** Move to: {op['move_to']}")
        else:
            raise PatchError(f"unknown apply_patch operation type {kind!r}")
        diff = op.get("diff") or ""
        lines.extend(diff.splitlines())
    lines.append("*** End Patch")
    return "\n".join(lines) + "\n"


class CordonApplyPatchTool(SandboxApplyPatchTool):
    """``apply_patch`` assessed as a whole by Cordon and applied all-or-nothing.

    ``approval`` is Cordon's approval policy for patches (default ``never``: apply what is
    auto-approvable, refuse the rest with the reason). Use the SDK's ``needs_approval`` for
    human review on top.
    """

    approval: str = "never"

    async def _on_invoke_tool(self, ctx: Any, raw_input: str) -> str:
        try:
            text = _operations_to_patch(raw_input) if raw_input.lstrip().startswith(("{", "[")) else raw_input
        except (ValueError, AttributeError, PatchError) as e:
            return f"apply_patch: invalid input: {e}"
        session = self.session
        root = session.state.manifest.root
        policy = (
            session.session_policy()
            if isinstance(session, CordonSandboxSession)
            else SandboxPolicy(workspace=root)
        )
        resolved = policy.resolve(cwd=root)
        scope = getattr(self, "workspace_scope", None)
        cwd = os.path.join(root, scope.cwd) if scope is not None and scope.cwd else root
        roots = [os.fspath(r) for r in resolved.writable_roots]
        try:
            verdict = assess_patch(
                text,
                cwd=cwd,
                writable_roots=roots,
                sandbox=resolved.mode,
                approval=self.approval,
                session_cwd=os.fspath(resolved.workspace or root),
            )
        except PatchError as e:
            return f"apply_patch: {e}"
        if verdict.decision != "auto-approve":
            detail = "; ".join(f"{p.path}: {p.problem}" for p in verdict.problems)
            return f"apply_patch refused by Cordon ({verdict.decision}): {verdict.reason}" + (
                f" [{detail}]" if detail else ""
            )
        result = apply_patch(text, cwd=cwd, confine=[os.fspath(resolved.workspace or root), *roots])
        return result.stdout if result.exit_code == 0 else f"apply_patch failed: {result.stderr.strip()}"


def use_cordon_apply_patch(toolset: FilesystemToolSet) -> None:
    """A ``Filesystem(configure_tools=...)`` callback: swap in ``CordonApplyPatchTool``."""
    stock = toolset.apply_patch
    toolset.apply_patch = CordonApplyPatchTool(
        session=stock.session,
        user=stock.editor.user,
        workspace_scope=toolset.workspace_scope,
        needs_approval=stock.needs_approval,
        on_approval=stock.on_approval,
    )


class CordonFilesystem(Filesystem):
    """The SDK's ``Filesystem`` capability with Cordon's ``apply_patch``."""

    def tools(self) -> list:
        outer = self.configure_tools

        def configure(toolset: FilesystemToolSet) -> None:
            use_cordon_apply_patch(toolset)
            if outer is not None:
                outer(toolset)

        self.configure_tools = configure
        try:
            return super().tools()
        finally:
            self.configure_tools = outer


def cordon_capabilities() -> list:
    """The SDK's default capabilities, with ``CordonFilesystem`` in place of ``Filesystem``."""
    return [CordonFilesystem(), Shell(), Compaction()]


__all__ = [
    "CordonApplyPatchTool",
    "CordonFilesystem",
    "CordonSandboxClient",
    "CordonSandboxSession",
    "PatchSafetyError",
    "cordon_capabilities",
    "use_cordon_apply_patch",
]
