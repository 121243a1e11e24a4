"""Render load errors the way ``codex execpolicy check`` prints them (starlark-rust diagnostics).

Pure string formatting: a traceback of Starlark frames, ``error: <message>``, a ``-->``
location and a source snippet with carets (multi-line spans drawn with ``/ | |_^``).
"""

from __future__ import annotations


def _line(lines: list[str], n: int) -> str:
    return lines[n - 1] if 0 < n <= len(lines) else ""


def _frame_code(code: str) -> str:
    code = code.strip()
    return code if len(code) <= 80 else code[:77] + "..."


def snippet(path: str, lines: list[str], span) -> str:
    """`` --> path:l:c`` plus the annotated source lines for span (1-based, end exclusive)."""
    sl, sc, el, ec = span
    if el < sl or (el == sl and ec < sc):
        el, ec = sl, sc
    real = len(lines) - (1 if lines and lines[-1] == "" else 0)
    if el == sl + 1 and ec == 1:
        # A span that is just a line's newline: carets to the end of the line, and the next
        # line shown as context (when the file has one), as annotate-snippets draws it.
        shown = el if el <= real else sl
        w = len(str(shown))
        pad = " " * (w + 1)
        out = [f"{' ' * w}--> {path}:{sl}:{sc}", f"{pad}|", f"{sl:>{w}} | {_line(lines, sl)}"]
        out.append(f"{pad}| {' ' * (sc - 1)}{'^' * (len(_line(lines, sl)) + 2 - sc)}")
        if shown == el:
            out.append(f"{el:>{w}} | {_line(lines, el)}")
        out.append(f"{pad}|")
        return "\n".join(out) + "\n"
    if el > sl + 1 and ec == 1:
        # Runs to the start of a later line (an unfinished string up to the end of the file):
        # the bar is drawn down to the line before, without a closing marker.
        el -= 1
        w = len(str(el))
        pad = " " * (w + 1)
        out = [f"{' ' * w}--> {path}:{sl}:{sc}", f"{pad}|"]
        if sc == 1:
            out.append(f"{sl:>{w}} | / {_line(lines, sl)}")
        else:
            out.append(f"{sl:>{w}} |   {_line(lines, sl)}")
            out.append(f"{pad}|  {'_' * sc}^")
        for n in range(sl + 1, el + 1):
            out.append(f"{n:>{w}} | | {_line(lines, n)}")
        out.append(f"{pad}|")
        return "\n".join(out) + "\n"
    w = len(str(el))
    pad = " " * (w + 1)
    out = [f"{' ' * w}--> {path}:{sl}:{sc}", f"{pad}|"]
    if sl == el:
        out.append(f"{sl:>{w}} | {_line(lines, sl)}")
        out.append(f"{pad}| {' ' * (sc - 1)}{'^' * (ec - sc)}")  # a zero-width span has no caret
    else:
        if sc == 1:
            out.append(f"{sl:>{w}} | / {_line(lines, sl)}")
        else:
            out.append(f"{sl:>{w}} |   {_line(lines, sl)}")
            out.append(f"{pad}|  {'_' * sc}^")
        for n in range(sl + 1, el + 1):
            out.append(f"{n:>{w}} | | {_line(lines, n)}")
        last = ec - 1
        out.append(f"{pad}| |{'_' * last}^")
    out.append(f"{pad}|")
    return "\n".join(out) + "\n"


def render_outside(path: str, message: str) -> str:
    """An error located past the end of the file (starlark-rust draws no source line)."""
    return f"starlark error: error: {message}\n--> {path}:1:1\n |\n |\n"


def render_static(path: str, lines: list[str], message: str, span) -> str:
    """A parse/compile error (no traceback)."""
    return f"starlark error: error: {message}\n" + snippet(path, lines, span)


def render_runtime(path: str, lines: list[str], message: str, span, frames) -> str:
    """A runtime error with the Starlark traceback."""
    out = ["starlark error: Traceback (most recent call last):"]
    for name, pos in frames:
        if pos is None:
            continue
        out.append(f"  * {path}:{pos[0]}, in {name}")
        out.append(f"      {_frame_code(_line(lines, pos[0]))}")
    if len(out) == 1:
        out = []
        return f"starlark error: error: {message}\n" + snippet(path, lines, span)
    return "\n".join(out) + f"\nerror: {message}\n" + snippet(path, lines, span)


def envelope(kind: str, path: str, body: str) -> str:
    """anyhow's ``Error: ... / Caused by:`` text, the body indented by 4 spaces."""
    head = f"Error: failed to {kind} policy at {path}\n\nCaused by:\n"
    return head + "\n".join("    " + ln for ln in body.split("\n")) + "\n"
