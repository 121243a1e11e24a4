"""On-disk cache of loaded policies, keyed by the content of every rules file (and the engine).

``execpolicy check`` runs once per command, so re-parsing an unchanged 1,000-rule file each time
would dominate its cost. Entries are ``marshal`` data (primitives only; nothing executable) in
``$XDG_CACHE_HOME/cordon/policies``; a corrupt, foreign or unreadable entry is ignored.
"""

from __future__ import annotations

import marshal
import os

try:  # the bare C module: `hashlib` would load OpenSSL (milliseconds) on the hot path
    from _sha256 import sha256
except ImportError:  # pragma: no cover - Python >= 3.12 names it _sha2
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

_ENGINE_FILES = (
    "engine.py",
    "rules.py",
    "builtins.py",
    "shellwords.py",
    "starlark/syntax.py",
    "starlark/interp.py",
    "starlark/stdlib.py",
    "starlark/starlark.lark",
)


def cache_dir() -> str:
    from cordon.policy.statetrust import cache_root

    return os.path.join(cache_root(), "policies")


def _engine_stamp() -> bytes:
    # Source stat stamps make a changed engine (e.g. an editable install being edited) miss the cache.
    here = os.path.dirname(os.path.abspath(__file__))
    parts = []
    for rel in _ENGINE_FILES:
        try:
            st = os.stat(os.path.join(here, rel))
            parts.append(f"{rel}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(rel)
    return "|".join(parts).encode()


def key(version: str, inputs) -> str:
    h = sha256()
    h.update(version.encode() + b"\0" + _engine_stamp() + b"\0")
    for given, content in inputs:
        data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
        h.update(given.encode("utf-8", "surrogateescape") + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def get(k: str):
    """The entry for ``k``, or None. Parsed rules decide what is allowed, so an entry is only
    read under the state-trust rules (cordon.policy.statetrust): ours, not writable by others,
    not inside a writable root of a recent sandbox that left it exposed."""
    from cordon.policy.statetrust import file_problem, recent_launches

    path = os.path.join(cache_dir(), k[:2], k)
    if not os.path.exists(path) or file_problem(path) or recent_launches().exposure(path):
        return None
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_uid != os.geteuid():
                return None  # only trust entries this user wrote (marshal data is not for strangers)
            blob = f.read()
        tag, data = marshal.loads(blob)
        return data if tag == k else None
    except (OSError, ValueError, EOFError, TypeError):
        return None


def put(k: str, data) -> None:
    d = os.path.join(cache_dir(), k[:2])
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        tmp = os.path.join(d, f".{k}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(marshal.dumps((k, data), 4))
        os.replace(tmp, os.path.join(d, k))
    except (OSError, ValueError):
        pass  # a cache that cannot be written is just a slower run
