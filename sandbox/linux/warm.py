"""Warm sandboxes: started ahead of time, each waiting, with every wall up, for one command.

A warm sandbox is an ordinary launch (the same ``assemble`` plan: mounts, namespaces, Landlock,
seccomp) whose native inner stage, instead of exec'ing a command given on its command line,
says "R" on a socket once every wall is in place and then waits for the command: argv,
environment and working directory in one message, stdin/stdout/stderr as SCM_RIGHTS
(``cordon_inner.c``: the ``H`` record). Only the hand-over is left on the command's path.

Each sandbox serves exactly one command and is never reused: its private /tmp, its processes
and its namespaces end with that command. Needs the native inner stage; the Python one has no
hand-over (``start`` returns None and the caller launches normally).

Standard library only.
"""

from __future__ import annotations

import array
import os
import select
import socket
import struct

from cordon.sandbox.errors import SandboxError

HANDOFF_FD = 202  # beside inner.SPEC_FD (200) and NATIVE_FD (201)
READY_TIMEOUT_S = 60.0
# One message carries argv + environment; past this size the command is launched normally.
MAX_MESSAGE = 1 << 20


class WarmSandbox:
    """One started sandbox waiting for its command. ``proc`` is its launch.SandboxProcess."""

    __slots__ = ("_err", "_ready", "_sock", "cwd", "proc")

    def __init__(self, proc, sock: socket.socket, err_fd: int, cwd: str):
        self.proc = proc
        self.cwd = cwd
        self._sock = sock
        self._err = err_fd
        self._ready = False

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Block until every wall is up inside; SandboxError when the sandbox failed instead."""
        if self._ready:
            return
        r, _, _ = select.select([self._sock], [], [], timeout)
        data = self._sock.recv(1) if r else b""
        if data != b"R":
            if not r:
                why = f"not ready after {timeout:g} s"
            else:
                self.proc.wait()
                why = (
                    self._setup_error() or f"it ended with status {self.proc.returncode} before it was ready"
                )
            self.discard()
            raise SandboxError(f"a warm sandbox could not be set up: {why}")
        self._ready = True

    def alive(self) -> bool:
        return self.proc.poll() is None

    def hand_over(self, argv: list[str], env: dict[str, str], stdio: tuple[int, int, int]):
        """Send the command (argv, env, the three stdio fds); the sandbox then becomes it."""
        self.wait_ready()
        body = b"".join(os.fsencode(a) + b"\0" for a in argv) + b"\0"
        body += b"".join(os.fsencode(f"{k}={v}") + b"\0" for k, v in env.items()) + b"\0"
        body += os.fsencode(self.cwd) + b"\0"
        if len(body) > MAX_MESSAGE:
            raise OverflowError("command and environment too large for a hand-over")
        self._sock.sendmsg(
            [body], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", stdio).tobytes())]
        )
        self._close_ends()
        return self.proc

    def discard(self) -> None:
        """End it unused (closing the socket makes the inner stage exit; kill for certain)."""
        self._close_ends()
        self.proc.kill()
        self.proc.wait()

    def _close_ends(self) -> None:
        if self._sock.fileno() >= 0:
            self._sock.close()
        if self._err >= 0:
            os.close(self._err)
            self._err = -1

    def _setup_error(self) -> str:
        if self._err < 0:
            return ""
        os.set_blocking(self._err, False)
        try:
            return os.read(self._err, 4096).decode(errors="replace").strip()
        except OSError:
            return ""


def start(asm, cwd: str) -> WarmSandbox | None:
    """Start the sandbox ``asm`` (an ``assemble`` result) as a warm one; None when this launch
    cannot wait for a hand-over (not bubblewrap, or the Python inner stage)."""
    from cordon.sandbox.linux import inner as inner_mod
    from cordon.sandbox.linux.launch import SandboxProcess

    launch = asm.launch
    spec = launch.fds.get(inner_mod.SPEC_FD)
    if asm.mode != "bwrap" or not isinstance(spec, bytes) or not spec.startswith(b"CORDONI1"):
        return None
    if launch.bridge is not None:  # the proxy bridge is per launch; not pooled
        return None
    if launch.limits is not None and launch.limits.wall is not None:
        return None  # a wall limit counts from the command's start, not the sandbox's

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_MESSAGE + 4096)
    except OSError:
        pass
    record = str(HANDOFF_FD).encode()
    launch.fds[inner_mod.SPEC_FD] = spec + b"H" + struct.pack("<I", len(record)) + record
    launch.fds[HANDOFF_FD] = ("fd", theirs.fileno())
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        proc = SandboxProcess(launch, null, null, err_w)
    except BaseException:
        ours.close()
        os.close(err_r)
        raise
    finally:
        theirs.close()
        os.close(err_w)
        os.close(null)
    return WarmSandbox(proc, ours, err_r, cwd)
