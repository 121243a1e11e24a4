"""When Cordon may believe a file it (or anyone) left on disk earlier: a cache entry, the user
config. The rules of docs/security-model.md ("State that outlives a launch"), in one place.

A sandboxed command can write whatever lies inside its writable roots. Anything Cordon reads
back at a later launch (a compiled seccomp program, the bubblewrap probe, a parsed rules file,
``config.toml``) is therefore believed only when:

1. it is a regular file (not a symlink) owned by this user (the config may also be root's),
   not writable by group or others, in a folder with the same properties;
2. it does not lie inside a writable root of a recent launch that did not protect it. Every
   bubblewrap launch records its writable roots and the state folders it kept read-only (with
   their ancestors pinned) in the *launch journal* (``<cache>/state/launches``), which is
   itself hidden inside every sandbox; the last ``JOURNAL_KEEP`` distinct launches count as
   recent. A ``--fallback landlock`` launch protects nothing inside its roots and records so.

Callers add the current launch's roots for caches: a cache entry inside a writable root of the
launch being prepared is not used at all (only slower, never weaker).

Standard library only: this runs on every ``sandbox run`` and ``execpolicy check``.
"""

from __future__ import annotations

import os
import stat

from cordon.paths import within

JOURNAL_KEEP = 64  # distinct launches remembered
_JOURNAL_MAX_BYTES = 4 << 20  # a larger journal is not ours to parse: nothing is trusted


def cache_root(environ=None) -> str:
    """``$XDG_CACHE_HOME/cordon`` (default ``~/.cache/cordon``)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".cache"
    )
    return os.path.join(base, "cordon")


def state_dir(environ=None) -> str:
    """Per-launch state (the launch journal, seen carve-outs): hidden inside every sandbox."""
    return os.path.join(cache_root(environ), "state")


def journal_path(environ=None) -> str:
    return os.path.join(state_dir(environ), "launches")


def _owner_problem(st, what: str, owners) -> str | None:
    if st.st_uid not in owners:
        return f"{what} is owned by uid {st.st_uid}, not by this user ({os.geteuid()})"
    if st.st_mode & 0o022:
        return f"{what} is writable by group or others (mode {stat.filemode(st.st_mode)})"
    return None


def file_problem(path: str, *, allow_root: bool = False) -> str | None:
    """Rule 1 for ``path`` and its folder: why it must not be believed, or None."""
    owners = {os.geteuid(), 0} if allow_root else {os.geteuid()}
    try:
        st = os.lstat(path)
    except OSError as e:
        return f"cannot be inspected ({e.strerror})"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file" + (" (a symlink)" if stat.S_ISLNK(st.st_mode) else "")
    why = _owner_problem(st, "it", owners)
    if why:
        return why
    folder = os.path.dirname(os.path.abspath(path))
    try:
        dst = os.stat(folder)
    except OSError as e:
        return f"its folder cannot be inspected ({e.strerror})"
    return _owner_problem(dst, f"its folder {folder}", owners | {0})


class Launches:
    """The recorded launches: ``records`` is a list of (writable roots, protected paths)."""

    __slots__ = ("known", "records")

    def __init__(self, records: list[tuple[tuple[str, ...], tuple[str, ...]]], known: bool = True) -> None:
        self.records = records
        self.known = known  # False: the journal exists but is not trustworthy itself

    def exposure(self, path: str, current_roots=()) -> str | None:
        """Rule 2 (and, for caches, ``current_roots``): why a sandbox may have written ``path``."""
        real = os.path.realpath(path)
        for r in current_roots:
            r = os.fspath(r)
            if within(real, r):
                return f"it lies inside {r}, a writable root of this launch"
        if not self.known:
            return "the launch journal is not trustworthy (see file_problem), so no state is"
        for roots, protected in self.records:
            for r in roots:
                if within(real, r) and not any(within(real, p) for p in protected):
                    return f"it lies inside {r}, a writable root of a recent launch that did not protect it"
        return None


def _parse(blob: bytes) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    out = []
    text = blob.decode("utf-8", "surrogateescape")  # os.fsdecode's result, for the whole file at once
    for rec in text.split("\0\n"):
        if rec:
            fields = rec.split("\0")
            out.append(
                (tuple(f[1:] for f in fields if f[:1] == "R"), tuple(f[1:] for f in fields if f[:1] == "P"))
            )
    return out


def _encode(record: tuple[tuple[str, ...], tuple[str, ...]]) -> bytes:
    roots, protected = record
    fields = [b"R" + os.fsencode(r) for r in roots] + [b"P" + os.fsencode(p) for p in protected]
    return b"\0".join(fields) + b"\0\n"


def recent_launches(environ=None) -> Launches:
    """The launch journal (empty when there is none yet)."""
    path = journal_path(environ)
    if not os.path.lexists(path):
        return Launches([])
    if file_problem(path, allow_root=True):  # root's too: a `sudo` run with this HOME writes it
        return Launches([], known=False)
    try:
        with open(path, "rb") as f:
            blob = f.read(_JOURNAL_MAX_BYTES + 1)
    except OSError:
        return Launches([], known=False)
    if len(blob) > _JOURNAL_MAX_BYTES:
        return Launches([], known=False)
    return Launches(_parse(blob))


def record_launch(roots, protected, environ=None, launches: Launches | None = None) -> None:
    """Add this launch's (writable roots, protected state) to the journal, unless the same
    record is there already; keep the last JOURNAL_KEEP distinct ones. Best effort: a journal
    that cannot be written only makes later checks know less (they then rely on rule 1 and on
    the current launch's roots)."""
    import fcntl

    record = (tuple(os.fspath(r) for r in roots), tuple(sorted(set(os.fspath(p) for p in protected))))
    if not record[0]:
        return
    launches = recent_launches(environ) if launches is None else launches
    if launches.known and record in launches.records:
        return
    path = journal_path(environ)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError:
        return
    try:
        if file_problem(path, allow_root=True):
            return  # someone else's journal: leave it alone (every check then trusts nothing)
        fcntl.flock(fd, fcntl.LOCK_EX)
        blob = b""
        while chunk := os.read(fd, 1 << 16):
            blob += chunk
        records = [r for r in _parse(blob) if r != record] + [record]
        if len(records) > JOURNAL_KEEP or len(records) <= len(_parse(blob)):
            # compact: rewrite in place, the lock still held (a rename would drop it)
            data = b"".join(_encode(r) for r in records[-JOURNAL_KEEP:])
            os.ftruncate(fd, 0)
            os.write(fd, data)
        else:
            os.write(fd, _encode(record))
    except OSError:
        pass
    finally:
        os.close(fd)
