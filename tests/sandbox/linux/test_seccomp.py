"""The seccomp wall on its own: the compiled program, evaluated instruction by instruction, and
loaded for real by the inner program in a child on this kernel (as root and as the user)."""

from __future__ import annotations

import errno
import json
import os
import struct
import sys

import pytest
from cordon.sandbox.linux import seccomp

from tests.sandbox.linux.confine_support import build_probes, parse_probes, run_inner, seccomp_spec

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.uname().machine != "x86_64", reason="x86_64 Linux filter"
)

X86_64, I386 = 0xC000003E, 0x40000003
RET_ALLOW, RET_KILL_PROCESS = 0x7FFF0000, 0x80000000


@pytest.fixture(scope="module")
def probes_bin(scratch_session):
    return build_probes(scratch_session)


def eperm(e=errno.EPERM):
    return 0x00050000 | e


def run_bpf(prog: bytes, nr: int, args=(0,) * 6, arch: int = X86_64) -> int:
    """A classic-BPF interpreter for the instructions libseccomp and our prefix emit."""
    args = (*args, *(0,) * (6 - len(args)))
    data = struct.pack("=iIQ6Q", nr, arch, 0, *[a & 0xFFFFFFFFFFFFFFFF for a in args])
    insns = [struct.unpack_from("=HBBI", prog, i) for i in range(0, len(prog), 8)]
    a = x = 0
    pc = 0
    mem = [0] * 16
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 0x07
        if cls == 0x00:  # LD
            if code == 0x20:
                a = struct.unpack_from("=I", data, k)[0]
            elif code == 0x00:
                a = k
            elif code == 0x60:
                a = mem[k]
            else:
                raise AssertionError(f"LD {code:#x}")
        elif cls == 0x01:  # LDX
            x = mem[k] if code == 0x61 else k
        elif cls == 0x02:
            mem[k] = a
        elif cls == 0x03:
            mem[k] = x
        elif cls == 0x04:  # ALU
            op, src = code & 0xF0, (x if code & 0x08 else k)
            a = {0x50: a & src, 0x40: a | src, 0x00: (a + src), 0x10: (a - src)}[op] & 0xFFFFFFFF
        elif cls == 0x05:  # JMP
            op, src = code & 0xF0, (x if code & 0x08 else k)
            if op == 0x00:
                pc += k
                continue
            cond = {0x10: a == src, 0x20: a > src, 0x30: a >= src, 0x40: bool(a & src)}[op]
            pc += jt if cond else jf
        elif cls == 0x06:
            return a if code == 0x16 else k
        elif cls == 0x07:
            a, x = (x, a) if code == 0x87 else (a, a)
        else:
            raise AssertionError(f"insn {code:#x}")


@pytest.fixture(scope="module")
def progs():
    progs = {m: seccomp.compile_bpf(m) for m in ("off", "on", "proxy")}
    progs.update({f"{m}+ns": seccomp.compile_bpf(m, isolated=True) for m in ("off", "on", "proxy")})
    # The late-socket guard's variant (sockets.late_socket_guard == "supervisor").
    progs.update({f"{m}+ns+guard": seccomp.compile_bpf(m, True, guard=True) for m in ("off", "proxy")})
    return progs


def test_guard_notifies_connect_and_addressed_sends(progs):
    """connect(), sendto() with an address, sendmsg() and sendmmsg() go to the supervisor
    (USER_NOTIF), never straight through; an address-less sendto() (where connect() pointed the
    socket) runs directly. AF_UNIX sockets of every type (socket and socketpair) are allowed:
    what a datagram could reach by path, the supervisor checks at each addressed send."""
    notif = 0x7FC00000
    for m in ("off", "proxy"):
        g, plain = progs[f"{m}+ns+guard"], progs[f"{m}+ns"]
        assert run_bpf(g, 42, (3, 0, 16)) == notif and run_bpf(plain, 42, (3, 0, 16)) == RET_ALLOW
        assert run_bpf(g, 44, (3, 0, 1, 0, 0x7FFF_0000, 16)) == notif  # sendto, an address
        assert run_bpf(g, 44, (3, 0, 1, 0, 1 << 40, 16)) == notif  # only the upper half set
        assert run_bpf(g, 44, (3, 0, 1, 0, 0, 0)) == RET_ALLOW  # send(): no address
        for nr in (46, 307):  # sendmsg, sendmmsg
            assert run_bpf(g, nr, (3, 0x7FFF_0000, 0)) == notif
            assert run_bpf(plain, nr, (3, 0x7FFF_0000, 0)) == RET_ALLOW
        for nr in (41, 53):  # socket, socketpair
            for kind in (1, 2, 5, 2 | 0x80000, 2 | 0x800):
                assert run_bpf(g, nr, (1, kind, 0)) == RET_ALLOW, (nr, kind)
        assert run_bpf(g, 41, (2, 2, 0)) == RET_ALLOW  # UDP on the sandbox's own loopback
        for nr in (0, 1, 20, 45, 47):  # read, write, writev, recvfrom, recvmsg
            assert run_bpf(g, nr, (3, 0, 0)) == RET_ALLOW


def test_foreign_arch_is_killed(progs):
    assert run_bpf(progs["off"], 20, arch=I386) == RET_KILL_PROCESS  # i386 getpid via int 0x80


def test_x32_numbers_are_denied(progs):
    for nr in (0x40000000 | 41, 0x40000000 | 39, 0x7FFFFFFF):
        assert run_bpf(progs["on"], nr) == eperm()


def test_unreviewed_syscall_numbers_get_enosys(progs):
    assert run_bpf(progs["on"], seccomp.MAX_REVIEWED_NR + 1) == eperm(errno.ENOSYS)
    assert run_bpf(progs["on"], 39) == RET_ALLOW  # getpid
    assert run_bpf(progs["on"], seccomp.MAX_REVIEWED_NR) == RET_ALLOW


@pytest.mark.parametrize(
    "mode,domain,expected",
    [
        ("off", 2, "deny"),
        ("off", 10, "deny"),
        ("off", 1, "deny"),
        ("off", 17, "deny"),
        ("off", 40, "deny"),
        ("off", 0x100000002, "deny"),  # garbage in the upper half, the kernel sees AF_INET
        ("off", 0x100000001, "deny"),
        ("proxy", 2, "allow"),
        ("proxy", 1, "deny"),
        ("on", 1, "allow"),
        ("on", 10, "allow"),
        ("on", 46, "deny"),
        # Under bubblewrap (own loopback-only network namespace, host sockets masked): the
        # sandbox's own loopback and unix sockets between its processes.
        ("off+ns", 2, "allow"),
        ("off+ns", 10, "allow"),
        ("off+ns", 1, "allow"),
        ("off+ns", 17, "deny"),
        ("off+ns", 40, "deny"),
        ("off+ns", 0x100000011, "deny"),  # AF_PACKET with upper-half garbage
        ("proxy+ns", 1, "allow"),
        ("proxy+ns", 40, "deny"),
        ("on+ns", 1, "allow"),
    ],
)
def test_socket_families(progs, mode, domain, expected):
    got = run_bpf(progs[mode], 41, (domain, 1, 0))
    assert got == (RET_ALLOW if expected == "allow" else eperm())


@pytest.mark.parametrize("mode", ["on", "off+ns", "proxy+ns"])
def test_raw_and_netlink_protocols(progs, mode):
    on = progs[mode]
    assert run_bpf(on, 41, (2, 3, 1)) == eperm()  # AF_INET SOCK_RAW
    assert run_bpf(on, 41, (2, 3 | 0x80000, 1)) == eperm()  # with SOCK_CLOEXEC
    assert run_bpf(on, 41, (16, 3, 0)) == RET_ALLOW  # NETLINK_ROUTE
    assert run_bpf(on, 41, (16, 3, 4)) == eperm()  # NETLINK_SOCK_DIAG
    assert run_bpf(on, 41, (16, 3, 1 << 32)) == eperm()  # upper-half garbage: conservative


def test_ioctl_and_personality_compare_the_low_half(progs):
    p = progs["on"]
    assert run_bpf(p, 16, (0, 0x5412)) == eperm()
    assert run_bpf(p, 16, (0, 0xABCD00005412)) == eperm()  # the kernel truncates cmd to 32 bits
    assert run_bpf(p, 16, (0, 0x5401)) == RET_ALLOW  # TCGETS
    assert run_bpf(p, 135, (0x0040000,)) == eperm()  # ADDR_NO_RANDOMIZE
    assert run_bpf(p, 135, (0xFFFFFFFF,)) == RET_ALLOW
    assert run_bpf(p, 135, (0x1_0000_0000,)) == RET_ALLOW  # low half 0 == PER_LINUX, as the kernel sees it
    assert run_bpf(p, 56, (0x10000000 | 17,)) == eperm()  # clone(CLONE_NEWUSER|SIGCHLD)
    assert run_bpf(p, 56, (0x01200011,)) == RET_ALLOW  # fork()-style clone
    assert run_bpf(p, 435) == eperm(errno.ENOSYS)  # clone3


@pytest.mark.parametrize(
    "name,nr,arg", [("chmod", 90, 1), ("fchmod", 91, 1), ("fchmodat", 268, 2), ("fchmodat2", 452, 2),
                    ("mknod", 133, 1), ("mknodat", 259, 2), ("open", 2, 2), ("openat", 257, 3), ("creat", 85, 1)],
)  # fmt: skip
def test_set_id_modes_are_refused(progs, name, nr, arg):
    for prog in progs.values():
        for mode in (0o4755, 0o2755, 0o6777, 0o104755, 0xFFFF_0000_0000_0800):
            args = [0] * 6
            args[arg] = mode
            flags = seccomp.OPEN_FLAGS_ARG.get(name)
            if flags is not None:
                # A plain open ignores its mode register (whatever its caller left there):
                # allowed; creating (O_CREAT, or O_TMPFILE) is refused.
                assert run_bpf(prog, nr, args) == RET_ALLOW, (name, oct(mode))
                for creating in (seccomp.O_CREAT, seccomp.O_TMPFILE_BIT | 2):
                    args[flags] = creating
                    assert run_bpf(prog, nr, args) == eperm(), (name, oct(mode), oct(creating))
                continue
            assert run_bpf(prog, nr, args) == eperm(), (name, oct(mode))
        for mode in (0o755, 0o1777, 0o100644, 0o777):  # sticky and plain modes pass
            args = [0] * 6
            args[arg] = mode
            if name == "fchmodat2":
                args[3] = 0x100  # AT_SYMLINK_NOFOLLOW: the flags do not move the mode
            assert run_bpf(prog, nr, args) == RET_ALLOW, (name, oct(mode))
    assert run_bpf(progs["on"], 437) == eperm(errno.ENOSYS)  # openat2: mode inside a struct


def test_rules_data_matches_the_program(progs):
    rules = seccomp.rules("off")
    json.dumps(rules)
    named = {r["syscall"] for r in rules}
    for names in seccomp.DENIED_SYSCALLS.values():
        assert set(names) <= named
    assert any("x32" in r["when"] for r in rules)
    assert set(seccomp.SETID_MODE_ARG) <= named


# What each probe must give under the filter (errno EPERM unless stated).
DENIED = [
    "socket_inet", "socket_inet6", "socket_inet_hi32", "socket_unix", "socketpair_inet", "netlink_diag",
    "netlink_uevent", "packet", "raw", "vsock", "ptrace", "process_vm_readv", "io_uring", "bpf", "perf",
    "add_key", "keyctl", "request_key", "kexec", "init_module", "finit_module", "delete_module", "reboot",
    "mount", "umount", "pivot_root", "chroot", "unshare_user", "unshare_net", "clone_newuser", "setns",
    "sethostname", "settimeofday", "adjtimex", "syslog", "swapon", "userfaultfd", "kcmp", "pidfd_getfd",
    "open_by_handle_at", "fsopen", "open_tree", "tiocsti", "tiocsti_hi32", "personality", "x32",
]  # fmt: skip
ALLOWED = ["getpid", "socketpair_unix", "netlink_route", "personality_query"]


def test_filter_in_a_child(identity, probes_bin, inner_executor):
    """Every denied family fails with EPERM, clone3 with ENOSYS, int 0x80 is killed; the
    ordinary calls still work (so the failures are the filter's doing)."""
    r = run_inner(
        seccomp_spec("off"), [str(probes_bin), *DENIED, *ALLOWED, "clone3", "i386"], identity=identity
    )
    assert r.returncode == 0, r.stderr
    got = parse_probes(r.stdout)
    for name in DENIED:
        assert got.get(name) == ("errno", errno.EPERM), (name, got.get(name))
    for name in ALLOWED:
        assert got.get(name) == ("ok", 0), (name, got.get(name))
    assert got["clone3"] == ("errno", errno.ENOSYS)
    assert got["i386"] == ("signal", 31)  # SIGSYS


def test_without_the_filter_the_probes_succeed(identity, probes_bin):
    """Control: the same harmless probes succeed unfiltered, so the EPERMs above are the filter's."""
    safe = [
        "socket_inet",
        "socket_unix",
        "keyctl",
        "add_key",
        "unshare_user",
        "io_uring",
        "personality",
        "i386",
    ]
    r = run_inner({"v": 1}, [str(probes_bin), *safe], identity=identity)
    got = parse_probes(r.stdout)
    for name in safe:
        assert got.get(name) == ("ok", 0), (name, got.get(name))


def test_network_modes_change_only_sockets(probes_bin, inner_executor):
    r = run_inner(
        seccomp_spec("on"), [str(probes_bin), "socket_inet", "socket_unix", "packet", "raw", "ptrace"]
    )
    got = parse_probes(r.stdout)
    assert got["socket_inet"] == ("ok", 0) and got["socket_unix"] == ("ok", 0)
    assert got["packet"] == got["raw"] == got["ptrace"] == ("errno", errno.EPERM)
    r = run_inner(seccomp_spec("proxy"), [str(probes_bin), "socket_inet", "socket_unix", "vsock"])
    got = parse_probes(r.stdout)
    assert got["socket_inet"] == ("ok", 0)
    assert got["socket_unix"] == got["vsock"] == ("errno", errno.EPERM)
    # The filter bubblewrap launches get (own network namespace, host sockets masked).
    for mode in ("off", "proxy"):
        spec = {"v": 1, "seccomp": seccomp.compile_bpf(mode, isolated=True)}
        names = ["socket_inet", "socket_inet6", "socket_unix", "packet", "raw", "vsock", "netlink_diag"]
        got = parse_probes(run_inner(spec, [str(probes_bin), *names]).stdout)
        assert got["socket_inet"] == got["socket_inet6"] == got["socket_unix"] == ("ok", 0), (mode, got)
        for name in ("packet", "raw", "vsock", "netlink_diag"):
            assert got[name] == ("errno", errno.EPERM), (mode, name, got)


def test_load_rejects_a_malformed_program():
    with pytest.raises(OSError):
        seccomp.load_bpf(b"\x00" * 7)
