"""May this patch be applied without asking? Codex's ``assess_patch_safety``, plus two link checks.

Every affected path (add, delete, update, move source and destination) is resolved against the
effective cwd and normalised lexically, then must lie inside a writable root and not inside a
protected metadata directory (``.git``, ``.codex``, ``.agents`` directly under a root, whether or
not it exists; also the directory a ``.git`` file points to). Then, as Codex decides:

=============================  ==============================================================
approval ``untrusted``         ask, always
every path writable            auto-approve: unsandboxed under danger-full-access/external,
                               sandboxed when a platform sandbox exists; else ask (or reject)
some path not writable         ask, or reject under ``never`` / granular without sandbox approval
=============================  ==============================================================

Beyond Codex (which leaves these to its kernel sandbox at write time), a path also counts as not
writable when its existing parent directory (or the file itself, if a symlink) resolves outside the
writable roots or into a protected directory, and when a file to be written has more than one hard
link (the write would change the other names too). Pure reads of the filesystem; nothing is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cordon.policy.errors import PatchError
from cordon.policy.patch.apply import stage_patch
from cordon.policy.patch.model import AddFile, DeleteFile, Patch
from cordon.policy.patch.parser import parse_patch
from cordon.policy.patch.paths import WritableRoots, absolute

from cordon.vocabulary import Approval, PatchDecisionKind, parse_sandbox_mode

REASON_EMPTY = "empty patch"
REASON_READ_ONLY = "writing is blocked by read-only sandbox; rejected by user approval settings"
REASON_OUTSIDE = "writing outside of the project; rejected by user approval settings"


@dataclass(frozen=True)
class PatchChange:
    """One affected file, with absolute paths (``move_path`` for a renamed update)."""

    path: str
    kind: Literal["add", "delete", "update"]
    move_path: str | None = None

    def to_dict(self) -> dict:
        return {"path": self.path, "kind": self.kind, "movePath": self.move_path}


@dataclass(frozen=True)
class PathProblem:
    """Why one path is not auto-writable."""

    path: str
    problem: str

    def to_dict(self) -> dict:
        return {"path": self.path, "problem": self.problem}


@dataclass(frozen=True)
class PatchAssessment:
    """The verdict on a patch. ``sandboxed`` says whether an auto-approved patch must be applied
    under the platform sandbox."""

    decision: PatchDecisionKind
    sandboxed: bool
    reason: str | None
    changes: list[PatchChange] = field(default_factory=list)
    problems: list[PathProblem] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "decision": self.decision,
            "sandboxed": self.sandboxed,
            "reason": self.reason,
            "changes": [c.to_dict() for c in self.changes],
            "problems": [p.to_dict() for p in self.problems],
        }


def parse_approval(text: str) -> tuple[str, bool]:
    """``(kind, sandbox_approval)`` of an approval policy (``vocabulary.Approval.parse`` reads it)."""
    appr = Approval.parse(text)
    return appr.kind, appr.sandbox_approval


def _changes(patch: Patch, cwd: str) -> list[PatchChange]:
    out = []
    for hunk in patch.hunks:
        path = absolute(cwd, hunk.path)
        if isinstance(hunk, AddFile):
            out.append(PatchChange(path, "add"))
        elif isinstance(hunk, DeleteFile):
            out.append(PatchChange(path, "delete"))
        else:
            move = absolute(cwd, hunk.move_path) if hunk.move_path is not None else None
            out.append(PatchChange(path, "update", move))
    return out


def _problems(changes: Sequence[PatchChange], roots: WritableRoots, link_checks: bool) -> list[PathProblem]:
    found: list[PathProblem] = []
    for change in changes:
        # (path, is it written through?) -- a delete or a move source is removed, not written.
        targets = [(change.path, change.kind != "delete" and change.move_path is None)]
        if change.move_path is not None:
            targets.append((change.move_path, True))
        for path, writes in targets:
            if "\0" in path:
                found.append(PathProblem(path, "the path contains a NUL byte"))
                continue
            problem = roots.lexical_problem(path)
            if problem is None and link_checks:
                problem = roots.resolved_problem(path, writes)
            if problem is not None:
                found.append(PathProblem(path, problem))
    return found


def assess_patch(
    patch: str | Patch,
    *,
    cwd: str | os.PathLike[str],
    writable_roots: Iterable[str | os.PathLike[str]] = (),
    sandbox: str = "workspace-write",
    approval: str = "on-request",
    platform_sandbox: bool = True,
    verify: bool = True,
    link_checks: bool = True,
    session_cwd: str | os.PathLike[str] | None = None,
) -> PatchAssessment:
    """Decide whether ``patch`` (applied in ``cwd``, the *effective* cwd) may run without asking.

    ``writable_roots`` are added to ``cwd`` (relative ones are taken from ``cwd``). With ``verify``
    the patch must apply to the current tree first, as Codex requires (else PatchError, kind
    "apply"). A malformed patch raises PatchError with its line.

    ``session_cwd`` is the workspace the sandbox policy grants (Codex's turn cwd) when it differs
    from ``cwd``: for ``cd DIR && apply_patch``, paths resolve against DIR but DIR does not become
    writable. It defaults to ``cwd``.
    """
    sandbox = parse_sandbox_mode(sandbox)
    kind, sandbox_approval = parse_approval(approval)
    base = absolute("/", os.path.abspath(os.fspath(cwd)))
    parsed = patch if isinstance(patch, Patch) else parse_patch(patch)
    if verify and parsed.hunks:
        stage_patch(parsed, base)
    changes = _changes(parsed, base)
    if not changes:
        return PatchAssessment("reject", False, REASON_EMPTY, changes)
    rejects = kind == "never" or (kind == "granular" and not sandbox_approval)
    refusal = REASON_READ_ONLY if sandbox == "read-only" else REASON_OUTSIDE

    if sandbox in ("danger-full-access", "external"):
        problems: list[PathProblem] = []
    elif sandbox == "read-only":
        problems = [PathProblem(c.path, "the sandbox is read-only") for c in changes]
    else:
        root_base = (
            absolute("/", os.path.abspath(os.fspath(session_cwd))) if session_cwd is not None else base
        )
        roots = WritableRoots([root_base, *(absolute(root_base, os.fspath(r)) for r in writable_roots)])
        problems = _problems(changes, roots, link_checks)

    if kind == "untrusted":
        return PatchAssessment(
            "ask", False, "approval policy is untrusted: every patch is asked", changes, problems
        )
    constrained = not problems or kind == "on-failure"  # legacy on-failure skipped the path check
    if constrained:
        if sandbox in ("danger-full-access", "external"):
            return PatchAssessment("auto-approve", False, None, changes, problems)
        if platform_sandbox:
            return PatchAssessment("auto-approve", True, None, changes, problems)
        if rejects:
            return PatchAssessment("reject", False, refusal, changes, problems)
        return PatchAssessment("ask", False, "no platform sandbox to contain the write", changes, problems)
    if rejects:
        return PatchAssessment("reject", False, refusal, changes, problems)
    first = problems[0]
    return PatchAssessment("ask", False, f"{first.path}: {first.problem}", changes, problems)


__all__ = ["PatchAssessment", "PatchChange", "PatchError", "PathProblem", "assess_patch", "parse_approval"]
