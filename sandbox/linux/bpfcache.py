"""The one thing a launch takes from Cordon's on-disk cache for the inner stage: the compiled
seccomp program (compiling it needs pyseccomp, ~30 ms of imports at every launch).

Nothing else is cached: the program that runs inside, its argv, the Landlock plan and
bubblewrap's arguments are rebuilt at every launch, so a planted entry can at most offer a
different filter, and an entry is used only when all of these hold:
  * the file passes the state-trust rules (cordon.policy.statetrust): ours, not writable by
    others, not inside a writable root of this launch or of a recent one that left it exposed;
  * its key (format, network mode, architecture, seccomp.py's identity, interpreter) matches;
  * the SHA-256 recorded with it matches the program (a torn or edited entry);
  * the program is whole instructions and begins with exactly the prefix
    ``seccomp.prefix_program()`` computes in this process (foreign-arch kill, x32 and
    unreviewed-number guards, the personality check).
Standard library only.
"""

from __future__ import annotations

import os
import sys

FORMAT = b"CORDONBPF2"


def _key(network: str) -> bytes:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        st = os.stat(os.path.join(here, "seccomp.py"))
        ident = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        ident = "?"
    return repr((network, os.uname().machine, os.uname().release, ident, sys.executable)).encode()


def _path(cache: str, network: str, key: bytes) -> str:
    import zlib

    return os.path.join(cache, f"seccomp-{network}-{zlib.crc32(key):08x}.bpf")


def sha256_of(data: bytes) -> bytes:
    from cordon.policy.fastpath import sha256

    return sha256(data).hexdigest().encode()


def load(cache: str, network: str, launches, roots) -> bytes | None:
    """The cached program for ``network``, or None (then the caller compiles it)."""
    from cordon.policy.statetrust import file_problem
    from cordon.sandbox.linux import seccomp

    key = _key(network)
    path = _path(cache, network, key)
    if not os.path.exists(path) or file_problem(path) or launches.exposure(path, roots):
        return None
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError:
        return None
    head, sep, program = blob.partition(b"\n\n")
    lines = head.split(b"\n")
    if not sep or len(lines) != 3 or lines[0] != FORMAT or lines[1] != key or lines[2] != sha256_of(program):
        return None
    if not program or len(program) % 8 or not program.startswith(seccomp.prefix_program()):
        return None
    return program


def store(cache: str, network: str, program: bytes, launches, roots) -> None:
    """Save ``program`` unless the cache folder itself is exposed (then it would not be read)."""
    if launches.exposure(os.path.join(cache, "x"), roots):
        return
    key = _key(network)
    path = _path(cache, network, key)
    try:
        os.makedirs(cache, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(b"\n".join((FORMAT, key, sha256_of(program))) + b"\n\n" + program)
        os.replace(tmp, path)
        _drop_stale(cache, keep=os.path.basename(path), network=network)
    except OSError:
        pass


def _drop_stale(cache: str, keep: str, network: str) -> None:
    """Older entries for the same mode, and the former whole-stage entries (``inner-*.bin``,
    which held other launches' policies, readable by a later sandbox)."""
    for e in os.scandir(cache):
        if e.name != keep and (e.name.startswith(f"seccomp-{network}-") or e.name.startswith("inner-")):
            try:
                os.unlink(e.path)
            except OSError:
                pass
