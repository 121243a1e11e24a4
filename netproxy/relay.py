"""One thread moves the bytes of every established tunnel: an event loop over all of them.

Why not a thread (or two) per tunnel: thousands of threads waking at once (a client tearing
down 2,000 tunnels) queue on the interpreter lock for seconds, and new requests wait behind
them. Here a tunnel costs no thread; its bytes go kernel to kernel with ``splice(2)`` through
a pipe per direction (Linux), or through a small buffer elsewhere, and closing 2,000 of them
is 2,000 cheap calls in one loop.

A direction ends when its source reaches EOF and everything read has been written: the
destination is then half-closed (``SHUT_WR``), so protocols that half-close keep working. The
tunnel ends when both directions have ended, or at the first error on either socket.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
from collections.abc import Callable

CHUNK = 1 << 20
_F_SETPIPE_SZ = 1031
HAVE_SPLICE = hasattr(os, "splice") and hasattr(os, "pipe2")
_AGAIN = (BlockingIOError, InterruptedError)


class _Direction:
    """Bytes from ``src`` to ``dst``: a pipe (splice) or a buffer holds what is in flight."""

    __slots__ = ("buf", "dst", "eof", "pending", "pipe", "src")

    def __init__(self, src: socket.socket, dst: socket.socket, use_splice: bool):
        self.src, self.dst = src, dst
        self.eof = False
        self.pending = 0
        self.buf = b""
        self.pipe: tuple[int, int] | None = None
        if use_splice:
            try:
                self.pipe = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError:
                self.pipe = None  # out of descriptors: copy through a buffer instead
            else:
                with contextlib.suppress(OSError):
                    import fcntl

                    fcntl.fcntl(self.pipe[1], _F_SETPIPE_SZ, CHUNK)

    @property
    def done(self) -> bool:
        return self.eof and not self.pending

    def fill(self) -> None:
        """Read what ``src`` has (it was reported readable)."""
        if self.pipe is not None:
            try:
                n = os.splice(
                    self.src.fileno(), self.pipe[1], CHUNK, flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
                )
            except _AGAIN:
                return
            if n == 0:
                self.eof = True
            self.pending += n
            return
        try:
            data = self.src.recv(1 << 16)
        except _AGAIN:
            return
        if not data:
            self.eof = True
        self.buf += data
        self.pending = len(self.buf)

    def drain(self) -> None:
        """Write what is in flight to ``dst`` until it would block."""
        if self.pipe is not None:
            while self.pending:
                try:
                    n = os.splice(
                        self.pipe[0],
                        self.dst.fileno(),
                        self.pending,
                        flags=os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK,
                    )
                except _AGAIN:
                    return
                self.pending -= n
        else:
            while self.buf:
                try:
                    n = self.dst.send(self.buf)
                except _AGAIN:
                    break
                self.buf = self.buf[n:]
            self.pending = len(self.buf)
        if self.done:
            with contextlib.suppress(OSError):
                self.dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        if self.pipe is not None:
            for fd in self.pipe:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.pipe = None


class _Tunnel:
    __slots__ = ("a", "b", "closed", "down", "on_close", "up")

    def __init__(
        self, a: socket.socket, b: socket.socket, on_close: Callable[[], None] | None, use_splice: bool
    ):
        self.a, self.b, self.on_close = a, b, on_close
        self.up = _Direction(a, b, use_splice)
        self.down = _Direction(b, a, use_splice)
        self.closed = False

    def mask(self, sock: socket.socket) -> int:
        """What ``sock`` must wait for: readable while its outgoing direction has room,
        writable while its incoming direction has bytes in flight."""
        out, inc = (self.up, self.down) if sock is self.a else (self.down, self.up)
        m = 0
        if not out.eof and not out.pending:
            m |= selectors.EVENT_READ
        if inc.pending:
            m |= selectors.EVENT_WRITE
        return m


class Relay:
    """The tunnel event loop; ``add`` hands it two connected sockets. Started on first use."""

    def __init__(self, use_splice: bool | None = None):
        self.use_splice = HAVE_SPLICE if use_splice is None else use_splice
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._queue: list[_Tunnel] = []
        self._wake_r, self._wake_w = (
            os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK) if hasattr(os, "pipe2") else _pipe()
        )
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._tunnels: set[_Tunnel] = set()

    def add(self, a: socket.socket, b: socket.socket, on_close: Callable[[], None] | None = None) -> None:
        """Relay between ``a`` and ``b`` until both sides are done; then close both and call ``on_close``."""
        t = _Tunnel(a, b, on_close, self.use_splice)
        a.setblocking(False)
        b.setblocking(False)
        with self._lock:
            if self._stopping:  # the proxy is closing: this tunnel ends before it starts
                stopped = True
            else:
                stopped = False
                self._queue.append(t)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, daemon=True, name="np-relay")
                    self._thread.start()
                # Under the lock: the wake pipe is closed under it too, never written after.
                with contextlib.suppress(OSError):
                    os.write(self._wake_w, b"x")
        if stopped:
            self._close(t)

    def __len__(self) -> int:
        return len(self._tunnels)

    def stop(self) -> None:
        """End every tunnel and release the loop's own descriptors (the thread's, once it exits)."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            running = self._thread is not None
            if running:
                with contextlib.suppress(OSError):
                    os.write(self._wake_w, b"x")
            else:
                self._release()

    def _release(self) -> None:
        """Close the selector and the wake pipe (called with ``_lock`` held, once)."""
        self._sel.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    # -- the loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        sel = self._sel
        while not self._stopping:
            for key, events in sel.select():
                if key.data is None:
                    with contextlib.suppress(OSError):
                        while os.read(self._wake_r, 4096):
                            pass
                    self._take_new()
                    continue
                t: _Tunnel = key.data
                if t.closed:
                    continue
                try:
                    self._step(t, key.fileobj, events)
                except OSError:
                    self._close(t)
        with self._lock:
            queued, self._queue = self._queue, []
        for t in [*self._tunnels, *queued]:
            self._close(t)
        with self._lock:
            self._release()

    def _take_new(self) -> None:
        with self._lock:
            new, self._queue = self._queue, []
        for t in new:
            self._tunnels.add(t)
            try:
                for s in (t.a, t.b):
                    self._sel.register(s, t.mask(s), t)
            except (OSError, ValueError):
                self._close(t)

    def _step(self, t: _Tunnel, sock: socket.socket, events: int) -> None:
        out, inc = (t.up, t.down) if sock is t.a else (t.down, t.up)
        if events & selectors.EVENT_READ:
            out.fill()
            out.drain()
        if events & selectors.EVENT_WRITE:
            inc.drain()
        if t.up.done and t.down.done:
            self._close(t)
            return
        for s in (t.a, t.b):
            m = t.mask(s)
            try:
                key = self._sel.get_key(s)
            except KeyError:
                key = None
            # A socket with nothing to wait for is unregistered (it would report "ready" forever)
            # and registered again once its other direction has something for it.
            if m and key is None:
                self._sel.register(s, m, t)
            elif m and key.events != m:
                self._sel.modify(s, m, t)
            elif not m and key is not None:
                self._sel.unregister(s)

    def _close(self, t: _Tunnel) -> None:
        if t.closed:
            return
        t.closed = True
        self._tunnels.discard(t)
        for s in (t.a, t.b):
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(s)
            with contextlib.suppress(OSError):
                s.close()
        t.up.close()
        t.down.close()
        if t.on_close is not None:
            with contextlib.suppress(Exception):
                t.on_close()


def _pipe() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w
