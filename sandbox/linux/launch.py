"""Start bubblewrap, watch it, and pass the command's fate back exactly.

How the launcher knows what happened, structurally (no error text is matched):
bwrap writes JSON records to ``--json-status-fd``: ``child-pid`` once the namespaces
exist, and ``exit-code`` only when the *command* has exited. No ``exit-code`` record
means the sandbox could not be set up (or bwrap was killed): exit 125 with a reason.

Processes: bwrap runs in its own process group (a terminal's Ctrl-C reaches the
launcher only); the launcher forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT (and Ctrl-Z / fg as
SIGSTOP / SIGCONT) to the command's
process group (``--new-session``: bwrap's PID 1 calls setsid(), the command is in its
group; PID 1 itself ignores the signal, as a namespace init does). bwrap's own PID 1
inside reaps orphans. ``--die-with-parent`` ties the sandbox to the launcher: if the
launcher dies, even by SIGKILL, bwrap and everything in the sandbox get SIGKILL.

Standard library only, and no ``subprocess``: ``os.posix_spawn`` remaps the inner
stage's fds in the child without touching the embedding process's fd table.
"""

from __future__ import annotations

import fcntl
import os
import sys

from cordon.sandbox.errors import EXIT_SETUP_FAILED, SandboxError
from cordon.sandbox.fastpath import signal, thread

from cordon.paths import within

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _memfd(data: bytes) -> int:
    """A sealed-size in-memory file holding ``data`` at offset 0 (any size, no thread)."""
    fd = os.memfd_create("cordon", os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def empty_problem(p: str, mode: int, folder: bool = True, st=None) -> str | None:
    """Why ``p`` (or its stat ``st``) is not Cordon's empty folder or file of ``mode``
    (assemble.EMPTY_DIRS), or None."""
    import stat as _stat

    try:
        st = os.lstat(p) if st is None else st
        ok = (
            st.st_uid == os.geteuid()
            and _stat.S_IMODE(st.st_mode) == mode
            and (
                _stat.S_ISDIR(st.st_mode)
                and st.st_nlink == 2  # no subdirectories
                and (mode == 0 or not os.listdir(p))
                if folder
                else _stat.S_ISREG(st.st_mode) and st.st_size == 0 and st.st_nlink == 1
            )
        )
    except OSError:
        return "absent"
    return None if ok else "unsound"


def fd_source(data) -> int:
    """An fd (close-on-exec) for one entry of ``Launch.fds``: ``bytes`` become a memfd holding
    them; ``("file", path)`` is ``path`` opened read-only on the host (the native inner
    stage, executed inside as /proc/self/fd/N, so masks and the private /tmp never hide it);
    ``("fd", n)`` is a copy of the launcher's own descriptor ``n`` (a warm sandbox's socket);
    ``("empty-file", path)`` is an O_PATH descriptor of Cordon's empty mask file, checked."""
    if isinstance(data, tuple) and data[:1] == ("fd",):
        return fcntl.fcntl(data[1], fcntl.F_DUPFD_CLOEXEC, 3)
    if isinstance(data, tuple) and data[:1] == ("empty-file",):
        # Cordon's empty mask file (assemble.EMPTY_DIRS), bound by bubblewrap from this very
        # descriptor: checked here, on the descriptor, so nothing swapped in later can show.
        fd = os.open(data[1], os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        if empty_problem(data[1], 0, folder=False, st=os.fstat(fd)) is not None:
            os.close(fd)
            raise SandboxError(
                f"{data[1]} is no longer an empty mode-0000 file of uid {os.geteuid()} (changed during the "
                "launch); the next launch makes it afresh"
            )
        return fd
    if isinstance(data, tuple) and data[:1] == ("file",):
        fd = os.open(data[1], os.O_RDONLY | os.O_CLOEXEC)
        from cordon.sandbox.linux.inner import untrusted

        why = untrusted(os.fstat(fd))  # checked on the descriptor that will run
        if why:
            os.close(fd)
            raise SandboxError(
                f"{data[1]} {why}; it must be a regular file writable only by its owner (us or root)"
            )
        return fd
    return _memfd(data)


def _parse_status(buf: bytes) -> tuple[int | None, int | None]:
    """(child-pid, exit-code) from bwrap's JSON status records (fixed, simple format)."""
    child = code = None
    for key in (b'"child-pid"', b'"exit-code"'):
        i = buf.find(key)
        if i < 0:
            continue
        j = buf.find(b":", i) + 1
        k = j
        while k < len(buf) and buf[k : k + 1] in b" \t":
            k += 1
        e = k
        while e < len(buf) and buf[e : e + 1].isdigit():
            e += 1
        if e > k:
            if key == b'"child-pid"':
                child = int(buf[k:e])
            else:
                code = int(buf[k:e])
    return child, code


class Launch:
    """Everything needed to start one sandbox: argv, env, fds to map, host cleanups."""

    __slots__ = (
        "after_exit",
        "argv",
        "bridge",
        "env",
        "fds",
        "journal",
        "limits",
        "lock_dir",
        "locks",
        "masked_paths",
        "masked_sockets",
        "mode",
        "path",
        "placeholders",
        "recorder",
        "status",
        "supervisor",
    )

    def __init__(
        self,
        path: str,
        argv: list[str],
        env: dict[str, str],
        fds: dict[int, bytes | tuple[str, str]] | None = None,
        placeholders: list[str] | None = None,
        bridge=None,
        status: bool = True,
        mode: str = "bwrap",
        limits=None,
    ):
        self.path = path
        self.argv = argv  # full argv incl. argv[0]; "{STATUS_FD}" is substituted at start
        self.env = env
        self.fds = fds or {}
        self.placeholders = placeholders or []
        self.locks: dict[str, int] = {}  # writable root -> fd holding a shared flock (root_locks)
        self.lock_dir: str | None = None  # where root locks and placeholder journals live
        self.journal: tuple[str, int] | None = None  # (path, fd holding its exclusive flock)
        self.bridge = bridge
        self.after_exit: list = []  # host checks once the sandbox is gone (the git audit)
        self.status = status  # False when bwrap is not in the chain (landlock fallback)
        self.mode = mode
        self.limits = limits  # sandbox.linux.limits.plan(): cgroup, rlimits, wall, how each is enforced
        self.recorder = None  # sandbox.denials.Recorder: this launch's denials
        self.supervisor = None  # sandbox.linux.supervise.Supervisor (seccomp notifications)
        self.masked_sockets: list[str] = []  # host sockets bwrap covers (sandbox/linux/sockets.py)
        self.masked_paths: list[str] = []  # hidden files and folders (deny-read, secrets, root-only)

    def vanished_masks(self) -> list[str]:
        """Masked host paths (sockets, hidden secrets) gone since the plan was made: bubblewrap
        cannot mount onto a path that no longer exists under a read-only folder (a secret file
        removed from ~ by its owner meanwhile), so a setup failure with one of these is worth
        planning again; the new plan no longer needs to hide what is gone."""
        return [p for p in (*self.masked_sockets, *self.masked_paths) if not os.path.lexists(p)]


STATUS_FD_TOKEN = "{STATUS_FD}"


class SandboxProcess:
    """A running sandbox. ``wait`` returns the command's exit status (125 = setup failed)."""

    def __init__(self, launch: Launch, stdin=None, stdout=None, stderr=None):
        self.launch = launch
        self.returncode: int | None = None
        self.setup_failed = False
        self._status_buf = b""
        self._child_pid: int | None = None
        self._status_r: int | None = None
        # One reader of the status pipe at a time: the watcher thread (wall -> send_signal ->
        # command_pids) and the waiting thread (_finish) both read it, and whichever meets EOF
        # closes it; unserialised, both could close it, and the second close would hit
        # whatever descriptor the process had opened under that number meanwhile.
        self._status_lock = thread.allocate_lock()
        self._cleaned = False
        self.limit_hit = None  # which resource limit ended or stopped the command (sandbox.linux.limits)
        self._cgroup = None
        self._watcher = None
        self._rusage = None
        self._tmp_report = None  # our end of the /tmp report socket (a sized private /tmp)
        self._proxy_seen = 0  # decision-log lines already turned into denials
        try:
            self.pid = self._spawn(stdin, stdout, stderr)
            self._watch()
        except BaseException:
            for fd in set(launch.locks.values()):
                os.close(fd)
            launch.locks = {}
            _drop_journal(launch, [])
            if self._cgroup is not None:
                self._cgroup.kill()
                self._cgroup.remove()
            if self._tmp_report is not None:
                self._tmp_report.close()
            if launch.bridge is not None:
                launch.bridge.close()
            if launch.supervisor is not None:
                launch.supervisor.close()
            raise
        if launch.supervisor is not None:
            launch.supervisor.start()

    @property
    def denials(self) -> list:
        """What the sandbox blocked so far (``sandbox.denials.Denial``), deduplicated, in order."""
        rec = self.launch.recorder
        if rec is None:
            return []
        if self.launch.bridge is not None and self.returncode is None:
            self._collect_proxy()
        return rec.denials

    def _collect_proxy(self) -> None:
        """The proxy's decision log -> proxy denials (the log is read from where it was left)."""
        rec = self.launch.recorder
        events = self.launch.bridge.events()
        for ev in events[self._proxy_seen :]:
            rec.add(rec.walls.proxy(ev))
        self._proxy_seen = len(events)

    # -- start -------------------------------------------------------------------------
    def _spawn(self, stdin, stdout, stderr) -> int:
        launch = self.launch
        _write_journal(launch)
        actions = []
        owned: list[int] = []
        targets = set(launch.fds)
        status_target = None
        argv = launch.argv
        # Every source is moved above every target first: the dup2 actions run in order, and a
        # source numbered like a later target (a busy embedding process has hundreds of fds
        # open) would be overwritten before its own turn.
        from cordon.sandbox.linux.inner import REPORT_FD

        floor = max(100, REPORT_FD, *targets) + 1
        try:
            for i, f in enumerate((stdin, stdout, stderr)):
                if f is not None:
                    actions.append((os.POSIX_SPAWN_DUP2, f, i))
            for target, data in launch.fds.items():
                mfd = fd_source(data)
                src = fcntl.fcntl(mfd, fcntl.F_DUPFD_CLOEXEC, floor)
                os.close(mfd)
                owned.append(src)
                actions.append((os.POSIX_SPAWN_DUP2, src, target))
            if launch.status:
                r, w = os.pipe()
                status_target = 3
                while status_target in targets:
                    status_target += 1
                hi = fcntl.fcntl(w, fcntl.F_DUPFD_CLOEXEC, floor)
                os.close(w)
                owned.append(hi)
                self._status_r = r
                actions.append((os.POSIX_SPAWN_DUP2, hi, status_target))
                argv = [str(status_target) if a == STATUS_FD_TOKEN else a for a in argv]
            if launch.limits is not None and launch.limits.report_tmp:
                from cordon.sandbox.linux.limits import tmp_report_channel

                theirs, self._tmp_report = tmp_report_channel()
                hi = fcntl.fcntl(theirs, fcntl.F_DUPFD_CLOEXEC, floor)
                os.close(theirs)
                owned.append(hi)
                actions.append((os.POSIX_SPAWN_DUP2, hi, REPORT_FD))
                targets.add(REPORT_FD)
            # Inherited descriptors without CLOEXEC (from whoever started us) must not reach bwrap.
            keep = {0, 1, 2, *owned, *targets}
            if status_target is not None:
                keep.add(status_target)
            for name in os.listdir("/proc/self/fd"):
                fd = int(name)
                if fd in keep:
                    continue
                try:
                    if os.get_inheritable(fd):
                        actions.append((os.POSIX_SPAWN_CLOSE, fd))
                except OSError:
                    pass
            # Python ignores SIGPIPE and SIGXFSZ; the command gets the defaults (as subprocess does),
            # so a file-size limit ends it with SIGXFSZ and `yes | head` ends as in a shell.
            kw = {"file_actions": actions, "setpgroup": 0, "setsigdef": (signal.SIGPIPE, signal.SIGXFSZ)}
            limits = launch.limits
            if limits is None or not limits.cgroup:
                return os.posix_spawn(launch.path, argv, launch.env, **kw)
            # Born inside the launch's cgroup: bwrap and all it starts are counted from the start.
            from cordon.sandbox.linux.limits import LaunchCgroup

            self._cgroup = LaunchCgroup(limits.cgroup)
            self._cgroup.create()
            leave = self._cgroup.join()
            try:
                return os.posix_spawn(launch.path, argv, launch.env, **kw)
            finally:
                leave()
        finally:
            for fd in owned:
                os.close(fd)

    def _watch(self) -> None:
        """Start the watcher thread when a limit needs one (wall, the tree's CPU in a cgroup, the
        monitor without a cgroup). Launches without such limits start no thread."""
        limits = self.launch.limits
        if limits is None or (
            limits.wall is None and not (limits.cpu and self._cgroup) and not getattr(limits, "monitor", None)
        ):
            return
        from cordon.sandbox.linux.limits import Watcher

        self._watcher = Watcher(self, limits, self._cgroup)
        self._watcher.start()

    # -- inspect -----------------------------------------------------------------------
    def _read_status(self, block: bool) -> None:
        # Blocking reads happen only once bwrap has exited (_finish): EOF is then immediate.
        with self._status_lock:
            r = self._status_r
            if r is None:
                return
            os.set_blocking(r, block)
            while True:
                try:
                    chunk = os.read(r, 4096)
                except BlockingIOError:
                    return
                if not chunk:
                    os.close(r)
                    self._status_r = None
                    return
                self._status_buf += chunk
                self._child_pid = _parse_status(self._status_buf)[0]

    def command_pids(self) -> list[int]:
        """Host pids of the processes bwrap's PID 1 started (normally: the command)."""
        if self._child_pid is None:
            self._read_status(False)
        init = self._child_pid
        if init is None:
            return []
        try:
            with open(f"/proc/{init}/task/{init}/children") as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    # -- control -----------------------------------------------------------------------
    def send_signal(self, sig: int) -> None:
        """Deliver ``sig`` to the command's process group (not to bwrap)."""
        if self.returncode is not None:
            return
        pids = self.command_pids()
        if not pids and sig in (signal.SIGSTOP, signal.SIGCONT, signal.SIGTSTP):
            return  # nothing to pause or resume yet
        if not pids:
            if self.launch.status:
                # Not started yet (or already gone): stopping bwrap stops the whole sandbox.
                self.kill()
            else:
                self._kill_bwrap(sig)
            return
        # bwrap's --new-session runs setsid() in its PID 1, so the command shares that
        # session and process group; a command that made its own group is reached too.
        groups = []
        for pid in pids:
            try:
                pgid = os.getpgid(pid)
            except ProcessLookupError:
                continue
            if pgid not in groups:
                groups.append(pgid)
        for pgid in groups:
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                pass

    def _kill_bwrap(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """Kill the whole sandbox: bwrap and its process group, then ``--die-with-parent``
        takes everything in it.

        The group matters: bubblewrap's first child (the sandbox's PID 1 to be) waits for its
        parent to write the id maps before it arms its parent-death signal; bwrap killed in
        that window left it waiting forever, holding the namespaces (seen under load). Until
        it calls setsid() it is in bwrap's group (bwrap was spawned as a group leader), so
        killing the group reaches it; bwrap is not reaped yet, so the group id is still ours."""
        if self.returncode is None:
            self._kill_bwrap(signal.SIGKILL)
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            if self._cgroup is not None:
                self._cgroup.kill()

    terminate = kill

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, st, self._rusage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                self._finish(st)
        return self.returncode

    def wait(self, wake_fd: int | None = None) -> int:
        """Wait for the sandbox to end; its exit status. ``wake_fd``: the read end of the
        signal wakeup pipe (``signal.set_wakeup_fd``) of a caller whose signal handlers must
        run while it waits (see ``_wait_waking``)."""
        if wake_fd is not None and self.returncode is None:
            self._wait_waking(wake_fd)
        while self.returncode is None:
            try:
                _, st, self._rusage = os.wait4(self.pid, 0)
            except ChildProcessError:
                st = 0
            self._finish(st)
        return self.returncode

    def _wait_waking(self, wake_fd: int) -> None:
        """Block until bwrap ends, returning to Python whenever a signal arrived.

        A blocking wait4 in the main thread is interrupted only by a signal the kernel gives
        to the main thread; one given to another of the launcher's threads (the supervisor,
        the watcher) runs its C-level handler there, and the Python handler waits for the
        main thread to come back to Python, which wait4 never does. Ctrl-Z or `fg` lost that
        way left the command stopped for good (a vfork child stopped, its shell in vfork wait).
        The wakeup byte the C handler writes, whichever thread it runs in, wakes this poll."""
        import select

        pidfd = os.pidfd_open(self.pid)
        try:
            waiter = select.poll()
            waiter.register(pidfd, select.POLLIN)
            waiter.register(wake_fd, select.POLLIN)
            while True:
                if any(fd == pidfd for fd, _ in waiter.poll()):
                    return
                try:
                    os.read(wake_fd, 512)  # the handlers run as this returns to Python
                except BlockingIOError:
                    pass
        finally:
            os.close(pidfd)

    def _finish(self, st: int) -> None:
        self._read_status(True)
        code = os.waitstatus_to_exitcode(st)
        if code < 0:  # bwrap itself died by a signal (killed, timeout, launcher cancelled)
            rc = 128 - code
        elif not self.launch.status:
            rc = code
        else:
            exit_code = _parse_status(self._status_buf)[1]
            if exit_code is None:
                self.setup_failed = True
                rc = EXIT_SETUP_FAILED
            else:
                rc = exit_code
        self.returncode = rc
        if self.launch.limits is not None and not self.setup_failed:
            from cordon.sandbox.linux.limits import tmp_was_full, verdict

            if self._watcher is not None:
                self._watcher.join()  # its last sample may still be naming a limit
            self.limit_hit = verdict(
                self.launch.limits,
                rc,
                self._rusage,
                self._cgroup.events() if self._cgroup is not None else {},
                self._watcher.fired if self._watcher is not None else None,
                tmp_was_full(self._tmp_report) if self._tmp_report is not None else False,
                self._watcher.at_limit if self._watcher is not None else (),
            )
            self._tmp_report = None
            if self.limit_hit is not None and self.launch.recorder is not None:
                self.launch.recorder.add(self.launch.recorder.walls.limit(self.limit_hit))
        elif self._tmp_report is not None:
            self._tmp_report.close()
            self._tmp_report = None
        self.cleanup()

    def cleanup(self) -> None:
        """Remove mount-point placeholders bwrap created on the host, if still empty.

        Only when no other sandbox uses the same writable root (the exclusive flock
        succeeds): removing a directory that is a mount point in another sandbox's mount
        namespace would detach that mount there (Linux >= 3.18) and unprotect the name.
        """
        if self._cleaned:
            return
        self._cleaned = True
        if self._cgroup is not None:
            self._cgroup.kill()  # bwrap is gone, so is its PID namespace: normally nothing is left
            self._cgroup.remove()
        for check in self.launch.after_exit:
            check()
        import fcntl as _fcntl

        free: dict[str, bool] = {}
        for root, fd in self.launch.locks.items():
            try:
                _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
                free[root] = True
            except OSError:
                free[root] = False
        doomed, kept = [], []
        for p in reversed(self.launch.placeholders):
            root = _root_of(p, free)
            if free.get(root, False):
                doomed.append(p)
            else:  # in use by another sandbox: empty and harmless; a later launch sweeps it
                kept.append((root, p))
        _rmdirs(doomed)
        _drop_journal(self.launch, kept)
        for p in self.launch.masked_sockets:
            if free.get(_root_of(p, free), False):
                _remove_mount_point_file(p)
        for fd in set(self.launch.locks.values()):
            os.close(fd)
        self.launch.locks = {}
        if free and all(free.values()) and self.launch.lock_dir:
            # Nobody else used our roots a moment ago: what sandboxes that ended before us had
            # to keep (we were still running) can go now, not only at the next launch. After a
            # burst of parallel launches the last one to end leaves the workspace clean.
            sweep_orphaned_placeholders(self.launch.lock_dir)
        sup = self.launch.supervisor
        if sup is not None:
            # Under bwrap every process is gone with its PID namespace, so the listener hangs up
            # at once; without bwrap (--fallback) a process left behind keeps being served.
            sup.join(2.0 if self.launch.status else 0.2)
        if self.launch.bridge is not None:
            try:
                if self.launch.recorder is not None:
                    self._collect_proxy()  # reported with every other denial
                else:
                    summary = self.launch.bridge.summary()
                    if summary:
                        print(f"sandbox: {summary}", file=sys.stderr)
            finally:
                self.launch.bridge.close()
        if self.launch.recorder is not None:
            self.launch.recorder.close()


def _rmdir(p: str) -> None:
    try:
        os.rmdir(p)
    except OSError:
        pass  # not empty (someone put something there) or gone: leave it


def _rmdirs(paths: list[str]) -> None:
    """rmdir each path; in parallel when there are many (a journaled rmdir can take ms)."""
    nested = [p for p in paths if any(p != q and within(p, q) for q in paths)]
    flat = [p for p in paths if p not in nested]
    for p in nested:  # placeholders inside other placeholders' parents (.git/hooks): first, in order
        _rmdir(p)
    if len(flat) <= 8:
        for p in flat:
            _rmdir(p)
        return
    import threading

    todo = list(flat)

    def worker() -> None:
        while todo:
            try:
                p = todo.pop()
            except IndexError:
                return
            _rmdir(p)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# Roots share LOCK_BUCKETS lock files (by hash): a file per root ever used would pile up
# forever, and a lock file cannot be deleted while someone may hold it. Sharing only makes
# cleanup more careful (a placeholder stays while a sandbox of another root in the same
# bucket runs; its journal lets a later launch remove it).
LOCK_BUCKETS = 256


def _lock_name(root: str) -> str:
    import zlib

    return f"root-{zlib.crc32(root.encode()) % LOCK_BUCKETS:02x}.lock"


def _remove_mount_point_file(p: str) -> None:
    """A masked host socket that vanished before bubblewrap's mounts, inside a writable root:
    bubblewrap made an empty file there to mount onto. It goes when the sandbox ends (only an
    empty regular file of ours: a socket, or a file with content, is someone's)."""
    import stat as _stat

    try:
        st = os.lstat(p)
        if _stat.S_ISREG(st.st_mode) and st.st_size == 0 and st.st_uid == os.geteuid():
            os.unlink(p)
    except OSError:
        pass


def _root_of(p: str, roots) -> str:
    root = os.path.dirname(p)
    while root not in roots and root not in ("/", ""):
        root = os.path.dirname(root)
    return root


def root_locks(roots, lock_dir: str) -> dict[str, int]:
    """A shared flock per writable root (per bucket, see LOCK_BUCKETS), held while the sandbox
    runs (see cleanup)."""
    locks: dict[str, int] = {}
    try:
        os.makedirs(lock_dir, exist_ok=True)
    except OSError:
        return locks
    opened: dict[str, int] = {}  # one fd per bucket: an own second fd would block cleanup's upgrade
    for root in roots:
        name = _lock_name(root)
        if name not in opened:
            try:
                fd = os.open(os.path.join(lock_dir, name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                continue
            fcntl.flock(fd, fcntl.LOCK_SH)
            opened[name] = fd
        locks[root] = opened[name]
    return locks


# --- placeholder journals: what a launcher killed by SIGKILL leaves is swept later --------------
# Before bwrap starts, the launcher writes the placeholders it is about to create (with their
# writable roots) to a journal (cache/journals) and holds an exclusive flock on it for its
# lifetime. cleanup() removes the journal; a later launch that can lock a journal knows its
# launcher is gone (the kernel drops the lock with the last fd) and removes what is listed
# there, root by root, under the same rule as cleanup(): only when no sandbox uses the root.
JOURNAL_PREFIX = "journal-"


def journal_dir(lock_dir: str) -> str:
    # Beside the lock folder, not in it: that one holds a file per root ever used, and the
    # sweep lists this folder at every launch.
    return os.path.join(os.path.dirname(lock_dir), "journals")


def _write_journal(launch: Launch) -> None:
    if not launch.placeholders or not launch.lock_dir or not launch.locks:
        return
    entries = [(_root_of(p, launch.locks), p) for p in launch.placeholders]
    folder = journal_dir(launch.lock_dir)
    path = os.path.join(folder, f"{JOURNAL_PREFIX}{os.getpid()}-{os.urandom(4).hex()}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # no journal: a SIGKILL would leave empty placeholders behind, nothing worse
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, _encode_entries(entries))
    launch.journal = (path, fd)


def _encode_entries(entries) -> bytes:
    return b"".join(os.fsencode(root) + b"\0" + os.fsencode(p) + b"\0" for root, p in entries)


def _drop_journal(launch: Launch, kept: list[tuple[str, str]]) -> None:
    """After cleanup: delete the journal, or leave only what is still there to remove."""
    if launch.journal is None:
        return
    path, fd = launch.journal
    launch.journal = None
    try:
        _settle_journal(path, fd, kept)
    except OSError:
        pass
    finally:
        os.close(fd)  # releases the lock: a later launch may sweep what was kept


def _settle_journal(path: str, fd: int, kept: list[tuple[str, str]]) -> None:
    """Leave only ``kept`` in a locked journal, or delete it when nothing is left."""
    if kept:
        os.ftruncate(fd, 0)
        os.pwrite(fd, _encode_entries(kept), 0)
    else:
        os.unlink(path)


def sweep_orphaned_placeholders(lock_dir: str) -> None:
    """Remove placeholders listed in journals whose launcher is gone (see above). Runs before
    this launch takes its own root locks (an own shared lock would block the check)."""
    folder = journal_dir(lock_dir)
    try:
        names = [n for n in os.listdir(folder) if n.startswith(JOURNAL_PREFIX)]
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if st.st_uid != os.geteuid() or st.st_mode & 0o022:
                continue  # not a journal of ours: its list of paths to remove is not believed
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its launcher is alive
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
            parts = b"".join(chunks).split(b"\0")[:-1]
            by_root: dict[str, list[str]] = {}
            for i in range(0, len(parts) - 1, 2):
                by_root.setdefault(os.fsdecode(parts[i]), []).append(os.fsdecode(parts[i + 1]))
            kept: list[tuple[str, str]] = []
            for root, paths in by_root.items():
                try:
                    lfd = os.open(
                        os.path.join(lock_dir, _lock_name(root)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
                    )
                except OSError:
                    continue
                try:
                    fcntl.flock(lfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    _rmdirs(paths)
                except OSError:
                    kept.extend((root, p) for p in paths)  # a sandbox uses this root now
                finally:
                    os.close(lfd)
            # Every root busy: the journal stays as it is. Rewriting it anyway made each launch
            # of a parallel burst truncate and rewrite the journals of all the others.
            if not kept or len(kept) < len(parts) // 2:
                _settle_journal(path, fd, kept)
        except OSError:
            pass
        finally:
            os.close(fd)


# run_foreground's answer when setup failed only because a masked host socket went away
# between the plan and bubblewrap's mounts (the command did not run): plan again.
RETRY = -1


def run_foreground(launch: Launch, explain_failure=None, after_start=None, retry: bool = False) -> int:
    """Run a sandbox attached to this process's stdio, forwarding signals; the exit status.

    ``explain_failure()`` is called when the sandbox could not be set up, and returns a
    reason to print (e.g. from probe.userns_status()). ``after_start()`` runs once the
    sandbox is starting (work that can overlap with it, e.g. hardening this process).
    ``retry``: return ``RETRY`` instead of 125 when setup failed on a vanished masked path.
    """
    proc_box: list[SandboxProcess] = []

    def forward(sig, _frame):
        if proc_box:
            proc_box[0].send_signal(sig)

    def suspend(_sig, _frame):
        # Ctrl-Z: the command has its own session (no job control from our terminal), so
        # stop it explicitly, then stop ourselves; `fg` sends us SIGCONT, handled below.
        if proc_box:
            proc_box[0].send_signal(signal.SIGSTOP)
        os.kill(os.getpid(), signal.SIGSTOP)

    def resume(_sig, _frame):
        if proc_box:
            proc_box[0].send_signal(signal.SIGCONT)

    old = {s: signal.signal(s, forward) for s in FORWARDED}
    old[signal.SIGTSTP] = signal.signal(signal.SIGTSTP, suspend)
    old[signal.SIGCONT] = signal.signal(signal.SIGCONT, resume)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wake = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    try:
        proc = SandboxProcess(launch)
        proc_box.append(proc)
        if after_start is not None:
            after_start()
        rc = proc.wait(wake_fd=wake_r)
    finally:
        signal.set_wakeup_fd(old_wake)
        os.close(wake_r)
        os.close(wake_w)
        for s, h in old.items():
            signal.signal(s, h)
    if proc.limit_hit is not None:
        print(f"sandbox: {proc.limit_hit.message}", file=sys.stderr)
    if not proc.setup_failed:
        from cordon.sandbox.denials import summary

        sup = launch.supervisor
        # No hint when nothing was watched, or a resource limit (named above) ended the command.
        reads = sup is None or not sup.listening or sup.level == "all" or proc.limit_hit is not None
        person = sys.stderr.isatty()
        for line in summary(proc.denials, failed=rc != 0, reads_watched=reads, person=person):
            print(line, file=sys.stderr)
    if proc.setup_failed:
        gone = launch.vanished_masks()
        if gone and retry:
            print(
                f"sandbox: {gone[0]} (hidden or masked) went away during the set-up; starting again",
                file=sys.stderr,
            )
            return RETRY
        reason = explain_failure() if explain_failure else None
        msg = "sandbox: the sandbox could not be set up; the command was not run"
        print(f"{msg}{': ' + reason if reason else ''}", file=sys.stderr)
    return rc
