"""Host unix sockets a sandbox could reach by path: found here, masked by the outer wall.

With the network off or proxied, a command under bubblewrap may use unix sockets between its
own processes (seccomp allows AF_UNIX there: forkserver, ``multiprocessing.Manager``, build
daemons, language servers). A pathname socket of the host would stay reachable by its path:
a read-only bind does not stop ``connect()``, and Landlock (up to ABI 7) cannot filter it. So
every host socket the sandbox could see is covered by an empty read-only file, on which
``connect()`` fails (ECONNREFUSED), whatever its name or place:

- every bound pathname socket listed in ``/proc/net/unix`` of the launcher's network namespace
  (all of the host's listeners), and of each other network namespace this user can inspect
  through ``/proc/PID/ns/net`` (containers, other sandboxes, with their paths as bound);
- every socket file found by a walk of the places services put them (``/run``; ``/tmp`` and
  ``/dev/shm`` only when the host's are shared), so a listener in a namespace we cannot
  inspect is covered too.

Only sockets this uid could connect to inside are kept (connect() needs write permission, and
no process inside has a capability, uid 0 included). Abstract sockets need no mask: they
belong to a network namespace (the sandbox has its own) and Landlock ABI 6 scopes them. One
removed between this scan and bubblewrap's mounts makes bubblewrap fail before the command
runs; every launch path then plans again (``Launch.vanished_masks``). ``--network on``
keeps the host's sockets except the named control sockets (``deny_sockets``).

With the guard in force (always, when the command has AF_UNIX sockets of its own) only the
sockets inside writable roots are masked: elsewhere the command can neither connect (the
guard) nor replace them (read-only), so no mask is needed, and no socket removed during the
launch can make bubblewrap fail. In a writable root the mask keeps the command from
unlinking the host's socket and binding its own in its place.

The masks are a snapshot. A socket the host binds *after* the scan (in the workspace, a home
folder, any folder the sandbox sees) is kept out by the late-socket guard
(``late_socket_guard``): Landlock's ``LANDLOCK_ACCESS_FS_RESOLVE_UNIX`` where the kernel has it
(ABI 9, Linux 7.1: handled and granted nowhere, so only sockets created inside the sandbox's
Landlock domain can be reached by path), else a seccomp user-notification supervisor
(sandbox/linux/supervise.py, ``UnixGuard``) that performs every ``connect()`` for the command
and reaches a pathname socket only when it is bound in the sandbox's own network namespace.

Owns finding the paths; bwrap.py decides which need a mask (visibility, other masks). Must
not touch: mounts, seccomp. Standard library only (the ``sandbox run`` hot path imports it).
"""

from __future__ import annotations

import os
import stat

from cordon.paths import within, within_any

RESOLVE_UNIX_ABI = 9  # LANDLOCK_ACCESS_FS_RESOLVE_UNIX: pathname-socket connect by Landlock


def late_socket_guard(network: str, isolated: bool, abi: int) -> str | None:
    """What keeps host sockets bound after the launch out of reach: ``"landlock"`` (ABI >= 9),
    ``"supervisor"`` (seccomp user notification: connect() and addressed sends made by the
    launcher, sandbox/linux/unixguard.py), or
    None where the command gets no AF_UNIX socket of its own to worry about (not isolated) or
    has the host's sockets on purpose (``--network on``)."""
    if not isolated or network not in ("off", "proxy"):
        return None
    return "landlock" if abi >= RESOLVE_UNIX_ABI else "supervisor"


# Where services bind their sockets; walked (bounded) in addition to /proc/net/unix.
SOCKET_DIRS = ("/run",)
SHARED_TMP_DIRS = ("/tmp", "/dev/shm")
_WALK_MAX_ENTRIES = 20000  # a pathological /run must not stall every launch


def host_sockets(*, share_tmp: bool = False, skip=(), roots=None) -> list[str]:
    """Absolute paths of the host's unix socket files the sandbox might see, sorted, unique.

    ``skip``: directories already hidden inside (deny-read masks): not walked.
    ``roots``: only sockets inside these folders (the writable roots, when the late-socket
    guard refuses connect() to every other host socket: there a mask still stops the command
    from unlinking the host's socket and binding its own in its place); None: everywhere.
    """
    found: set[str] = set()
    for table in _unix_tables():
        found.update(_bound_paths(table))
    dirs = SOCKET_DIRS + (SHARED_TMP_DIRS if share_tmp else ())
    skip = tuple(os.fspath(s).rstrip("/") for s in skip)
    if roots is not None:
        roots = [os.fspath(r).rstrip("/") or "/" for r in roots]
        # Walk only where a root and a socket folder overlap.
        dirs = tuple(
            dict.fromkeys(
                [d for d in dirs if any(within(d, r) for r in roots)]
                + [r for r in roots if any(within(r, d) for d in dirs)]
            )
        )
        found = {p for p in found if any(within(p, r) for r in roots)}
    for d in dirs:
        _walk(d, skip, found)
    # One canonical name per socket (a path bound through /var/run is /run's): one mask each.
    canonical = {os.path.join(os.path.realpath(os.path.dirname(p)), os.path.basename(p)) for p in found}
    groups = set(os.getgroups()) | {os.getegid()}
    return sorted(p for p in canonical if not _is_bridge(p) and _connectable(p, os.geteuid(), groups))


def _unix_tables() -> list[str]:
    """/proc/net/unix of our network namespace and of every other one we may inspect."""
    tables = []
    ours = _netns("self")
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="surrogateescape") as f:
            tables.append(f.read())
    except OSError:
        pass
    seen = {ours}
    try:
        pids = [n for n in os.listdir("/proc") if n.isdigit()]
    except OSError:
        pids = []
    for pid in pids:
        ns = _netns(pid)
        if ns is None or ns in seen:
            continue
        seen.add(ns)
        try:
            with open(f"/proc/{pid}/net/unix", encoding="utf-8", errors="surrogateescape") as f:
                tables.append(f.read())
        except OSError:
            pass  # gone, or not ours to read: the walk still finds its socket files
    return tables


def _netns(pid: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


_ACCEPTCON = 0x10000  # __SO_ACCEPTCON: a listening stream/seqpacket socket
_DGRAM = 2
# Cordon's own proxy bridges (``netproxy-PID-RANDOM/proxy.sock``): made and removed around
# every proxied launch, so masking them would race with their removal; each answers only
# with its own sandbox's credential (and the domain filter), which another sandbox lacks.
_BRIDGE_SOCKET = "proxy.sock"


def _bound_paths(table: str) -> list[str]:
    """Absolute pathnames of listening (or bound datagram) sockets in a /proc/net/unix table.

    Accepted connections repeat their listener's path; they are not a door of their own.
    Abstract ('@...') and relative names are skipped: a relative name points into a directory
    we do not know (the walk covers the places services use).
    """
    out = []
    for line in table.splitlines()[1:]:
        parts = line.split(None, 7)
        if len(parts) != 8 or not parts[7].startswith("/"):
            continue
        try:
            flags, kind = int(parts[3], 16), int(parts[4], 16)
        except ValueError:
            continue
        if flags & _ACCEPTCON or kind == _DGRAM:
            out.append(parts[7])
    return out


def _is_bridge(path: str) -> bool:
    return os.path.basename(path) == _BRIDGE_SOCKET and os.path.basename(os.path.dirname(path)).startswith(
        "netproxy-"
    )


def _walk(top: str, skip: tuple[str, ...], found: set[str]) -> None:
    stack, budget = [top], _WALK_MAX_ENTRIES
    tops = frozenset(s or "/" for s in skip)  # "/" was stripped to ""
    while stack and budget > 0:
        d = stack.pop()
        if within_any(d, tops):
            continue
        try:
            with os.scandir(d) as it:
                for e in it:
                    budget -= 1
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        elif stat.S_ISSOCK(e.stat(follow_symlinks=False).st_mode):
                            found.add(e.path)
                    except OSError:
                        continue
        except OSError:
            continue


def _connectable(path: str, uid: int, groups: set[int]) -> bool:
    """A socket file this uid could connect to inside, where no process has a capability
    (so not even uid 0 passes file permissions it lacks): connect() needs write permission.
    Masking only these keeps the list short, and with it the chance that a socket removed
    during the launch makes bubblewrap fail on its mount point."""
    try:
        st = os.lstat(path)
    except OSError:
        return False  # gone, or in a directory we cannot search (then unreachable inside too)
    if not stat.S_ISSOCK(st.st_mode):
        return False
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IWUSR)
    if st.st_gid in groups:
        return bool(st.st_mode & stat.S_IWGRP)
    return bool(st.st_mode & stat.S_IWOTH)
