"""The Landlock wall of the Linux inner stage: a second, kernel-enforced copy of the policy.

Owns: the Landlock access bits per ABI, turning a policy's roots into path rules (including
"read everything except these secrets", which Landlock can only express as an allow-list),
TCP bind/connect rules (ABI 4) and scoping of abstract unix sockets and signals (ABI 6), and a
thin ``ctypes`` binding for the three Landlock syscalls. Must not touch: mounts, seccomp, the
policy model.

Why a binding of our own next to the ``landlock`` PyPI package: the package's ``Ruleset``
only knows ``handled_access_fs`` (no network or scope fields) and importing it costs ~20 ms
(dataclasses, inspect, platform), which the in-sandbox program would pay on every launch.
This module imports only ``os``/``struct`` at load time (``_ctypes`` when applying) and is
loaded by file path inside the sandbox; the launcher plans with ``abi_version`` (the same
kernel answer, without the package's imports), ``library_abi`` reports what the package sees,
and the tests check our constants against the package's ``FSAccess``.

Every rule is best effort per ABI: rights the kernel does not know are dropped, and
``apply`` reports the ABI it used and what it could not enforce.
"""

from __future__ import annotations

import errno
import os
import struct

# --- uapi constants ---------------------------------------------------------------------
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # same on every arch
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

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
    # ABI 9 (Linux 7.1): connect()/sendmsg() to a pathname unix socket. Handled only with the
    # spec key ``resolve_unix`` and granted by no rule (ALL_FS stops below it): only sockets
    # created inside the sandbox's Landlock domain stay reachable (sockets.late_socket_guard).
    "resolve_unix": 1 << 16,
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
# A few lines over ``_ctypes`` instead of ``import ctypes``: the in-sandbox program makes only
# raw syscalls, and ctypes/__init__ costs ~5 ms of class building on every launch.
_ffi_cache: tuple | None = None


def ffi() -> tuple:
    """(syscall, prctl, c_long, get_errno, buffer_address) with errno capture, from ``_ctypes``."""
    global _ffi_cache
    if _ffi_cache is None:
        import _ctypes

        class c_long(_ctypes._SimpleCData):
            _type_ = "l"

        class c_char(_ctypes._SimpleCData):
            _type_ = "c"

        class Func(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = c_long

        class libc:  # what CFuncPtr((name, dll)) reads from a CDLL
            _handle = _ctypes.dlopen(None, os.RTLD_NOW)

        syscall, prctl = Func(("syscall", libc)), Func(("prctl", libc))

        def buffer_address(data: bytes):
            """A C copy of ``data`` and its address (keep the copy alive while it is used)."""
            buf = (c_char * max(len(data), 1)).from_buffer_copy(data or b"\0")
            return buf, _ctypes.addressof(buf)

        _ffi_cache = (syscall, prctl, c_long, _ctypes.get_errno, buffer_address)
    return _ffi_cache


def sys_call(nr: int, *args) -> int:
    """syscall(nr, *args): ints become longs, bytes are passed as pointers. Raises OSError."""
    syscall, _, c_long, get_errno, _ = ffi()
    res = syscall(c_long(nr), *[a if isinstance(a, bytes) or a is None else c_long(a) for a in args])
    if res < 0:
        err = get_errno()
        raise OSError(err, os.strerror(err))
    return res


def abi_version() -> int:
    """The kernel's Landlock ABI, 0 when Landlock is missing or disabled at boot."""
    try:
        return sys_call(SYS_CREATE_RULESET, None, 0, CREATE_RULESET_VERSION)
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.EOPNOTSUPP):
            return 0
        raise OSError(exc.errno, f"landlock_create_ruleset(VERSION): {exc.strerror}") from None


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
        # struct landlock_ruleset_attr; the kernel accepts the shorter layout of older ABIs.
        size = 24 if scoped else 16 if handled_net else 8
        attr = struct.pack("=QQQ", handled_fs, handled_net, scoped)[:size]
        self.handled_fs, self.handled_net, self.scoped = handled_fs, handled_net, scoped
        self.fd = -1
        self.fd = _named(lambda: sys_call(SYS_CREATE_RULESET, attr, size, 0), "landlock_create_ruleset")
        # landlock_add_rule's constant arguments, converted once: the inner stage adds ~200 rules
        # at every launch, and the per-call conversions were half of each rule's cost.
        syscall, _, c_long, get_errno, _ = ffi()
        self._add_rule = (
            syscall,
            c_long(SYS_ADD_RULE),
            c_long(self.fd),
            c_long(RULE_PATH_BENEATH),
            c_long(0),
            get_errno,
        )

    def add_path(self, path: str, access: int) -> bool:
        """Allow ``access`` beneath ``path``. Symlinks are not followed (a rule on a link
        would land on its target). Returns False if the path cannot be opened."""
        try:
            fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            mode = os.fstat(fd).st_mode
            if mode & 0o170000 == 0o120000:  # S_ISLNK
                return False
            if mode & 0o170000 != 0o040000:  # not a directory: file rights only
                access &= FILE_RIGHTS
            access &= self.handled_fs
            if not access:
                return False
            attr = struct.pack("=Qi", access, fd)  # struct landlock_path_beneath_attr (packed)
            syscall, nr, ruleset, beneath, zero, get_errno = self._add_rule
            if syscall(nr, ruleset, beneath, attr, zero) < 0:
                err = get_errno()
                raise OSError(err, f"landlock_add_rule({path}): {os.strerror(err)}")
            return True
        finally:
            os.close(fd)

    def restrict_self(self) -> None:
        """Enforce on the calling thread (needs no_new_privs, set by the caller)."""
        _named(lambda: sys_call(SYS_RESTRICT_SELF, self.fd, 0), "landlock_restrict_self")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _named(call, what: str) -> int:
    try:
        return call()
    except OSError as exc:
        raise OSError(exc.errno, f"{what}: {exc.strerror}") from None


# --- rules from a spec --------------------------------------------------------------------
def _within(path: str, root: str) -> bool:
    # cordon.paths.within, repeated on purpose: this module also runs inside the sandbox as
    # standalone code (inner._code_objects), where no ``cordon`` package can be imported.
    # tests/test_architecture.py checks that the two agree.
    stem = root.rstrip("/")
    return path in (root, stem) or path.startswith(stem + "/")


def plan_rules(spec: dict) -> tuple[list[tuple[str, int]], list[str]]:
    """(path, access) rules for ``spec`` as seen from here, and the deny entries Landlock
    cannot mirror (those inside a writable root: a rule there grants everything beneath).

    spec keys: ``read`` (roots readable), ``write`` (roots writable), ``devices`` (device
    files opened read-write with ioctls), ``deny`` (unreadable paths), ``list`` (directories
    whose names, only, may be listed). Landlock only allows;
    "read / except D" becomes: list-only on each ancestor of D, full read on every sibling.
    """
    write = list(spec.get("write", ()))
    deny = sorted(set(spec.get("deny", ())))
    rules: list[tuple[str, int]] = []
    outer_only = [d for d in deny if any(_within(d, w) for w in write)]
    deny = [d for d in deny if d not in outer_only]
    for root in spec.get("read", ()):
        if any(_within(root, d) for d in deny):
            continue
        beneath = [d for d in deny if _within(d, root) and d != root]
        if beneath:
            _expand(root, beneath, READ, rules)
        else:
            rules.append((root, READ))
    rules.extend((w, ALL_FS) for w in write)
    rules.extend((d, DEVICE) for d in spec.get("devices", ()))
    rules.extend((d, FS["read_dir"]) for d in spec.get("list", ()))
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

    Extra spec keys: ``net`` (handle TCP bind/connect: both denied, no port is allowed), ``scope`` (abstract unix sockets + signals), ``required`` (raise if the kernel has
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
    handled_fs = fs_rights(abi) | (FS["resolve_unix"] if spec.get("resolve_unix") and abi >= 9 else 0)
    rs = Ruleset(handled_fs, handled_net, scoped)
    try:
        rules, outer_only = plan_rules(spec)
        added = sum(rs.add_path(path, access) for path, access in rules)
        rs.restrict_self()
    finally:
        rs.close()
    report.update(
        enforced=True,
        fs_rules=added,
        net=bool(handled_net),
        scope=names(scoped, SCOPE),
        resolve_unix=bool(handled_fs & FS["resolve_unix"]),
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
    # resolve_unix below ABI 9 is not missing: the seccomp supervisor stands in for it.
    return out


def describe(spec: dict, abi: int) -> dict:
    """The rules as data for ``sandbox plan`` (before expansion, which happens in the sandbox)."""
    return {
        "abi": abi,
        "handled_fs": names(fs_rights(abi)),
        "read": list(spec.get("read", ())),
        "write": list(spec.get("write", ())),
        "devices": list(spec.get("devices", ())),
        "list_only": list(spec.get("list", ())),
        "deny_read": list(spec.get("deny", ())),
        # Landlock cannot carve these out of a writable root: bubblewrap's masks enforce them.
        "outer_wall_only": [
            d for d in spec.get("deny", ()) if any(_within(d, w) for w in spec.get("write", ()))
        ],
        "tcp": ({"bind": "denied", "connect": "denied"} if spec.get("net") and abi >= 4 else "not handled"),
        "scope": names(scope_rights(abi), SCOPE) if spec.get("scope") else [],
        "resolve_unix": bool(spec.get("resolve_unix")) and abi >= 9,
        "required": bool(spec.get("required")),
        "not_enforceable_on_this_kernel": _missing(abi, spec),
    }
