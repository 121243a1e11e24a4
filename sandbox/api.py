"""The library API for agent frontends: ``run``, ``spawn`` and ``arun``.

    from cordon.sandbox import SandboxPolicy, run
    r = run(["pytest", "-q"], policy=SandboxPolicy(), cwd="/src/proj", timeout=600)
    r.returncode, r.stdout, r.stderr

* ``run`` behaves like ``subprocess.run(capture_output=True)`` and returns a
  ``SandboxResult`` (a ``subprocess.CompletedProcess``); a timeout kills the WHOLE
  sandbox (bwrap dies, ``--die-with-parent`` takes everything inside) and raises
  ``SandboxTimeout`` (a ``subprocess.TimeoutExpired``) carrying the partial output.
* ``spawn`` starts the command and returns a ``SandboxedProcess`` whose ``stdout`` /
  ``stderr`` stream; ``send_signal`` reaches the command's process group; ``kill``
  ends the whole sandbox.
* ``arun`` is ``run`` for asyncio; cancelling the task kills the sandbox.

No global state: every call resolves its own policy and owns its own processes.
Exit status: the command's; 128+N when it died of signal N; 125 when the sandbox
could not be set up (then ``SandboxResult.setup_failed`` is True and the command did not run).
A resource limit (``SandboxPolicy(limits=...)``) that ended or stopped the command is named in
``SandboxResult.limit_hit``; the exit status stays the command's (137 for a memory kill, etc.).
Setup errors found before anything starts raise ``SandboxError``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from cordon.sandbox.errors import SandboxError
from cordon.sandbox.model import SandboxPolicy

from cordon.errors import CordonError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cordon.sandbox.denials import Denial

log = logging.getLogger("sandbox")

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL


class SandboxResult(subprocess.CompletedProcess):
    """``CompletedProcess`` plus how the command was confined."""

    def __init__(
        self,
        args,
        returncode,
        stdout=None,
        stderr=None,
        *,
        engine: str = "",
        setup_failed=False,
        limit_hit=None,
        denials=(),
    ):
        super().__init__(args, returncode, stdout, stderr)
        self.engine = engine  # "bwrap", "landlock", "seatbelt", "windows" or "none"
        self.setup_failed = setup_failed
        # The resource limit that ended or stopped the command, or None: ``.key`` ("memory",
        # "pids", "cpu", "wall", "file-size", "tmp"), ``.value`` (bytes, count or seconds),
        # ``.shown`` ("512M"), ``.mechanism`` and ``.message`` (what `sandbox run` prints).
        self.limit_hit = limit_hit
        # What the sandbox blocked (sandbox.denials.Denial: layer, operation, target, rule,
        # allow_with), deduplicated, in the order it happened.
        self.denials: list[Denial] = list(denials)


class SandboxTimeout(CordonError, subprocess.TimeoutExpired):
    """The command overran ``timeout``; the sandbox has been killed. A ``TimeoutExpired``
    too (``.cmd``, ``.timeout``, ``.output``, ``.stderr``), as ``subprocess.run`` raises."""


def load_config(cwd: str | os.PathLike[str] | None = None, config_files: Sequence[str] = ()) -> SandboxPolicy:
    """The ``SandboxPolicy`` the CLI would use in ``cwd`` (user, project and given config files)."""
    from cordon.sandbox.config import load_layers, to_policy

    return to_policy(load_layers(os.fspath(cwd or os.getcwd()), list(config_files)))


def stdio_fd(spec, mode: str, owned: list[int], parent_side: list) -> int | None:
    """A child-side fd for a stdio spec (None = inherit); records parent ends of pipes."""
    if spec is None:
        parent_side.append(None)
        return None
    if spec == PIPE:
        r, w = os.pipe()
        child, parent = (r, w) if mode == "r" else (w, r)
        owned.append(child)
        parent_side.append(parent)
        return child
    if spec == DEVNULL:
        fd = os.open(os.devnull, os.O_RDWR)
        owned.append(fd)
        parent_side.append(None)
        return fd
    parent_side.append(None)
    return spec if isinstance(spec, int) else spec.fileno()


def _wrap(fd: int | None, mode: str, enc: dict):
    """A file object over a pipe end we own (closed by communicate()/__exit__)."""
    return None if fd is None else open(fd, mode, **enc)


class SandboxedProcess:
    """A running sandboxed command (like ``subprocess.Popen``)."""

    def __init__(self, argv: list[str], proc, engine: str, stdin, stdout, stderr, text: bool):
        self.args = argv
        self._proc = proc  # launch.SandboxProcess or subprocess.Popen (danger-full-access)
        self.engine = engine
        self.pid = proc.pid
        self.text = text
        enc = {"encoding": "utf-8", "errors": "replace"} if text else {}
        # The file objects live as long as the process handle (closed by communicate/__exit__).
        self.stdin: IO[Any] | None = _wrap(stdin, "w" if text else "wb", enc)
        self.stdout: IO[Any] | None = _wrap(stdout, "r" if text else "rb", enc)
        self.stderr: IO[Any] | None = _wrap(stderr, "r" if text else "rb", enc)

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    @property
    def setup_failed(self) -> bool:
        return bool(getattr(self._proc, "setup_failed", False))

    @property
    def limit_hit(self):
        """The resource limit that ended or stopped the command (see ``SandboxResult``), or None."""
        return getattr(self._proc, "limit_hit", None)

    @property
    def denials(self) -> list[Denial]:
        """What the sandbox blocked so far (live while the command runs)."""
        return list(getattr(self._proc, "denials", ()))

    def poll(self) -> int | None:
        return self._proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            return self._proc.wait()
        deadline = time.monotonic() + timeout
        while self._proc.poll() is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(0.001)
        return self._proc.returncode

    def update_network(
        self,
        *,
        allow: list[str] | None = None,
        deny: list[str] | None = None,
        resolve: dict[str, str] | None = None,
    ) -> int:
        """Change what this running sandbox may reach (proxy mode), e.g. after asking the user.

        The lists given replace the current ones; tunnels and connections that lose permission
        are closed. Returns how many were cut. Raises ``SandboxError`` when the sandbox is not in
        network proxy mode; ``netproxy.ProxyError`` when the proxy is gone or refuses the
        update, ``netproxy.PatternError`` (a ``ProxyError``) for a bad pattern.
        """
        bridge = getattr(getattr(self._proc, "launch", None), "bridge", None)
        if bridge is None:
            raise SandboxError("update_network needs a sandbox started in network proxy mode")
        return bridge.update_policy(allow=allow, deny=deny, resolve=resolve)

    def send_signal(self, sig: int) -> None:
        """Deliver ``sig`` to the command's process group."""
        self._proc.send_signal(sig)

    def terminate(self) -> None:
        import signal

        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """End the whole sandbox now (every process in it)."""
        self._proc.kill()

    def communicate(self, input: bytes | str | None = None, timeout: float | None = None):
        """Like ``Popen.communicate``; on timeout the sandbox is killed and SandboxTimeout raised."""
        import selectors

        out: list[bytes] = []
        err: list[bytes] = []
        sel = selectors.DefaultSelector()
        bufs = {}
        for f, acc in ((self.stdout, out), (self.stderr, err)):
            if f is not None:
                fd = f.fileno()
                os.set_blocking(fd, False)
                sel.register(fd, selectors.EVENT_READ)
                bufs[fd] = acc
        pending = b""
        if self.stdin is not None:
            data = input or b""
            pending = data.encode() if isinstance(data, str) else data
            fd = self.stdin.fileno()
            if pending:
                os.set_blocking(fd, False)
                sel.register(fd, selectors.EVENT_WRITE)
            else:
                self.stdin.close()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while sel.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise _Expired
                for key, _ in sel.select(left):
                    if key.fd in bufs:
                        chunk = os.read(key.fd, 65536)
                        if chunk:
                            bufs[key.fd].append(chunk)
                        else:
                            sel.unregister(key.fd)
                    else:
                        try:
                            n = os.write(key.fd, pending[:65536])
                            pending = pending[n:]
                        except BrokenPipeError:
                            pending = b""
                        if not pending:
                            sel.unregister(key.fd)
                            self.stdin.close()
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            try:
                self.wait(left)
            except subprocess.TimeoutExpired:
                raise _Expired from None
        except _Expired:
            self.kill()
            self._proc.wait()
            o, e = self._decode(b"".join(out)), self._decode(b"".join(err))
            raise SandboxTimeout(self.args, timeout, output=o, stderr=e) from None
        finally:
            sel.close()
            for f in (self.stdout, self.stderr):
                if f is not None:
                    f.close()
        return self._decode(b"".join(out)) if self.stdout else None, (
            self._decode(b"".join(err)) if self.stderr else None
        )

    def _decode(self, b: bytes):
        return b.decode("utf-8", "replace") if self.text else b

    def __enter__(self) -> SandboxedProcess:
        return self

    def __exit__(self, *exc) -> None:
        if self.returncode is None:
            self.kill()
            self._proc.wait()
        for f in (self.stdin, self.stdout, self.stderr):
            if f is not None and not f.closed:
                f.close()


class _Expired(Exception):
    pass


def result_of(proc: SandboxedProcess, out, err) -> SandboxResult:
    return SandboxResult(
        proc.args,
        proc.returncode,
        out,
        err,
        engine=proc.engine,
        setup_failed=proc.setup_failed,
        limit_hit=proc.limit_hit,
        denials=proc.denials,
    )


def spawn(
    argv: Sequence[str],
    *,
    policy: SandboxPolicy | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdin=None,
    stdout=PIPE,
    stderr=PIPE,
    text: bool = False,
    denials: bool | str = True,
    on_denial: Callable[[Denial], None] | None = None,
) -> SandboxedProcess:
    """Start ``argv`` confined by ``policy`` (default: ``SandboxPolicy()``); returns at once.

    ``env`` is the environment the policy's env rules filter (default ``os.environ``).
    ``stdin``/``stdout``/``stderr``: None (inherit), PIPE, DEVNULL, an fd or a file object.
    ``denials``: observe what the sandbox blocks (``SandboxedProcess.denials``, Linux): True
    (writes, refused calls, network, environment), "all" (also reads of hidden files: costs
    on read-heavy work, see docs/denials.md), False; ``on_denial(denial)`` is called for each new one as it happens (from a supervisor thread:
    keep it short, it delays the blocked call).
    """
    argv = [os.fspath(a) for a in argv]
    policy = policy if policy is not None else SandboxPolicy()
    resolved = policy.resolve(cwd=cwd)
    environ = dict(os.environ if env is None else env)
    from cordon.sandbox import _platform

    backend = _platform.backend()
    recorder = None
    if denials:
        from cordon.sandbox.denials import Recorder

        recorder = Recorder(on_denial=on_denial)
    owned: list[int] = []
    parents: list = []
    fds = [stdio_fd(s, m, owned, parents) for s, m in ((stdin, "r"), (stdout, "w"), (stderr, "w"))]
    try:
        proc, engine = backend.spawn(
            resolved,
            argv,
            environ,
            fds,
            denials=recorder,
            watch="all" if denials == "all" else "writes",
            warn=lambda m: log.warning("%s", m),
        )
    except BaseException:
        for fd in [*owned, *(p for p in parents if p is not None)]:
            os.close(fd)
        raise
    finally:
        for fd in owned:
            try:
                os.close(fd)
            except OSError:
                pass
    return SandboxedProcess(argv, proc, engine, *parents, text=text)


def run(
    argv: Sequence[str],
    *,
    policy: SandboxPolicy | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    stdin: bytes | str | int | IO[Any] | None = None,
    capture_output: bool = True,
    text: bool = False,
    check: bool = False,
    denials: bool | str = True,
) -> SandboxResult:
    """Run ``argv`` confined and wait; like ``subprocess.run(..., capture_output=True)``.

    ``stdin``: bytes/str are fed to the command; an fd or file is connected; None means
    an empty stdin (never the caller's terminal).
    """
    feed = stdin if isinstance(stdin, (bytes, str)) else None
    if feed is not None:
        in_spec = PIPE
    elif stdin is None:
        in_spec = DEVNULL
    else:
        in_spec = stdin
    out_spec = PIPE if capture_output else None
    for attempt in range(3):
        proc = spawn(
            argv,
            policy=policy,
            cwd=cwd,
            env=env,
            stdin=in_spec,
            stdout=out_spec,
            stderr=out_spec,
            text=text,
            denials=denials,
        )
        with proc:
            out, err = proc.communicate(feed, timeout=timeout)
        # The command did not run: a host path the plan masked (a socket, a hidden secret) went away before bubblewrap
        # mounted onto it (sandbox/linux/sockets.py). Plan again.
        launch = getattr(proc._proc, "launch", None)
        if not (proc.setup_failed and attempt < 2 and launch is not None and launch.vanished_masks()):
            break
    result = result_of(proc, out, err)
    if check:
        result.check_returncode()
    return result


async def arun(
    argv: Sequence[str],
    *,
    policy: SandboxPolicy | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    stdin: bytes | str | None = None,
    capture_output: bool = True,
    text: bool = False,
    check: bool = False,
    denials: bool | str = True,
) -> SandboxResult:
    """``run`` for asyncio. Cancelling the awaiting task kills the whole sandbox."""
    import asyncio

    feed = stdin
    proc = spawn(
        argv,
        policy=policy,
        cwd=cwd,
        env=env,
        stdin=PIPE if feed is not None else DEVNULL,
        stdout=PIPE if capture_output else None,
        stderr=PIPE if capture_output else None,
        text=text,
        denials=denials,
    )
    try:
        out, err = await asyncio.to_thread(proc.communicate, feed, timeout)
    except BaseException:  # cancellation (or anything else): nothing may outlive us
        proc.kill()
        await asyncio.to_thread(proc._proc.wait)
        raise
    result = result_of(proc, out, err)
    if check:
        result.check_returncode()
    return result


__all__ = [
    "SandboxError",
    "SandboxPolicy",
    "SandboxResult",
    "SandboxTimeout",
    "SandboxedProcess",
    "arun",
    "load_config",
    "run",
    "spawn",
]
