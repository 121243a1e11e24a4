"""The denial observer's filter arithmetic: the supervisor answers exactly what the plain
filter would (run_bpf against the kernel's verdicts is covered end to end in test_denials)."""

from __future__ import annotations

import errno
import os
import random
import struct

from cordon.sandbox.linux import seccomp, supervise

ARCH = supervise.AUDIT_ARCH[supervise._machine()]
EPERM = seccomp.SECCOMP_RET_ERRNO | errno.EPERM


def _nr(name: str) -> int:
    import pyseccomp as sc

    return seccomp.syscall_number(sc, name)


def test_run_bpf_matches_the_filter_rules() -> None:
    plain = seccomp.compile_bpf("off")
    run = lambda name, *a: supervise.run_bpf(plain, _nr(name), ARCH, 0, (list(a) + [0] * 6)[:6])  # noqa: E731
    assert run("ptrace") == EPERM
    assert run("socket", 1, 1, 0) == EPERM  # AF_UNIX in network off
    assert run("socket", 16, 3, 0) == seccomp.SECCOMP_RET_ALLOW  # NETLINK_ROUTE
    assert run("unshare", 0x10000000) == EPERM
    assert run("unshare", 0) == seccomp.SECCOMP_RET_ALLOW
    assert run("clone3") == seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS
    assert run("getpid") == seccomp.SECCOMP_RET_ALLOW
    assert supervise.run_bpf(plain, 1, 0x40000003, 0, [0] * 6) & 0xFFFF0000 == 0x80000000  # i386: killed


def test_watch_program_only_adds_notifications() -> None:
    """For any call: the watch variant returns USER_NOTIF where the plain filter says EPERM (and
    for path-taking filesystem calls), and otherwise exactly what the plain filter says."""
    rng = random.Random(19)
    fs_nrs = set(supervise.FS_NUMBERS[supervise._machine()].values())
    for network, level in (("off", "all"), ("proxy", "writes"), ("on", "all"), ("off", "syscalls")):
        plain = seccomp.compile_bpf(network)
        watch = supervise.watch_program(plain, level)
        supervise.check_program(watch)
        for _ in range(3000):
            nr = rng.choice([*fs_nrs, rng.randrange(0, 480), _nr("socket"), _nr("unshare"), _nr("ioctl")])
            args = [
                rng.choice([0, 1, 2, 10, 16, 0x10000000, 0x200000, 0x5412, rng.getrandbits(64)])
                for _ in range(6)
            ]
            p = supervise.run_bpf(plain, nr, ARCH, 0, args)
            w = supervise.run_bpf(watch, nr, ARCH, 0, args)
            if p == EPERM:
                assert w == supervise.SECCOMP_RET_USER_NOTIF
            elif nr in fs_nrs and w == supervise.SECCOMP_RET_USER_NOTIF:
                pass  # sent to the supervisor, which answers p (whatever it is) itself
            else:
                assert w == p, (network, nr, args)


def test_what_each_level_sends() -> None:
    plain = seccomp.compile_bpf("off")
    nrs = supervise.FS_NUMBERS[supervise._machine()]
    notif, allow = supervise.SECCOMP_RET_USER_NOTIF, seccomp.SECCOMP_RET_ALLOW

    def sent(level: str, name: str, flags: int = 0) -> int:
        args = [0, 0, flags, 0, 0, 0] if name == "openat" else [0] * 6
        return supervise.run_bpf(supervise.watch_program(plain, level), nrs[name], ARCH, 0, args)

    assert sent("all", "openat", os.O_RDONLY) == notif
    assert sent("all", "openat", supervise.O_PATH) == allow
    assert sent("all", "execve") == notif
    assert sent("writes", "openat", os.O_RDONLY) == allow  # reads cost nothing in this level
    assert sent("writes", "openat", os.O_WRONLY | os.O_CREAT) == notif
    assert sent("writes", "openat", supervise.O_PATH | os.O_RDWR) == allow
    assert sent("writes", "execve") == allow
    assert sent("writes", "mkdirat") == notif
    assert sent("syscalls", "mkdirat") == allow


def test_unsupported_opcodes_are_refused_up_front() -> None:
    bad = struct.pack("=HBBI", 0x94, 0, 0, 0)  # BPF_ALU|BPF_MOD: not emitted by libseccomp
    try:
        supervise.check_program(bad)
    except supervise.UnsupportedProgram:
        return
    raise AssertionError("accepted an opcode run_bpf cannot evaluate")


def test_remembered_verdicts_equal_the_program() -> None:
    """The supervisor remembers verdicts by the words the filter read: never a different answer."""
    rng = random.Random(7)
    plain = seccomp.compile_bpf("off")
    sup = supervise.Supervisor(plain, walls=None, recorder=None)
    try:
        names = ["openat", "socket", "unshare", "clone", "ioctl", "personality", "getpid", "mkdirat"]
        for _ in range(4000):
            nr = _nr(rng.choice(names))
            args = [
                rng.choice([0, 1, 2, 10, 16, 0o4755, 0x10000000, 0x5412, rng.getrandbits(64)])
                for _ in range(6)
            ]
            assert sup._verdict(nr, ARCH, 0, args) == supervise.run_bpf(plain, nr, ARCH, 0, args), (nr, args)
        assert any(len(m) > 1 for m in sup._memo.values())  # several paths remembered for one number
    finally:
        sup.close()
