"""A pool of warm sandboxes for one policy: the launch cost is paid ahead, off the command's path.

    from cordon.sandbox import Pool, SandboxPolicy
    with Pool(SandboxPolicy(), cwd="/src/proj", size=2) as pool:
        r = pool.run(["pytest", "-q"], timeout=600)     # a SandboxResult, like sandbox.run

Each pooled sandbox is started complete (namespaces, mounts, Landlock, seccomp) and waits for
exactly one command; it is never reused, so every command still gets a fresh private /tmp and
sees nothing another command left. A background thread keeps ``size`` of them ready. When none
is ready (a burst, the first call), or where warm sandboxes are not available (not Linux, the
Python inner stage, proxy network mode), a command is launched the ordinary way: the result
is the same, only slower. ``stats`` says how many commands were served warm.

The policy, cwd and environment policy are fixed when the pool is made; each command's
environment (``env=``, default ``os.environ``) goes through the same environment policy.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any

from cordon.sandbox import _platform
from cordon.sandbox.api import (
    DEVNULL,
    PIPE,
    SandboxedProcess,
    SandboxResult,
    result_of,
    spawn,
    stdio_fd,
)
from cordon.sandbox.errors import SandboxError
from cordon.sandbox.model import SandboxPolicy


class Pool:
    """Warm sandboxes for ``policy`` in ``cwd``; ``run``/``spawn`` take one per command."""

    def __init__(
        self,
        policy: SandboxPolicy | None = None,
        *,
        cwd: str | os.PathLike[str] | None = None,
        size: int = 2,
    ):
        if size < 0:
            raise SandboxError("a pool's size must be 0 or more")
        self.policy = policy if policy is not None else SandboxPolicy()
        self.cwd = os.fspath(cwd) if cwd is not None else os.getcwd()
        self.size = size
        self._resolved = self.policy.resolve(cwd=self.cwd)
        self._ready: list = []
        self._cond = threading.Condition()
        self._closed = False
        self._error: BaseException | None = None
        self.stats = {"warm": 0, "cold": 0, "started": 0}
        self._warm_ok = _platform.NAME == "linux" and size > 0
        self._thread = None
        if self._warm_ok:
            # The sandboxes are started by this one long-lived thread: bubblewrap's
            # --die-with-parent follows the thread that started it, so a short-lived
            # thread would take its sandboxes with it.
            self._thread = threading.Thread(target=self._refill, name="cordon-pool", daemon=True)
            self._thread.start()

    # -- the refill thread -------------------------------------------------------------
    def _refill(self) -> None:
        from cordon.sandbox.linux import warm
        from cordon.sandbox.linux.assemble import assemble

        while True:
            with self._cond:
                while not self._closed and len(self._ready) >= self.size:
                    self._cond.wait()
                if self._closed:
                    return
            try:
                from cordon.sandbox.denials import Recorder

                # Every warm sandbox observes its denials like an ordinary launch (seccomp
                # supervisor, writes); the environment's are judged at hand-over, against the
                # command's own environment (below), not this thread's.
                asm = assemble(
                    self._resolved,
                    ["true"],
                    {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ},
                    warn=lambda _m: None,
                    denials=Recorder(),
                    watch="writes",
                )
                w = warm.start(asm, os.fspath(self._resolved.cwd))
            except BaseException as e:  # reported to the next caller; the pool launches cold
                with self._cond:
                    self._error = e
                    self._warm_ok = False
                    self._cond.notify_all()
                return
            if w is None:  # this host or policy has no warm sandboxes: launch cold from now on
                with self._cond:
                    self._warm_ok = False
                    self._cond.notify_all()
                return
            with self._cond:
                self.stats["started"] += 1
                if self._closed:
                    w.discard()
                    return
                self._ready.append(w)
                self._cond.notify_all()

    def _take(self):
        with self._cond:
            while self._ready:
                w = self._ready.pop(0)
                self._cond.notify_all()  # room for the next one
                if w.alive():
                    return w
                w.discard()
        return None

    # -- commands ----------------------------------------------------------------------
    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin=None,
        stdout=PIPE,
        stderr=PIPE,
        text: bool = False,
    ) -> SandboxedProcess:
        """Like ``sandbox.spawn`` with this pool's policy and cwd; warm when one is ready."""
        if self._closed:
            raise SandboxError("this pool is closed")
        argv = [os.fspath(a) for a in argv]
        if not argv:
            raise SandboxError("no command given")

        def cold() -> SandboxedProcess:  # the ordinary launch: same result, slower
            self.stats["cold"] += 1
            return spawn(
                argv,
                policy=self.policy,
                cwd=self.cwd,
                env=env,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                text=text,
            )

        w = self._take() if self._warm_ok else None
        if w is None:
            return cold()
        from cordon.sandbox.linux.assemble import sandbox_env

        environ = dict(os.environ if env is None else env)
        child_env = sandbox_env(self._resolved, environ, "bwrap")
        owned: list[int] = []
        parents: list = []
        fds = [stdio_fd(s, m, owned, parents) for s, m in ((stdin, "r"), (stdout, "w"), (stderr, "w"))]
        try:
            if any(f is None for f in fds):  # inherit: this process's own stdio
                fds = [i if f is None else f for i, f in enumerate(fds)]
            rec = getattr(w.proc.launch, "recorder", None)
            if rec is not None and rec.walls is not None:
                for d in rec.walls.env(environ, child_env):
                    rec.add(d)
            try:
                proc = w.hand_over(argv, child_env, tuple(fds))
            except (OSError, OverflowError):
                w.discard()
                for fd in [*owned, *(p for p in parents if p is not None)]:
                    os.close(fd)
                owned = []
                return cold()
        finally:
            for fd in owned:
                os.close(fd)
        self.stats["warm"] += 1
        return SandboxedProcess(argv, proc, "bwrap", *parents, text=text)

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        stdin: bytes | str | int | IO[Any] | None = None,
        capture_output: bool = True,
        text: bool = False,
        check: bool = False,
    ) -> SandboxResult:
        """Like ``sandbox.run`` with this pool's policy and cwd; warm when one is ready."""
        feed = stdin if isinstance(stdin, bytes | str) else None
        in_spec = PIPE if feed is not None else (DEVNULL if stdin is None else stdin)
        out_spec = PIPE if capture_output else None
        proc = self.spawn(argv, env=env, stdin=in_spec, stdout=out_spec, stderr=out_spec, text=text)
        with proc:
            out, err = proc.communicate(feed, timeout=timeout)
        result = result_of(proc, out, err)
        if check:
            result.check_returncode()
        return result

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Block until ``size`` sandboxes are ready (True), or warm ones are unavailable (False)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._warm_ok or len(self._ready) >= self.size, timeout)
            ok = self._warm_ok and len(self._ready) >= self.size
            ready = list(self._ready)
        for w in ready:
            w.wait_ready()
        return ok

    @property
    def error(self) -> BaseException | None:
        """Why warm sandboxes stopped being started (commands then launch the ordinary way)."""
        return self._error

    # -- lifetime ----------------------------------------------------------------------
    def close(self) -> None:
        """End every sandbox still waiting; commands already handed over run on."""
        with self._cond:
            self._closed = True
            idle, self._ready = self._ready, []
            self._cond.notify_all()
        for w in idle:
            w.discard()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
            with self._cond:  # one the thread started while we were closing
                idle, self._ready = self._ready, []
            for w in idle:
                w.discard()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass


__all__ = ["Pool"]
