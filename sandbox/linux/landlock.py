"""The Landlock wall of the Linux inner stage: a second, kernel-enforced copy of the policy.

Owns: the Landlock access bits per ABI, turning a policy's roots into path rules (including
"read everything except these secrets", which Landlock can only express as an allow-list),
TCP bind/connect rules (ABI 4) and scoping of abstract unix sockets and signals (ABI 6), and a
thin ``ctypes`` binding for the three Landlock syscalls. Must not touch: mounts, seccomp, the
policy model.

Why a binding of our own next to the ``landlock`` PyPI package: the package's ``Ruleset``
only knows ``handled_access_fs`` (no network or scope fields) and importing it costs ~20 ms
(dataclasses, inspect, platform), which the in-sandbox program would pay on every launch.
This module imports only ``os`` at load time (``ctypes`` when applying) and is loaded by file
path inside the sandbox; the launcher side uses the package to probe the ABI
(``library_abi``), and the tests check our constants against the package's ``FSAccess``.

Every rule is best effort per ABI: rights the kernel does not know are dropped, and
``apply`` reports the ABI it used and what it could not enforce.
"""

from __future__ import annotations

import errno
import os

# --- uapi constants ---------------------------------------------------------------------
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # same on every arch
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2

FS = {
    "execute": 1 << 0,
    "write_file": 1 << 1,
    "read_file": 1 << 2,
    "read_dir": 1 << 3,
    "remove_dir": 1 << 4,
    "remove_file": 1 << 5,
    "make_char": 1 << 6,
    "make_dir": 1 << 7,
    "make_reg": 1 << 8,
    "make_sock": 1 << 9,
    "make_fifo": 1 << 10,
    "make_block": 1 << 11,
    "make_sym": 1 << 12,
    "refer": 1 << 13,  # ABI 2
    "truncate": 1 << 14,  # ABI 3
    "ioctl_dev": 1 << 15,  # ABI 5
}
NET = {"bind_tcp": 1 << 0, "connect_tcp": 1 << 1}  # ABI 4
SCOPE = {"abstract_unix_socket": 1 << 0, "signal": 1 << 1}  # ABI 6

_ABI1_FS = (1 << 13) - 1
FS_BY_ABI = {1: _ABI1_FS, 2: _ABI1_FS | FS["refer"], 3: _ABI1_FS | FS["refer"] | FS["truncate"]}
FS_BY_ABI[4] = FS_BY_ABI[3]
FS_BY_ABI[5] = FS_BY_ABI[3] | FS["ioctl_dev"]
# Rights that make sense on a non-directory; the kernel rejects the others on files.
FILE_RIGHTS = FS["execute"] | FS["write_file"] | FS["read_file"] | FS["truncate"] | FS["ioctl_dev"]
READ = FS["execute"] | FS["read_file"] | FS["read_dir"]
DEVICE = FS["read_file"] | FS["write_file"] | FS["truncate"] | FS["ioctl_dev"]
ALL_FS = (1 << 16) - 1


def fs_rights(abi: int) -> int:
    return FS_BY_ABI[min(abi, 5)] if abi >= 1 else 0


def net_rights(abi: int) -> int:
    return NET["bind_tcp"] | NET["connect_tcp"] if abi >= 4 else 0


def scope_rights(abi: int) -> int:
    return SCOPE["abstract_unix_socket"] | SCOPE["signal"] if abi >= 6 else 0


def names(mask: int, table: dict[str, int] = FS) -> list[str]:
    return [name for name, bit in table.items() if mask & bit]


# --- syscalls ------------------------------------------------------------------------------
_libc = None


def _syscall():
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


def _check(result: int, what: str) -> int:
    if result < 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def abi_version() -> int:
    """The kernel's Landlock ABI, 0 when Landlock is missing or disabled at boot."""
    import ctypes

    libc = _syscall()
    res = libc.syscall(
        ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION)
    )
    if res < 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EOPNOTSUPP):
            return 0
        raise OSError(err, f"landlock_create_ruleset(VERSION): {os.strerror(err)}")
    return int(res)


def library_abi() -> int:
    """The ABI as the ``landlock`` PyPI package sees it (launcher side; 0 if unavailable)."""
    try:
        import landlock
    except ImportError:  # pragma: no cover - the dependency is declared
        return abi_version()
    try:
        return int(landlock.landlock_abi_version())
    except OSError:
        return 0


class Ruleset:
    """One Landlock ruleset: create, add rules, restrict the calling thread, close."""

    def __init__(self, handled_fs: int, handled_net: int = 0, scoped: int = 0):
        import ctypes

        class Attr(ctypes.Structure):
            _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

        class PathBeneath(ctypes.Structure):
            _pack_ = 1
            _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

        class NetPort(ctypes.Structure):
            _fields_ = [("allowed", ctypes.c_uint64), ("port", ctypes.c_uint64)]

        self._ct = ctypes
        self._PathBeneath, self._NetPort = PathBeneath, NetPort
        attr = Attr(handled_fs, handled_net, scoped)
        # The kernel accepts a shorter struct from older ABIs: pass only what is used.
        size = 24 if scoped else 16 if handled_net else 8
        self.handled_fs, self.handled_net, self.scoped = handled_fs, handled_net, scoped
        libc = _syscall()
        self.fd = _check(
            libc.syscall(
                ctypes.c_long(SYS_CREATE_RULESET),
                ctypes.byref(attr),
                ctypes.c_size_t(size),
                ctypes.c_uint32(0),
            ),
            "landlock_create_ruleset",
        )

    def add_path(self, path: str, access: int) -> bool:
        """Allow ``access`` beneath ``path``. Symlinks are not followed (a rule on a link
        would land on its target). Returns False if the path cannot be opened."""
        try:
            fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            import stat

            if stat.S_ISLNK(st.st_mode):
                return False
            if not stat.S_ISDIR(st.st_mode):
                access &= FILE_RIGHTS
            access &= self.handled_fs
            if not access:
                return False
            attr = self._PathBeneath(access, fd)
            ct = self._ct
            _check(
                _syscall().syscall(
                    ct.c_long(SYS_ADD_RULE),
                    ct.c_int(self.fd),
                    ct.c_uint(RULE_PATH_BENEATH),
                    ct.byref(attr),
                    ct.c_uint32(0),
                ),
                f"landlock_add_rule({path})",
            )
            return True
        finally:
            os.close(fd)

    def add_port(self, port: int, access: int) -> None:
        ct = self._ct
        attr = self._NetPort(access & self.handled_net, port)
        _check(
            _syscall().syscall(
                ct.c_long(SYS_ADD_RULE),
                ct.c_int(self.fd),
                ct.c_uint(RULE_NET_PORT),
                ct.byref(attr),
                ct.c_uint32(0),
            ),
            f"landlock_add_rule(port {port})",
        )

    def restrict_self(self) -> None:
        """Enforce on the calling thread (needs no_new_privs, set by the caller)."""
        ct = self._ct
        _check(
            _syscall().syscall(ct.c_long(SYS_RESTRICT_SELF), ct.c_int(self.fd), ct.c_uint32(0)),
            "landlock_restrict_self",
        )

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# --- rules from a spec --------------------------------------------------------------------
def _under(path: str, root: str) -> bool:
    return path == root or root == "/" or path.startswith(root.rstrip("/") + "/")


def plan_rules(spec: dict) -> tuple[list[tuple[str, int]], list[str]]:
    """(path, access) rules for ``spec`` as seen from here, and the deny entries Landlock
    cannot mirror (those inside a writable root: a rule there grants everything beneath).

    spec keys: ``read`` (roots readable), ``write`` (roots writable), ``devices`` (device
    files opened read-write with ioctls), ``deny`` (unreadable paths). Landlock only allows;
    "read / except D" becomes: list-only on each ancestor of D, full read on every sibling.
    """
    write = list(spec.get("write", ()))
    deny = sorted(set(spec.get("deny", ())))
    rules: list[tuple[str, int]] = []
    outer_only = [d for d in deny if any(_under(d, w) for w in write)]
    deny = [d for d in deny if d not in outer_only]
    for root in spec.get("read", ()):
        if any(_under(root, d) for d in deny):
            continue
        beneath = [d for d in deny if _under(d, root) and d != root]
        if beneath:
            _expand(root, beneath, READ, rules)
        else:
            rules.append((root, READ))
    rules.extend((w, ALL_FS) for w in write)
    rules.extend((d, DEVICE) for d in spec.get("devices", ()))
    return rules, outer_only


def _expand(directory: str, denies: list[str], access: int, rules: list[tuple[str, int]]) -> None:
    # The directory itself: list names only (the right is inherited beneath, so names inside a
    # denied directory stay listable; their contents do not).
    rules.append((directory, FS["read_dir"]))
    prefix = directory.rstrip("/") + "/"
    by_child: dict[str, list[str]] = {}
    for d in denies:
        first = d[len(prefix) :].split("/", 1)[0]
        by_child.setdefault(first, []).append(d)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return  # unreadable: nothing granted beneath, which is the safe side
    for entry in entries:
        path = prefix + entry.name
        sub = by_child.get(entry.name)
        if sub is None:
            if not entry.is_symlink():
                rules.append((path, access))
        elif path in sub:
            continue  # denied entirely
        elif entry.is_dir(follow_symlinks=False):
            _expand(path, sub, access, rules)
        elif not entry.is_symlink():
            rules.append((path, access))


def apply(spec: dict) -> dict:
    """Build and enforce the ruleset for ``spec`` on the calling thread; report what was done.

    Extra spec keys: ``net`` (handle TCP bind/connect; ``connect_ports``/``bind_ports`` allow
    some), ``scope`` (abstract unix sockets + signals), ``required`` (raise if the kernel has
    no Landlock). no_new_privs must already be set.
    """
    abi = abi_version()
    report: dict = {"abi": abi}
    if abi < 1:
        if spec.get("required"):
            raise OSError(
                errno.EOPNOTSUPP, "Landlock is not available on this kernel (required by the policy)"
            )
        report["enforced"] = False
        return report
    handled_net = net_rights(abi) if spec.get("net") else 0
    scoped = scope_rights(abi) if spec.get("scope") else 0
    rs = Ruleset(fs_rights(abi), handled_net, scoped)
    try:
        rules, outer_only = plan_rules(spec)
        added = sum(rs.add_path(path, access) for path, access in rules)
        for port in spec.get("connect_ports", ()):
            rs.add_port(int(port), NET["connect_tcp"])
        for port in spec.get("bind_ports", ()):
            rs.add_port(int(port), NET["bind_tcp"])
        rs.restrict_self()
    finally:
        rs.close()
    report.update(
        enforced=True,
        fs_rules=added,
        net=bool(handled_net),
        scope=names(scoped, SCOPE),
        outer_only=outer_only,
        missing=_missing(abi, spec),
    )
    return report


def _missing(abi: int, spec: dict) -> list[str]:
    """What the spec asked for that this ABI cannot enforce."""
    out = [f"{n} (ABI {a})" for n, a in (("refer", 2), ("truncate", 3), ("ioctl_dev", 5)) if abi < a]
    if spec.get("net") and abi < 4:
        out.append("tcp bind/connect (ABI 4)")
    if spec.get("scope") and abi < 6:
        out.append("abstract unix socket + signal scoping (ABI 6)")
    return out


def describe(spec: dict, abi: int) -> dict:
    """The rules as data for ``sandbox plan`` (before expansion, which happens in the sandbox)."""
    return {
        "abi": abi,
        "handled_fs": names(fs_rights(abi)),
        "read": list(spec.get("read", ())),
        "write": list(spec.get("write", ())),
        "devices": list(spec.get("devices", ())),
        "deny_read": list(spec.get("deny", ())),
        "tcp": ({"bind": "denied", "connect": "denied"} if spec.get("net") and abi >= 4 else "not handled"),
        "scope": names(scope_rights(abi), SCOPE) if spec.get("scope") else [],
        "required": bool(spec.get("required")),
        "not_enforceable_on_this_kernel": _missing(abi, spec),
    }
