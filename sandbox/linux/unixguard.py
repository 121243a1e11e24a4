"""The late-socket guard, supervisor half: every ``connect()`` of the command, made for it.

Why: bubblewrap's socket masks (sockets.py) are a snapshot taken at launch; a host service that
binds a socket afterwards in a folder the sandbox sees (the workspace, a home folder, a shared
/tmp) would be reachable by path. Landlock reaches pathname sockets only from ABI 9
(``LANDLOCK_ACCESS_FS_RESOLVE_UNIX``, Linux 7.1); below that, this guard stands in.

How (sockets.late_socket_guard == "supervisor"):
  * The filter sends every ``connect()`` to the launcher's supervisor (USER_NOTIF) and refuses
    AF_UNIX datagram sockets, the only ones that reach a socket by path without connect()
    (sendto/sendmsg with an address the filter cannot see). Stream and seqpacket sockets
    ignore an address on send.
  * The supervisor never answers "continue" (the kernel would re-read the caller's fd table and
    memory, which another thread may have rewritten since the check). It takes the caller's
    socket itself (``pidfd_getfd``), copies the address once, and connects that socket with
    that copy: what it checked is what runs.
  * A pathname target is resolved in the caller's view (``/proc/PID/root`` with
    RESOLVE_IN_ROOT, symlinks followed as connect() does, magic links refused) to an O_PATH
    descriptor, and reached only when that inode is a socket listening in the sandbox's own
    network namespace: listed by a NETLINK_SOCK_DIAG socket the inner stage made inside that
    namespace before seccomp (``unix_diag`` with its file's device and inode). The connect then
    goes through ``/proc/self/fd/N`` of that descriptor, so a path swapped after the check
    (symlink, rename) changes nothing. Any other target: EACCES, and a denial when observed.
  * Inet, abstract and unnamed addresses are connected as given: the socket belongs to the
    sandbox's network namespace (only its own loopback, abstract names and, in proxy mode, the
    forwarder), so the kernel's lookup cannot leave it.
  * A blocking connect runs in a thread of its own (the supervisor keeps answering others).

What the command sees differently: a unix stream peer's SO_PEERCRED names the launcher (pid 0
inside, the same uid); datagram unix sockets are refused (EPERM; ``--network on`` allows them).
No supervisor (a listener exists up the process tree): the filter's connect() returns ENOSYS,
still refused. Must not touch: the filter (seccomp.py), the policy.
"""

from __future__ import annotations

import errno as _errno
import os
import struct

AF_UNIX = 1
SYS_CONNECT = {"x86_64": 42, "aarch64": 203}
SYS_PIDFD_GETFD = 438
PIDFD_THREAD = 0o200  # O_EXCL (Linux 6.9): a pidfd for a thread, whose fd table may be its own
MAX_ADDR = 128  # sizeof(struct sockaddr_storage): the kernel refuses a longer address (EINVAL)
SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, NLM_F_DUMP, NLMSG_ERROR, NLMSG_DONE = 20, 1, 0x300, 2, 3
UDIAG_SHOW_VFS, UNIX_DIAG_VFS, TCP_LISTEN = 2, 1, 10
RESOLVE_NO_MAGICLINKS, RESOLVE_IN_ROOT = 0x02, 0x10
NOTIF_SEND = 0xC0182101
NOTIF_ID_VALID = 0x40082102


class UnixGuard:
    """Answers connect() notifications (see the module doc). ``diag``: the sock_diag fd of the
    sandbox's network namespace (None: every pathname connect is refused)."""

    def __init__(self, recorder=None):
        self.diag: int | None = None
        self.recorder = recorder
        self.connects = 0  # answered (for tests and the bench)
        self.refused: list[str] = []  # pathname targets refused, as the caller named them
        self._seq = 0
        self._nr = SYS_CONNECT.get(os.uname().machine)
        self.mem = None  # supervise._Memory: /proc/PID/mem kept open per process (the supervisor's)
        self._idle: list = []  # [lock, job] of workers waiting for a blocking connect
        self._closed = False

    def close(self) -> None:
        self._closed = True
        while self._idle:
            worker = self._idle.pop()
            worker[1] = None
            worker[0].release()
        if self.diag is not None:
            os.close(self.diag)
            self.diag = None

    # -- one notification -----------------------------------------------------------------------
    def handle(self, listener: int, nid: int, pid: int, args) -> None:
        self.connects += 1
        sock = pinned = None
        try:
            sock, raw, err = self._take(listener, nid, pid, args)
            if err is None:
                raw, pinned, err = self._target(listener, nid, pid, sock, raw)
            if err is not None:
                return _answer(listener, nid, -err)
            import fcntl

            if fcntl.fcntl(sock, fcntl.F_GETFL) & os.O_NONBLOCK:
                return _answer(listener, nid, self._connect(sock, raw))
            # Blocking: may wait for the peer's backlog; answered by a worker thread, with its
            # own copy of the listener (ours may be closed when the sandbox ends).
            job = (os.dup(listener), sock, pinned, nid, raw)
            sock = pinned = None
            self._dispatch(job)
        finally:
            for fd in (sock, pinned):
                if fd is not None:
                    os.close(fd)

    def _dispatch(self, job) -> None:
        """Hand ``job`` to an idle worker, or start one (a worker blocked in a connect must not
        hold up the next; starting a thread per connect cost ~170 us, waking one ~10 us)."""
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
            listener, sock, pinned, nid, raw = job  # the checked inode stays pinned until connected
            try:
                _answer(listener, nid, self._connect(sock, raw))
            except Exception:
                pass  # the caller is gone, or the listener: nothing waits for this answer
            finally:
                for fd in (listener, sock, pinned):
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

    def _take(self, listener: int, nid: int, pid: int, args):
        """(the caller's socket as our fd, the address bytes, None) or (fd|None, b"", errno)."""
        fd = struct.unpack("=i", struct.pack("=I", args[0] & 0xFFFFFFFF))[0]
        addr, alen = args[1], struct.unpack("=i", struct.pack("=I", args[2] & 0xFFFFFFFF))[0]
        if alen < 0 or alen > MAX_ADDR:
            return None, b"", _errno.EINVAL
        try:
            try:
                pidfd = os.pidfd_open(pid, PIDFD_THREAD)
            except OSError:
                pidfd = os.pidfd_open(pid, 0)
        except OSError:
            return None, b"", _errno.ECONNREFUSED  # gone: nobody reads the answer
        try:
            if not _valid(listener, nid):
                return None, b"", _errno.ECONNREFUSED  # the pid was reused: not our caller
            from cordon.sandbox.linux.landlock import sys_call

            try:
                sock = sys_call(SYS_PIDFD_GETFD, pidfd, fd, 0)
            except OSError as e:
                return None, b"", e.errno
        finally:
            os.close(pidfd)
        raw = b""
        if alen:
            raw = self._read(pid, alen, addr)
            if len(raw) != alen:
                return sock, b"", _errno.EFAULT
        return sock, raw, None

    def _read(self, pid: int, n: int, addr: int) -> bytes:
        if self.mem is not None:  # the supervisor's descriptors, kept per process
            return self.mem.pread(pid, n, addr) or b""
        try:
            fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return b""
        try:
            return os.pread(fd, n, addr)
        except OSError:
            return b""
        finally:
            os.close(fd)

    def _target(self, listener: int, nid: int, pid: int, sock: int, raw: bytes):
        """(the address to connect to, the pinned inode's fd or None, None) or (b"", None,
        errno): a pathname becomes the /proc/self/fd path of the checked inode, whose fd the
        caller closes once connected."""
        from cordon.sandbox.fastpath import socket as _socket

        try:
            s = _socket.socket(fileno=sock)
            family = s.family
            s.detach()
        except OSError as e:
            return b"", None, e.errno  # ENOTSOCK, as connect() would say
        if family != AF_UNIX or len(raw) <= 2 or struct.unpack_from("=H", raw)[0] != AF_UNIX or raw[2] == 0:
            return raw, None, None  # not a path: the socket's own namespace bounds the lookup
        path = raw[2:].split(b"\0", 1)[0]
        target, err = self._resolve(listener, nid, pid, path)
        if err is not None:
            return b"", None, err
        import stat

        try:
            st = os.fstat(target)
            err = None
            if not stat.S_ISSOCK(st.st_mode):
                err = _errno.ECONNREFUSED
            elif not self._ours(st):
                self._refuse(pid, path)
                err = _errno.EACCES
        except OSError as e:
            err = e.errno
        if err is not None:
            os.close(target)
            return b"", None, err
        return struct.pack("=H", AF_UNIX) + f"/proc/self/fd/{target}".encode() + b"\0", target, None

    def _resolve(self, listener: int, nid: int, pid: int, path: bytes):
        """An O_PATH fd on ``path`` as the caller's connect() would find it, or (None, errno)."""
        from cordon.sandbox.linux.supervise import openat2

        rel = path
        if not path.startswith(b"/"):
            try:
                base = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                return None, _errno.ENOENT
            if not base.startswith("/") or base.endswith(" (deleted)"):
                return None, _errno.ENOENT
            rel = os.fsencode(base) + b"/" + path
        try:
            root = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return None, _errno.ENOENT
        try:
            if not _valid(listener, nid):
                return None, _errno.ECONNREFUSED  # root and cwd may be another process's
            try:
                return (
                    openat2(
                        root,
                        os.fsdecode(rel.lstrip(b"/") or b"."),
                        os.O_PATH,
                        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
                    ),
                    None,
                )
            except OSError as e:
                return None, e.errno
        finally:
            os.close(root)

    def _ours(self, st) -> bool:
        """Is this socket file bound by a socket listening in the sandbox's network namespace?"""
        if self.diag is None:
            return False
        want = ((os.major(st.st_dev) << 20) | os.minor(st.st_dev), st.st_ino & 0xFFFFFFFF)
        return want in self._listening()

    def _listening(self) -> set[tuple[int, int]]:
        """(device, inode) of every listening unix socket file of the sandbox's namespace."""
        self._seq += 1
        req = struct.pack(
            "=BBHIII2I", AF_UNIX, 0, 0, 1 << TCP_LISTEN, 0, UDIAG_SHOW_VFS, 0xFFFFFFFF, 0xFFFFFFFF
        )
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
                    if kind == SOCK_DIAG_BY_FAMILY:
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

    def _connect(self, sock: int, raw: bytes) -> int:
        from cordon.sandbox.linux.landlock import sys_call

        if self._nr is None:
            return -_errno.ENOSYS
        try:
            sys_call(self._nr, sock, raw, len(raw))
            return 0
        except OSError as e:
            return -e.errno

    def _refuse(self, pid: int, path: bytes) -> None:
        shown = os.fsdecode(path)
        self.refused.append(shown)
        if self.recorder is None:
            return
        from cordon.sandbox.denials import Denial
        from cordon.sandbox.linux.supervise import comm_of

        self.recorder.add(
            Denial(
                "seccomp",
                "connect",
                shown,
                "a unix socket that is not the sandbox's own (bound outside it, e.g. by the host "
                "after the launch): the late-socket guard refuses it",
                "--network on",
                errno="EACCES",
                pid=pid,
                process=comm_of(pid),
            )
        )


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
