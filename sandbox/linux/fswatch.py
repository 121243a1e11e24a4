"""Re-use a scan of host files while the kernel reports that nothing it looked at has changed.

A root launch hides every file under ``/etc`` that only root may read
(``sandbox.denylist.root_only_files``): about 2,500 ``lstat`` calls, 6 ms or more of Python
that holds the GIL at every launch. That was the largest cost of an in-process launch, and
it capped how many threads could launch at once. A process that launches many sandboxes
now keeps the last result of the scan. It re-uses that result only while all of these hold:

* **No inotify event.** The process has its own inotify instance. It watched every directory
  the scan listed before listing it, and every entry before ``lstat``-ing it. An entry's own
  inode watch sees ``chmod``/``chown``/``link`` through any path, including a hard link
  elsewhere; a directory watch only sees changes made through that directory. Any event at all
  means "scan again": a queue overflow, a created, removed or renamed entry, a mode change or
  a watch that was dropped.
* **The same mount table.** ``poll`` on ``/proc/self/mountinfo`` reports every mount or
  unmount, and the mount namespace must be the same one.
* **The same process.** A forked child shares the parent's inotify queue. Whichever process
  reads the queue first consumes the events, so a fork does not inherit the cache.

If a watch cannot be added (the kernel's watch limit, an entry we may not read), this scan's
result is used once, like a plain scan, and the next launch scans again.

The cached result lives only in this process's memory. No sandbox can write to it, and
nothing is stored on disk. A sandboxed command that could change the scanned files at all
(``/etc`` is read-only inside) would cause an event. A change that lands between the check
and bubblewrap's mounts has the same race as a fresh scan.

The first scan in a process is a plain one, done natively when the helper is installed
(``NativeScan``: ``cordon-inner --root-only``; ``sandbox run`` starts it before it plans, so
the walk overlaps the planning). A process that launches once pays neither for ``ctypes`` nor
for the watches. The second scan in a process sets up the
watches, and the ones after it are checked with a single ``poll``.

Owns: the inotify instance and the cached results. Must not touch: what a scan means (that is
sandbox.denylist). Standard library only.
"""

from __future__ import annotations

import os

from cordon.sandbox.fastpath import thread as _thread

# <sys/inotify.h>
IN_ATTRIB = 0x004
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_MASK_ADD = 0x20000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

# What can change a scan's answer. File contents are not included: writing to a file
# changes neither its mode nor its type.
ENTRY_EVENTS = IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW | IN_MASK_ADD
DIR_EVENTS = ENTRY_EVENTS | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR


class _Watches:
    """One inotify instance plus the mount table it was armed with. ``add`` returns False (and
    marks the instance unusable) when a watch cannot be placed."""

    def __init__(self, libc) -> None:
        import select

        self._libc = libc
        self.ok = True
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        self.mounts = None
        if self.fd < 0:
            self.ok = False
            return
        try:
            self.mounts = open("/proc/self/mountinfo", "rb")  # noqa: SIM115 (held open to poll)
            self.mounts.read()  # reading the table arms poll() for the next change
            self.mnt_ns = os.readlink("/proc/self/ns/mnt")
        except OSError:
            self.ok = False
            return
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)
        self.poller.register(self.mounts.fileno(), select.POLLPRI | select.POLLERR)
        self.pid = os.getpid()

    def add(self, path: str, directory: bool) -> bool:
        if (
            self.ok
            and self._libc.inotify_add_watch(
                self.fd, os.fsencode(path), DIR_EVENTS if directory else ENTRY_EVENTS
            )
            < 0
        ):
            self.ok = False
        return self.ok

    def unchanged(self) -> bool:
        """True when nothing watched has changed since the watches were placed."""
        if not self.ok or os.getpid() != self.pid:
            return False
        if self.poller.poll(0):
            return False
        try:
            return os.readlink("/proc/self/ns/mnt") == self.mnt_ns
        except OSError:
            return False

    def close(self) -> None:
        if self.mounts is not None:
            self.mounts.close()
        if self.fd >= 0:
            os.close(self.fd)
        self.fd = -1
        self.ok = False


class WatchedScan:
    """``get()`` returns ``scan(watch)``, and reuses the last result while its watches report
    nothing. ``scan`` calls ``watch(path, directory)`` before it reads ``path`` (lists a
    directory or ``lstat``s an entry). ``watch`` returns False once watching has failed.
    ``plain()``, when given, is tried first for the first (unwatched) scan: the same answer
    by a faster way, or None."""

    def __init__(self, scan, plain=None) -> None:
        self._scan = scan
        self._plain = plain
        self._lock = _thread.allocate_lock()
        self._watches: _Watches | None = None
        self._result = None
        self._scans = 0

    def get(self):
        with self._lock:
            w = self._watches
            if w is not None and w.unchanged():
                return self._result
            if w is not None:
                w.close()
                self._watches = None
            self._scans += 1
            if self._scans == 1:  # one launch: a plain scan
                fast = self._plain() if self._plain is not None else None
                return fast if fast is not None else self._scan(lambda path, directory: False)
            w = _Watches(_libc())
            placed = [w.ok]

            def watch(path: str, directory: bool) -> bool:
                placed[0] = placed[0] and w.add(path, directory)
                return placed[0]

            result = self._scan(watch)
            if placed[0] and w.ok:
                self._watches, self._result = w, result
            else:
                w.close()
            return result

    def forget(self) -> None:
        with self._lock:
            if self._watches is not None:
                self._watches.close()
            self._watches, self._result = None, None


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.inotify_init1.argtypes = [ctypes.c_int]
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    return libc


def _root_only(watch):
    from cordon.sandbox import denylist

    return tuple(denylist.root_only_files(watch=watch))


class NativeScan:
    """``cordon-inner --root-only /etc`` (sandbox/linux/cordon_inner.c), started at once and
    collected by ``result()``: the same walk as ``denylist.root_only_files`` in a process of
    its own, so ``sandbox run`` plans the launch meanwhile instead of spending ~10 ms of Python
    on it. ``result()`` is None whenever the helper is absent or did not finish cleanly (exit
    0, every record whole): the caller then scans in Python. Never a partial answer."""

    def __init__(self, top: str | None = None, helper: str | None = None) -> None:
        self.pid = -1
        self._r = -1
        self._owner = os.getpid()
        from cordon.sandbox.denylist import ROOT_ONLY_SCAN
        from cordon.sandbox.linux.inner import native_helper

        helper = helper or native_helper()  # trusted like the inner stage: only its owner can change it
        if helper is None:
            return
        r, w = os.pipe()  # both close-on-exec; the helper gets w as its stdout
        try:
            self.pid = os.posix_spawn(
                helper,
                [helper, "--root-only", top or ROOT_ONLY_SCAN],
                {},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, w, 1),
                    (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0),
                ],
            )
        except OSError:
            os.close(r)
            return
        finally:
            os.close(w)
        self._r = r

    def result(self) -> tuple[str, ...] | None:
        if self._r < 0 or os.getpid() != self._owner:
            return None
        chunks = []
        try:
            while chunk := os.read(self._r, 65536):
                chunks.append(chunk)
        except OSError:
            chunks = [b"x"]  # unterminated: refused below
        finally:
            os.close(self._r)
            self._r = -1
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return None
        data = b"".join(chunks)
        if status != 0 or (data and not data.endswith(b"\0")):
            return None
        return tuple(sorted(os.fsdecode(p) for p in data.split(b"\0")[:-1]))


_started: list[NativeScan] = []


def start_root_only_scan() -> None:
    """Begin the first root-only scan now, natively and in the background (``sandbox run``
    calls it before planning; the plan collects it). Nothing is kept beyond that first scan."""
    with ROOT_ONLY._lock:
        if not _started and ROOT_ONLY._scans == 0:
            _started.append(NativeScan())


def _root_only_fast():
    job = _started.pop() if _started else NativeScan()
    return job.result()


ROOT_ONLY = WatchedScan(_root_only, plain=_root_only_fast)


def root_only_files() -> list[str]:
    """``sandbox.denylist.root_only_files()`` (under ``/etc``), reused while nothing changed."""
    return list(ROOT_ONLY.get())
