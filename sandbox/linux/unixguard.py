"""The late-socket guard, supervisor half: every ``connect()`` and every addressed send of the
command, made for it.

Why: bubblewrap's socket masks (sockets.py) are a snapshot taken at launch; a host service that
binds a socket afterwards in a folder the sandbox sees (the workspace, a home folder, a shared
/tmp) would be reachable by path. Landlock reaches pathname sockets only from ABI 9
(``LANDLOCK_ACCESS_FS_RESOLVE_UNIX``, Linux 7.1); below that, this guard stands in.

How (sockets.late_socket_guard == "supervisor"):
  * The filter sends to the launcher's supervisor (USER_NOTIF) every ``connect()``, every
    ``sendto()`` with an address (a NULL address, the register the filter sees, goes where
    connect() already pointed the socket), every ``sendmsg()`` and ``sendmmsg()`` (their
    address lies in memory the filter cannot read). ``send``, ``write``, ``recv*`` and
    ``socketpair()`` are never notified.
  * The supervisor never answers "continue" (the kernel would re-read the caller's fd table and
    memory, which another thread may have rewritten since the check). It takes the caller's
    socket itself (``pidfd_getfd``), copies the address (and for a send the data, the control
    messages, the descriptors passed with SCM_RIGHTS) once, and makes the call on that socket
    with that copy: what it checked is what runs.
  * A pathname target (any connect(); a send only from a unix *datagram* socket: stream and
    seqpacket sends ignore the address) is resolved in the caller's view (``/proc/PID/root``
    with RESOLVE_IN_ROOT, symlinks followed as the kernel does, magic links refused) to an
    O_PATH descriptor, and reached only when that inode is a socket bound in the sandbox's own
    network namespace: listed by a NETLINK_SOCK_DIAG socket the inner stage made inside that
    namespace before seccomp (``unix_diag`` with its file's device and inode). The call then
    goes through ``/proc/self/fd/N`` of that descriptor, so a path swapped after the check
    (symlink, rename) changes nothing. Any other target: EACCES, and a denial when observed.
  * Inet, abstract and unnamed addresses are used as given: the socket belongs to the
    sandbox's network namespace (only its own loopback, abstract names and, in proxy mode, the
    forwarder), so the kernel's lookup cannot leave it. An abstract name the host has but the
    sandbox has not fails with ECONNREFUSED and is reported as a denial.
  * A call that may wait (a blocking connect, a blocking stream send, a datagram that did not
    fit without waiting) runs in a worker thread (the supervisor keeps answering others). The
    filter is installed with SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV where the kernel has it
    (5.19): once the supervisor holds a call, only a fatal signal interrupts the caller, so a
    signal cannot make it repeat a send the supervisor already made.

The launcher's privileges are never lent: the kernel checks a send's credentials and
capabilities against the sender, here the launcher, so SCM_CREDENTIALS must carry the caller's
own ids (mapped from its user namespace) and only control messages that need no capability
pass (SO_MARK, IP options, IPv6 extension headers: EPERM, as the command would get).

What the command sees differently: a unix stream peer's SO_PEERCRED, and the SCM_CREDENTIALS of
a supervised send, name the launcher's process (pid 0 inside, the same uid); a send through
the guard never raises SIGPIPE in the launcher (MSG_NOSIGNAL), the caller gets it as the
kernel would send it. No supervisor (a listener exists up the process tree): the filter's
notified calls return ENOSYS, still refused. Must not touch: the filter (seccomp.py), the
policy.
"""

from __future__ import annotations

import errno as _errno
import os
import struct

AF_UNIX = 1
SOCK_STREAM, SOCK_DGRAM = 1, 2
# The calls the guard's filter notifies (seccomp.py), by number per machine.
SYSCALLS = {
    "x86_64": {42: "connect", 44: "sendto", 46: "sendmsg", 307: "sendmmsg"},
    "aarch64": {203: "connect", 206: "sendto", 211: "sendmsg", 269: "sendmmsg"},
}
SYS_PIDFD_GETFD = 438
PIDFD_THREAD = 0o200  # O_EXCL (Linux 6.9): a pidfd for a thread, whose fd table may be its own
MAX_ADDR = 128  # sizeof(struct sockaddr_storage): the kernel refuses a longer address (EINVAL)
MAX_SEND = 1 << 22  # bytes of one message copied: more fails a datagram (EMSGSIZE), a stream sends less
MAX_CONTROL = 1 << 20  # control bytes copied (the kernel's own limit, optmem_max, is lower)
KNOWN_MAX = 64  # checked socket inodes kept pinned (then all are let go, and checked again)
UIO_MAXIOV = 1024  # iovecs per message, messages per sendmmsg (the kernel's limits)
MMSGHDR_SIZE, CMSG_HDR = 64, 16  # struct mmsghdr (msghdr + msg_len), struct cmsghdr (64-bit)
SOL_SOCKET, SCM_RIGHTS, SCM_CREDENTIALS = 1, 1, 2
# Control messages of a send that need no privilege, passed on as they are: IP_TOS, IP_TTL,
# IP_PKTINFO; IPV6_PKTINFO, IPV6_HOPLIMIT, IPV6_DONTFRAG, IPV6_TCLASS; UDP_SEGMENT (GSO).
SAFE_CONTROL = {(0, 1), (0, 2), (0, 8), (41, 50), (41, 52), (41, 62), (41, 67), (17, 103)}
MSG_DONTWAIT, MSG_NOSIGNAL = 0x40, 0x4000
SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, NLM_F_DUMP, NLMSG_ERROR, NLMSG_DONE = 20, 1, 0x300, 2, 3
UDIAG_SHOW_VFS, UNIX_DIAG_VFS, TCP_LISTEN = 2, 1, 10
RESOLVE_NO_MAGICLINKS, RESOLVE_IN_ROOT = 0x02, 0x10
NOTIF_SEND = 0xC0182101
NOTIF_ID_VALID = 0x40082102


class _Refused(Exception):
    """A call answered with an errno before anything was sent or connected."""

    def __init__(self, err: int):
        super().__init__(err)
        self.errno = err


class UnixGuard:
    """Answers the guard's notifications: connect(), and sendto() with an address, sendmsg()
    and sendmmsg() (see the module doc). ``diag``: the sock_diag fd of the sandbox's network
    namespace (None: every pathname target is refused)."""

    def __init__(self, recorder=None):
        self.diag: int | None = None
        self.recorder = recorder
        self.connects = 0  # answered (for tests and the bench)
        self.sends = 0
        self.refused: list[str] = []  # pathname targets refused, as the caller named them
        self._seq = 0
        self._calls = SYSCALLS.get(os.uname().machine, {})
        self._numbers = {name: nr for nr, name in self._calls.items()}
        self.mem = None  # supervise._Memory: /proc/PID/mem kept open per process (the supervisor's)
        self._idle: list = []  # [lock, job] of workers waiting for a call that may block
        self._closed = False
        self._known: dict[tuple[int, int], int] = {}  # (st_dev, st_ino) checked -> its pinned fd
        self._root: int | None = None  # the sandbox's root directory (O_PATH), see _resolve

    def close(self) -> None:
        self._closed = True
        self._forget()
        if self._root is not None:
            os.close(self._root)
            self._root = None
        while self._idle:
            worker = self._idle.pop()
            worker[1] = None
            worker[0].release()
        if self.diag is not None:
            os.close(self.diag)
            self.diag = None

    # -- one notification -----------------------------------------------------------------------
    def handle(self, listener: int, nid: int, pid: int, args, nr: int | None = None) -> None:
        name = "connect" if nr is None else self._calls.get(nr)
        if name is None:
            return _answer(listener, nid, -_errno.ENOSYS)  # not a call this guard makes
        pidfd = sock = None
        held: list[int] = []  # our descriptors the call needs (pinned targets, passed rights)
        try:
            pidfd, sock = self._take(listener, nid, pid, args[0])
            if name == "connect":
                self.connects += 1
                attempt, may_block = self._connect_call(listener, nid, pid, sock, args, held)
            else:
                self.sends += 1
                attempt, may_block = self._send_call(listener, nid, pid, pidfd, sock, args, name, held)
            if not may_block:
                return _answer(listener, nid, attempt(False))
            if may_block == "try":  # a datagram: tried without waiting first (no side effect)
                got = attempt(False)
                if got is not None:
                    return _answer(listener, nid, got)
            # It may wait (the peer's backlog or queue): answered by a worker thread, with its
            # own copy of the listener (ours may be closed when the sandbox ends).
            self._dispatch((os.dup(listener), nid, [sock, *held], attempt))
            sock, held = None, []
        except _Refused as e:
            _answer(listener, nid, -e.errno)
        finally:
            for fd in (pidfd, sock, *held):
                if fd is not None:
                    os.close(fd)

    def _dispatch(self, job) -> None:
        """Hand ``job`` to an idle worker, or start one (a worker blocked in a call must not
        hold up the next; starting a thread per call cost ~170 us, waking one ~10 us)."""
        from cordon.sandbox.fastpath import thread

        try:
            worker = self._idle.pop()
        except IndexError:
            worker = [thread.allocate_lock(), None]
            worker[0].acquire()
            worker[1] = job
            thread.start_new_thread(self._work, (worker,))
            return
        worker[1] = job
        worker[0].release()

    def _work(self, worker) -> None:
        while True:
            job, worker[1] = worker[1], None
            if job is None:
                return  # the guard closed
            listener, nid, fds, attempt = job  # a checked inode stays pinned until used
            try:
                _answer(listener, nid, attempt(True))
            except Exception:
                pass  # the caller is gone, or the listener: nothing waits for this answer
            finally:
                for fd in (listener, *fds):
                    if fd is not None:
                        os.close(fd)
            if self._closed:
                return
            self._idle.append(worker)
            if self._closed:  # close() may have emptied the list just before we joined it
                try:
                    self._idle.remove(worker)
                    return
                except ValueError:
                    pass  # close() took us: it releases the lock with no job
            worker[0].acquire()  # released by _dispatch with the next job (or by close)

    def _take(self, listener: int, nid: int, pid: int, fd_arg: int) -> tuple[int, int]:
        """(a pidfd of the caller, the caller's descriptor ``fd_arg`` as ours)."""
        try:
            try:
                pidfd = os.pidfd_open(pid, PIDFD_THREAD)
            except OSError:
                pidfd = os.pidfd_open(pid, 0)
        except OSError:
            raise _Refused(_errno.ECONNREFUSED) from None  # gone: nobody reads the answer
        try:
            if not _valid(listener, nid):
                raise _Refused(_errno.ECONNREFUSED)  # the pid was reused: not our caller
            return pidfd, self._getfd(pidfd, fd_arg)
        except BaseException:
            os.close(pidfd)
            raise

    @staticmethod
    def _getfd(pidfd: int, fd_arg: int) -> int:
        from cordon.sandbox.linux.landlock import sys_call

        fd = struct.unpack("=i", struct.pack("=I", fd_arg & 0xFFFFFFFF))[0]
        try:
            return sys_call(SYS_PIDFD_GETFD, pidfd, fd, 0)
        except OSError as e:
            raise _Refused(e.errno) from None

    def _read(self, pid: int, n: int, addr: int) -> bytes:
        """``n`` bytes of the caller's memory at ``addr`` (EFAULT when they cannot all be read)."""
        if n == 0:
            return b""
        if self.mem is not None:  # the supervisor's descriptors, kept per process
            data = self.mem.pread(pid, n, addr) or b""
        else:
            try:
                fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                raise _Refused(_errno.EFAULT) from None
            try:
                data = os.pread(fd, n, addr)
            except OSError:
                data = b""
            finally:
                os.close(fd)
        while 0 < len(data) < n:  # /proc/PID/mem may stop at a page boundary
            more = self.mem.pread(pid, n - len(data), addr + len(data)) if self.mem else None
            if not more:
                break
            data += more
        if len(data) != n:
            raise _Refused(_errno.EFAULT)
        return data

    # -- connect() --------------------------------------------------------------------------------
    def _connect_call(self, listener: int, nid: int, pid: int, sock: int, args, held: list):
        """(attempt, may_block) for connect(fd, addr, alen): the address copied once, a pathname
        replaced by the /proc/self/fd path of the checked inode (pinned in ``held``)."""
        addr, alen = args[1], struct.unpack("=i", struct.pack("=I", args[2] & 0xFFFFFFFF))[0]
        if alen < 0 or alen > MAX_ADDR:
            raise _Refused(_errno.EINVAL)
        raw = self._read(pid, alen, addr)
        family, _kind = _socket_kind(sock)
        raw = self._destination(listener, nid, pid, family, raw, held, "connect")

        def attempt(_blocking: bool) -> int:
            return self._abstract_check(pid, family, raw, "connect", self._connect(sock, raw))

        import fcntl

        return attempt, not fcntl.fcntl(sock, fcntl.F_GETFL) & os.O_NONBLOCK

    def _connect(self, sock: int, raw: bytes) -> int:
        from cordon.sandbox.linux.landlock import sys_call

        nr = self._numbers.get("connect")
        if nr is None:
            return -_errno.ENOSYS
        try:
            sys_call(nr, sock, raw, len(raw))
            return 0
        except OSError as e:
            return -e.errno

    # -- sendto() with an address, sendmsg(), sendmmsg() -------------------------------------------
    def _send_call(self, listener: int, nid: int, pid: int, pidfd: int, sock: int, args, name, held):
        """(attempt, may_block): the caller's message(s) copied once (address, data, control
        messages, the descriptors of SCM_RIGHTS taken as ours), a pathname destination of a
        unix datagram socket checked and pinned like connect()'s, then sent on our copy of the
        caller's socket with that copy: what was checked is what is sent."""
        family, kind = _socket_kind(sock)
        if name == "sendto":
            flags = args[3] & 0xFFFFFFFF
            alen = struct.unpack("=i", struct.pack("=I", args[5] & 0xFFFFFFFF))[0]
            if alen < 0 or alen > MAX_ADDR:
                raise _Refused(_errno.EINVAL)
            size = min(args[2], MAX_SEND)
            if size < args[2] and kind != SOCK_STREAM:
                raise _Refused(_errno.EMSGSIZE)
            msgs = [(self._read(pid, alen, args[4]) if args[4] else b"", self._read(pid, size, args[1]), b"")]
        elif name == "sendmsg":
            flags = args[2] & 0xFFFFFFFF
            msgs = [self._msghdr(pid, args[1], kind)]
        else:
            flags = args[3] & 0xFFFFFFFF
            msgs = []
            for i in range(min(args[2] & 0xFFFFFFFF, UIO_MAXIOV)):
                try:
                    msgs.append(self._msghdr(pid, args[1] + MMSGHDR_SIZE * i, kind))
                except _Refused:
                    if not msgs:
                        raise
                    break  # the kernel sends those before and answers their count
            if not msgs:
                return (lambda _blocking: 0), False
        ready = []
        for addr, data, control in msgs:
            try:
                control = self._rights(pid, pidfd, control, held)
                addr = self._destination(listener, nid, pid, family, addr, held, name, kind)
            except _Refused:
                if not ready:
                    raise
                break
            ready.append((addr, data, control))

        def attempt(blocking: bool):
            sent = []
            for addr, data, control in ready:
                wait = blocking and not flags & MSG_DONTWAIT
                got = self._sendmsg(
                    sock, addr, data, control, flags | MSG_NOSIGNAL | (0 if wait else MSG_DONTWAIT)
                )
                if got == -_errno.EAGAIN and not blocking and not nonblocking and not sent:
                    return None  # it would wait: the worker sends it
                if got < 0:
                    if got == -_errno.EPIPE and not flags & MSG_NOSIGNAL and _valid(listener, nid):
                        import signal

                        os.kill(pid, signal.SIGPIPE)  # what the kernel sends the writer
                    got = self._abstract_check(pid, family, addr, name, got)
                    if not sent:
                        return got
                    break
                sent.append(got)
            if name != "sendmmsg":
                return sent[0]
            for i, n in enumerate(sent):  # the kernel stores each message's length
                self._write(pid, args[1] + MMSGHDR_SIZE * i + 56, struct.pack("=I", n))
            return len(sent)

        import fcntl

        nonblocking = bool(flags & MSG_DONTWAIT) or bool(fcntl.fcntl(sock, fcntl.F_GETFL) & os.O_NONBLOCK)
        if nonblocking:
            return attempt, False
        # A blocking stream send waits until all is sent: only a worker can. A datagram (or
        # record) goes whole or not at all, so it is tried here first without waiting.
        return attempt, ("wait" if kind == SOCK_STREAM else "try")

    def _msghdr(self, pid: int, at: int, kind: int) -> tuple[bytes, bytes, bytes]:
        """(address, data, control) of the caller's struct msghdr at ``at``."""
        name_p, namelen, iov_p, iovlen, ctl_p, ctllen = struct.unpack("=QI4xQQQQ", self._read(pid, 48, at))
        if namelen > MAX_ADDR:
            raise _Refused(_errno.EINVAL)
        if iovlen > UIO_MAXIOV:
            raise _Refused(_errno.EMSGSIZE)
        if ctllen > MAX_CONTROL:
            raise _Refused(_errno.ENOBUFS)
        chunks, total = [], 0
        iovs = self._read(pid, 16 * iovlen, iov_p) if iovlen else b""
        for i in range(iovlen):
            base, size = struct.unpack_from("=QQ", iovs, 16 * i)
            take = min(size, MAX_SEND - total)
            if take < size and kind != SOCK_STREAM:
                raise _Refused(_errno.EMSGSIZE)
            chunks.append(self._read(pid, take, base))
            total += take
            if total >= MAX_SEND:
                break  # a stream send may send less than asked: the caller sends the rest
        name = self._read(pid, namelen, name_p) if name_p and namelen else b""
        control = self._read(pid, ctllen, ctl_p) if ctl_p and ctllen else b""
        return name, b"".join(chunks), control

    def _rights(self, pid: int, pidfd: int, control: bytes, held: list) -> bytes:
        """``control`` as this process sends it for the caller: the caller's descriptors
        (SCM_RIGHTS) replaced by ours, SCM_CREDENTIALS naming this process (the kernel checks
        the pid against the sender) once its ids are found to be the caller's own, and only
        control messages that need no privilege (``SAFE_CONTROL``): the kernel checks a
        privileged one (SO_MARK, IP options, IPv6 extension headers) against the sender, which
        here is the launcher, so passing it on would lend the launcher's capabilities. Others:
        EPERM, as the caller's own send without the capability would get."""
        out, at = [], 0
        while at + CMSG_HDR <= len(control):
            clen, level, kind = struct.unpack_from("=Qii", control, at)
            if clen < CMSG_HDR or at + clen > len(control):
                raise _Refused(_errno.EINVAL)
            data = control[at + CMSG_HDR : at + clen]
            if (level, kind) == (SOL_SOCKET, SCM_RIGHTS):
                fds = []
                for (fd,) in struct.iter_unpack("=i", data[: len(data) - len(data) % 4]):
                    mine = self._getfd(pidfd, fd)
                    held.append(mine)
                    fds.append(mine)
                data = struct.pack(f"={len(fds)}i", *fds)
            elif (level, kind) == (SOL_SOCKET, SCM_CREDENTIALS):
                if len(data) < 12:
                    raise _Refused(_errno.EINVAL)
                _pid, uid, gid = struct.unpack_from("=iII", data)
                data = struct.pack("=iII", os.getpid(), *_own_ids(pid, uid, gid))
            elif (level, kind) not in SAFE_CONTROL:
                raise _Refused(_errno.EPERM)
            msg = struct.pack("=Qii", CMSG_HDR + len(data), level, kind) + data
            out.append(msg + b"\0" * (-len(msg) % 8))
            at += (clen + 7) & ~7
        return b"".join(out)

    def _sendmsg(self, sock: int, addr: bytes, data: bytes, control: bytes, flags: int) -> int:
        from cordon.sandbox.linux.landlock import ffi, sys_call

        if not control:  # the same send without a msghdr to build (sendto gathers nothing)
            nr = self._numbers.get("sendto")
            if nr is None:
                return -_errno.ENOSYS
            try:
                return sys_call(nr, sock, data, len(data), flags, addr or None, len(addr))
            except OSError as e:
                return -e.errno
        nr = self._numbers.get("sendmsg")
        if nr is None:
            return -_errno.ENOSYS
        buffer_address = ffi()[4]
        keep = []

        def c(b: bytes) -> int:
            if not b:
                return 0
            buf, address = buffer_address(b)
            keep.append(buf)
            return address

        iov = struct.pack("=QQ", c(data), len(data))
        hdr = struct.pack("=QI4xQQQQi4x", c(addr), len(addr), c(iov), 1, c(control), len(control), 0)
        try:
            return sys_call(nr, sock, hdr, flags)
        except OSError as e:
            return -e.errno

    def _write(self, pid: int, at: int, data: bytes) -> None:
        try:
            fd = os.open(f"/proc/{pid}/mem", os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            os.pwrite(fd, data, at)
        except OSError:
            pass
        finally:
            os.close(fd)

    # -- where a call goes -------------------------------------------------------------------------
    def _destination(self, listener, nid, pid, family, raw: bytes, held: list, op: str, kind=None) -> bytes:
        """The address to use for ``raw``: as given unless it names a unix socket by path (for
        sends: from a datagram socket; stream and seqpacket sends ignore the address), then the
        /proc/self/fd path of the checked inode, whose descriptor goes to ``held``."""
        if family != AF_UNIX or (kind is not None and kind != SOCK_DGRAM):
            return raw  # the socket's own network namespace bounds every other lookup
        if len(raw) <= 2 or struct.unpack_from("=H", raw)[0] != AF_UNIX or raw[2] == 0:
            return raw  # abstract or unnamed: the sandbox's network namespace bounds it too
        path = raw[2:].split(b"\0", 1)[0]
        target, err = self._resolve(listener, nid, pid, path)
        if err is not None:
            raise _Refused(err)
        import stat

        try:
            st = os.fstat(target)
            if not stat.S_ISSOCK(st.st_mode):
                err = _errno.ECONNREFUSED
            elif (st.st_dev, st.st_ino) not in self._known:
                if not self._ours(st):
                    self._refuse(pid, path, op)
                    err = _errno.EACCES
                else:
                    self._remember(st, target)
        except OSError as e:
            err = e.errno
        if err is not None:
            os.close(target)
            raise _Refused(err)
        held.append(target)
        return struct.pack("=H", AF_UNIX) + f"/proc/self/fd/{target}".encode() + b"\0"

    def _resolve(self, listener: int, nid: int, pid: int, path: bytes):
        """An O_PATH fd on ``path`` as the caller's connect() would find it, or (None, errno).

        The root is the sandbox's, opened once: every process the filter binds has it (none
        can chroot or change its mount namespace: no capability, namespaces refused), and
        were one to differ, the call still reaches only the inode checked here."""
        from cordon.sandbox.linux.supervise import openat2

        rel = path
        if not path.startswith(b"/"):
            try:
                base = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                return None, _errno.ENOENT
            if not _valid(listener, nid):
                return None, _errno.ECONNREFUSED  # the cwd may be another process's
            if not base.startswith("/") or base.endswith(" (deleted)"):
                return None, _errno.ENOENT
            rel = os.fsencode(base) + b"/" + path
        if self._root is None:
            try:
                root = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                return None, _errno.ENOENT
            if not _valid(listener, nid):
                os.close(root)
                return None, _errno.ECONNREFUSED  # another process's root
            self._root = root
        try:
            return (
                openat2(
                    self._root,
                    os.fsdecode(rel.lstrip(b"/") or b"."),
                    os.O_PATH,
                    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
                ),
                None,
            )
        except OSError as e:
            return None, e.errno

    def _remember(self, st, target: int) -> None:
        """Keep a checked inode, pinned: while we hold it open, no other file can get its
        device and inode numbers, and no socket other than the one that bound it can ever be
        attached to it (bind() always makes a new file). So a later call to it needs no
        listing (a datagram loop sends to the same socket again and again)."""
        if len(self._known) >= KNOWN_MAX:
            self._forget()
        self._known[(st.st_dev, st.st_ino)] = os.dup(target)

    def _forget(self) -> None:
        for fd in self._known.values():
            os.close(fd)
        self._known.clear()

    def _ours(self, st) -> bool:
        """Is this socket file bound by a socket of the sandbox's network namespace (a listener,
        or a datagram socket)? Either is the sandbox's own: the kernel then answers for the
        type (EPROTOTYPE) as it would."""
        if self.diag is None:
            return False
        want = ((os.major(st.st_dev) << 20) | os.minor(st.st_dev), st.st_ino & 0xFFFFFFFF)
        return want in self._bound()

    def _bound(self) -> set[tuple[int, int]]:
        """(device, inode) of the socket file of every unix listener and datagram socket in the
        sandbox's namespace."""
        self._seq += 1
        req = struct.pack("=BBHIII2I", AF_UNIX, 0, 0, 0xFFFFFFFF, 0, UDIAG_SHOW_VFS, 0xFFFFFFFF, 0xFFFFFFFF)
        os.write(
            self.diag,
            struct.pack(
                "=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, self._seq, 0
            )
            + req,
        )
        found: set[tuple[int, int]] = set()
        while True:
            data = os.read(self.diag, 1 << 16)
            off = 0
            while off + 16 <= len(data):
                length, kind, _, seq, _ = struct.unpack_from("=IHHII", data, off)
                if length < 16:
                    return found
                if seq == self._seq:
                    if kind in (NLMSG_DONE, NLMSG_ERROR):
                        return found
                    # Only listeners and datagram sockets: an accepted socket carries its
                    # listener's path and lives in the connecting side's namespace (the
                    # forwarder's connection to the proxy's socket would list that host file).
                    _fam, stype, state = struct.unpack_from("=BBB", data, off + 16)
                    if kind == SOCK_DIAG_BY_FAMILY and (state == TCP_LISTEN or stype == SOCK_DGRAM):
                        at = off + 16 + 16  # nlmsghdr, unix_diag_msg
                        while at + 4 <= off + length:
                            alen, atype = struct.unpack_from("=HH", data, at)
                            if alen < 4:
                                break
                            if atype == UNIX_DIAG_VFS and alen >= 12:
                                ino, dev = struct.unpack_from("=II", data, at + 4)
                                found.add((dev, ino))
                            at += (alen + 3) & ~3
                off += (length + 3) & ~3
            if not data:
                return found

    def _abstract_check(self, pid: int, family: int, raw: bytes, op: str, result) -> int:
        """``result``; when an abstract name was not found (ECONNREFUSED) but the host has a
        socket of that name, the sandbox's own network namespace kept it out: a denial."""
        if (
            result == -_errno.ECONNREFUSED
            and family == AF_UNIX
            and len(raw) > 2
            and raw[2] == 0
            and self.recorder is not None
        ):
            name = raw[3:]
            if _host_abstract(name):
                shown = "@" + name.decode("utf-8", "replace")
                self._record(
                    pid,
                    op,
                    shown,
                    "an abstract unix socket of the host: the sandbox has a network namespace of its own",
                    "ECONNREFUSED",
                )
        return result

    def _refuse(self, pid: int, path: bytes, op: str = "connect") -> None:
        shown = os.fsdecode(path)
        self.refused.append(shown)
        self._record(
            pid, op, shown,
            "a unix socket that is not the sandbox's own (bound outside it, e.g. by the host "
            "after the launch): the late-socket guard refuses it", "EACCES",
        )  # fmt: skip

    def _record(self, pid: int, op: str, target: str, rule: str, err: str) -> None:
        if self.recorder is None:
            return
        from cordon.sandbox.denials import Denial
        from cordon.sandbox.linux.supervise import comm_of

        self.recorder.add(
            Denial("seccomp", op, target, rule, "--network on", errno=err, pid=pid, process=comm_of(pid))
        )


def _socket_kind(fd: int) -> tuple[int, int]:
    """(family, type) of the socket ``fd``; ENOTSOCK as the call itself would say."""
    from cordon.sandbox.fastpath import socket as _socket

    try:
        s = _socket.socket(fileno=fd)
    except OSError as e:
        raise _Refused(e.errno) from None
    try:
        return s.family, s.type & 0xF
    finally:
        s.detach()


def _own_ids(pid: int, uid: int, gid: int) -> tuple[int, int]:
    """``uid`` and ``gid`` as the caller named them (in its user namespace) made ours (the
    kernel reads them in the sender's), when they are among the caller's real, effective and
    saved ids: what the kernel accepts in SCM_CREDENTIALS from a sender without CAP_SETUID or
    CAP_SETGID. Unmapped: EINVAL; another's: EPERM (as the kernel answers the caller)."""
    out, ids = [], {}
    try:
        for value, kind in ((uid, "uid"), (gid, "gid")):
            with open(f"/proc/{pid}/{kind}_map", "rb") as f:
                mapped = None
                for line in f:
                    inside, outside, count = (int(x) for x in line.split())
                    if inside <= value < inside + count:
                        mapped = outside + value - inside
                        break
            if mapped is None:
                raise _Refused(_errno.EINVAL)
            out.append(mapped)
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith((b"Uid:", b"Gid:")):
                    ids[line[:3]] = [int(x) for x in line.split()[1:4]]
    except (OSError, ValueError):
        raise _Refused(_errno.EPERM) from None
    if out[0] not in ids.get(b"Uid", ()) or out[1] not in ids.get(b"Gid", ()):
        raise _Refused(_errno.EPERM)
    return out[0], out[1]


def _host_abstract(name: bytes) -> bool:
    """Does the launcher's network namespace (the host's) list an abstract socket ``name``?"""
    want = b"@" + name.replace(b"\0", b"@")
    try:
        with open("/proc/self/net/unix", "rb") as f:
            return any(line.rstrip(b"\n").split(b" ")[-1] == want for line in f)
    except OSError:
        return False


def _valid(listener: int, nid: int) -> bool:
    import fcntl

    try:
        fcntl.ioctl(listener, NOTIF_ID_VALID, struct.pack("=Q", nid))
        return True
    except OSError:
        return False


def _answer(listener: int, nid: int, val: int) -> None:
    import fcntl

    err = val if val < 0 else 0
    try:
        fcntl.ioctl(listener, NOTIF_SEND, struct.pack("=QqiI", nid, 0 if err else val, err, 0))
    except OSError as e:
        if e.errno not in (_errno.ENOENT, _errno.EBADF, _errno.ENOTTY):  # the caller is gone
            raise
