"""Finding a patch inside a command, as Codex's ``maybe_parse_apply_patch`` does.

Recognised (anything else is an ordinary command):

* ``["apply_patch" | "applypatch", PATCH]``;
* ``[bash|zsh|sh, -c|-lc, SCRIPT]`` (also ``pwsh``/``powershell -Command`` and ``cmd /c``) where the
  script is exactly one statement: ``apply_patch <<DELIM ... DELIM`` or
  ``cd DIR && apply_patch <<DELIM ... DELIM`` (``cd`` with one word/quoted argument, ``&&`` only).

The ``cd`` argument becomes the working directory every patch path is resolved against. A patch
given without an explicit ``apply_patch`` (a bare patch argv, or a script that *is* a patch) is
reported as ``implicit``, which Codex refuses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cordon.policy.errors import PatchError
from cordon.policy.patch.model import Patch
from cordon.policy.patch.parser import parse_patch

APPLY_NAMES = ("apply_patch", "applypatch")
IMPLICIT_MESSAGE = 'patch detected without explicit call to apply_patch. Rerun as ["apply_patch", "<patch>"]'

Status = Literal["patch", "not_patch", "patch_parse_error", "shell_parse_error", "implicit"]


@dataclass(frozen=True)
class Detection:
    """What a command is, patch-wise. ``patch`` is set when ``status == "patch"``."""

    status: Status
    patch: Patch | None = None
    workdir: str | None = None  # the ``cd`` argument, as written
    error: PatchError | None = None

    def effective_cwd(self, cwd: str | os.PathLike[str]) -> str:
        """``cwd`` joined with the ``cd`` argument (an absolute one replaces it)."""
        base = os.fspath(cwd)
        return os.path.join(base, self.workdir) if self.workdir else base


def _shell_script(argv: Sequence[str]) -> str | None:
    if not argv:
        return None
    stem = os.path.splitext(os.path.basename(argv[0].replace("\\", "/")))[0].lower()
    if len(argv) == 3:
        if stem in ("bash", "zsh", "sh") and argv[1] in ("-c", "-lc"):
            return argv[2]
        if stem in ("pwsh", "powershell") and argv[1].lower() == "-command":
            return argv[2]
        if stem == "cmd" and argv[1].lower() == "/c":
            return argv[2]
    if (
        len(argv) == 4
        and stem in ("pwsh", "powershell")
        and argv[1].lower() == "-noprofile"
        and argv[2].lower() == "-command"
    ):
        return argv[3]
    return None


_language = None


def _parse_bash(script: str):
    global _language
    from tree_sitter import Language, Parser

    if _language is None:
        import tree_sitter_bash

        _language = Language(tree_sitter_bash.language())
    return Parser(_language).parse(script.encode("utf-8", "surrogateescape")).root_node


def _text(node) -> str:
    return node.text.decode("utf-8", "surrogateescape")


def _named(node) -> list:
    return [c for c in node.named_children if c.type != "comment"]


def _is_apply_command(node) -> bool:
    """A ``command`` node that is exactly ``apply_patch`` (no arguments)."""
    if node.type != "command":
        return False
    parts = _named(node)
    if len(parts) != 1 or parts[0].type != "command_name":
        return False
    words = _named(parts[0])
    return len(words) == 1 and words[0].type == "word" and _text(words[0]) in APPLY_NAMES


def _cd_argument(node) -> str | None:
    """The single argument of ``cd ARG`` (word, plain double-quoted or single-quoted string)."""
    if node.type != "command":
        return None
    parts = _named(node)
    if len(parts) != 2 or parts[0].type != "command_name" or _text(parts[0]) != "cd":
        return None
    arg = parts[1]
    if arg.type == "word":
        return _text(arg)
    if arg.type == "raw_string":
        return _text(arg)[1:-1]
    if arg.type == "string":
        inner = _named(arg)
        if len(inner) == 1 and inner[0].type == "string_content":
            return _text(inner[0])
        if not inner:
            return ""
    return None


def _heredoc_script(script: str) -> tuple[str, str | None] | None:
    """(heredoc body, cd argument) if the script is one of the two accepted shapes, else None."""
    root = _parse_bash(script)
    if root.has_error:
        return None
    statements = _named(root)
    if len(statements) != 1 or statements[0].type != "redirected_statement":
        return None
    stmt = statements[0]
    body = stmt.child_by_field_name("body")
    redirects = [c for c in _named(stmt) if body is None or c.id != body.id]
    if body is None or len(redirects) != 1 or redirects[0].type != "heredoc_redirect":
        return None
    heredoc = redirects[0]
    kinds = [c.type for c in _named(heredoc)]
    if kinds != ["heredoc_start", "heredoc_body", "heredoc_end"]:
        return None
    text = _text(_named(heredoc)[1]).rstrip("\n")
    if _is_apply_command(body):
        return text, None
    if body.type == "list":
        children = body.children
        if len(children) == 3 and children[1].type == "&&" and _is_apply_command(children[2]):
            workdir = _cd_argument(children[0])
            if workdir is not None:
                return text, workdir
    return None


def _parses(text: str) -> bool:
    try:
        parse_patch(text)
        return True
    except PatchError:
        return False


def detect_patch(argv: Sequence[str]) -> Detection:
    """Classify ``argv``: an apply_patch invocation (with its parsed patch) or not."""
    argv = list(argv)
    if len(argv) == 2 and argv[0] in APPLY_NAMES:
        return _parsed(argv[1], None)
    if len(argv) == 1 and _parses(argv[0]):
        return Detection("implicit", error=PatchError(IMPLICIT_MESSAGE, kind="implicit"))
    script = _shell_script(argv)
    if script is None:
        return Detection("not_patch")
    if _parses(script):
        return Detection("implicit", error=PatchError(IMPLICIT_MESSAGE, kind="implicit"))
    try:
        found = _heredoc_script(script)
    except (ValueError, UnicodeError) as e:  # pragma: no cover - tree-sitter refusing input
        return Detection("shell_parse_error", error=PatchError(str(e), kind="shell_parse_error"))
    if found is None:
        return Detection("not_patch")
    return _parsed(*found)


def _parsed(text: str, workdir: str | None) -> Detection:
    try:
        return Detection("patch", patch=parse_patch(text), workdir=workdir)
    except PatchError as e:
        return Detection("patch_parse_error", workdir=workdir, error=e)
