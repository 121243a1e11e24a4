"""The seccomp wall of the Linux inner stage: which system calls a sandboxed command may not make.

Owns: the rule list (as data, for ``sandbox plan``), compiling it to classic BPF with
libseccomp (``pyseccomp``, launcher side, imported lazily) plus a hand-written prefix
(x32 guard, ENOSYS above the newest reviewed syscall), and loading a compiled program
(through landlock.py's ``_ctypes`` binding, so the Python inner stage can use it without
importing pyseccomp; the native stage, cordon-inner, loads the same bytes). Must not touch:
Landlock's rules, mounts, the policy model.

Denied calls fail with EPERM so tools report a clean error; a foreign architecture
(i386 ``int 0x80`` from a 64-bit process) kills the process, because its syscall
numbers mean different calls and no rule below would apply to them.
"""

from __future__ import annotations

import errno
import os
import struct

# --- constants (linux uapi) ----------------------------------------------------------
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000
# Highest syscall number reviewed for this filter (6.17: file_setattr = 469 on every arch
# with the unified table). Anything above is a call nobody has looked at: ENOSYS, which
# every libc treats as "not implemented, fall back".
MAX_REVIEWED_NR = 469

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000

AF = {
    "AF_UNIX": 1,
    "AF_INET": 2,
    "AF_INET6": 10,
    "AF_NETLINK": 16,
    "AF_PACKET": 17,
    "AF_VSOCK": 40,
}
AF_MAX = 46  # families >= this do not exist on 6.x; denied anyway
SOCK_RAW = 3
SOCK_PACKET = 10
NETLINK_ROUTE = 0
TIOCSTI = 0x5412
TIOCLINUX = 0x541C

# Namespace flags of clone/unshare: creating a namespace from inside the sandbox (above all a
# nested user namespace, which hands back a full capability set) widens kernel attack surface.
CLONE_NS_FLAGS = {
    "CLONE_NEWTIME": 0x00000080,
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}

# personality() values ordinary programs use (query, PER_LINUX, PER_LINUX32, UNAME26
# variants); others (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ...) weaken the process.
PERSONALITY_ALLOWED = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

# Unconditionally denied, grouped by why (the group name is shown by `sandbox plan`).
DENIED_SYSCALLS: dict[str, tuple[str, ...]] = {
    "debugging other processes": (
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "process_madvise",
        "process_mrelease",
        "kcmp",
        "pidfd_getfd",
    ),
    "io_uring (creates sockets and opens files without the filtered syscalls)": (
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
    ),
    "kernel attack surface": ("bpf", "perf_event_open", "userfaultfd", "fanotify_init", "lookup_dcookie"),
    "kernel keyrings": ("add_key", "request_key", "keyctl"),
    "kernel and modules": (
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "reboot",
        "swapon",
        "swapoff",
        "syslog",
        "acct",
        "iopl",
        "ioperm",
        "uselib",
        "quotactl",
        "quotactl_fd",
        "nfsservctl",
        "vhangup",
    ),
    "clocks and host identity": (
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "adjtimex",
        "sethostname",
        "setdomainname",
    ),
    "mounts and namespaces (the outer wall must stay as built)": (
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "setns",
        "open_tree",
        "move_mount",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        "open_tree_attr",
        "open_by_handle_at",
    ),
}

# System-call numbers of the calls above that an older libseccomp may not know by name (it
# resolves them to -1, and a rule could not be added). Numbers from 424 on are the same on
# x86_64 and aarch64 (the unified table); tests check each against this kernel.
UNIFIED_NUMBERS = {
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "openat2": 437,
    "mount_setattr": 442,
    "quotactl_fd": 443,
    "process_mrelease": 448,
    "fchmodat2": 452,
    "open_tree_attr": 467,
}
# clone3 passes its flags in a struct seccomp cannot read: ENOSYS makes libc fall back to
# clone(), whose flags we can check. openat2 likewise hides its mode in a struct (see below);
# libc never uses it on its own, and the programs that do fall back to openat on ENOSYS.
ENOSYS_SYSCALLS = ("clone3", "openat2")

# Set-uid/set-gid bits. A file keeps its owner on the host: a root launch that marks a copied
# shell 4755 leaves a root shell for every local user; an unprivileged one leaves a set-uid-as-
# the-user file. Refused wherever a mode is given: the chmod family (fchmodat2's extra flags
# argument does not move the mode, arg 2, so the same test covers it), mknod (S_IFREG files),
# and file creation (open/openat/creat with O_CREAT keep S_ISUID in the new file's mode).
S_ISUID, S_ISGID = 0o4000, 0o2000
SETID_MODE_ARG = {
    "chmod": 1,
    "fchmod": 1,
    "fchmodat": 2,
    "fchmodat2": 2,
    "mknod": 1,
    "mknodat": 2,
    "open": 2,
    "openat": 3,
    "creat": 1,
}
# open/openat read the mode only when creating (O_CREAT, or O_TMPFILE): a plain open leaves
# whatever its caller had in that register there (libraries calling open(path, O_RDONLY) with
# no mode), which must not be refused as a set-id creation.
OPEN_FLAGS_ARG = {"open": 1, "openat": 2}
O_CREAT, O_TMPFILE_BIT = 0o100, 0o20000000


def socket_families(network: str, isolated: bool = False) -> dict[str, bool]:
    """Which socket families ``socket()`` may create, per network mode ("off", "on", "proxy").

    ``isolated``: the command runs under bubblewrap, in a network namespace of its own (only
    its own loopback: "off"; loopback plus the proxy bridge: "proxy") and a mount namespace in
    which every host unix socket is masked (sandbox/linux/sockets.py). Then:

    - off / proxy: AF_INET/AF_INET6 for the sandbox's own loopback (test servers, language
      servers, kernels), AF_UNIX for IPC between its processes (forkserver, Manager, build
      daemons). Nothing outside is reachable: the namespace has no other interface, abstract
      sockets are per network namespace (and scoped by Landlock ABI 6), and host pathname
      sockets are masked. In proxy mode the only way out stays the forwarder.
    - on: the host network; every family the host has.

    Not isolated (``--fallback=landlock``, or the inner stage tested alone): with the network
    off neither inet (Landlock ABI 4 and seccomp are the only walls) nor AF_UNIX (no mount
    namespace to hide host sockets; Landlock cannot filter pathname-socket connects).
    ``socketpair`` (AF_UNIX only) stays allowed in every mode: asyncio, libuv, subprocess
    plumbing.

    NETLINK_ROUTE is allowed in every mode: getifaddrs()/``ip addr`` read it; changing routes needs
    CAP_NET_ADMIN, which the sandbox does not have. Other netlink protocols (sock_diag lists every
    socket of the namespace, uevents, audit, netfilter) are denied.
    """
    local = isolated and network in ("off", "proxy")
    return {
        "AF_UNIX": network == "on" or local,
        "AF_INET": network in ("on", "proxy") or local,
        "AF_INET6": network in ("on", "proxy") or local,
        "AF_NETLINK": True,  # NETLINK_ROUTE only, see rules()
        "AF_PACKET": False,
        "AF_VSOCK": False,
    }


def rules(network: str = "off", isolated: bool = False, guard: bool = False) -> list[dict]:
    """The filter as data: one entry per rule, for ``sandbox plan`` and the docs. ``guard``: see
    ``compile_bpf``."""
    out: list[dict] = [
        {"syscall": "*", "when": "arch != native", "action": "KILL_PROCESS"},
        {"syscall": "*", "when": f"nr & {X32_SYSCALL_BIT:#x} (x32 ABI)", "action": "ERRNO(EPERM)"},
        {"syscall": "*", "when": f"nr > {MAX_REVIEWED_NR} (not reviewed)", "action": "ERRNO(ENOSYS)"},
    ]
    for why, names in DENIED_SYSCALLS.items():
        out.extend({"syscall": n, "when": "always", "action": "ERRNO(EPERM)", "why": why} for n in names)
    out.extend({"syscall": n, "when": "always", "action": "ERRNO(ENOSYS)"} for n in ENOSYS_SYSCALLS)
    fam = socket_families(network, isolated)
    allowed = sorted(k for k, v in fam.items() if v)
    out.append(
        {"syscall": "socket", "when": f"domain not in {allowed}", "action": "ERRNO(EPERM)"},
    )
    out.append(
        {"syscall": "socket", "when": "AF_NETLINK and protocol != NETLINK_ROUTE", "action": "ERRNO(EPERM)"}
    )
    out.append(
        {
            "syscall": "socket",
            "when": "AF_INET/AF_INET6 with SOCK_RAW or SOCK_PACKET",
            "action": "ERRNO(EPERM)",
        }
    )
    out.append({"syscall": "socketpair", "when": "domain != AF_UNIX", "action": "ERRNO(EPERM)"})
    if guard:
        why = (
            "the supervisor makes the call on the caller's behalf, refusing host unix sockets "
            "(sandbox/linux/unixguard.py, late sockets)"
        )
        out.append({"syscall": "connect", "when": "always", "action": "USER_NOTIF", "why": why})
        out.append({"syscall": "sendto", "when": "dest_addr != NULL", "action": "USER_NOTIF", "why": why})
        for name in ("sendmsg", "sendmmsg"):
            out.append(
                {
                    "syscall": name,
                    "when": "always",
                    "action": "USER_NOTIF",
                    "why": why + "; the address lies in memory the filter cannot read",
                }
            )
    for name in ("clone", "unshare"):
        out.append({"syscall": name, "when": "any CLONE_NEW* flag", "action": "ERRNO(EPERM)"})
    out.append({"syscall": "ioctl", "when": "request == TIOCSTI or TIOCLINUX", "action": "ERRNO(EPERM)"})
    for name, arg in SETID_MODE_ARG.items():
        out.append(
            {
                "syscall": name,
                "when": f"arg{arg} (mode) has S_ISUID or S_ISGID"
                + (" and the flags hold O_CREAT or O_TMPFILE" if name in OPEN_FLAGS_ARG else ""),
                "action": "ERRNO(EPERM)",
                "why": "set-id files outlive the sandbox",
            }
        )
    out.append(
        {
            "syscall": "personality",
            "when": f"persona not in {[hex(p) for p in PERSONALITY_ALLOWED]}",
            "action": "ERRNO(EPERM)",
        }
    )
    return out


_cache: dict[tuple[str, bool, bool], bytes] = {}


def compile_bpf(network: str = "off", isolated: bool = False, guard: bool = False) -> bytes:
    """The filter as a classic-BPF program (``struct sock_filter[]`` bytes), native arch.

    Built with libseccomp, then prefixed with the x32 / unknown-syscall guard. Cached per
    (network mode, isolated, guard) for library callers that launch many sandboxes.
    ``isolated``: see ``socket_families``. ``guard``: the late-socket guard
    (sockets.late_socket_guard == "supervisor"): every ``connect()``, ``sendto()`` with an
    address, ``sendmsg()`` and ``sendmmsg()`` goes to the launcher's supervisor, which makes it
    for the caller (USER_NOTIF; with no listener the kernel answers ENOSYS: still refused). An
    addressed datagram reaches a unix socket by path, and only the supervisor can see where.
    """
    if network not in ("off", "on", "proxy"):
        raise ValueError(f"unknown network mode {network!r}")
    key = (network, bool(isolated), bool(guard))
    if key not in _cache:
        _cache[key] = prefix_program() + _libseccomp_program(network, bool(isolated), bool(guard))
    return _cache[key]


def _native_arch() -> int:
    machine = os.uname().machine
    if machine == "x86_64":
        return AUDIT_ARCH_X86_64
    if machine in ("aarch64", "arm64"):
        return AUDIT_ARCH_AARCH64
    raise OSError(errno.ENOTSUP, f"no seccomp filter for architecture {machine}")


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


PERSONALITY_NR = {AUDIT_ARCH_X86_64: 135, AUDIT_ARCH_AARCH64: 92}


def prefix_program() -> bytes:
    """Checks libseccomp does not express well: x32 numbers, numbers above the reviewed
    table, and personality() outside a small set of values.

    Runs first; anything it lets through falls into libseccomp's program, which re-loads the
    arch and number itself (its jumps are relative, so prepending is safe).
    """
    ld_abs, jeq, jge, jgt, ret = 0x20, 0x15, 0x35, 0x25, 0x06
    arch = _native_arch()
    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    n = len(PERSONALITY_ALLOWED)
    # (code, jt, jf, k); jumps are relative to the next instruction. "END" = after the prefix.
    body = [
        (ld_abs, 0, 0, 4),  # A = arch
        (jeq, 0, "END", arch),  # foreign arch: leave it to libseccomp (KILL_PROCESS)
        (ld_abs, 0, 0, 0),  # A = nr
        (jge, 0, 1, X32_SYSCALL_BIT if arch == AUDIT_ARCH_X86_64 else 0xFFFFFFFF),
        (ret, 0, 0, eperm),  # x32 ABI
        (jgt, 0, 1, MAX_REVIEWED_NR),
        (ret, 0, 0, SECCOMP_RET_ERRNO | errno.ENOSYS),  # not reviewed
        (jeq, 0, "END", PERSONALITY_NR[arch]),
        (ld_abs, 0, 0, 16),  # A = low 32 bits of arg 0 (little-endian), what the kernel uses
        *[(jeq, "END", 0, value) for value in PERSONALITY_ALLOWED],
        (ret, 0, 0, eperm),
    ]
    assert len(body) == 10 + n
    out = []
    for i, (code, jt, jf, k) in enumerate(body):
        jt = len(body) - i - 1 if jt == "END" else jt
        jf = len(body) - i - 1 if jf == "END" else jf
        out.append(_insn(code, jt, jf, k))
    return b"".join(out)


def _libseccomp_program(network: str, isolated: bool, guard: bool = False) -> bytes:
    import pyseccomp as sc

    eperm = sc.ERRNO(errno.EPERM)
    f = sc.SyscallFilter(sc.ALLOW)
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    f.set_attr(sc.Attr.CTL_OPTIMIZE, 2)  # binary tree over syscall numbers: fewer insns per call

    def lo32(arg: int, value: int):
        # int arguments: the kernel ignores the upper half, so must the comparison
        # (a plain EQ also checks hi32 == 0 and is bypassed by passing garbage there).
        return sc.Arg(arg, sc.MASKED_EQ, 0xFFFFFFFF, value)

    for names in DENIED_SYSCALLS.values():
        for name in names:
            f.add_rule(eperm, syscall_number(sc, name))
    for name in ENOSYS_SYSCALLS:
        f.add_rule(sc.ERRNO(errno.ENOSYS), syscall_number(sc, name))

    fam = socket_families(network, isolated)
    allowed = {AF[k] for k, v in fam.items() if v}
    # 64-bit GE also catches any value with garbage in the upper half: conservative.
    f.add_rule(eperm, "socket", sc.Arg(0, sc.GE, AF_MAX))
    for domain in range(AF_MAX):
        if domain not in allowed:
            f.add_rule(eperm, "socket", lo32(0, domain))
    # 64-bit NE: only an all-zero protocol (NETLINK_ROUTE) passes.
    f.add_rule(eperm, "socket", lo32(0, AF["AF_NETLINK"]), sc.Arg(2, sc.NE, NETLINK_ROUTE))
    for domain in (AF["AF_INET"], AF["AF_INET6"]):
        for stype in (SOCK_RAW, SOCK_PACKET):
            f.add_rule(eperm, "socket", lo32(0, domain), sc.Arg(1, sc.MASKED_EQ, 0xF, stype))
    f.add_rule(eperm, "socketpair", sc.Arg(0, sc.GE, AF_MAX))
    for domain in range(AF_MAX):
        if domain != AF["AF_UNIX"]:
            f.add_rule(eperm, "socketpair", lo32(0, domain))
    if guard:
        # sandbox/linux/unixguard.py makes these calls for the command. A NULL dest_addr (a
        # register) sends where connect(), also made there, pointed the socket.
        f.add_rule(sc.NOTIFY, "connect")
        f.add_rule(sc.NOTIFY, "sendto", sc.Arg(4, sc.NE, 0))
        f.add_rule(sc.NOTIFY, "sendmsg")
        f.add_rule(sc.NOTIFY, "sendmmsg")

    for flag in CLONE_NS_FLAGS.values():
        # clone's flags are arg 0 on x86_64 and aarch64 (the backwards-args variants differ).
        f.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        f.add_rule(eperm, "unshare", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    for req in (TIOCSTI, TIOCLINUX):
        f.add_rule(eperm, "ioctl", lo32(1, req))
    for name, arg in SETID_MODE_ARG.items():
        for bit in (S_ISUID, S_ISGID):
            try:
                if name in OPEN_FLAGS_ARG:
                    for creating in (O_CREAT, O_TMPFILE_BIT):
                        flags = sc.Arg(OPEN_FLAGS_ARG[name], sc.MASKED_EQ, creating, creating)
                        f.add_rule(eperm, name, flags, sc.Arg(arg, sc.MASKED_EQ, bit, bit))
                    continue
                f.add_rule(eperm, name, sc.Arg(arg, sc.MASKED_EQ, bit, bit))
            except (RuntimeError, ValueError, OSError):
                if name in ("chmod", "mknod", "open", "creat"):
                    continue  # not a system call on this architecture (aarch64 has only the *at forms)
                raise

    # personality() is checked in prefix_program(): "not in a set" needs one BPF test per value.

    # An anonymous memory file: planning writes nothing, not even a temporary file in /tmp.
    with open(os.memfd_create("cordon-seccomp", os.MFD_CLOEXEC), "w+b") as tf:
        f.export_bpf(tf)
        tf.seek(0)
        return tf.read()


def syscall_number(sc, name: str) -> int:
    """``name``'s number on this architecture: libseccomp's, else UNIFIED_NUMBERS (a denied call
    libseccomp is too old to know must still be denied). Unknown to both: an error, so the
    filter is never built with a denied call silently missing."""
    nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
    if nr == -1:  # unknown name (other negatives: a pseudo-number for a call absent on this arch)
        nr = UNIFIED_NUMBERS.get(name, -1)
    if nr == -1:
        raise OSError(errno.ENOSYS, f"no system-call number known for {name} (libseccomp too old?)")
    return nr


def load_bpf(program: bytes, ffi: tuple | None = None) -> None:
    """Install ``program`` on the calling thread. Needs no_new_privs (or CAP_SYS_ADMIN).

    Runs in the Python inner stage right before exec. ``ffi`` is ``landlock.ffi()`` (the
    Linux backend's one small ``_ctypes`` binding), which the inner stage has already built;
    elsewhere (tests) it is imported.
    """
    if not program or len(program) % 8:
        raise OSError(errno.EINVAL, "seccomp program is empty or not a whole number of instructions")
    if ffi is None:
        from cordon.sandbox.linux.landlock import ffi as make_ffi

        ffi = make_ffi()
    _, prctl, c_long, get_errno, buffer_address = ffi
    _buf, address = buffer_address(program)  # `_buf` keeps the C copy alive until prctl returns
    fprog = struct.pack("=HxxxxxxQ", len(program) // 8, address)  # struct sock_fprog
    pr_set_seccomp, seccomp_mode_filter = 22, 2
    if prctl(c_long(pr_set_seccomp), c_long(seccomp_mode_filter), fprog, c_long(0), c_long(0)) != 0:
        err = get_errno()
        raise OSError(err, f"seccomp filter not installed: {os.strerror(err)}")


SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5
SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}


NETLINK_SOCK_DIAG = 4


def load_watch(program: bytes, sock_fd: int, ffi: tuple | None = None, diag: bool = False) -> bool:
    """Install ``program`` with a user-notification listener and send the listener over the unix
    socket ``sock_fd`` (then close both here: the command must never hold the listener).
    ``diag``: also send a NETLINK_SOCK_DIAG socket made here, before the filter refuses it, so
    the supervisor can list the unix sockets of the sandbox's network namespace (the
    late-socket guard); without one it refuses every pathname connect.

    Returns False, with nothing installed and ``sock_fd`` closed, when the kernel refuses a
    listener (EBUSY: a filter up the process tree has one); the caller then loads the plain
    filter. Any failure after the filter is in place raises: without its listener every notified
    call would fail with ENOSYS.
    """
    if ffi is None:
        from cordon.sandbox.linux.landlock import ffi as make_ffi

        ffi = make_ffi()
    syscall, _, c_long, get_errno, buffer_address = ffi
    _buf, address = buffer_address(program)
    fprog = struct.pack("=HxxxxxxQ", len(program) // 8, address)
    import _socket

    fds = []
    if diag:
        try:
            d = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
            fds.append(d.detach())
        except OSError:
            pass
    # The late-socket guard's program notifies sendmsg() too, and nobody could answer the one
    # carrying the listener itself: a thread started before the filter (outside it: a filter
    # binds the thread that installs it and those it starts later) sends it, and has ended
    # before anything else runs. Its lock waits are futexes, never notified.
    import _thread

    go, done, box = _thread.allocate_lock(), _thread.allocate_lock(), {}
    go.acquire()
    done.acquire()

    def send() -> None:
        try:
            go.acquire()
            if box.get("fds"):
                s = _socket.socket(fileno=sock_fd)
                try:
                    rights = struct.pack(f"={len(box['fds'])}i", *box["fds"])
                    s.sendmsg([b"L"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
                finally:
                    s.detach()
                box["sent"] = True
        except OSError as exc:
            box["error"] = exc
        finally:
            done.release()

    _thread.start_new_thread(send, ())
    nr = SYS_SECCOMP.get(os.uname().machine)
    listener = -1
    # WAIT_KILLABLE_RECV first (5.19): once the supervisor holds a call, only a fatal signal
    # interrupts the caller, so a restarted call cannot repeat a send the supervisor made.
    for flags in (
        SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
        SECCOMP_FILTER_FLAG_NEW_LISTENER,
    ):
        if nr is None:
            break
        listener = syscall(c_long(nr), c_long(SECCOMP_SET_MODE_FILTER), c_long(flags), fprog)
        if listener >= 0 or get_errno() != errno.EINVAL:
            break
    if listener >= 0:
        fds.insert(0, listener)
        box["fds"] = fds
    go.release()
    done.acquire()
    os.close(sock_fd)
    for fd in fds:
        os.close(fd)
    if listener < 0:
        return False
    if not box.get("sent"):
        raise OSError(f"sending the seccomp listener to the launcher: {box.get('error')}")
    return True
