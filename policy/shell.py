"""Shell splitting: which argvs a ``bash -lc SCRIPT`` command really runs.

Parses scripts with tree-sitter-bash and follows Codex's rules (``shell-command/src/bash.rs``):

* plain mode (the known-safe check): only words, quotes, concatenations and ``&& || ; |``;
* loose mode (rule matching): plain mode plus redirections, ``VAR=value`` prefixes and comments,
  still without any expansion or substitution;
* the heredoc fallback: a script made of exactly one literal command fed by a heredoc yields that
  command's words and marks the split as *complex*;
* anything else is one opaque command (the whole argv).

``literal_commands`` is the liberal walk the dangerous-command check needs: every command with a
literal name anywhere in the tree (loops, ``$(...)``, subshells, functions), dynamic words dropped.
Pure functions; no process is ever started.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cordon.policy.programs import program_name

SHELLS = frozenset({"bash", "zsh", "sh"})
SHELL_FLAGS = frozenset({"-c", "-lc"})

# Codex's allow-list of named node kinds for a "plain" script.
_PLAIN_NODES = frozenset(
    {
        "program",
        "list",
        "pipeline",
        "command",
        "command_name",
        "word",
        "string",
        "string_content",
        "raw_string",
        "number",
        "concatenation",
    }
)
_PLAIN_TOKENS = frozenset({"&&", "||", ";", "|", '"', "'"})
# What the loose (rule-matching) mode adds: redirections, assignments, comments.
_LOOSE_NODES = _PLAIN_NODES | {
    "redirected_statement",
    "file_redirect",
    "file_descriptor",
    "variable_assignment",
    "variable_name",
    "comment",
}
_LOOSE_TOKENS = _PLAIN_TOKENS | {">", ">>", "<", ">&", "<&", "&>", "&>>", ">|", "<>", "=", ">&-", "<&-"}
# Nodes whose presence anywhere means the shell expands something at run time.
_DYNAMIC_NODES = frozenset(
    {
        "simple_expansion",
        "expansion",
        "command_substitution",
        "process_substitution",
        "arithmetic_expansion",
        "brace_expression",
    }
)

_BRACE = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")
_HEREDOC_REFUSED = _DYNAMIC_NODES | {"file_redirect", "variable_assignment", "variable_assignments"}
_NOT_WORDS = frozenset(
    {"variable_assignment", "file_redirect", "heredoc_redirect", "herestring_redirect", "comment"}
)

SplitKind = Literal["plain", "loose", "heredoc", "whole"]


@dataclass(frozen=True)
class ParsedCommand:
    """One command of a script: its argv plus what the loose mode stripped from it."""

    argv: list[str]
    redirects: bool = False
    assignments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CommandSplit:
    """The argvs a command is evaluated as, and how they were obtained.

    ``complex`` is Codex's ``used_complex_parsing``: set by the heredoc fallback; it disables the
    known-safe shortcut and automatic amendment proposals.
    """

    commands: list[ParsedCommand]
    kind: SplitKind

    @property
    def complex(self) -> bool:
        return self.kind == "heredoc"

    @property
    def argvs(self) -> list[list[str]]:
        return [c.argv for c in self.commands]


_language = None


def _parse(script: str):
    global _language
    from tree_sitter import Language, Parser

    if _language is None:
        import tree_sitter_bash

        _language = Language(tree_sitter_bash.language())
    return Parser(_language).parse(script.encode("utf-8", "surrogateescape"))


def _text(node) -> str:
    return node.text.decode("utf-8", "surrogateescape")


def shell_script(argv: Sequence[str]) -> str | None:
    """The script of ``[bash|zsh|sh, -c|-lc, SCRIPT]`` (exactly three elements), else None.

    The shell must be a bare name or live in a system bin directory (see policy.programs.program_name).
    """
    if len(argv) != 3 or argv[1] not in SHELL_FLAGS:
        return None
    # Beyond Codex: `/tmp/bash -lc 'git status'` runs /tmp/bash, not the commands of its script.
    if program_name(argv[0]) not in SHELLS:
        return None
    return argv[2]


def _walk(node) -> Iterator:
    """Pre-order walk; iterative, so a deeply nested script cannot exhaust Python's stack."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def literal_word(node) -> str | None:
    """The literal text of a word-like node, or None if the shell would expand anything in it.

    Like Codex: no backslash unescaping, double quotes only with plain content, single quotes
    stripped, concatenations glued.
    """
    kind = node.type
    if kind in ("word", "number"):
        return _text(node)
    if kind == "raw_string":
        return _text(node)[1:-1]
    if kind == "string":
        for child in node.children:
            if child.is_named and child.type != "string_content":
                return None
        raw = _text(node)
        return raw[1:-1] if len(raw) >= 2 else None
    if kind == "concatenation":
        # Beyond Codex: `{a,b}` is brace expansion (`rm {-rf,x}` runs `rm -rf x`), not a literal.
        if any(child.type == "word" and _text(child) == "{" for child in node.children) and _BRACE.search(
            _text(node)
        ):
            return None
        parts = [literal_word(child) for child in node.children]
        if not parts or any(p is None for p in parts):
            return None
        return "".join(parts)  # type: ignore[arg-type]
    return None


def _tree_ok(root, nodes: frozenset[str], tokens: frozenset[str]) -> bool:
    if root.has_error:
        return False
    for node in _walk(root):
        if node.is_named:
            if node.type not in nodes:
                return False
        elif node.type not in tokens and node.type.strip():
            return False
    return True


def _command_words(node, *, loose: bool) -> ParsedCommand | None:
    words: list[str] = []
    redirects = False
    assignments: list[str] = []
    for child in node.children:
        if not child.is_named:
            continue
        kind = child.type
        if kind == "command_name":
            # `'git status'` is one program name "git status" (never safe, never matches).
            inner = child.children
            name = literal_word(inner[0]) if len(inner) == 1 else None
            if name is None:
                return None
            words.append(name)
        elif kind == "variable_assignment" and loose:
            value = [c for c in child.children if c.is_named and c.type != "variable_name"]
            if value and literal_word(value[0]) is None:
                return None
            assignments.append(_text(child))
        elif kind == "file_redirect" and loose:
            if not _redirect_literal(child):
                return None
            redirects = True
        elif kind == "comment" and loose:
            continue
        else:
            word = literal_word(child)
            if word is None:
                return None
            words.append(word)
    if not words:
        return None
    return ParsedCommand(words, redirects, assignments)


def _redirect_literal(node) -> bool:
    for child in node.children:
        if child.is_named and child.type != "file_descriptor" and literal_word(child) is None:
            return False
    return True


def parse_plain_commands(script: str, *, loose: bool = False) -> list[ParsedCommand] | None:
    """Split ``script`` into commands, or None if it uses anything beyond the accepted subset."""
    if not script.strip():
        return None
    root = _parse(script).root_node
    if not _tree_ok(root, _LOOSE_NODES if loose else _PLAIN_NODES, _LOOSE_TOKENS if loose else _PLAIN_TOKENS):
        return None
    commands: list[ParsedCommand] = []
    # tree-sitter attaches `a && b > f` to the whole list: every command inside is redirected.
    redirected: list[tuple[int, int]] = []
    for node in _walk(root):  # pre-order: a redirected_statement comes before its commands
        if node.type == "redirected_statement":
            for redirect in node.children:
                if redirect.type == "file_redirect" and not _redirect_literal(redirect):
                    return None
            redirected.append((node.start_byte, node.end_byte))
        elif node.type == "variable_assignment" and node.parent.type != "command":
            return None  # `PATH=/tmp/x; ls` changes what later commands run
        elif node.type == "command":
            cmd = _command_words(node, loose=loose)
            if cmd is None:
                return None
            if not cmd.redirects and any(a <= node.start_byte < b for a, b in redirected):
                cmd = ParsedCommand(cmd.argv, True, cmd.assignments)
            commands.append(cmd)
    return commands or None


def parse_heredoc_command_prefix(script: str) -> list[str] | None:
    """Codex's heredoc fallback: the words of the single literal command a heredoc feeds.

    ``python3 <<'PY' ... PY`` gives ``["python3"]``. Refused: several commands, file redirects,
    ``VAR=...`` prefixes (Codex gh #20113), a here-string with an expansion, and (beyond Codex)
    an unquoted heredoc whose body expands ``$(...)``/``$VAR``: the shell runs those before the
    command, so the command's words are not all that runs.
    """
    if not script.strip():
        return None
    root = _parse(script).root_node
    if root.has_error:
        return None
    commands = []
    has_heredoc = False
    for node in _walk(root):
        kind = node.type
        if kind == "command":
            commands.append(node)
        elif kind in ("heredoc_redirect", "herestring_redirect"):
            has_heredoc = True
        elif kind in _HEREDOC_REFUSED:
            return None
    if not has_heredoc or len(commands) != 1:
        return None
    words: list[str] = []
    for child in commands[0].children:
        if not child.is_named or child.type in ("heredoc_redirect", "herestring_redirect", "comment"):
            continue
        if child.type == "command_name":
            inner = child.children
            if len(inner) != 1 or inner[0].type != "word":
                return None
            words.append(_text(inner[0]))
            continue
        word = literal_word(child)
        if word is None:
            return None
        words.append(word)
    return words or None


def split_plain(argv: Sequence[str]) -> list[list[str]] | None:
    """Plain-mode split of a ``bash -lc`` argv (the known-safe check), or None."""
    script = shell_script(argv)
    if script is None:
        return None
    commands = parse_plain_commands(script)
    return None if commands is None else [c.argv for c in commands]


def split_for_exec_policy(argv: Sequence[str]) -> CommandSplit:
    """The argvs rules are evaluated against (Codex's ``commands_for_exec_policy``).

    Order: plain split, loose split (redirects/assignments), heredoc prefix, the whole argv.
    """
    script = shell_script(argv)
    if script is not None:
        commands = parse_plain_commands(script)
        if commands is not None:
            return CommandSplit(commands, "plain")
        commands = parse_plain_commands(script, loose=True)
        if commands is not None:
            return CommandSplit(commands, "loose")
        words = parse_heredoc_command_prefix(script)
        if words is not None:
            return CommandSplit([ParsedCommand(words)], "heredoc")
    return CommandSplit([ParsedCommand(list(argv))], "whole")


def literal_commands(script: str) -> list[list[str]]:
    """Every command with a literal name anywhere in ``script``; dynamic arguments are dropped.

    Used by the dangerous-command check, so it is liberal: parse errors do not stop it, and
    commands inside loops, conditionals, substitutions, subshells and functions all count.
    """
    out: list[list[str]] = []
    for node in _walk(_parse(script).root_node):
        if node.type != "command":
            continue
        words: list[str] = []
        for child in node.children:
            if not child.is_named:
                continue
            if child.type == "command_name":
                inner = child.children
                name = literal_word(inner[0]) if len(inner) == 1 else None
                if not name:
                    break
                words.append(name)
            elif child.type in _NOT_WORDS:
                continue
            elif words:
                word = literal_word(child)
                if word is not None:
                    words.append(word)
                elif child.type in ("concatenation", "brace_expression"):
                    # over-approximate brace expansion: every alternative counts as a word
                    words.extend(p for p in re.split(r"[{},]|\.\.", _text(child)) if p)
        if words:
            out.append(words)
    return out


_STDIN_SHELLS = SHELLS | {"dash", "ksh", "ash"}


def stdin_scripts(script: str) -> list[str]:
    """Scripts a shell in ``script`` reads from a heredoc or here-string (``bash <<EOF ... EOF``).

    Beyond Codex: its dangerous check never looks inside them, so ``sh <<< 'rm -rf x'`` passed.
    """
    out: list[str] = []

    def is_shell(command) -> bool:
        name = command.child_by_field_name("name")
        word = literal_word(name.children[0]) if name is not None and name.children else None
        return word is not None and os.path.basename(word) in _STDIN_SHELLS

    for node in _walk(_parse(script).root_node):
        if node.type == "redirected_statement":
            body = node.child_by_field_name("body")
            if body is not None and body.type == "command" and is_shell(body):
                for child in node.children:
                    if child.type == "heredoc_redirect":
                        out.extend(_text(c) for c in child.children if c.type == "heredoc_body")
        elif node.type == "command" and is_shell(node):
            for child in node.children:
                if child.type == "herestring_redirect":
                    operand = [c for c in child.children if c.is_named]
                    if operand:
                        text = literal_word(operand[0])
                        out.append(text if text is not None else _text(operand[0]))
    return out
