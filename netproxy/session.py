"""What the proxy's protocol handlers share: one client connection, one session, and the
``Handlers`` view of the server they call back into.

``server`` accepts connections and owns the sessions; ``http1`` serves the HTTP ones. Both
import this module and ``http1`` imports nothing of ``server`` (it sees the server only through
the ``Handlers`` protocol), so the import graph runs one way: server -> http1 -> session.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Callable
from typing import Protocol

from cordon.netproxy.hosts import format_authority
from cordon.netproxy.limits import Limits
from cordon.netproxy.policy import (
    AUTH_REQUIRED,
    BAD_REQUEST,
    CAPACITY,
    HOST_MISMATCH,
    NOT_ALLOWED,
    PRIVATE_ADDRESS,
    RESOLVE_FAILED,
    TIMEOUT,
    UNSUPPORTED,
    UPSTREAM_FAILED,
    NetPolicy,
    Verdict,
)

MAX_HEAD = 64 * 1024  # the largest request or response head the proxy reads (bytes)


class Client:
    """One accepted client connection and what the proxy knows about it."""

    __slots__ = ("handed_off", "key", "refusal", "sock")

    def __init__(self, sock: socket.socket, key: object, refusal: str | None):
        self.sock, self.key, self.refusal = sock, key, refusal
        self.handed_off = False  # the relay owns the sockets (and the admission slot) now


class Session:
    """One connection the proxy may have to cut when the policy changes."""

    __slots__ = ("address", "host", "port", "proto", "sni", "sockets")

    def __init__(self, proto: str, host: str, port: int):
        self.proto, self.host, self.port = proto, host, port
        self.address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
        self.sni: str | None = None
        self.sockets: list[socket.socket] = []

    def cut(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


class Handlers(Protocol):
    """What a protocol handler (``http1``) may ask of the server that handed it a client."""

    policy: NetPolicy
    limits: Limits

    @property
    def generation(self) -> int: ...
    def authenticated(self, client: Client) -> None: ...
    def check_auth(self, values: list[str]) -> str | None: ...
    def refuse_http(
        self, sock: socket.socket, proto: str, host: str, port: int, reason: str, detail: str, **how
    ) -> None: ...  # fmt: skip  (status=, logged=, allow_with=: as ProxyServer.refuse_http)
    def decide(self, proto: str, host: str, port: int, **extra) -> tuple[Verdict, int]: ...
    def log_decision(self, proto: str, d: Verdict, **extra) -> None: ...
    def dial(self, d: Verdict) -> tuple[socket.socket | None, int]: ...
    def tunnel(self, client: Client, d: Verdict, gen: int, proto: str, pending: bytes,
               reply: Callable[[bool, int | None], None]) -> None: ...  # fmt: skip
    def open_session(self, proto: str, d: Verdict, upstream: socket.socket | None) -> Session: ...
    def close_session(self, s: Session) -> None: ...
    def hand_off(self, client: Client, upstream: socket.socket, session: Session) -> None: ...


def status_for(reason: str) -> int:
    """The HTTP status a refusal for ``reason`` is answered with."""
    if reason in (BAD_REQUEST, HOST_MISMATCH, UNSUPPORTED):
        return 400
    if reason == AUTH_REQUIRED:
        return 407
    if reason in (UPSTREAM_FAILED, RESOLVE_FAILED):
        return 502
    if reason == CAPACITY:
        return 503
    if reason == TIMEOUT:
        return 408
    return 403


def allow_with(d: Verdict) -> str | None:
    """The smallest ``--allow-domain`` that would have allowed ``d`` (None if none would)."""
    if d.reason == NOT_ALLOWED:
        return f"--allow-domain {format_authority(d.host, d.port)}"
    if d.reason == PRIVATE_ADDRESS and d.refused_address is not None:
        return f"--allow-domain {format_authority(str(d.refused_address), d.port)}"
    return None


def peer_ip(s: socket.socket) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``s`` is connected to (scope id dropped), None if it has none."""
    try:
        return ipaddress.ip_address(s.getpeername()[0].split("%")[0])
    except (OSError, ValueError):
        return None
