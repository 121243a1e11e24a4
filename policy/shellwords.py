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


_UNQUOTED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-./:@]_")
_U, _S, _D = 1, 2, 4


def _strategy(s: str) -> tuple[int, int]:
    """Longest prefix of ``s`` one quoting style can hold, and that style (unquoted preferred).

    As the Rust crate: backslash and ``'`` never go in single quotes, ``!``, ``$``, backquote and
    ``^`` never in double quotes, and ``^`` only right after an opening single quote.
    """
    prev = _U | _S | _D
    i = 0
    if s[0] == "^":
        prev = _S
        i = 1
    while i < len(s):
        c = s[i]
        cur = prev
        if c not in _UNQUOTED:
            cur &= ~_U
        if c in "'\\^":
            cur &= ~_S
        if c in "!$`^":
            cur &= ~_D
        if not cur:
            break
        prev = cur
        i += 1
    return i, (_U if prev & _U else _S if prev & _S else _D)


def quote(word: str) -> str:
    """Quote one word for a POSIX shell exactly as the Rust ``shlex`` crate does (chunked quoting)."""
    if word == "":
        return "''"
    out: list[str] = []
    rest = word
    while rest:
        n, how = _strategy(rest)
        chunk, rest = rest[:n], rest[n:]
        if how == _U:
            out.append(chunk)
        elif how == _S:
            out.append("'" + chunk + "'")
        else:
            out.append('"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "".join(out)


def join(words) -> str:
    return " ".join(quote(w) for w in words)
