"""Locating a chunk in a file: Codex's four-pass fuzzy line search, and computing the new text.

A file is split into line texts and their endings (``\\n``, ``\\r\\n`` or a lone ``\\r``) so
that every untouched line keeps its own ending; lines the patch adds take the file's style, which is
the ending of its first line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from cordon.policy.errors import PatchError
from cordon.policy.patch.model import Chunk
from cordon.policy.patch.parser import WHITESPACE

_ENDING = re.compile(r"(\r\n|\n|\r)")

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


def split_file(content: str) -> tuple[list[str], list[str]]:
    """Line texts and their endings; no empty line after a final line ending."""
    if "\r" not in content:
        texts = content.split("\n")
        endings = ["\n"] * len(texts)
        endings[-1] = ""
    else:
        parts = _ENDING.split(content)  # text, ending, text, ending, ..., text
        texts, endings = parts[0::2], [*parts[1::2], ""]
    if texts[-1] == "":
        texts.pop()
        endings.pop()
    return texts, endings


def file_style(endings: Sequence[str]) -> str:
    return next((e for e in endings if e), "\n")


_PASSES: tuple[Callable[[str], str], ...] = (
    lambda s: s,
    lambda s: s.rstrip(WHITESPACE),
    lambda s: s.strip(WHITESPACE),
    lambda s: s.strip(WHITESPACE).translate(_PUNCT),
)


class Lines:
    """A file's line texts with each pass's normalised form computed once (large files, many chunks)."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self._norm: list[list[str] | None] = [self.texts, None, None, None]

    def __len__(self) -> int:
        return len(self.texts)

    def normalised(self, k: int) -> list[str]:
        cached = self._norm[k]
        if cached is None:
            cached = self._norm[k] = [_PASSES[k](t) for t in self.texts]
        return cached


def seek_sequence(lines: Sequence[str] | Lines, pattern: Sequence[str], start: int, eof: bool) -> int | None:
    """First index >= ``start`` where ``pattern`` occurs, trying ever looser comparisons in turn.

    With ``eof`` the pattern may only sit at the very end of the file, and never before ``start``
    (Codex does not fall back to searching elsewhere).
    """
    index = lines if isinstance(lines, Lines) else Lines(lines)
    if not pattern:
        return start
    size = len(pattern)
    if size > len(index):
        return None
    first = max(start, len(index) - size) if eof else start
    last = len(index) - size
    for k, norm in enumerate(_PASSES):
        want = [norm(p) for p in pattern]
        hay = index.normalised(k)
        head = want[0]
        i = first
        while i <= last:
            try:
                i = hay.index(head, i, last + 1)  # jump to the next candidate at C speed
            except ValueError:
                break
            if hay[i : i + size] == want:
                return i
            i += 1
    return None


def _segments(
    at: int, length: int, new: Sequence[str], origins: Sequence[int | None]
) -> list[tuple[int, int, list[str]]]:
    """Split one matched chunk into edits between its context lines.

    Context lines are left alone (they keep the file's own text and ending); each run of removed
    and added lines between them becomes one replacement, as Codex 0.169 does. This matters when
    two chunks insert at the same place: edits at one index keep patch order.
    """
    edits: list[tuple[int, int, list[str]]] = []
    old_pos = new_pos = 0
    anchors = [(i, o) for i, o in enumerate(origins) if o is not None and o < length]
    for new_index, old_index in [*anchors, (len(new), length)]:
        added = list(new[new_pos:new_index])
        if old_index > old_pos or added:
            edits.append((at + old_pos, old_index - old_pos, added))
        old_pos, new_pos = old_index + 1, new_index + 1
    return edits


def compute_update(content: str, chunks: Sequence[Chunk], display_path: str) -> str:
    """Apply ``chunks`` to ``content`` as Codex does; raise PatchError(kind="apply") if a chunk is missing."""
    texts, endings = split_file(content)
    index = Lines(texts)
    style = file_style(endings)
    if endings and not endings[-1]:
        # The result always ends with a newline in the file's style, so give the last line one now
        # (lines appended after it must not run into it).
        endings[-1] = style
    replacements: list[tuple[int, int, list[str]]] = []
    cursor = 0
    for chunk in chunks:
        if chunk.context is not None:
            at = seek_sequence(index, [chunk.context], cursor, False)
            if at is None:
                raise PatchError(f"Failed to find context '{chunk.context}' in {display_path}", kind="apply")
            cursor = at + 1
        origins = list(chunk.origins) or [None] * len(chunk.new_lines)
        if not chunk.old_lines:
            # Pure additions go at the end of the file, whatever the @@ context said.
            replacements.append((len(texts), 0, list(chunk.new_lines)))
            continue
        pattern = list(chunk.old_lines)
        new = list(chunk.new_lines)
        at = seek_sequence(index, pattern, cursor, chunk.end_of_file)
        if at is None and pattern[-1] == "":
            # A trailing empty context line often stands for the file's final newline: retry without it.
            pattern.pop()
            if new and new[-1] == "":
                new.pop()
                origins.pop()
            at = seek_sequence(index, pattern, cursor, chunk.end_of_file)
        if at is None:
            raise PatchError(
                f"Failed to find expected lines in {display_path}:\n" + "\n".join(chunk.old_lines),
                kind="apply",
            )
        replacements.extend(_segments(at, len(pattern), new, origins))
        cursor = at + len(pattern)
    replacements.sort(key=lambda r: r[0])
    for at, length, added in reversed(replacements):
        texts[at : at + length] = added
        endings[at : at + length] = [style] * len(added)
    if style == "\n" and all(e == "\n" for e in endings):
        return "\n".join(texts) + "\n" if texts else ""
    return "".join([piece for pair in zip(texts, endings, strict=True) for piece in pair])
