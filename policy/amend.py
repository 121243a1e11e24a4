"""Amendments: append an "approve and remember" rule to a ``.rules`` file, as Codex does.

One line per rule, tokens JSON-encoded and joined by ``", "``; the file is opened for append,
locked exclusively (``fcntl.flock``), read whole, left alone if an identical line exists, given a
trailing newline if it lacks one, and the new line is written with a single ``write`` so a
concurrent writer or a crash never leaves half a rule. The only file-writing module in policy/.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from cordon.policy.errors import PolicyError

NETWORK_DECISIONS = ("allow", "deny")  # Codex's writer also allows "ask", its parser rejects it
NETWORK_PROTOCOLS = ("http", "https")


def _quote(token: str) -> str:
    # serde_json == json.dumps(ensure_ascii=False): `"` and `\` escaped, controls as \n or \u00XX,
    # non-ASCII raw; every JSON escape is also a valid Starlark escape.
    return json.dumps(token, ensure_ascii=False)


def format_allow_rule(prefix: Sequence[str]) -> str:
    """``prefix_rule(pattern=["echo", "hi"], decision="allow")`` (no newline)."""
    if not prefix:
        raise ValueError("an amendment needs at least one token")
    if any(not isinstance(t, str) for t in prefix):
        raise TypeError("amendment tokens must be strings")
    return f'prefix_rule(pattern=[{", ".join(_quote(t) for t in prefix)}], decision="allow")'


def format_network_rule(host: str, protocol: str, decision: str, justification: str | None = None) -> str:
    """``network_rule(host="example.com", protocol="https", decision="allow")`` (no newline)."""
    if not host:
        raise ValueError("a network rule needs a host")
    if protocol not in NETWORK_PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(NETWORK_PROTOCOLS)}, not {protocol!r}")
    if decision not in NETWORK_DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(NETWORK_DECISIONS)}, not {decision!r}")
    line = f"network_rule(host={_quote(host)}, protocol={_quote(protocol)}, decision={_quote(decision)}"
    if justification is not None:
        line += f", justification={_quote(justification)}"
    return line + ")"


def append_allow_rule(path: str | os.PathLike, prefix: Sequence[str]) -> bool:
    """Append an allow rule for ``prefix`` to ``path``; False if that exact line already exists."""
    return append_rule_line(path, format_allow_rule(prefix))


def append_network_rule(
    path: str | os.PathLike, host: str, protocol: str, decision: str, justification: str | None = None
) -> bool:
    """Append a ``network_rule`` line (Codex's network-approval amendment)."""
    return append_rule_line(path, format_network_rule(host, protocol, decision, justification))


def append_rule_line(path: str | os.PathLike, line: str) -> bool:
    """The write protocol shared by both amendment kinds. Returns True if the line was written."""
    import fcntl

    if "\n" in line or "\r" in line:
        raise ValueError("a rule line must not contain a newline")
    target = Path(path)
    # Codex creates the rules directory itself (one level), never its parents.
    if not target.parent.exists():
        try:
            target.parent.mkdir()
        except OSError as exc:
            raise PolicyError(f"cannot create rules directory: {exc.strerror}", str(target.parent)) from exc
    try:
        fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise PolicyError(f"cannot open rules file for append: {exc.strerror}", str(target)) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        existing = _read_all(fd)
        text = existing.decode("utf-8", "surrogateescape")
        # Rust's str::lines(): split on \n, drop one trailing \r.
        if any(old.removesuffix("\r") == line for old in text.split("\n")):
            return False
        payload = ("" if not existing or existing.endswith(b"\n") else "\n") + line + "\n"
        data = payload.encode("utf-8")
        try:
            written = os.write(fd, data)
        except OSError:
            os.ftruncate(fd, len(existing))  # still under the lock: leave no half rule behind
            raise
        if written != len(data):  # a short write on a regular file means the disk is full
            os.ftruncate(fd, len(existing))
            raise PolicyError(f"short write ({written} of {len(data)} bytes)", str(target))
        os.fsync(fd)
        return True
    except OSError as exc:
        raise PolicyError(f"cannot append rule: {exc.strerror}", str(target)) from exc
    finally:
        os.close(fd)  # releases the lock


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, 1 << 16, offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)
