"""A one-line status message for work that turns out to be slow (first-run probe, proxy start).

``with status("probing this host ..."):`` prints ``sandbox: probing this host ...`` to stderr
only if the block is still running after ``delay`` seconds; a fast block prints nothing, so
scripts and JSON consumers see exactly what they saw before.

This sits on the ``sandbox run`` hot path, so it is a timer thread built on ``_thread`` (built
in, nothing to import) rather than ``threading.Timer`` (~1.3 ms of imports on every launch).
"""

from __future__ import annotations

import sys

from cordon.sandbox.fastpath import thread as _thread

DELAY = 1.0


class status:  # lower case: used like a function, ``with status("..."):``
    """Print ``sandbox: MESSAGE...`` once to ``stream`` (stderr) if the block outlasts ``delay``."""

    __slots__ = ("_done", "_finished", "delay", "message", "stream")

    def __init__(self, message: str, *, delay: float = DELAY, stream=None) -> None:
        self.message = message
        self.delay = delay
        self.stream = stream

    def __enter__(self) -> status:
        self._done = _thread.allocate_lock()
        self._finished = _thread.allocate_lock()
        self._done.acquire()
        self._finished.acquire()
        _thread.start_new_thread(self._wait, ())
        return self

    def _wait(self) -> None:
        try:
            if not self._done.acquire(timeout=self.delay):
                out = self.stream if self.stream is not None else sys.stderr
                try:
                    out.write(f"sandbox: {self.message}...\n")
                    out.flush()
                except (OSError, ValueError, AttributeError):  # no usable stderr: stay silent
                    pass
        finally:
            self._finished.release()

    def __exit__(self, *exc) -> None:
        self._done.release()
        # Wait for the helper thread: nothing of it outlives the block (the launcher forks next),
        # and a line being written is complete before anything else is printed.
        self._finished.acquire()
