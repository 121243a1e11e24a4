"""How much the proxy takes on: descriptors, connection caps, timeouts.

Why these exist: at the default 1024 open files a flood of idle, unauthenticated
connections used to exhaust the proxy's descriptors, and a request head sent one byte at a
time was never timed out. Now the soft descriptor limit is raised to the hard one at start,
every connection counts against a global cap and a cap for its client (the peer address;
for a sandbox, the sandbox), the connections that have not yet authenticated are few and
the oldest of them is dropped for a newcomer, and every wait has a deadline.
"""

from __future__ import annotations

import dataclasses
import resource

# Descriptors one tunnel may hold: two sockets and a pipe (two descriptors) per direction.
FDS_PER_CONNECTION = 6
_RESERVED_FDS = 64  # logs, listeners, the policy pipe, DNS lookups


@dataclasses.dataclass(frozen=True)
class Limits:
    """Caps and timeouts; ``None`` caps are derived from the descriptor limit."""

    max_connections: int | None = None  # open client connections, all clients together
    max_per_client: int | None = None  # open client connections of one client
    max_unauthenticated: int | None = None  # connections still in their handshake
    head_timeout: float = 20.0  # a whole request head (or SOCKS handshake) must arrive in time
    idle_timeout: float = 120.0  # a keep-alive connection waiting for its next request
    first_bytes_timeout: float = 60.0  # a tunnel waiting for the client's first bytes
    dial_timeout: float = 10.0
    max_refusing: int = 64  # connections being told "503" at once; more are just closed

    def resolved(self, fd_limit: int | None = None) -> Limits:
        """These limits with every cap a number (from ``fd_limit``, default: the current soft limit)."""
        if fd_limit is None:
            fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        derived = max(16, (fd_limit - _RESERVED_FDS) // FDS_PER_CONNECTION)
        total = self.max_connections or derived
        per_client = self.max_per_client or max(16, total // 2)
        pending = self.max_unauthenticated or max(8, total // 4)
        return dataclasses.replace(
            self, max_connections=total, max_per_client=min(per_client, total), max_unauthenticated=pending
        )


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (capped by ``fs.nr_open``); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        try:
            with open("/proc/sys/fs/nr_open") as f:
                target = int(f.read())
        except (OSError, ValueError):
            target = 1 << 16
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft
