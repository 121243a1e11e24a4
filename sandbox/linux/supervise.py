"""The denial observer of the Linux sandbox: a seccomp user-notification supervisor.

How it works, and why it never weakens a wall:
  * The inner stage installs a *watch* variant of the seccomp filter (``watch_program``): the
    filter it would install anyway, where every ``ERRNO(EPERM)`` return becomes
    ``USER_NOTIF``, behind a short prefix that also sends filesystem calls that take a path
    (open*, mkdir*, unlink*, rename*, link*, symlink*, mknod*, truncate, execve*) to the
    supervisor. It hands the listener to the launcher over a socket (``NOTIFY_FD``) and closes
    its own copy before exec: the command never holds it.
  * The supervisor (a thread of the launcher, outside the sandbox) evaluates the *unmodified*
    filter on each notification (``run_bpf``) and answers exactly what that filter would have:
    its errno (a seccomp denial, recorded), or "continue" (the call proceeds as if allowed, and
    the kernel's walls, mounts and Landlock, decide as always). "Continue" is therefore never
    a security decision; it is what ``ALLOW`` would have done.
  * For a continued filesystem call it reads the path from the caller's memory and asks
    ``Walls`` whether a wall stands in the way; it records a denial only after confirming it
    in the caller's own mount view (``/proc/PID/root``, resolved by the kernel with
    RESOLVE_IN_ROOT): the object is a mode-000 deny-read mask, or it lies on a read-only mount
    (EROFS), or it is a mount point (EBUSY), or (``--fallback=landlock``) it is outside every
    Landlock write root. Paths with ``..`` or that cannot be resolved are not reported: a
    missed event, never a false one. A command can make its own events wrong (by racing its
    own memory), never the walls weaker.
  * A refused read or exec is held back until it is settled (``_settle``): execvp, the
    dynamic loader and interpreters try a name in one folder after another, and a candidate
    in a hidden folder fails like a missing one. If the same process then reaches an object
    of that name in another folder that exists, it was a probe of a lookup that succeeded:
    not a denial. Its end, the end of the command, or ``SETTLE_CALLS`` other observed calls
    of that process record it (a lookup does a few other things between two candidates).
  * If the supervisor dies, the kernel answers pending and later notified calls with ENOSYS:
    still refused. If a listener cannot be created (another one exists up the process tree:
    EBUSY), the inner stage installs the plain filter: confinement as before, no observation.

Privileges: the same for root and for an unprivileged user; reading another process's memory
and ``/proc/PID/root`` needs only the same uid (the command is not dumpable-protected and
the launcher is outside its Landlock domain).

Must not touch: the filter's rules (seccomp.py), the policy (Walls attributes it).
"""

from __future__ import annotations

import errno as _errno
import os
import struct

from cordon.errors import CordonError
from cordon.paths import within

SETTLE_CALLS = 32  # other observed calls of a process before what it held back is recorded
PENDING_POLL_MS = 50  # how often to look whether a process holding back a probe has ended
NOTIFY_FD = 204  # the inner stage's end of the socket the listener travels on (202: warm, 203: limits)
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# ioctls of the listener (linux/seccomp.h): _IOWR('!', 0, struct seccomp_notif), ...
NOTIF_RECV = 0xC0502100
NOTIF_SEND = 0xC0182101
NOTIF_ID_VALID = 0x40082102
NOTIF_SET_FLAGS = 0x40082104  # takes the flags as the ioctl's argument itself
USER_NOTIF_FD_SYNC_WAKE_UP = 1
USER_NOTIF_FLAG_CONTINUE = 1
O_PATH = 0o10000000
O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_NOFOLLOW = 0o1, 0o2, 0o100, 0o200, 0o1000, 0o400000
AT_FDCWD = -100

# Filesystem calls that take a path: name -> ((role, dirfd arg or None, path arg), ...).
# Roles: open (flags decide), create, delete, exec, truncate.
FS_CALLS: dict[str, tuple] = {
    "open": (("open", None, 0),),
    "openat": (("open", 0, 1),),
    "openat2": (("open", 0, 1),),
    "creat": (("create", None, 0),),
    "mkdir": (("create", None, 0),),
    "mkdirat": (("create", 0, 1),),
    "mknod": (("create", None, 0),),
    "mknodat": (("create", 0, 1),),
    "unlink": (("delete", None, 0),),
    "rmdir": (("delete", None, 0),),
    "unlinkat": (("delete", 0, 1),),
    "rename": (("delete", None, 0), ("create", None, 1)),
    "renameat": (("delete", 0, 1), ("create", 2, 3)),
    "renameat2": (("delete", 0, 1), ("create", 2, 3)),
    "link": (("create", None, 1),),
    "linkat": (("create", 2, 3),),
    "symlink": (("create", None, 1),),
    "symlinkat": (("create", 1, 2),),
    "truncate": (("truncate", None, 0),),
    "execve": (("exec", None, 0),),
    "execveat": (("exec", 0, 1),),
}
FS_NUMBERS = {
    "x86_64": {
        "open": 2, "openat": 257, "openat2": 437, "creat": 85, "mkdir": 83, "mkdirat": 258,
        "mknod": 133, "mknodat": 259, "unlink": 87, "rmdir": 84, "unlinkat": 263, "rename": 82,
        "renameat": 264, "renameat2": 316, "link": 86, "linkat": 265, "symlink": 88,
        "symlinkat": 266, "truncate": 76, "execve": 59, "execveat": 322,
    },
    "aarch64": {
        "openat": 56, "openat2": 437, "mkdirat": 34, "mknodat": 33, "unlinkat": 35,
        "renameat": 38, "renameat2": 276, "linkat": 37, "symlinkat": 36, "truncate": 45,
        "execve": 221, "execveat": 281,
    },
}  # fmt: skip
OPEN_FLAGS_ARG = {"open": 1, "openat": 2}  # openat2 keeps them in struct open_how


def _machine() -> str:
    m = os.uname().machine
    return "aarch64" if m in ("aarch64", "arm64") else m


# --- the filter, as the supervisor sees it ----------------------------------------------------
def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


WATCH_LEVELS = ("all", "writes", "syscalls")
WRITE_FLAGS = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC
READ_ONLY_CALLS = ("execve", "execveat")  # only a deny-read mask can refuse them


def watch_program(plain: bytes, level: str = "all") -> bytes:
    """``plain`` with ERRNO(EPERM) returns turned into USER_NOTIF, preceded by a prefix that
    also sends path-taking filesystem calls to the supervisor: all of them but O_PATH opens
    (``level="all"``), only those that write (``"writes"``: opens with a write flag, mkdir,
    unlink, rename...), or none (``"syscalls"``).

    Both parts only ever *add* notifications: the supervisor answers each with what ``plain``
    returns, so the behaviour seen by the command is exactly ``plain``'s.
    """
    if level not in WATCH_LEVELS:
        raise ValueError(f"unknown watch level {level!r}")
    key = (bytes(plain), level, _machine())
    hit = _watch_programs.get(key)
    if hit is None:
        hit = _watch_program(plain, level)
        if len(_watch_programs) < 32:  # one per network mode and level: a handful per process
            _watch_programs[key] = hit
    return hit


# (plain program, level, machine) -> the watch program: a pure function of its inputs, built
# once per process instead of at every launch.
_watch_programs: dict[tuple[bytes, str, str], bytes] = {}


def _watch_program(plain: bytes, level: str) -> bytes:
    out = bytearray(plain)
    eperm = SECCOMP_RET_ERRNO | _errno.EPERM
    for i in range(0, len(out), 8):
        code, _, _, k = struct.unpack_from("=HBBI", out, i)
        if code == 0x06 and k == eperm:  # BPF_RET|BPF_K
            struct.pack_into("=HBBI", out, i, code, 0, 0, SECCOMP_RET_USER_NOTIF)
    numbers = FS_NUMBERS.get(_machine())
    if level == "syscalls" or numbers is None:
        return bytes(out)
    ld_abs, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    body: list[tuple] = [(ld_abs, 0, 0, 4), (jeq, 0, "END", AUDIT_ARCH[_machine()]), (ld_abs, 0, 0, 0)]
    for name, arg in OPEN_FLAGS_ARG.items():
        if name in numbers:
            block = [
                (ld_abs, 0, 0, 16 + 8 * arg),  # low 32 bits of the flags
                (jset, "END", 0, O_PATH),  # O_PATH: no mask or read-only mount can refuse it
                *([(jset, 0, "END", WRITE_FLAGS)] if level == "writes" else []),
                (ret, 0, 0, SECCOMP_RET_USER_NOTIF),
            ]
            body += [(jeq, 0, len(block), numbers[name]), *block]
    for name, nr in numbers.items():
        if name in OPEN_FLAGS_ARG or (level == "writes" and name in READ_ONLY_CALLS):
            continue
        body += [(jeq, 0, 1, nr), (ret, 0, 0, SECCOMP_RET_USER_NOTIF)]
    prefix = []
    for i, (code, jt, jf, k) in enumerate(body):
        jt = len(body) - i - 1 if jt == "END" else jt
        jf = len(body) - i - 1 if jf == "END" else jf
        prefix.append(_insn(code, jt, jf, k))
    return b"".join(prefix) + bytes(out)


class UnsupportedProgram(CordonError, ValueError):
    pass


def check_program(program: bytes) -> None:
    """Raise UnsupportedProgram if ``run_bpf`` cannot evaluate ``program`` exactly."""
    program = bytes(program)
    if program in _checked:
        return
    for i in range(0, len(program), 8):
        code = struct.unpack_from("=H", program, i)[0]
        if code not in _OPS:
            raise UnsupportedProgram(f"BPF opcode {code:#x} at instruction {i // 8}")
    if len(_checked) < 32:
        _checked.add(program)


_checked: set[bytes] = set()  # programs check_program accepted (it depends on nothing else)


_OPS = {
    0x20,
    0x00,
    0x60,
    0x02,
    0x07,
    0x87,
    0x15,
    0x25,
    0x35,
    0x45,
    0x05,
    0x06,
    0x54,
    0x44,
    0x74,
    0x64,
    0x04,
    0x14,
}


def run_bpf(program: bytes, nr: int, arch: int, ip: int, args, reads: list | None = None) -> int:
    """Evaluate a classic-BPF seccomp program on one call (the subset libseccomp emits).
    ``reads`` (a list) receives each (offset, word) the program loaded, in order."""
    data = struct.pack("=iIQ6Q", nr, arch, ip, *args)
    a = x = 0
    mem = [0] * 16
    pc = 0
    n = len(program) // 8
    while pc < n:
        code, jt, jf, k = struct.unpack_from("=HBBI", program, pc * 8)
        pc += 1
        if code == 0x20:  # ld [k]
            a = struct.unpack_from("=I", data, k)[0]
            if reads is not None:
                reads.append((k, a))
        elif code == 0x00:
            a = k
        elif code == 0x60:
            a = mem[k]
        elif code == 0x02:
            mem[k] = a
        elif code == 0x07:
            x = a
        elif code == 0x87:
            a = x
        elif code == 0x54:
            a &= k
        elif code == 0x44:
            a |= k
        elif code == 0x74:
            a = (a >> k) & 0xFFFFFFFF
        elif code == 0x64:
            a = (a << k) & 0xFFFFFFFF
        elif code == 0x04:
            a = (a + k) & 0xFFFFFFFF
        elif code == 0x14:
            a = (a - k) & 0xFFFFFFFF
        elif code == 0x05:
            pc += k
        elif code == 0x15:
            pc += jt if a == k else jf
        elif code == 0x25:
            pc += jt if a > k else jf
        elif code == 0x35:
            pc += jt if a >= k else jf
        elif code == 0x45:
            pc += jt if a & k else jf
        elif code == 0x06:
            return k
        else:
            raise UnsupportedProgram(f"BPF opcode {code:#x}")
    return SECCOMP_RET_ERRNO | _errno.EPERM  # fell off the end: the kernel would refuse the program


# --- reading the caller ---------------------------------------------------------------------
class _Memory:
    """``/proc/PID/mem`` descriptors kept per process: opening one costs more than reading a
    path through it, and a build makes thousands of observed calls. A descriptor is bound to
    the address space it was opened on: after an exec, or once the process is gone (its pid
    maybe reused), reads through it return nothing or fail, and it is opened again; so it
    never reads another program's memory."""

    MAX = 64  # processes remembered; then all are closed (most are short-lived)

    def __init__(self) -> None:
        self.fds: dict[int, int] = {}

    def pread(self, pid: int, n: int, offset: int) -> bytes | None:
        for fresh in (False, True):
            fd = self.fds.get(pid)
            if fd is None or fresh:
                if fd is not None:
                    os.close(self.fds.pop(pid))
                if len(self.fds) >= self.MAX:
                    self.close()
                try:
                    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    return None
                self.fds[pid] = fd
            try:
                data = os.pread(fd, n, offset)
            except OSError:
                data = b""
            if data:
                return data
        return None

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def _read_string(pid: int, addr: int, limit: int = 4096, mem: _Memory | None = None) -> bytes | None:
    if not addr:
        return None
    own = mem is None
    mem = _Memory() if mem is None else mem
    try:
        out = b""
        while len(out) < limit:
            chunk = mem.pread(pid, 256 - (addr + len(out)) % 256, addr + len(out))
            if not chunk:
                return None
            nul = chunk.find(b"\0")
            if nul >= 0:
                return out + chunk[:nul]
            out += chunk
        return None
    finally:
        if own:
            mem.close()


def _read_u64(pid: int, addr: int, mem: _Memory | None = None) -> int | None:
    own = mem is None
    mem = _Memory() if mem is None else mem
    try:
        data = mem.pread(pid, 8, addr)
        return struct.unpack("=Q", data)[0] if data and len(data) == 8 else None
    finally:
        if own:
            mem.close()


def openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    from cordon.sandbox.linux.landlock import sys_call

    how = struct.pack("=QQQ", flags | os.O_CLOEXEC, 0, resolve)
    return sys_call(437, dirfd, os.fsencode(path), how, len(how))


RESOLVE_NO_MAGICLINKS, RESOLVE_IN_ROOT = 0x02, 0x10


def _mnt_id(fd: int) -> int | None:
    try:
        with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
            for line in f:
                if line.startswith(b"mnt_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class _View:
    """The caller's filesystem as the kernel resolves it for the caller (its root, its mounts)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.root: int | None = None  # opened on first use: most calls never need it

    def close(self) -> None:
        if self.root is not None:
            os.close(self.root)

    def open(self, path: str, follow: bool = False) -> int | None:
        """An O_PATH fd on ``path`` (absolute, in the caller's view), or None."""
        flags = os.O_PATH | (0 if follow else O_NOFOLLOW)
        try:
            if self.root is None:
                self.root = os.open(f"/proc/{self.pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            return openat2(self.root, path.lstrip("/") or ".", flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
        except OSError:
            return None

    def stat(self, path: str, follow: bool = False):
        """(stat, statvfs flags, mount id) of ``path`` in the caller's view, or None."""
        fd = self.open(path, follow)
        if fd is None:
            return None
        try:
            st = os.fstat(fd)
            # fstatvfs on an O_PATH fd works (it takes the path's mount): ST_RDONLY is the mount's.
            vfs = os.fstatvfs(fd).f_flag
            return st, vfs, _mnt_id(fd), os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return None
        finally:
            os.close(fd)


def _absolute(pid: int, raw: bytes, dirfd: int | None) -> str | None:
    """The caller's path made absolute in its own view, lexically; None when that would not be
    exact (``..`` components, a base that is not a directory path)."""
    path = os.fsdecode(raw)
    if not path:
        return None
    if ".." in path.split("/"):
        return None
    if not path.startswith("/"):
        fd = AT_FDCWD if dirfd is None else struct.unpack("=i", struct.pack("=I", dirfd & 0xFFFFFFFF))[0]
        link = f"/proc/{pid}/cwd" if fd == AT_FDCWD else f"/proc/{pid}/fd/{fd}"
        try:
            base = os.readlink(link)
        except OSError:
            return None
        if not base.startswith("/") or base.endswith(" (deleted)"):
            return None
        path = os.path.join(base, path)
    return os.path.normpath(path).replace("//", "/")


def _state(pid: int) -> str | None:
    """The process state letter (R, S, Z...) from /proc/PID/stat, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rindex(b")") + 2 : data.rindex(b")") + 3].decode()
    except (OSError, ValueError):
        return None


def comm_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().strip().decode("utf-8", "replace")
    except OSError:
        return None


# --- the supervisor ---------------------------------------------------------------------------
class Supervisor:
    """Receives the listener from the inner stage and answers every notification (a thread)."""

    def __init__(self, plain: bytes, walls, recorder, level: str = "all", guard=None):
        from cordon.sandbox.fastpath import socket as _socket
        from cordon.sandbox.fastpath import thread as _thread

        check_program(plain)
        self.plain = plain
        self.walls = walls
        self.recorder = recorder
        self.level = level
        self.guard = guard  # unixguard.UnixGuard: answers connect() and sends (the filter's USER_NOTIF)
        self.machine = _machine()
        fs = level != "syscalls"
        self.fs_numbers = {nr: name for name, nr in FS_NUMBERS.get(self.machine, {}).items()} if fs else {}
        self._names: dict[int, str] = {}
        self._memo: dict[tuple[int, int], list] = {}  # (nr, arch) -> [(words read, verdict)]
        # pid -> reads and execs of a hidden object, held back until it is clear that they were
        # not probes of a lookup that a later candidate satisfied (``_settle``).
        self._pending: dict[int, list] = {}
        self._waited: dict[int, int] = {}  # pid -> its calls since it held something back
        self._inner: tuple | None = None  # (pid, comm) of the inner stage, from the handoff
        self._mem = _Memory()
        if guard is not None:
            guard.mem = self._mem  # read from this thread only, as ours
        self.sock, self.child = _socket.socketpair(
            _socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC
        )
        self._done = _thread.allocate_lock()  # held while the serving thread runs
        self._started = False
        self.listening = False  # True once the inner stage handed over a listener
        self.error: str | None = None

    def child_fd(self) -> int:
        """The socket end the inner stage gets (as NOTIFY_FD); closed here once it is started."""
        return self.child.fileno()

    def start(self) -> None:
        from cordon.sandbox.fastpath import thread as _thread

        self.child.close()
        self._done.acquire()
        self._started = True
        _thread.start_new_thread(self._serve, ())

    def join(self, timeout: float = 5.0) -> None:
        if self._started and self._done.acquire(timeout=timeout):
            self._done.release()
        try:
            self.sock.close()
        except OSError:
            pass

    def close(self) -> None:
        for s in (self.sock, self.child):
            try:
                s.close()
            except OSError:
                pass
        if self.guard is not None:
            self.guard.close()

    # -- the loop -------------------------------------------------------------------------------
    def _serve(self) -> None:
        try:
            self._serve_listener()
        finally:
            self._done.release()

    def _serve_listener(self) -> None:
        import fcntl
        import select  # (not array: it imports collections.abc)

        from cordon.sandbox.fastpath import socket as _socket

        listener = None
        try:
            try:
                # SO_PASSCRED: the kernel adds the sender's pid (the inner stage), translated.
                self.sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_PASSCRED, 1)
                _, anc, _, _ = self.sock.recvmsg(1, _socket.CMSG_SPACE(4) + _socket.CMSG_SPACE(12))
            except OSError:
                return
            for level, kind, data in anc:
                if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                    fds = struct.unpack(f"={len(data) // 4}i", data[: len(data) - len(data) % 4])
                    listener, *extra = fds
                    if self.guard is not None and extra:
                        self.guard.diag = extra.pop(0)  # sock_diag of the sandbox's namespace
                    for fd in extra:
                        os.close(fd)
                elif level == _socket.SOL_SOCKET and kind == _socket.SCM_CREDENTIALS and len(data) >= 4:
                    pid = struct.unpack_from("=i", data)[0]
                    self._inner = (pid, comm_of(pid)) if pid > 0 else None
            if listener is None:
                return  # the inner stage could not create one (or the sandbox failed to start)
            self.listening = True
            try:  # hand the CPU straight to the supervisor on each notification (Linux >= 6.6)
                fcntl.ioctl(listener, NOTIF_SET_FLAGS, USER_NOTIF_FD_SYNC_WAKE_UP)
            except OSError:
                pass
            poller = select.poll()
            poller.register(listener, select.POLLIN)
            while True:
                # While a probe is held back, look now and then whether its process ended.
                events = poller.poll(PENDING_POLL_MS if self._pending else None)
                if not events:
                    self._settle_ended()
                    continue
                mask = events[0][1]
                if mask & select.POLLIN:
                    self._one(listener)
                elif mask & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    return  # no process uses the filter any more
        except Exception as e:  # never leave the sandbox hanging on a dead supervisor
            self.error = f"{type(e).__name__}: {e}"
        finally:
            if listener is not None:
                os.close(listener)  # pending and later notified calls now fail with ENOSYS
            for pid in list(self._pending):
                self._flush(pid)  # the command ended: no later candidate can satisfy them
            self._mem.close()
            if self.guard is not None:
                self.guard.close()

    def _one(self, listener: int) -> None:
        import fcntl

        buf = bytearray(80)
        try:
            fcntl.ioctl(listener, NOTIF_RECV, buf, True)
        except OSError as e:
            if e.errno in (_errno.ENOENT, _errno.EINTR):
                return  # the caller died (or a signal interrupted it) before we got to it
            raise
        nid, pid, _flags, nr, arch, ip = struct.unpack_from("=QIIiIQ", buf)
        args = struct.unpack_from("=6Q", buf, 32)
        verdict = self._verdict(nr, arch, ip, args)
        action = verdict & SECCOMP_RET_ACTION_FULL
        if action == SECCOMP_RET_USER_NOTIF and self.guard is not None:
            if pid in self._pending:
                self._later(pid)
            return self.guard.handle(listener, nid, pid, args, nr)  # connect() or a send, made for it
        denial = None
        if action == SECCOMP_RET_ALLOW:
            if nr in self.fs_numbers:
                try:
                    if pid in self._pending:
                        self._settle(pid, self.fs_numbers[nr], args)
                    denial = self._observe(pid, self.fs_numbers[nr], nr, args)
                except Exception:
                    denial = None  # observing must never change the outcome
                if denial is not None and not self._valid(listener, nid):
                    denial = None  # the pid may have been reused while we looked
            elif pid in self._pending:
                self._later(pid)
            resp = struct.pack("=QqiI", nid, 0, 0, USER_NOTIF_FLAG_CONTINUE)
        else:
            err = verdict & SECCOMP_RET_DATA if action == SECCOMP_RET_ERRNO else _errno.EPERM
            if pid in self._pending:
                self._later(pid)
            if err == _errno.EPERM and self.walls is not None:
                denial = self._syscall_denial(pid, nr, args)
            resp = struct.pack("=QqiI", nid, 0, -err, 0)
        try:
            fcntl.ioctl(listener, NOTIF_SEND, resp)
        except OSError as e:
            if e.errno != _errno.ENOENT:  # ENOENT: the caller is gone
                raise
        if denial is not None:
            if denial.layer != "seccomp" and denial.operation in ("read", "exec"):
                self._pending.setdefault(pid, []).append(denial)  # maybe a lookup's probe
            else:
                self.recorder.add(denial)

    # -- lookups: a probe that a later candidate satisfied is not a denial ------------------------
    # execvp (the inner stage starting the command, a shell, subprocess) tries each PATH entry
    # in turn; the dynamic loader and interpreters look for a file in each of their folders. A
    # candidate hidden by a mask or the private /tmp fails there with ENOENT or EACCES exactly
    # as a missing one would, and the lookup goes on. So a refused read or exec is held back per
    # process until it is settled: the same process then reaches an object of the same name and
    # kind in another folder that exists (dropped: a probe), or does anything else, or ends
    # (recorded: nothing satisfied it, and the command saw the wall).
    def _settle(self, pid: int, name: str, args) -> None:
        role, dfd_i, path_i = FS_CALLS[name][0]
        path = None
        if role in ("open", "exec"):
            raw = _read_string(pid, args[path_i], mem=self._mem)
            path = None if raw is None else _absolute(pid, raw, None if dfd_i is None else args[dfd_i])
        op = "exec" if role == "exec" else "read"
        if path is not None and role == "open":
            flags = (
                _read_u64(pid, args[2], self._mem)
                if name == "openat2"
                else args[OPEN_FLAGS_ARG[name]] & 0xFFFFFFFF
            )
            if flags is None or flags & (O_PATH | WRITE_FLAGS):
                path = None
        base = os.path.basename(path) if path is not None else None
        held = self._pending[pid]
        same = [
            d for d in held if d.operation == op and os.path.basename(d.target) == base and d.target != path
        ]
        if not same:
            self._later(pid)
        elif self._found(pid, op, path):
            rest = [d for d in held if d not in same]  # the probes are dropped
            if rest:
                self._pending[pid] = rest
            else:
                del self._pending[pid]
                self._waited.pop(pid, None)
        # else: not here either; the lookup goes on (this candidate may be held back too)

    def _later(self, pid: int) -> None:
        """The process did something else: a lookup does a few other things between two
        candidates (the loader opens its cache), so only after ``SETTLE_CALLS`` of them is what
        it held back recorded."""
        n = self._waited.get(pid, 0) + 1
        if n > SETTLE_CALLS:
            self._flush(pid)
        else:
            self._waited[pid] = n

    def _found(self, pid: int, op: str, path: str) -> bool:
        """Does ``path`` exist in the caller's view, outside every wall, as what ``op`` needs?"""
        import stat as st_

        if self.walls.hidden(path) is not None:
            return False
        view = _View(pid)
        try:
            got = view.stat(path, follow=True)
        finally:
            view.close()
        if got is None:
            return False
        mode = got[0].st_mode
        return not (op == "exec" and not (st_.S_ISREG(mode) and mode & 0o111))

    def _flush(self, pid: int) -> None:
        self._waited.pop(pid, None)
        for d in self._pending.pop(pid, ()):
            self.recorder.add(d)

    def _settle_ended(self) -> None:
        """Record what processes that ended (or wait to be reaped) held back."""
        for pid in list(self._pending):
            if _state(pid) in (None, "Z", "X"):
                self._flush(pid)

    def _verdict(self, nr: int, arch: int, ip: int, args) -> int:
        """``run_bpf(self.plain, ...)``, remembered: a program that read the same words (in the
        same order, so along the same path) returns the same verdict; most calls of one number
        differ only in words the filter never looks at (a path pointer, a buffer)."""
        data = struct.pack("=iIQ6Q", nr, arch, ip, *args)
        memo = self._memo.setdefault((nr, arch), [])
        for reads, verdict in memo:
            if all(struct.unpack_from("=I", data, off)[0] == word for off, word in reads):
                return verdict
        reads: list = []
        verdict = run_bpf(self.plain, nr, arch, ip, args, reads)
        if len(memo) < 32:
            memo.append((tuple(reads), verdict))
        return verdict

    def _valid(self, listener: int, nid: int) -> bool:
        import fcntl

        try:
            fcntl.ioctl(listener, NOTIF_ID_VALID, struct.pack("=Q", nid))
            return True
        except OSError:
            return False

    def _name(self, nr: int) -> str:
        if nr not in self._names:
            name = None
            if nr & 0x40000000 and self.machine == "x86_64":
                name = f"x32 syscall {nr & ~0x40000000}"
            else:
                try:
                    import pyseccomp as sc

                    res = sc.resolve_syscall(sc.Arch.NATIVE, nr)
                    name = res.decode() if isinstance(res, bytes) else res
                except Exception:
                    name = None
                if not name:
                    from cordon.sandbox.linux.seccomp import UNIFIED_NUMBERS

                    name = next((k for k, v in UNIFIED_NUMBERS.items() if v == nr), f"syscall {nr}")
            self._names[nr] = name
        return self._names[nr]

    def _syscall_denial(self, pid: int, nr: int, args):
        return self.walls.syscall(self._name(nr), args, pid=pid, process=comm_of(pid))

    # -- filesystem -----------------------------------------------------------------------------
    def _observe(self, pid: int, name: str, nr: int, args):
        view = None
        try:
            for role, dfd_i, path_i in FS_CALLS[name]:
                raw = _read_string(pid, args[path_i], mem=self._mem)
                if raw is None:
                    continue
                path = _absolute(pid, raw, None if dfd_i is None else args[dfd_i])
                if path is None:
                    continue
                flags = 0
                if role == "open":
                    if name == "openat2":
                        flags = _read_u64(pid, args[2], self._mem)
                        if flags is None or flags & O_PATH:
                            continue
                    else:
                        flags = args[OPEN_FLAGS_ARG[name]] & 0xFFFFFFFF
                if view is None:
                    view = _View(pid)
                d = self._confirm(view, pid, name, role, flags, path)
                if d is not None:
                    d.process = comm_of(pid)
                    if role == "exec" and self._inner == (pid, d.process):
                        # The inner stage starting the command (execvp along PATH): that exec
                        # is the command's, so it is named after what it was starting.
                        d.process = os.path.basename(path)
                    return d
            return None
        finally:
            if view is not None:
                view.close()

    def _confirm(self, view: _View, pid: int, name: str, role: str, flags: int, path: str):
        walls = self.walls
        writes = (role != "open" and role != "exec") or bool(flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC))
        op = _operation(name, role, flags, writes)
        who = {"pid": pid}
        if walls.private_tmp(path):
            return self._confirm_tmp(view, op, path, who)
        mask = walls.hidden(path)
        if mask is not None:
            # Reaching the mask (or opening it) needs a permission bit it does not have.
            got = view.stat(mask)
            if got is None:
                return None
            st = got[0]
            if walls.engine == "bwrap" and st.st_mode & 0o7777 != 0:
                return None  # not our mask here (e.g. it was never mounted): no claim
            if walls.engine != "bwrap":
                # Landlock refuses the object itself (a missing one fails with ENOENT first).
                target = view.stat(path, follow=not flags & O_NOFOLLOW)
                if target is None or not within(target[3], mask):
                    return None
            d = walls.read(op, path, errno="EACCES", **who)
            return d
        if not writes:
            return None
        cand = walls.write(op, path, errno="EROFS", **who)
        if cand is None:
            return None
        return self._confirm_write(view, cand, role, flags, path)

    def _confirm_tmp(self, view: _View, op: str, path: str, who: dict):
        """A host path under /tmp that the private /tmp hides: absent in the caller's view
        (from the nearest existing ancestor down), present on the host."""
        if view.stat(path, follow=True) is not None:
            return None  # it exists inside: whatever happens is not the hiding
        # A read needs the file itself, a write or create its directory.
        probe = path if op in ("read", "exec") else os.path.dirname(path) or "/"
        if op not in ("read", "exec") and view.stat(probe, follow=True) is not None:
            return None  # created inside the private /tmp: allowed
        try:
            os.stat(probe)
        except OSError:
            return None  # absent on the host too: the command's own mistake
        return self.walls.tmp_hidden(op, path, errno="ENOENT", **who)

    def _confirm_write(self, view: _View, cand, role: str, flags: int, path: str):
        follow = role in ("open", "truncate") and not flags & O_NOFOLLOW
        got = view.stat(path, follow=follow)
        parent = os.path.dirname(path) or "/"
        import stat as st_

        if got is not None:
            st, vfs, mnt, real = got
            if role == "create" or (role == "open" and flags & O_CREAT and flags & O_EXCL):
                return None  # EEXIST comes first
            if role == "delete":
                pgot = view.stat(parent, follow=True)
                if pgot is None:
                    return None
                if pgot[2] is not None and mnt is not None and pgot[2] != mnt:
                    cand.errno = "EBUSY"  # a mount point (a protected name, a mask): cannot go
                    return cand
                return self._by_mount(cand, pgot[1], pgot[3])
            if not st_.S_ISREG(st.st_mode):
                return None  # directories (EISDIR), devices and fifos: no claim
            return self._by_mount(cand, vfs, real)
        # absent: only creating it can hit a wall, in an existing parent directory
        if role not in ("create",) and not (role == "open" and flags & O_CREAT):
            return None
        pgot = view.stat(parent, follow=True)
        if pgot is None or not st_.S_ISDIR(pgot[0].st_mode):
            return None
        return self._by_mount(cand, pgot[1], pgot[3])

    def _by_mount(self, cand, vfs_flags: int, real: str):
        if self.walls.engine == "bwrap":
            if vfs_flags & os.ST_RDONLY:
                return cand  # EROFS: the kernel checks the mount before anything else
            return None
        if vfs_flags & os.ST_RDONLY:
            return None  # the host's own read-only mount: not the sandbox's doing
        if any(within(real, r) for r in self.walls.writable):
            return None
        cand.errno = "EACCES"  # Landlock: outside every write root
        return cand


def _operation(name: str, role: str, flags: int, writes: bool) -> str:
    if role == "exec":
        return "exec"
    if role == "open":
        return "write" if writes else "read"
    if name.startswith("rename"):
        return "rename"
    return {"create": "create", "delete": "delete", "truncate": "write"}[role]
