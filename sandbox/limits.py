"""Resource limits: the six keys, their values, and how they are written and shown.

``--limit KEY=VALUE`` (CLI), the ``[limits]`` config table, ``SandboxPolicy.limits`` and the
MCP server's options all go through ``parse``: one place says what a valid value is, and a
bad one is a ``ConfigError`` naming the key (exit 2). Backends receive plain numbers (bytes,
counts, seconds) in a ``Limits`` with one field per key (``file_size`` for file-size).

Owns: the keys, parsing, formatting, the default size of the private /tmp. Must not touch:
how a backend enforces a limit (sandbox.linux.limits, the macOS and Windows plans).
Standard library only: the ``sandbox run`` hot path imports it.
"""

from __future__ import annotations

import os

from cordon.sandbox.errors import ConfigError
from cordon.sandbox.frozen import Frozen


class Limits(Frozen):
    """Resource limits as numbers (bytes, counts, seconds), None for no limit (a ResolvedPolicy's)."""

    memory: int | None = None
    pids: int | None = None
    cpu: float | None = None
    wall: float | None = None
    file_size: int | None = None
    tmp: int | None = None


# key -> (attribute, kind, what it limits). Kinds: size (bytes), count, seconds.
KEYS: dict[str, tuple[str, str, str]] = {
    "memory": ("memory", "size", "memory of the command's whole tree"),
    "pids": ("pids", "count", "processes and threads of the tree"),
    "cpu": ("cpu", "seconds", "CPU time of the tree"),
    "wall": ("wall", "seconds", "wall-clock time; then the whole sandbox is ended"),
    "file-size": ("file_size", "size", "the largest file the command may write"),
    "tmp": ("tmp", "size", "the private /tmp and /dev/shm, each"),
}
ATTRS = {attr: key for key, (attr, _, _) in KEYS.items()}
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
# The private /tmp and /dev/shm when no tmp= is given: a quarter of RAM, at most 4 GiB
# (bubblewrap's own default is half of RAM, each).
DEFAULT_TMP_CAP = 4 << 30
# wall=: the command gets SIGTERM at the limit and this long to finish before SIGKILL.
WALL_GRACE = 2.0
EXAMPLES = {"size": "512M", "count": "100", "seconds": "30"}


def key_of(name: str) -> str:
    """A key as written (``file-size``) or as an attribute (``file_size``) -> the key."""
    if name in KEYS:
        return name
    if name in ATTRS:
        return ATTRS[name]
    raise ConfigError(f"unknown limit (known: {', '.join(KEYS)})", field=f"limits.{name}")


def parse(key: str, value, source: str | None = None):
    """One value -> bytes (int), a count (int) or seconds (float); ConfigError naming the key."""
    key = key_of(key)
    kind = KEYS[key][1]
    field = f"limits.{key}"
    try:
        if isinstance(value, bool):
            raise ValueError
        if kind == "size":
            n = _size(value)
        elif kind == "count":
            n = int(value) if isinstance(value, int) else int(str(value).strip(), 10)
        else:
            n = _seconds(value)
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(f"expected {_expected(kind)}, got {value!r}", field=field, source=source) from None
    if not n > 0:
        raise ConfigError(f"must be greater than 0, got {value!r}", field=field, source=source)
    return n


def _expected(kind: str) -> str:
    return {
        "size": "a size like 512M, 2G or a number of bytes (units K, M, G, T: powers of 1024)",
        "count": "a whole number like 100",
        "seconds": "seconds like 30, 1.5, 10m or 2h",
    }[kind]


def _size(value) -> int:
    if isinstance(value, int):
        return value
    s = str(value).strip()
    if s[-2:].lower() == "ib":
        s = s[:-2]
    elif s[-1:] in ("B", "b") and len(s) > 1 and s[-2:-1].isalpha():
        s = s[:-1]
    unit = s[-1:].upper() if s[-1:].isalpha() else ""
    number = s[: -1 if unit else None].strip()
    if unit not in _SIZE_UNITS or not number or not number.replace(".", "", 1).isdigit():
        raise ValueError(value)
    return int(float(number) * _SIZE_UNITS[unit]) if "." in number else int(number) * _SIZE_UNITS[unit]


def _seconds(value) -> float:
    if isinstance(value, (int, float)):
        f = float(value)
    else:
        s = str(value).strip()
        unit = s[-1:] if s[-1:].isalpha() else ""
        number = s[: -1 if unit else None].strip()
        if unit not in _TIME_UNITS or not number.replace(".", "", 1).isdigit():
            raise ValueError(value)
        f = float(number) * _TIME_UNITS[unit]
    if f != f or f in (float("inf"),):
        raise ValueError(value)
    return f


def parse_items(items, source: str | None = None) -> dict:
    """``KEY=VALUE`` strings (``--limit``) or a table (``[limits]``) -> {key: number}."""
    out: dict = {}
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            k, sep, v = str(item).partition("=")
            if not sep or not k.strip():
                raise ConfigError(
                    f"expected KEY=VALUE (keys: {', '.join(KEYS)}), got {item!r}",
                    field="limits",
                    source=source,
                )
            pairs.append((k.strip(), v.strip()))
    for k, v in pairs:
        key = key_of(str(k)) if str(k) in KEYS or str(k) in ATTRS else None
        if key is None:
            raise ConfigError(
                f"unknown limit {k!r} (known: {', '.join(KEYS)})", field=f"limits.{k}", source=source
            )
        out[key] = parse(key, v, source)
    return out


def show(key: str, n) -> str:
    """A limit as people write it: 512M, 40, 1s, 2.5s."""
    kind = KEYS[key_of(key)][1]
    if n is None:
        return "none"
    if kind == "size":
        for unit in ("T", "G", "M", "K"):
            if n % _SIZE_UNITS[unit] == 0:
                return f"{n // _SIZE_UNITS[unit]}{unit}"
        return f"{n}B" if n < 1024 else f"{n / (1 << 20):.1f}M"
    if kind == "seconds":
        return f"{int(n)}s" if float(n).is_integer() else f"{n:g}s"
    return str(n)


def reached(key: str, value, detail: str) -> str:
    """The one sentence every platform prints (after ``sandbox: ``) when a limit ended or
    stopped the command, and the library result carries: ``memory limit 512M reached; ...``."""
    return f"{key_of(key)} limit {show(key, value)} reached; {detail}"


def refusal(where: str, lost) -> Exception:
    """The SandboxError (exit 125) for limits nothing on this platform can enforce.
    ``lost``: (key, shown value, why) for each."""
    from cordon.sandbox.errors import SandboxError

    why = "; ".join(f"{key}={shown}: {reason}" for key, shown, reason in lost)
    return SandboxError(
        f"cannot enforce the resource limit(s) asked for {where} ({why}); refusing to run "
        "(--allow-unenforced limits runs without them)"
    )


def default_tmp_size() -> int:
    """The private /tmp's size (and /dev/shm's) when tmp= is not given: well below RAM."""
    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return DEFAULT_TMP_CAP
    quarter = (ram // 4) >> 20 << 20  # whole MiB
    return max(min(quarter, DEFAULT_TMP_CAP), 64 << 20)


def resolve(limits):
    """A policy's limits (a mapping of key -> value as ``parse`` reads it, or ``Limits``) -> the
    ``Limits`` backends use: one field per key (``file_size`` for file-size), a number or None."""
    if isinstance(limits, Limits):
        return limits
    given = {}
    for k, v in dict(limits or {}).items():
        if v is None:
            continue
        key = key_of(str(k))
        given[KEYS[key][0]] = parse(key, v)
    return Limits(**{attr: given.get(attr) for attr, _, _ in KEYS.values()})
