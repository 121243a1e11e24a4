"""Loaded policies kept on disk, keyed by the content of the rules files (and the engine).

``execpolicy check`` runs once per command, so re-parsing an unchanged 1,000-rule file each time
would dominate its cost. Two stores, both ``marshal`` data (primitives only; nothing executable),
both read only under the state-trust rules (cordon.policy.statetrust):

* the user cache, ``$XDG_CACHE_HOME/cordon/policies``: any file set this user loaded before;
* the shipped store, ``shipped.compiled`` beside this module: the shipped rule sets
  (``rules/*.rules``), each loaded once when Cordon is installed (setup.py, scripts/install.sh),
  so even the first ``execpolicy check --rules default`` on a machine skips Lark (importing it
  alone costs ~35 ms). Its entries are keyed by the content digest of the set *and* of the
  engine's source, so an edited set or engine never uses it.

A corrupt, foreign, exposed or unreadable entry is ignored: only slower, never different.
"""

from __future__ import annotations

import marshal
import os

from cordon.policy.fastpath import sha256

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


# --------------------------------------------------------------------------- the shipped store

SHIPPED_STORE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shipped.compiled")
STORE_FORMAT = 1


def engine_digest() -> bytes:
    """The engine's source by content (not by stat, unlike :func:`key`): the store is built in
    one place (a wheel's build folder) and used in another (the install)."""
    here = os.path.dirname(os.path.abspath(__file__))
    h = sha256()
    for rel in _ENGINE_FILES:
        try:
            with open(os.path.join(here, rel), "rb") as f:
                data = f.read()
        except OSError:
            data = b"\0missing"
        h.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.digest()


def shipped_key(version: str, given: str, content: bytes) -> str:
    h = sha256()
    h.update(b"shipped\0" + version.encode() + b"\0" + engine_digest())
    h.update(b"\0" + given.encode("utf-8", "surrogateescape") + b"\0" + content)
    return h.hexdigest()


def get_shipped(version: str, given: str, content: bytes, path: str | None = None):
    """The stored load of shipped set ``given`` with exactly this ``content``, or None.

    The store lies in the install, which a sandboxed command can write when the install is
    inside one of its writable roots (a virtualenv in the workspace): it is believed only when
    it is ours or root's, not writable by others, and not exposed to a recent launch."""
    path = path or SHIPPED_STORE
    if "/" in given or given.endswith(".rules") or not os.path.exists(path):
        return None  # only bare set names are stored (the rules record the name as given)
    from cordon.policy.statetrust import file_problem, recent_launches

    if file_problem(path, allow_root=True) or recent_launches().exposure(path):
        return None
    try:
        with open(path, "rb") as f:
            fmt, entries = marshal.loads(f.read())
        if fmt != STORE_FORMAT:
            return None
        tag, data = entries[given]
    except (OSError, ValueError, EOFError, TypeError, KeyError):
        return None
    return data if tag == shipped_key(version, given, content) else None
