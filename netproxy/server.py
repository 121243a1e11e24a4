"""The proxy: HTTP (absolute- and origin-form), CONNECT and SOCKS5 on one port, judged by ``NetPolicy``.

h11 parses HTTP/1.1 request heads (strict, sans-IO); ``clienthello`` is our own reader
of the TLS server_name; this module does the decisions and moves the bytes itself. Each
connection gets a thread; once the destination is decided the two sockets are joined with
``os.splice`` (kernel to kernel, no per-byte Python work).

Tunnels (CONNECT, SOCKS5) are dialled lazily: the proxy answers "established", waits up
to ``FIRST_BYTES_WAIT`` for the client's first bytes, and when they are a TLS ClientHello
requires its SNI to equal the target host or be allowed itself *before* connecting
upstream, so a refused hello never reaches the upstream. A malformed server_name (a port,
several names, a non-host-name entry) is refused, never taken for "no SNI"; a hello without
server_name passes only where ``NetPolicy.sni_optional`` says so (an IP-literal target). Non-TLS bytes are relayed
opaquely to the judged destination (ssh, plain protocols). If the client stays silent
(server-speaks-first protocols) the proxy dials after the wait and still inspects the
first bytes the client sends before forwarding them.
"""

from __future__ import annotations

import array
import base64
import collections
import contextlib
import datetime
import hmac
import ipaddress
import json
import os
import re
import socket
import threading
from collections.abc import Callable

from cordon.netproxy import clienthello
from cordon.netproxy.hosts import HostError, canonical_host, format_authority, split_authority
from cordon.netproxy.policy import (
    AUTH_REQUIRED,
    BAD_REQUEST,
    HOST_MISMATCH,
    SNI_INVALID,
    SNI_MISMATCH,
    SNI_MISSING,
    UNSUPPORTED,
    UPSTREAM_FAILED,
    Decision,
    NetPolicy,
)

HANDSHAKE_TIMEOUT = 30.0
FIRST_BYTES_WAIT = 0.5
DIAL_TIMEOUT = 10.0
MAX_HEAD = 64 * 1024
_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031
_HAVE_SPLICE = hasattr(os, "splice") and hasattr(os, "pipe2")
_TLS_ACCESS_DENIED = b"\x15\x03\x03\x00\x02\x02\x31"

_REQUEST_LINE = re.compile(rb"^([A-Z]{1,20}) (\S{1,16384}) HTTP/1\.([01])$")
_STATUS = {
    400: "Bad Request",
    403: "Forbidden",
    407: "Proxy Authentication Required",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
}
_HOP_BY_HOP = {
    b"proxy-authorization",
    b"proxy-connection",
    b"connection",
    b"keep-alive",
    b"te",
    b"trailer",
    b"upgrade",
}


def _status_for(reason: str) -> int:
    if reason in (BAD_REQUEST, HOST_MISMATCH, UNSUPPORTED):
        return 400
    if reason == AUTH_REQUIRED:
        return 407
    if reason in (UPSTREAM_FAILED, "resolve-failed"):
        return 502
    return 403


def _request_head(head: bytes):
    """The ``h11.Request`` in ``head`` (a complete head); ``ValueError`` saying why not."""
    import h11

    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    conn.receive_data(head)
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError as e:
        raise ValueError(f"malformed request: {e}") from None
    if not isinstance(event, h11.Request):
        raise ValueError("malformed request head")
    return event


def _header_values(req, name: bytes) -> list[str]:
    return [v.decode("latin-1") for n, v in req.headers if n == name]


class _Session:
    """One client connection the proxy may have to cut when the policy changes."""

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


class ProxyServer:
    """A running proxy. Listeners: TCP (``listen_tcp``) and fd hand-off from the in-sandbox forwarder."""

    def __init__(
        self,
        policy: NetPolicy,
        *,
        token: str | None = None,
        log_path: str | os.PathLike | None = None,
        on_event: Callable[[dict], None] | None = None,
    ):
        self.policy = policy
        self.token = token
        self.on_event = on_event
        self.denials: collections.deque[dict] = collections.deque(maxlen=200)
        self.counts = {"allow": 0, "deny": 0}
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._sessions: set[_Session] = set()
        self._listeners: list[socket.socket] = []
        self._closed = False
        self._generation = 0
        self._log = open(log_path, "a", buffering=1, encoding="utf-8") if log_path else None  # noqa: SIM115

    # -- lifecycle -------------------------------------------------------------------------
    def listen_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on a TCP address; returns the bound (host, port)."""
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(256)
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
                self._event(s.proto, s.host, s.port, False, v.reason, "revoked: " + (v.detail or v.reason))
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
        if self._log:
            with self._log_lock:
                self._log.close()
                self._log = None

    # -- accept paths ----------------------------------------------------------------------
    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._closed:
            try:
                conn, _ = listener.accept()
            except OSError:
                if self._closed:
                    return
                continue
            self._spawn(conn)

    def _handoff_loop(self, listener: socket.socket) -> None:
        while not self._closed:
            try:
                conn, _ = listener.accept()
            except OSError:
                if self._closed:
                    return
                continue
            if not _same_user(conn):
                conn.close()
                continue
            self._listeners.append(conn)
            threading.Thread(target=self._receive_fds, args=(conn,), daemon=True).start()

    def _receive_fds(self, conn: socket.socket) -> None:
        with conn:
            while not self._closed:
                try:
                    msg, anc, _, _ = conn.recvmsg(64, socket.CMSG_SPACE(64 * 4))
                except OSError:
                    return
                if not msg and not anc:
                    return
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
                        self._spawn(s)

    def _spawn(self, conn: socket.socket) -> None:
        threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    # -- per connection --------------------------------------------------------------------
    def _handle(self, client: socket.socket) -> None:
        try:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.settimeout(HANDSHAKE_TIMEOUT)
            first = client.recv(1, socket.MSG_PEEK)
            if first == b"\x05":
                self._socks5(client)
            elif first == b"\x04":
                self._event("socks4", "", 0, False, UNSUPPORTED, "SOCKS4 is not supported; use SOCKS5")
            elif first:
                self._http(client)
        except (OSError, ValueError, EOFError):
            pass  # the client went away or sent garbage mid-handshake
        except Exception as e:  # a bug must not print into the sandboxed command's stderr
            self._event("internal", "", 0, False, "internal-error", f"{type(e).__name__}: {e}"[:200])
        finally:
            with contextlib.suppress(OSError):
                client.close()

    # HTTP ------------------------------------------------------------------------------------
    def _http(self, client: socket.socket) -> None:
        try:
            head, rest = _read_head(client)
        except _HeadTooLarge:
            return self._refuse_http(client, "http", "", 0, BAD_REQUEST, "request head too large", status=431)
        except EOFError:
            return None
        lines = re.split(rb"\r?\n", head.rstrip(b"\r\n"))
        m = _REQUEST_LINE.match(lines[0])
        if not m:
            return self._refuse_http(
                client, "http", "", 0, BAD_REQUEST, "malformed request line (HTTP/1.x only)"
            )
        method, target = m.group(1).decode(), m.group(2).decode("ascii", "replace")
        try:
            req = _request_head(head)
        except ValueError as e:
            return self._refuse_http(client, "http", "", 0, BAD_REQUEST, str(e)[:200])
        user = self._check_auth(_header_values(req, b"proxy-authorization"))
        if user is None:
            return self._refuse_http(
                client, "http", "", 0, AUTH_REQUIRED, "proxy credential missing or wrong"
            )
        hosts = _header_values(req, b"host")
        if len(hosts) > 1:
            return self._refuse_http(client, "http", "", 0, BAD_REQUEST, "more than one Host header")
        if method == "CONNECT":
            return self._connect(client, target, rest, user)
        try:
            if target.startswith("/"):
                if not hosts:
                    raise HostError("origin-form request without Host")
                host, port = split_authority(hosts[0], 80)
                path = target
            else:
                scheme, sep, remainder = target.partition("://")
                if not sep or scheme.lower() not in ("http", "ws"):
                    return self._refuse_http(
                        client, "http", "", 0, UNSUPPORTED, "only http:// targets; use CONNECT for TLS"
                    )
                authority, slash, path = remainder.partition("/")
                authority, _, _ = authority.partition("?")
                path = "/" + path if slash else "/"
                host, port = split_authority(authority, 80)
                if hosts and split_authority(hosts[0], 80) != (host, port):
                    return self._refuse_http(
                        client, "http", host, port, HOST_MISMATCH, f"Host {hosts[0][:100]!r} != target"
                    )
        except HostError as e:
            return self._refuse_http(client, "http", "", 0, BAD_REQUEST, str(e))
        d, gen = self._decide("http", host, port, method=method, user=user)
        if not d.allowed:
            return self._refuse_http(client, "http", host, port, d.reason, d.detail, logged=True)
        upstream = self._dial(d)
        if upstream is None:
            return self._refuse_http(client, "http", host, port, UPSTREAM_FAILED, "could not connect")
        session = self._open_session("http", d, upstream)
        session.sockets.append(client)
        try:
            if not self._recheck(session, gen):
                return
            conn_tokens = {
                t.strip().lower() for v in _header_values(req, b"connection") for t in v.split(",")
            }
            conn_tokens.discard("host")  # "Connection: host" must not drop the judged Host header
            upgrades = _header_values(req, b"upgrade")
            upgrade = "upgrade" in conn_tokens and bool(upgrades)
            out = [f"{method} {path} HTTP/1.{m.group(3).decode()}".encode()]
            for name, value in req.headers.raw_items():
                if name.lower() in _HOP_BY_HOP or name.lower().decode() in conn_tokens:
                    continue
                out.append(name + b": " + value)
            if not hosts:
                out.append(b"Host: " + format_authority(host, port).encode())
            if upgrade:
                out.append(b"Connection: Upgrade")
                out.append(b"Upgrade: " + upgrades[0].encode("latin-1"))
            else:
                out.append(b"Connection: close")
            upstream.sendall(b"\r\n".join(out) + b"\r\n\r\n" + rest)
            client.settimeout(None)
            upstream.settimeout(None)
            pump = threading.Thread(target=_pump, args=(client, upstream), daemon=True)
            pump.start()
            if not upgrade:
                _relay_response_head(upstream, client)
            _pump(upstream, client)
            if not upgrade:
                # One request per client connection: the upstream closed after its response.
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
            pump.join()
        finally:
            self._close_session(session)

    def _connect(self, client: socket.socket, target: str, rest: bytes, user: str) -> None:
        try:
            host, port = split_authority(target)
        except HostError as e:
            return self._refuse_http(client, "connect", target[:100], 0, BAD_REQUEST, str(e))
        d, gen = self._decide("connect", host, port, user=user)
        if not d.allowed:
            return self._refuse_http(client, "connect", host, port, d.reason, d.detail, logged=True)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._tunnel(client, d, gen, "connect", rest)

    def _refuse_http(
        self,
        client: socket.socket,
        proto: str,
        host: str,
        port: int,
        reason: str,
        detail: str,
        *,
        status: int | None = None,
        logged: bool = False,
    ) -> None:
        if not logged:
            self._event(proto, host, port, False, reason, detail)
        status = status or _status_for(reason)
        body = json.dumps({"error": reason, "host": host, "port": port, "detail": detail}).encode() + b"\n"
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
            client.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            client.shutdown(socket.SHUT_WR)

    def _check_auth(self, values: list[str]) -> str | None:
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

    # SOCKS5 ----------------------------------------------------------------------------------
    def _socks5(self, client: socket.socket) -> None:
        _, n = _recv_exact(client, 2)
        methods = _recv_exact(client, n)
        user = ""
        if self.token is not None:
            if 2 not in methods:
                client.sendall(b"\x05\xff")
                return self._event(
                    "socks5", "", 0, False, AUTH_REQUIRED, "no username/password method offered"
                )
            client.sendall(b"\x05\x02")
            ver, ulen = _recv_exact(client, 2)
            uname = _recv_exact(client, ulen)
            (plen,) = _recv_exact(client, 1)
            password = _recv_exact(client, plen)
            if ver != 1 or not hmac.compare_digest(password, self.token.encode()):
                client.sendall(b"\x01\x01")
                return self._event("socks5", "", 0, False, AUTH_REQUIRED, "wrong proxy credential")
            client.sendall(b"\x01\x00")
            user = uname.decode("utf-8", "replace")
        else:
            client.sendall(b"\x05\x00")
        ver, cmd, _, atyp = _recv_exact(client, 4)
        if atyp == 1:
            host = str(ipaddress.IPv4Address(_recv_exact(client, 4)))
        elif atyp == 4:
            host = str(ipaddress.IPv6Address(_recv_exact(client, 16)))
        elif atyp == 3:
            (ln,) = _recv_exact(client, 1)
            host = _recv_exact(client, ln).decode("ascii", "replace")
        else:
            return _socks_reply(client, 8)
        port = _port(client)
        if cmd != 1:
            what = {2: "BIND", 3: "UDP ASSOCIATE"}.get(cmd, f"command {cmd}")
            self._event("socks5", host[:100], port, False, UNSUPPORTED, f"{what} is not supported")
            return _socks_reply(client, 7)
        d, gen = self._decide("socks5", host, port, user=user)
        if not d.allowed:
            return _socks_reply(client, 2)
        _socks_reply(client, 0)
        self._tunnel(client, d, gen, "socks5", b"")

    # tunnels -----------------------------------------------------------------------------------
    def _tunnel(self, client: socket.socket, d: Decision, gen: int, proto: str, pending: bytes) -> None:
        session = self._open_session(proto, d, None)
        session.sockets.append(client)
        try:
            first = pending
            if not first:
                client.settimeout(FIRST_BYTES_WAIT)
                try:
                    first = client.recv(65536)
                    if not first:
                        return
                except TimeoutError:
                    first = b""
            client.settimeout(HANDSHAKE_TIMEOUT)
            if first:
                first = self._inspect(client, first, d, proto, session)
                if first is None:
                    return
            upstream = self._dial(d)
            if upstream is None:
                self._event(proto, d.host, d.port, False, UPSTREAM_FAILED, "could not connect")
                return
            session.sockets.append(upstream)
            session.address = d.addresses[0] if len(d.addresses) == 1 else _peer_ip(upstream)
            if not self._recheck(session, gen):
                return
            upstream.settimeout(None)
            if not first:
                # Server speaks first: relay its bytes, still inspect the client's first ones.
                down = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
                down.start()
                client.settimeout(None)
                first = client.recv(65536)
                if first:
                    client.settimeout(HANDSHAKE_TIMEOUT)
                    first = self._inspect(client, first, d, proto, session)
                if not first:
                    session.cut()
                    down.join()
                    return
                upstream.sendall(first)
                client.settimeout(None)
                _pump(client, upstream)
                down.join()
                return
            upstream.sendall(first)
            client.settimeout(None)
            up = threading.Thread(target=_pump, args=(client, upstream), daemon=True)
            up.start()
            _pump(upstream, client)
            up.join()
        finally:
            self._close_session(session)

    def _inspect(
        self, client: socket.socket, buf: bytes, d: Decision, proto: str, session: _Session
    ) -> bytes | None:
        """Check the client's first bytes. Returns what to forward, or None after refusing."""
        if buf[0] != 0x16:
            return buf  # not TLS: relayed opaquely to the judged, vetted destination
        try:
            while (message := clienthello.handshake_message(buf)) is None:
                more = client.recv(65536)
                if not more:
                    return None
                buf += more
            hello = clienthello.parse(message)
        except clienthello.HelloError as e:
            return self._refuse_hello(client, proto, d, SNI_INVALID, f"TLS ClientHello refused: {e}")
        sni = hello.server_name
        if sni is None:
            if not self.policy.sni_optional(d.host):
                return self._refuse_hello(
                    client,
                    proto,
                    d,
                    SNI_MISSING,
                    f"TLS ClientHello without server_name for the name {d.host}",
                )
            return buf
        try:
            canon = canonical_host(sni)
        except HostError as e:
            return self._refuse_hello(client, proto, d, SNI_INVALID, f"server name {sni[:100]!r}: {e}")
        if canon != d.host and not self.policy.judge(canon, d.port).allowed:
            return self._refuse_hello(
                client, proto, d, SNI_MISMATCH, f"SNI {canon} is not {d.host} and not allowed"
            )
        session.sni = canon
        return buf

    def _refuse_hello(self, client: socket.socket, proto: str, d: Decision, reason: str, detail: str) -> None:
        """Log the refusal and answer with a TLS access_denied alert; the upstream never sees the hello."""
        self._event(proto, d.host, d.port, False, reason, detail)
        with contextlib.suppress(OSError):
            client.sendall(_TLS_ACCESS_DENIED)
        return None

    # shared helpers ------------------------------------------------------------------------------
    def _decide(self, proto: str, host: str, port: int, **extra) -> tuple[Decision, int]:
        gen = self._generation
        d = self.policy.decide(host, port)
        self._event(
            proto,
            d.host,
            port,
            d.allowed,
            d.reason,
            d.detail,
            address=str(d.addresses[0]) if d.addresses else None,
            **extra,
        )
        return d, gen

    def _recheck(self, session: _Session, gen: int) -> bool:
        """A policy update may have landed between the decision and now: judge again if so."""
        if gen == self._generation:
            return True
        v = self.policy.still_allowed(session.host, session.port, session.address, session.sni)
        if not v.allowed:
            session.cut()
            self._event(
                session.proto,
                session.host,
                session.port,
                False,
                v.reason,
                "revoked: " + (v.detail or v.reason),
            )
        return v.allowed

    def _dial(self, d: Decision) -> socket.socket | None:
        for addr in d.addresses:
            try:
                s = socket.create_connection((str(addr), d.port), timeout=DIAL_TIMEOUT)
            except OSError:
                continue
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        return None

    def _open_session(self, proto: str, d: Decision, upstream: socket.socket | None) -> _Session:
        s = _Session(proto, d.host, d.port)
        if upstream is not None:
            s.sockets.append(upstream)
            s.address = _peer_ip(upstream)
        with self._lock:
            self._sessions.add(s)
        return s

    def _close_session(self, s: _Session) -> None:
        with self._lock:
            self._sessions.discard(s)
        for sock in s.sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _event(
        self, proto: str, host: str, port: int, allowed: bool, reason: str, detail: str = "", **extra
    ) -> None:
        ev = {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "proto": proto,
            "host": host,
            "port": port,
            "verdict": "allow" if allowed else "deny",
            "reason": reason,
        }
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


# -- byte moving -------------------------------------------------------------------------------------
def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Move bytes src -> dst until EOF with splice(2) (Linux; a copy loop elsewhere); then half-close dst."""
    if not _HAVE_SPLICE:
        return _copy(src, dst)
    try:
        r, w = os.pipe2(os.O_CLOEXEC)
    except OSError:
        return _copy(src, dst)
    try:
        with contextlib.suppress(OSError):
            import fcntl

            fcntl.fcntl(w, _F_SETPIPE_SZ, _PIPE_SIZE)
        sfd, dfd = src.fileno(), dst.fileno()
        while True:
            n = os.splice(sfd, w, _PIPE_SIZE, flags=os.SPLICE_F_MOVE)
            if n == 0:
                break
            while n:
                n -= os.splice(r, dfd, n, flags=os.SPLICE_F_MOVE)
    except OSError:
        pass
    finally:
        os.close(r)
        os.close(w)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _copy(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(1 << 16):
            dst.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


def _relay_response_head(upstream: socket.socket, client: socket.socket) -> None:
    """Forward the response head, marking a final response ``Connection: close``."""
    try:
        head, rest = _read_head(upstream)
    except (_HeadTooLarge, EOFError, OSError):
        return
    lines = re.split(rb"\r?\n", head.rstrip(b"\r\n"))
    parts = lines[0].split(b" ", 2)
    if len(parts) >= 2 and parts[1][:1] != b"1":
        lines = [ln for ln in lines if not ln.lower().startswith((b"connection:", b"keep-alive:"))]
        lines.append(b"Connection: close")
        head = b"\r\n".join(lines) + b"\r\n\r\n"
    client.sendall(head + rest)


class _HeadTooLarge(Exception):
    pass


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    buf = b""
    while True:
        i = buf.find(b"\r\n\r\n")
        end = i + 4 if i >= 0 else -1
        if end < 0:
            j = buf.find(b"\n\n")
            end = j + 2 if j >= 0 else -1
        if end > MAX_HEAD or (end < 0 and len(buf) > MAX_HEAD):
            raise _HeadTooLarge
        if end >= 0:
            return buf[:end], buf[end:]
        if len(buf) > MAX_HEAD:
            raise _HeadTooLarge
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError
        buf += chunk


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _port(sock: socket.socket) -> int:
    hi, lo = _recv_exact(sock, 2)
    return hi << 8 | lo


def _socks_reply(sock: socket.socket, code: int) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))


def _peer_ip(s: socket.socket):
    try:
        return ipaddress.ip_address(s.getpeername()[0].split("%")[0])
    except (OSError, ValueError):
        return None


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
