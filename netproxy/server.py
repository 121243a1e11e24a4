"""The proxy: HTTP (absolute- and origin-form), CONNECT and SOCKS5 on one port, judged by ``NetPolicy``.

Who does what: h11 parses HTTP/1.1 (``http1``: keep-alive, every request judged, strict
framing); ``clienthello`` reads the TLS server_name; ``relay`` moves the bytes of every
established tunnel in one event loop with ``splice(2)``; ``limits`` bounds descriptors,
connections and waits. This module accepts connections, admits or refuses them, speaks
SOCKS, sets up tunnels, and writes one structured log line per decision.

Tunnels (CONNECT, SOCKS5): the destination is judged, vetted and dialled *before* the
client hears "established" (an unreachable upstream gets 502 / a SOCKS failure code). The
client's first bytes are then read before anything of theirs is forwarded: a TLS
ClientHello must carry a well-formed SNI equal to the target host or allowed itself (no
SNI only where ``NetPolicy.sni_optional`` says so), else the client gets a TLS alert and
the upstream, which has only seen a TCP handshake, gets nothing. Non-TLS bytes go to the
judged destination opaquely. Bytes the server sends first (ssh banners) are passed on
while the client's first bytes are awaited.

Capacity: a connection over the global cap or its client's cap is answered 503 (HTTP) or
a SOCKS failure, and logged with the host and port it asked for; the oldest connection
that has not authenticated yet is dropped when too many are waiting; ``accept`` failing for
lack of descriptors backs off instead of spinning.
"""

from __future__ import annotations

import array
import base64
import collections
import contextlib
import datetime
import errno
import hmac
import ipaddress
import json
import os
import select
import socket
import threading
import time
from collections.abc import Callable

from cordon.netproxy import clienthello
from cordon.netproxy.hosts import HostError, canonical_host, format_authority
from cordon.netproxy.limits import Limits
from cordon.netproxy.policy import (
    ALLOWED,
    AUTH_REQUIRED,
    BAD_REQUEST,
    CAPACITY,
    DENY_LISTED,
    HOST_MISMATCH,
    NOT_ALLOWED,
    PRIVATE_ADDRESS,
    RESOLVE_FAILED,
    SNI_INVALID,
    SNI_MISMATCH,
    SNI_MISSING,
    TIMEOUT,
    UNSUPPORTED,
    UPSTREAM_FAILED,
    NetPolicy,
    Verdict,
)
from cordon.netproxy.relay import Relay
from cordon.netproxy.session import Client, Session, allow_with, peer_ip, status_for

_TLS_ACCESS_DENIED = b"\x15\x03\x03\x00\x02\x02\x31"
_SHED_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
# Why a capacity line names no host: the proxy shed the connection without reading it (reading
# is what the cap saves).
_CLOSED_UNREAD = "closed before its request was read"

_STATUS = {
    400: "Bad Request",
    403: "Forbidden",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
# Which part of the proxy decided, for reasons that no pattern decides ("rule" in the log).
_RULES = {
    NOT_ALLOWED: "default-deny",
    PRIVATE_ADDRESS: "address-vetting",
    SNI_INVALID: "sni-check",
    SNI_MISSING: "sni-check",
    SNI_MISMATCH: "sni-check",
    HOST_MISMATCH: "http-framing",
    BAD_REQUEST: "http-framing",
    UNSUPPORTED: "protocol",
    AUTH_REQUIRED: "proxy-credential",
    CAPACITY: "connection-limits",
    TIMEOUT: "timeouts",
    UPSTREAM_FAILED: "upstream",
    RESOLVE_FAILED: "upstream",
}
# SOCKS5 reply codes for a failed dial (RFC 1928 6).
_SOCKS_FOR_ERRNO = {errno.ECONNREFUSED: 5, errno.ENETUNREACH: 3, errno.EHOSTUNREACH: 4, errno.ETIMEDOUT: 4}


class ProxyServer:
    """A running proxy. Listeners: TCP (``listen_tcp``) and fd hand-off from the in-sandbox forwarder."""

    def __init__(
        self,
        policy: NetPolicy,
        *,
        token: str | None = None,
        log_path: str | os.PathLike | None = None,
        on_event: Callable[[dict], None] | None = None,
        limits: Limits | None = None,
    ):
        self.policy = policy
        self.token = token
        self.on_event = on_event
        self.limits = (limits or Limits()).resolved()
        self.denials: collections.deque[dict] = collections.deque(maxlen=200)
        self.counts = {"allow": 0, "deny": 0}
        self.relay = Relay()
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._sessions: set[Session] = set()
        self._listeners: list[socket.socket] = []
        self._closed = False
        self._generation = 0
        self._active = 0
        self._per_client: collections.Counter = collections.Counter()
        self._unauthenticated: dict[int, socket.socket] = {}  # insertion order = age
        self._refusing = 0
        self._quiet: dict[str, list] = {}  # rate-limited log lines: reason -> [last time, suppressed]
        self._log = open(log_path, "a", buffering=1, encoding="utf-8") if log_path else None  # noqa: SIM115

    # -- lifecycle -------------------------------------------------------------------------
    def listen_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on a TCP address; returns the bound (host, port)."""
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(1024)
        self._listeners.append(s)
        threading.Thread(target=self._accept_loop, args=(s,), daemon=True, name="np-accept").start()
        return s.getsockname()[:2]

    def serve_handoff(self, listener: socket.socket) -> None:
        """Accept forwarder connections on a listening AF_UNIX SOCK_SEQPACKET socket.

        Each message carries client sockets (SCM_RIGHTS) accepted inside the sandbox; the
        proxy then owns them directly, so no byte of the traffic crosses the forwarder.
        """
        self._listeners.append(listener)
        threading.Thread(target=self._handoff_loop, args=(listener,), daemon=True, name="np-handoff").start()

    def update(self, policy: NetPolicy) -> int:
        """Swap the policy; cut open connections that lost permission. Returns how many were cut."""
        with self._lock:
            self.policy = policy
            self._generation += 1
            sessions = list(self._sessions)
        cut = 0
        for s in sessions:
            v = policy.still_allowed(s.host, s.port, s.address, s.sni)
            if not v.allowed:
                s.cut()
                cut += 1
                self.event(s.proto, s.host, s.port, False, v.reason, "revoked: " + (v.detail or v.reason))
        return cut

    def close(self) -> None:
        self._closed = True
        for s in self._listeners:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        with self._lock:
            sessions = list(self._sessions)
        for s in sessions:
            s.cut()
        self.relay.stop()
        if self._log:
            with self._log_lock:
                self._log.close()
                self._log = None

    @property
    def open_connections(self) -> int:
        return self._active

    # -- accept paths ----------------------------------------------------------------------
    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._closed:
            try:
                conn, peer = listener.accept()
            except OSError as e:
                if self._closed:
                    return
                if e.errno in _SHED_ERRNOS:
                    # Out of descriptors: the pending connection keeps the listener readable,
                    # so retrying at once would spin. Back off; the caps keep this rare.
                    self._quiet_event(CAPACITY, "accept failed: out of file descriptors; backing off")
                    time.sleep(0.05)
                continue
            self._admit_and_serve(conn, peer[0] if isinstance(peer, tuple) else "local")

    def _handoff_loop(self, listener: socket.socket) -> None:
        while not self._closed:
            try:
                conn, _ = listener.accept()
            except OSError as e:
                if self._closed:
                    return
                if e.errno in _SHED_ERRNOS:
                    time.sleep(0.05)
                continue
            if not _same_user(conn):
                conn.close()
                continue
            self._listeners.append(conn)
            threading.Thread(target=self._receive_fds, args=(conn,), daemon=True).start()

    def _receive_fds(self, conn: socket.socket) -> None:
        key = ("sandbox", conn.fileno())  # one client: the sandbox behind this forwarder link
        with conn:
            while not self._closed:
                try:
                    msg, anc, flags, _ = conn.recvmsg(64, socket.CMSG_SPACE(64 * 4))
                except OSError as e:
                    if e.errno in _SHED_ERRNOS:
                        time.sleep(0.05)
                        continue
                    return
                if not msg and not anc:
                    return
                if flags & socket.MSG_CTRUNC:
                    self._quiet_event(CAPACITY, "a sandbox connection was lost: out of file descriptors")
                for level, kind, data in anc:
                    if level != socket.SOL_SOCKET or kind != socket.SCM_RIGHTS:
                        continue
                    fds = array.array("i")
                    fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
                    for fd in fds:
                        try:
                            s = socket.socket(fileno=fd)
                        except OSError:
                            os.close(fd)
                            continue
                        if s.type != socket.SOCK_STREAM or s.family not in (socket.AF_INET, socket.AF_INET6):
                            s.close()
                            continue
                        self._admit_and_serve(s, key)

    # -- admission ---------------------------------------------------------------------------
    def _admit_and_serve(self, conn: socket.socket, key: object) -> None:
        lim = self.limits
        with self._lock:
            if self._active >= lim.max_connections:
                refusal = f"{self._active} connections open, the proxy's limit is {lim.max_connections}"
            elif self._per_client[key] >= lim.max_per_client:
                refusal = f"this client has {self._per_client[key]} connections open, the limit is {lim.max_per_client}"
            else:
                refusal = None
                self._active += 1
                self._per_client[key] += 1
            if refusal is not None:
                if self._refusing >= lim.max_refusing:
                    refusal = ""  # too many refusals in flight already: just close
                else:
                    self._refusing += 1
        if refusal == "":
            conn.close()
            self._quiet_event(CAPACITY, "connection closed unanswered: too many connections being refused")
            return
        client = Client(conn, key, refusal)
        try:
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()
        except RuntimeError:  # cannot start a thread (memory, limits): shed it
            self._release(client)
            conn.close()
            self._quiet_event(CAPACITY, "connection closed unanswered: cannot start a thread")

    def _release(self, client: Client) -> None:
        with self._lock:
            self._unauthenticated.pop(id(client), None)
            if client.refusal is not None:
                self._refusing -= 1
                return
            self._active -= 1
            self._per_client[client.key] -= 1
            if self._per_client[client.key] <= 0:
                del self._per_client[client.key]

    def _waiting_for_credentials(self, client: Client) -> None:
        """Count ``client`` among the unauthenticated; drop the oldest of them when there are too many."""
        victim = None
        with self._lock:
            self._unauthenticated[id(client)] = client.sock
            if len(self._unauthenticated) > self.limits.max_unauthenticated:
                oldest = next(iter(self._unauthenticated))
                victim = self._unauthenticated.pop(oldest)
        if victim is not None:
            with contextlib.suppress(OSError):
                victim.shutdown(socket.SHUT_RDWR)
            self._quiet_event(
                CAPACITY,
                f"dropped the oldest of {self.limits.max_unauthenticated} connections that had not authenticated",
                target_unknown="dropped before it had sent a complete, authenticated request",
            )

    def authenticated(self, client: Client) -> None:
        with self._lock:
            self._unauthenticated.pop(id(client), None)

    # -- per connection --------------------------------------------------------------------
    def _handle(self, client: Client) -> None:
        sock = client.sock
        try:
            if client.refusal is None:
                self._waiting_for_credentials(client)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.limits.head_timeout if client.refusal is None else 2.0)
            first = sock.recv(1, socket.MSG_PEEK)
            if first == b"\x05":
                self._socks5(client)
            elif first == b"\x04":
                self._socks4(client)
            elif first:
                from cordon.netproxy.http1 import serve_http

                serve_http(self, client)
        except (OSError, ValueError, EOFError):
            pass  # the client went away, timed out, or sent garbage mid-handshake
        except Exception as e:  # a bug must not print into the sandboxed command's stderr
            self.event("internal", "", 0, False, "internal-error", f"{type(e).__name__}: {e}"[:200],
                       target_unknown="an error inside the proxy")  # fmt: skip
        finally:
            if not client.handed_off:
                self._release(client)
                with contextlib.suppress(OSError):
                    sock.close()

    def check_auth(self, values: list[str]) -> str | None:
        """The user name from a valid Proxy-Authorization, "" when no credential is required, else None."""
        if self.token is None:
            return ""
        for v in values:
            scheme, _, blob = v.strip().partition(" ")
            if scheme.lower() != "basic":
                continue
            try:
                user, _, password = base64.b64decode(blob.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            if hmac.compare_digest(password.encode(), self.token.encode()):
                return user
        return None

    def refuse_http(
        self,
        sock: socket.socket,
        proto: str,
        host: str,
        port: int,
        reason: str,
        detail: str,
        *,
        status: int | None = None,
        logged: bool = False,
        allow_with: str | None = None,
    ) -> None:
        """Answer an HTTP refusal (JSON body, ``X-Proxy-Error``), log it unless ``logged``, end the response."""
        if not logged:
            self.event(proto, host, port, False, reason, detail, allow_with=allow_with)
        status = status or status_for(reason)
        doc = {"error": reason, "host": host, "port": port, "detail": detail}
        if allow_with:
            doc["allow_with"] = allow_with
        body = json.dumps(doc).encode() + b"\n"
        head = [
            f"HTTP/1.1 {status} {_STATUS.get(status, 'Error')}",
            f"X-Proxy-Error: {reason}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
        ]
        if status == 407:
            head.append('Proxy-Authenticate: Basic realm="cordon"')
        with contextlib.suppress(OSError):
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            sock.shutdown(socket.SHUT_WR)

    # SOCKS -----------------------------------------------------------------------------------
    def _socks5(self, client: Client) -> None:
        sock = client.sock
        _, n = _recv_exact(sock, 2)
        methods = _recv_exact(sock, n)
        user = ""
        # A refused credential is answered at the request, not at the handshake: the target comes
        # after authentication, and the log line must name it. The request is read and refused
        # (code 2, "not allowed"); nothing is dialled. RFC 1929 lets the server close on a bad
        # credential, it does not require it.
        refused = None
        if self.token is not None:
            if 2 in methods:
                sock.sendall(b"\x05\x02")
                ver, ulen = _recv_exact(sock, 2)
                uname = _recv_exact(sock, ulen)
                (plen,) = _recv_exact(sock, 1)
                password = _recv_exact(sock, plen)
                if ver == 1 and hmac.compare_digest(password, self.token.encode()):
                    user = uname.decode("utf-8", "replace")
                else:
                    refused = "wrong proxy credential"
                sock.sendall(b"\x01\x00")
            elif 0 in methods:
                sock.sendall(b"\x05\x00")
                refused = "proxy credential missing (no username/password method offered)"
            else:
                sock.sendall(b"\x05\xff")
                detail = f"no acceptable SOCKS5 authentication method offered ({methods.hex() or 'none'})"
                return self.event("socks5", "", 0, False, AUTH_REQUIRED, detail,
                                  target_unknown="the client closes before naming a target when no method is accepted")  # fmt: skip
        else:
            sock.sendall(b"\x05\x00")
        ver, cmd, _, atyp = _recv_exact(sock, 4)
        if atyp == 1:
            host = str(ipaddress.IPv4Address(_recv_exact(sock, 4)))
        elif atyp == 4:
            host = str(ipaddress.IPv6Address(_recv_exact(sock, 16)))
        elif atyp == 3:
            (ln,) = _recv_exact(sock, 1)
            host = _recv_exact(sock, ln).decode("ascii", "backslashreplace")
        else:
            self.event("socks5", "", 0, False, BAD_REQUEST, f"SOCKS5 address type {atyp} is not defined",
                       target_unknown="the request's address type is not one SOCKS5 defines")  # fmt: skip
            return _socks_reply(sock, 8)
        port = _port(sock)
        if refused is not None:
            self.event("socks5", host[:100], port, False, AUTH_REQUIRED, refused)
            return _socks_reply(sock, 2)
        self.authenticated(client)
        if cmd != 1:
            what = {2: "BIND", 3: "UDP ASSOCIATE"}.get(cmd, f"command {cmd}")
            self.event("socks5", host[:100], port, False, UNSUPPORTED, f"{what} is not supported")
            return _socks_reply(sock, 7)
        if client.refusal is not None:
            self.event("socks5", host[:100], port, False, CAPACITY, client.refusal)
            return _socks_reply(sock, 1)
        d, gen = self.decide("socks5", host, port, user=user)
        if not d.allowed:
            return _socks_reply(sock, 2)

        def reply(ok: bool, err: int | None) -> None:
            _socks_reply(sock, 0 if ok else _SOCKS_FOR_ERRNO.get(err or 0, 1))

        self.tunnel(client, d, gen, "socks5", b"", reply)

    def _socks4(self, client: Client) -> None:
        """SOCKS4/4a is refused (no authentication), but the log still names the target."""
        sock = client.sock
        _, _cmd, hi, lo, *ip = _recv_exact(sock, 8)
        port = hi << 8 | lo
        user = _recv_until_nul(sock)
        host = ".".join(map(str, ip))
        if ip[:3] == [0, 0, 0] and ip[3]:  # SOCKS4a: the name follows the user id
            host = _recv_until_nul(sock).decode("ascii", "backslashreplace")
        del user
        self.event("socks4", host[:100], port, False, UNSUPPORTED, "SOCKS4 is not supported; use SOCKS5")
        with contextlib.suppress(OSError):
            sock.sendall(b"\x00\x5b" + bytes(6))

    # tunnels -----------------------------------------------------------------------------------
    def tunnel(
        self,
        client: Client,
        d: Verdict,
        gen: int,
        proto: str,
        pending: bytes,
        reply: Callable[[bool, int | None], None],
    ) -> None:
        """Dial the judged destination, answer ``reply(ok, errno)``, check the first bytes, hand to the relay."""
        sock = client.sock
        # The HTTP side may have set kernel timeouts (http1): from here, Python's own, long ones.
        for opt in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
            sock.setsockopt(socket.SOL_SOCKET, opt, bytes(16))
        sock.settimeout(self.limits.first_bytes_timeout)
        upstream, err = self.dial(d)
        if upstream is None:
            self.event(
                proto, d.host, d.port, False, UPSTREAM_FAILED, f"could not connect: {os.strerror(err)}"
            )
            return reply(False, err)
        session = self.open_session(proto, d, upstream)
        session.sockets.append(sock)
        try:
            if not self.recheck(session, gen):
                return reply(False, None)
            reply(True, None)
            first = pending or self._first_bytes(sock, upstream)
            if not first:
                return
            first = self._inspect(sock, first, d, proto, session)
            if first is None:
                return
            upstream.sendall(first)
            if not self.recheck(session, gen):
                return
            self.hand_off(client, upstream, session)
        finally:
            if not client.handed_off:
                self.close_session(session)

    def hand_off(self, client: Client, upstream: socket.socket, session: Session) -> None:
        """Give both sockets to the relay; it closes them, ends the session and frees the slot."""
        client.handed_off = True

        def done() -> None:
            self.close_session(session)
            self._release(client)

        self.relay.add(client.sock, upstream, done)

    def _first_bytes(self, sock: socket.socket, upstream: socket.socket) -> bytes | None:
        """Wait for the client's first bytes; pass on what the server sends first meanwhile."""
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        poller.register(upstream, select.POLLIN)
        deadline = time.monotonic() + self.limits.first_bytes_timeout
        while (left := deadline - time.monotonic()) > 0:
            for fd, _ in poller.poll(left * 1000):
                if fd == sock.fileno():
                    return sock.recv(65536) or None
                data = upstream.recv(65536)
                if not data:
                    return None
                sock.sendall(data)
        return None

    def _inspect(
        self, sock: socket.socket, buf: bytes, d: Verdict, proto: str, session: Session
    ) -> bytes | None:
        """Check the client's first bytes. Returns what to forward, or None after refusing."""
        if buf[0] != 0x16:
            return buf  # not TLS: relayed opaquely to the judged, vetted destination
        try:
            while (message := clienthello.handshake_message(buf)) is None:
                more = sock.recv(65536)
                if not more:
                    return None
                buf += more
            hello = clienthello.parse(message)
        except clienthello.HelloError as e:
            return self._refuse_hello(sock, proto, d, SNI_INVALID, f"TLS ClientHello refused: {e}")
        sni = hello.server_name
        if sni is None:
            if not self.policy.sni_optional(d.host):
                detail = f"TLS ClientHello without server_name for the name {d.host}"
                return self._refuse_hello(sock, proto, d, SNI_MISSING, detail)
            return buf
        try:
            canon = canonical_host(sni)
        except HostError as e:
            return self._refuse_hello(sock, proto, d, SNI_INVALID, f"server name {sni[:100]!r}: {e}")
        if canon != d.host and not self.policy.judge(canon, d.port).allowed:
            detail = f"SNI {canon} is not {d.host} and not allowed"
            allow = f"--allow-domain {format_authority(canon, d.port)}"
            return self._refuse_hello(sock, proto, d, SNI_MISMATCH, detail, allow_with=allow)
        session.sni = canon
        return buf

    def _refuse_hello(
        self,
        sock: socket.socket,
        proto: str,
        d: Verdict,
        reason: str,
        detail: str,
        allow_with: str | None = None,
    ) -> None:
        """Log the refusal and answer with a TLS access_denied alert; the upstream never sees the hello."""
        self.event(proto, d.host, d.port, False, reason, detail, allow_with=allow_with)
        with contextlib.suppress(OSError):
            sock.sendall(_TLS_ACCESS_DENIED)
        return None

    # shared helpers ------------------------------------------------------------------------------
    def decide(self, proto: str, host: str, port: int, **extra) -> tuple[Verdict, int]:
        gen = self._generation
        d = self.policy.decide(host, port)
        self.log_decision(proto, d, **extra)
        return d, gen

    def log_decision(self, proto: str, d: Verdict, **extra) -> None:
        address = d.addresses[0] if d.addresses else d.refused_address
        self.event(
            proto,
            d.host,
            d.port,
            d.allowed,
            d.reason,
            d.detail,
            address=str(address) if address else None,
            allow_with=allow_with(d),
            # A pattern declared by a .rules network_rule: the rule names where.
            rule=f"{d.detail} (network_rule at {d.origin})" if d.origin else None,
            origin=d.origin or None,
            **extra,
        )

    def recheck(self, session: Session, gen: int) -> bool:
        """A policy update may have landed between the decision and now: judge again if so."""
        if gen == self._generation:
            return True
        v = self.policy.still_allowed(session.host, session.port, session.address, session.sni)
        if not v.allowed:
            session.cut()
            self.event(
                session.proto,
                session.host,
                session.port,
                False,
                v.reason,
                "revoked: " + (v.detail or v.reason),
            )
        return v.allowed

    @property
    def generation(self) -> int:
        return self._generation

    def dial(self, d: Verdict) -> tuple[socket.socket | None, int]:
        """Connect to the first vetted address that answers: (socket, 0) or (None, errno)."""
        err = errno.EHOSTUNREACH
        for addr in d.addresses:
            try:
                s = socket.create_connection((str(addr), d.port), timeout=self.limits.dial_timeout)
            except TimeoutError:
                err = errno.ETIMEDOUT
                continue
            except OSError as e:
                err = e.errno or errno.EHOSTUNREACH
                continue
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.settimeout(None)
            return s, 0
        return None, err

    def open_session(self, proto: str, d: Verdict, upstream: socket.socket | None) -> Session:
        s = Session(proto, d.host, d.port)
        if upstream is not None:
            s.sockets.append(upstream)
            s.address = peer_ip(upstream)
        with self._lock:
            self._sessions.add(s)
        return s

    def close_session(self, s: Session) -> None:
        with self._lock:
            self._sessions.discard(s)
        for sock in s.sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def event(
        self,
        proto: str,
        host: str,
        port: int,
        allowed: bool,
        reason: str,
        detail: str = "",
        *,
        rule: str | None = None,
        target_unknown: str | None = None,
        **extra,
    ) -> None:
        """One structured decision line: time, proto, host, port, verdict, reason, rule (+ detail, ...).

        A line without a host has ``host`` and ``port`` null and says in ``target_unknown`` why no
        target could be named (a connection closed before its request was read, a request line
        that does not parse...).
        """
        if rule is None:
            rule = detail if reason in (ALLOWED, DENY_LISTED) else _RULES.get(reason, reason)
        ev = {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "proto": proto,
            "host": host or None,
            "port": (port or None) if host else None,
            "verdict": "allow" if allowed else "deny",
            "reason": reason,
            "rule": rule,
        }
        if not host:
            ev["target_unknown"] = target_unknown or "the client did not name a target"
        if detail:
            ev["detail"] = detail
        ev.update({k: v for k, v in extra.items() if v not in (None, "")})
        with self._log_lock:
            self.counts[ev["verdict"]] += 1
            if not allowed:
                self.denials.append(ev)
            if self._log is not None:
                self._log.write(json.dumps(ev, separators=(",", ":")) + "\n")
        if self.on_event is not None:
            with contextlib.suppress(Exception):
                self.on_event(ev)

    def _quiet_event(self, reason: str, detail: str, target_unknown: str = _CLOSED_UNREAD) -> None:
        """Log at most one line a second per ``detail`` (a flood must not flood the log too)."""
        now = time.monotonic()
        with self._lock:
            slot = self._quiet.setdefault(detail, [0.0, 0])
            if now - slot[0] < 1.0:
                slot[1] += 1
                return
            suppressed, slot[0], slot[1] = slot[1], now, 0
        extra = {"suppressed": suppressed or None, "target_unknown": target_unknown}
        self.event("proxy", "", 0, False, reason, detail, **extra)


# -- small socket helpers ----------------------------------------------------------------------------
def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _recv_until_nul(sock: socket.socket, limit: int = 256) -> bytes:
    out = b""
    while len(out) < limit:
        c = _recv_exact(sock, 1)
        if c == b"\x00":
            return out
        out += c
    raise ValueError("SOCKS4 field too long")


def _port(sock: socket.socket) -> int:
    hi, lo = _recv_exact(sock, 2)
    return hi << 8 | lo


def _socks_reply(sock: socket.socket, code: int) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))


def _same_user(conn: socket.socket) -> bool:
    """Only processes of our own uid (or root) may hand connections to the proxy."""
    import struct

    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return True  # no peer credentials here; the socket's directory (0700) guards it
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    except OSError:
        return False
    _, uid, _ = struct.unpack("3i", creds)
    return uid in (os.geteuid(), 0)
