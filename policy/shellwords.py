"""POSIX word splitting and quoting as Codex uses them for rule examples (the Rust `shlex` crate).

Not Python's :mod:`shlex`: here ``#`` starts a comment only at the start of a word
(``a b#c`` -> ``["a", "b#c"]``), and an unterminated quote or a trailing backslash is an
error (``None``), never a guess.
"""

from __future__ import annotations

_WS = " \t\n"


def split(s: str) -> list[str] | None:
    """Split ``s`` into words; None when the quoting is invalid."""
    words: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in _WS:
            i += 1
            continue
        if c == "#":
            nl = s.find("\n", i)
            if nl < 0:
                break
            i = nl + 1
            continue
        word: list[str] = []
        while i < n and s[i] not in _WS:
            c = s[i]
            if c == "\\":
                if i + 1 >= n:
                    return None
                if s[i + 1] != "\n":
                    word.append(s[i + 1])
                i += 2
            elif c == "'":
                end = s.find("'", i + 1)
                if end < 0:
                    return None
                word.append(s[i + 1 : end])
                i = end + 1
            elif c == '"':
                i += 1
                while True:
                    if i >= n:
                        return None
                    c = s[i]
                    if c == '"':
                        i += 1
                        break
                    if c == "\\":
                        if i + 1 >= n:
                            return None
                        nxt = s[i + 1]
                        if nxt in '$`"\\':
                            word.append(nxt)
                        elif nxt != "\n":
                            word.append("\\" + nxt)
                        i += 2
                    else:
                        word.append(c)
                        i += 1
            else:
                word.append(c)
                i += 1
        words.append("".join(word))
    return words


_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789,._+:@%/-=")


def quote(word: str) -> str:
    """Quote one word for a POSIX shell, the way the Rust `shlex` crate's ``try_join`` does."""
    if word == "":
        return "''"
    if all(c in _SAFE for c in word) and word[0] not in "=":
        return word
    if "'" not in word:
        return "'" + word + "'"
    out = ['"']
    for c in word:
        if c in '$`"\\':
            out.append("\\")
        out.append(c)
    out.append('"')
    return "".join(out)


def join(words) -> str:
    return " ".join(quote(w) for w in words)
