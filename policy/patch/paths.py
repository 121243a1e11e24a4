"""Where a patch's paths land, shared by the safety assessment and the confined applier.

``absolute()`` joins a patch path to its cwd as Codex does (lexically); ``WritableRoots`` says
whether a path may be written: inside a writable root, not in protected metadata (``.git``,
``.codex``, ``.agents`` directly under a root, the directory a ``.git`` file points to), and,
resolved through symlinks, still so (plus the hard-link check). Reads the filesystem only.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Sequence

from cordon.paths import within
from cordon.vocabulary import PROTECTED_NAMES


def absolute(cwd: str, path: str) -> str:
    """Join ``path`` to ``cwd`` and normalise lexically (``.``/``..``, no symlinks), as Codex does."""
    joined = path if os.path.isabs(path) else os.path.join(cwd, path)
    norm = posixpath.normpath(joined)
    return "/" + norm.lstrip("/") if norm.startswith("//") else norm


def _first_component(path: str, root: str) -> str | None:
    rest = path[len(root.rstrip("/")) + 1 :] if path != root else ""
    return rest.split("/", 1)[0] if rest else None


def _gitdir_target(root: str) -> str | None:
    """Where ``<root>/.git`` points when it is a ``gitdir: X`` file (worktrees, submodules)."""
    try:
        with open(os.path.join(root, ".git"), encoding="utf-8") as f:
            first = f.readline().strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not first.startswith("gitdir:"):
        return None
    return absolute(root, first[len("gitdir:") :].strip())


class WritableRoots:
    """Writable roots, lexically (as Codex compares) and resolved (for the link checks)."""

    def __init__(self, roots: Iterable[str]) -> None:
        self.lexical = list(dict.fromkeys(roots))
        self.real = list(dict.fromkeys(os.path.realpath(r) for r in self.lexical))
        extra = [g for r in self.lexical if (g := _gitdir_target(r))]
        self.protected_dirs = extra + [os.path.realpath(g) for g in extra]

    def lexical_problem(self, path: str) -> str | None:
        containing = [r for r in self.lexical if within(path, r)]
        if not containing:
            return "outside the writable roots"
        return self._protected(path, containing)

    def _protected(self, path: str, containing: Sequence[str]) -> str | None:
        for root in containing:
            name = _first_component(path, root)
            if name in PROTECTED_NAMES:
                return f"inside protected {name} of writable root {root}"
        for gitdir in self.protected_dirs:
            if within(path, gitdir):
                return f"inside the git directory {gitdir}"
        return None

    def resolved_problem(self, path: str, writes: bool) -> str | None:
        """The link checks: where the write really lands."""
        parent = os.path.dirname(path)
        while not os.path.lexists(parent) and parent != os.path.dirname(parent):
            parent = os.path.dirname(parent)
        target = os.path.join(os.path.realpath(parent), os.path.relpath(path, parent))
        if os.path.islink(path) and writes:
            target = os.path.realpath(path)
        real = os.path.normpath(target)
        containing = [r for r in self.real if within(real, r)]
        if not containing:
            return f"resolves through a symlink to {real}, outside the writable roots"
        protected = self._protected(real, containing)
        if protected:
            return f"resolves through a symlink to {real}, {protected}"
        if writes:
            try:
                st = os.stat(real)
            except OSError:
                return None
            if os.path.isfile(real) and st.st_nlink > 1:
                return f"has {st.st_nlink} hard links; writing it would change the other names too"
        return None
