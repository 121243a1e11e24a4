"""Locating a chunk in a file: Codex's four-pass fuzzy line search, and computing the new text.

A file is a list of ``Line`` (text, ending) so that every untouched line keeps its own ending
(``\\n``, ``\\r\\n`` or a lone ``\\r``); lines the patch adds take the file's style, which is the
ending of its first line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

from policy.errors import PatchError
from policy.patch.model import Chunk
from policy.patch.parser import _WS

_ENDING = re.compile(r"\r\n|\n|\r")

# Typographic look-alikes a model tends to emit in place of ASCII (pass 4 only).
_PUNCT = str.maketrans(
    {
        **dict.fromkeys(["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212"], "-"),
        **dict.fromkeys(["\u2018", "\u2019", "\u201a", "\u201b"], "'"),
        **dict.fromkeys(["\u201c", "\u201d", "\u201e", "\u201f"], '"'),
        **dict.fromkeys(
            ["\u00a0", *(chr(c) for c in range(0x2002, 0x200B)), "\u202f", "\u205f", "\u3000"], " "
        ),
    }
)


class Line(NamedTuple):
    text: str
    ending: str


def split_file(content: str) -> list[Line]:
    """Split file content into lines, each with its own ending; no empty line after a final newline."""
    lines: list[Line] = []
    pos = 0
    for m in _ENDING.finditer(content):
        lines.append(Line(content[pos : m.start()], m.group()))
        pos = m.end()
    if pos < len(content):
        lines.append(Line(content[pos:], ""))
    return lines


def file_style(lines: Sequence[Line]) -> str:
    for line in lines:
        if line.ending:
            return line.ending
    return "\n"


def _passes() -> tuple[Callable[[str], str], ...]:
    return (
        lambda s: s,
        lambda s: s.rstrip(_WS),
        lambda s: s.strip(_WS),
        lambda s: s.strip(_WS).translate(_PUNCT),
    )


_PASSES = _passes()


def seek_sequence(lines: Sequence[str], pattern: Sequence[str], start: int, eof: bool) -> int | None:
    """First index >= ``start`` where ``pattern`` occurs, trying ever looser comparisons in turn.

    With ``eof`` the pattern may only sit at the very end of the file (Codex does not fall back).
    """
    if not pattern:
        return start
    if len(pattern) > len(lines):
        return None
    first = len(lines) - len(pattern) if eof else start
    last = len(lines) - len(pattern)
    for norm in _PASSES:
        want = [norm(p) for p in pattern]
        for i in range(first, last + 1):
            if all(norm(lines[i + j]) == want[j] for j in range(len(want))):
                return i
    return None


def compute_update(content: str, chunks: Sequence[Chunk], display_path: str) -> str:
    """Apply ``chunks`` to ``content`` as Codex does; raise PatchError(kind="apply") if a chunk is missing."""
    lines = split_file(content)
    texts = [line.text for line in lines]
    style = file_style(lines)
    if lines and not lines[-1].ending:
        # The result always ends with a newline in the file's style, so give the last line one now
        # (lines appended after it must not run into it).
        lines[-1] = Line(lines[-1].text, style)
    replacements: list[tuple[int, int, list[Line]]] = []
    cursor = 0
    for chunk in chunks:
        if chunk.context is not None:
            at = seek_sequence(texts, [chunk.context], cursor, False)
            if at is None:
                raise PatchError(f"Failed to find context '{chunk.context}' in {display_path}", kind="apply")
            cursor = at + 1
        origins = list(chunk.origins) or [None] * len(chunk.new_lines)
        if not chunk.old_lines:
            # Pure additions go at the end of the file, whatever the @@ context said.
            replacements.append((len(lines), 0, [Line(t, style) for t in chunk.new_lines]))
            continue
        pattern = list(chunk.old_lines)
        new = list(chunk.new_lines)
        at = seek_sequence(texts, pattern, cursor, chunk.end_of_file)
        if at is None and pattern[-1] == "":
            # A trailing empty context line often stands for the file's final newline: retry without it.
            pattern.pop()
            if new and new[-1] == "":
                new.pop()
                origins.pop()
            at = seek_sequence(texts, pattern, cursor, chunk.end_of_file)
        if at is None:
            raise PatchError(
                f"Failed to find expected lines in {display_path}:\n" + "\n".join(chunk.old_lines),
                kind="apply",
            )
        built = [
            lines[at + o] if o is not None and o < len(pattern) else Line(text, style)
            for text, o in zip(new, origins, strict=True)
        ]
        replacements.append((at, len(pattern), built))
        cursor = at + len(pattern)
    replacements.sort(key=lambda r: r[0])
    for at, length, built in reversed(replacements):
        lines[at : at + length] = built
    return "".join(text + ending for text, ending in lines)
