"""The HTTP side of the proxy: persistent client connections, every request judged, strict framing.

h11 parses what the client sends (``SERVER`` role) and what the upstream answers
(``CLIENT`` role); the proxy re-serialises both, so the upstream only ever sees one request
at a time, framed the way the proxy understood it. That closes the smuggling routes a
byte relay leaves open:

* ``Content-Length`` with ``Transfer-Encoding``, several lengths, an unknown coding or any
  other head h11 will not parse: 400, connection closed.
* Pipelined requests stay in h11's buffer until the current response is done; each is
  then judged like the first (keep-alive is the normal case, not a bypass).
* ``Connection: Upgrade`` is forwarded only for ``websocket``; raw bytes are relayed only
  after the upstream really answered ``101 Switching Protocols``. An ordinary response to
  an upgrade request leaves the connection in HTTP, judged request by request.
* A request body is forwarded exactly as framed; nothing after it is passed on unparsed.

The upstream connection is kept for the next request to the same host and port (the
address it was dialled at is re-vetted against the current policy each time, no new DNS
lookup). CONNECT ends the HTTP part: the connection becomes a tunnel (``ProxyServer.tunnel``).
"""

from __future__ import annotations

import contextlib
import functools
import re
import select
import socket
import struct
import time

import h11
from cordon.netproxy.hosts import HostError, format_authority, split_authority
from cordon.netproxy.policy import (
    AUTH_REQUIRED,
    BAD_REQUEST,
    CAPACITY,
    HOST_MISMATCH,
    TIMEOUT,
    UNSUPPORTED,
    UPSTREAM_FAILED,
)
from cordon.netproxy.session import MAX_HEAD, Client, Handlers, Session, allow_with, peer_ip

# Hop-by-hop: meaningful for one connection only, never forwarded (RFC 9110 7.6.1).
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authorization", b"proxy-authenticate", b"proxy-connection",
     b"te", b"trailer", b"upgrade"}
)  # fmt: skip
_UPGRADES = frozenset({b"websocket"})  # protocols a client may switch to after a real 101
_RECV = 65536
_PEEK_NOWAIT = int(socket.MSG_PEEK | socket.MSG_DONTWAIT)
_METHOD = re.compile(rb"^[A-Z][A-Z-]{0,19}$")  # methods are case-sensitive; "get" is not GET
# A keep-alive client names the same authority in every request (twice: target and Host):
# its canonical form is computed once. Pure function; errors are not cached.
_authority = functools.lru_cache(maxsize=256)(split_authority)


class _Upstream:
    __slots__ = ("conn", "decision", "generation", "host", "port", "sock")

    def __init__(self, sock: socket.socket, host: str, port: int, decision, generation: int):
        self.sock, self.host, self.port = sock, host, port
        self.conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        # The verdict this connection was dialled under, valid while the policy generation
        # is unchanged (an update re-judges it: ``ProxyServer.update`` cuts what lost permission).
        self.decision, self.generation = decision, generation


class _Close(Exception):
    """End this client connection (the response, if any, has been sent)."""


def serve_http(server: Handlers, client: Client) -> None:
    """Serve requests on ``client`` until it closes, times out, is refused or becomes a tunnel."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    # Kernel-bounded blocking I/O instead of Python socket timeouts (which poll before every
    # recv): reads wake at least every ``tick`` seconds to check the deadlines; a client that
    # stops reading makes a send fail after the idle timeout.
    lim = server.limits
    tick = max(0.05, min(1.0, lim.head_timeout / 4, lim.idle_timeout / 4))
    client.sock.settimeout(None)
    _kernel_timeouts(client.sock, tick, lim.idle_timeout)
    exchange = _Exchange(server, client, conn)
    try:
        while exchange.next_request():
            if client.handed_off:
                return
            if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                conn.start_next_cycle()
            else:
                return
    except _Close:
        return
    except h11.ProtocolError:
        return  # the upstream or client broke HTTP mid-response: nothing sane left to say
    finally:
        exchange.close()


class _Exchange:
    def __init__(self, server: Handlers, client: Client, conn: h11.Connection):
        self.server, self.client, self.conn = server, client, conn
        self.sock = client.sock
        self.up: _Upstream | None = None
        self.session: Session | None = None
        self.first = True
        self.auth_cache: tuple[list[bytes], str] = ([], "")

    def close(self) -> None:
        if self.client.handed_off:
            return
        if self.session is not None:
            self.server.close_session(self.session)
            self.session = None
        self._drop_upstream()

    def _drop_upstream(self) -> None:
        if self.up is not None:
            with contextlib.suppress(OSError):
                self.up.sock.close()
            if self.session is not None and self.up.sock in self.session.sockets:
                self.session.sockets.remove(self.up.sock)
            self.up = None

    # -- reading the request -------------------------------------------------------------------
    def _read_request(self) -> tuple[h11.Request, bytes] | None:
        """The next request head (and the raw bytes it came in, for error reports), or None at the end."""
        lim = self.server.limits
        # A connection being refused for capacity gets a short wait: it holds a refusal slot.
        head_timeout = lim.head_timeout if self.client.refusal is None else min(lim.head_timeout, 2.0)
        idle = head_timeout if self.first else lim.idle_timeout
        start = time.monotonic()
        buffered, closed = self.conn.trailing_data
        head_deadline = start + head_timeout if buffered else None
        raw = buffered[:4096]
        received = len(buffered)
        parse = bool(buffered) or closed  # else h11 can only say NEED_DATA: read first
        while True:
            try:
                event = self.conn.next_event() if parse else h11.NEED_DATA
                parse = True
            except h11.RemoteProtocolError as e:
                status = 431 if e.error_status_hint == 431 or received > MAX_HEAD else 400
                host, port = _target_of(raw)
                self.server.refuse_http(self.sock, "http", host, port, BAD_REQUEST, f"malformed request: {e}"[:200],
                                        status=status)  # fmt: skip
                return None
            if isinstance(event, h11.Request):
                return event, raw
            if event is not h11.NEED_DATA:
                return None  # ConnectionClosed, or PAUSED after an early close
            now = time.monotonic()
            deadline = head_deadline if head_deadline is not None else start + idle
            if now >= deadline:
                if head_deadline is not None:
                    host, port = _target_of(raw)
                    self.server.refuse_http(
                        self.sock, "http", host, port, TIMEOUT,
                        f"the request head did not arrive within {head_timeout:g} s",
                    )  # fmt: skip
                return None
            try:
                data = self.sock.recv(_RECV)  # returns at least every ``tick`` s (SO_RCVTIMEO)
            except (BlockingIOError, TimeoutError):
                continue
            if data and head_deadline is None:
                head_deadline = time.monotonic() + head_timeout
            received += len(data)
            if len(raw) < 4096:
                raw += data[: 4096 - len(raw)]
            self.conn.receive_data(data)

    # -- one request -------------------------------------------------------------------------------
    def next_request(self) -> bool:
        """Serve one request; False when the connection is finished."""
        got = self._read_request()
        if got is None:
            return False
        req, raw = got
        self.first = False
        server, sock = self.server, self.sock
        method = req.method.decode("ascii", "replace")
        if not _METHOD.match(req.method):
            host, port = _target_of(raw)
            server.refuse_http(
                sock, "http", host, port, BAD_REQUEST, f"method {method[:20]!r} is not an HTTP method"
            )
            return False
        target = req.target.decode("ascii", "replace")
        values = _values(req.headers)
        connect = method == "CONNECT"
        try:
            if connect:
                host, port = _authority(target)
                path = ""
            elif target.startswith("/"):
                if not values.get(b"host"):
                    raise HostError("origin-form request without Host")
                host, port = _authority(values[b"host"][0].decode("latin-1"), 80)
                path = target
            else:
                scheme, sep, rest = target.partition("://")
                if not sep or scheme.lower() not in ("http", "ws"):
                    host, port = _target_of(raw)
                    server.refuse_http(
                        sock, "http", host, port, UNSUPPORTED, "only http:// targets; use CONNECT for TLS"
                    )
                    return False
                authority, slash, path = rest.partition("/")
                authority, _, query = authority.partition("?")
                path = "/" + path if slash else ("/?" + query if query else "/")
                host, port = _authority(authority, 80)
        except HostError as e:
            host, port = _target_of(raw)
            server.refuse_http(sock, "connect" if connect else "http", host, port, BAD_REQUEST, str(e))
            return False
        proto = "connect" if connect else "http"
        credentials = values.get(b"proxy-authorization", [])
        if credentials and credentials == self.auth_cache[0]:
            user = self.auth_cache[1]  # the same credential as the previous request on this connection
        else:
            user = server.check_auth([v.decode("latin-1") for v in credentials])
            if user is not None:
                self.auth_cache = (credentials, user)
        if user is None:
            server.refuse_http(sock, proto, host, port, AUTH_REQUIRED, "proxy credential missing or wrong")
            return False
        framing = _framing_problem(values, connect)
        if framing:
            server.refuse_http(sock, proto, host, port, BAD_REQUEST, framing)
            return False
        hosts = values.get(b"host", [])
        if not connect and hosts and not target.startswith("/"):
            try:
                same = _authority(hosts[0].decode("latin-1"), 80) == (host, port)
            except HostError:
                same = False
            if not same:
                shown = hosts[0][:100].decode("latin-1")
                server.refuse_http(sock, proto, host, port, HOST_MISMATCH, f"Host {shown!r} != target")
                return False
        server.authenticated(self.client)
        if self.client.refusal is not None:
            server.refuse_http(sock, proto, host, port, CAPACITY, self.client.refusal)
            return False
        if connect:
            self._connect(host, port, user)
            return False
        return self._forward(req, values, method, host, port, path, user)

    def _connect(self, host: str, port: int, user: str) -> None:
        server, sock = self.server, self.sock
        self._drop_upstream()
        d, gen = server.decide("connect", host, port, user=user)
        if not d.allowed:
            server.refuse_http(sock, "connect", host, port, d.reason, d.detail, logged=True,
                               allow_with=allow_with(d))  # fmt: skip
            return
        pending = self.conn.trailing_data[0]  # what the client sent after the CONNECT head

        def reply(ok: bool, err: int | None) -> None:
            if ok:
                sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                detail = "could not connect" + (f": {_strerror(err)}" if err else "")
                server.refuse_http(sock, "connect", host, port, UPSTREAM_FAILED, detail, logged=True)

        if self.session is not None:
            server.close_session(self.session)
            self.session = None
        server.tunnel(self.client, d, gen, "connect", pending, reply)

    def _forward(
        self, req: h11.Request, values: dict, method: str, host: str, port: int, path: str, user: str
    ) -> bool:
        server, sock = self.server, self.sock
        up = self.up
        reused = False
        if (
            up is not None
            and (up.host, up.port) == (host, port)
            and self.session is not None
            and _idle_and_open(up.sock)
        ):
            reused = True
            generation = server.generation
            if up.generation == generation:
                d = up.decision
            else:  # the policy changed since this connection was judged: judge it again
                d = server.policy.still_allowed(host, port, self.session.address, None)
                if d.allowed and not d.addresses and self.session.address is not None:
                    d = _with_address(d, self.session.address)
                up.decision, up.generation = d, generation
                if not d.allowed:
                    server.log_decision("http", d, method=method, user=user)
        else:
            d, generation = server.decide("http", host, port, method=method, user=user)
            up = None
        if not d.allowed:
            server.refuse_http(
                sock, "http", host, port, d.reason, d.detail, logged=True, allow_with=allow_with(d)
            )
            return False
        if up is None:
            self._drop_upstream()
            upstream, err = server.dial(d)
            if upstream is None:
                server.refuse_http(
                    sock, "http", host, port, UPSTREAM_FAILED, f"could not connect: {_strerror(err)}"
                )
                return False
            address = peer_ip(upstream)
            if address is not None:
                d = _with_address(d, address)  # what later requests on it log
            up = self.up = _Upstream(upstream, host, port, d, generation)
            idle = server.limits.idle_timeout
            _kernel_timeouts(upstream, idle, idle)  # reads block in recv itself (see _exchange)
            if self.session is None:
                self.session = server.open_session("http", d, upstream)
                self.session.sockets.append(sock)
            else:
                self.session.sockets.append(upstream)
            self.session.host, self.session.port, self.session.address = host, port, address
        upgrade = _wanted_upgrade(values)
        # ``_parsed=True`` (h11's flag for events built from parsed input): these headers came out of
        # h11's parser, so its per-header re-validation is skipped; the target is still validated.
        head = up.conn.send(h11.Request(method=req.method, target=path.encode("ascii", "replace"),
                                        headers=_request_headers(req, values, host, port, upgrade), _parsed=True))  # fmt: skip
        # A kept connection's decision is logged once the request is on its way: the line is
        # written while the upstream works, not before (same content, less latency).
        log = (
            (lambda: server.log_decision("http", d, method=method, user=user))
            if self.up is up and reused
            else None
        )
        return self._exchange(up, upgrade, head, log)

    def _exchange(self, up: _Upstream, upgrade: bytes | None, head: bytes, log=None) -> bool:
        """Send ``head``, move the request body up and the response down until the response is complete.

        Writes are gathered per round (a head, its body and its end in one ``send``); while the
        request is complete only the upstream is read, with a plain blocking ``recv`` bounded
        by ``SO_RCVTIMEO`` (one system call per read).
        """
        conn, sock = self.conn, self.sock
        to_up, to_client = bytearray(head), bytearray()
        poller: select.poll | None = None
        request_done = response_done = False
        switched = False
        idle = self.server.limits.idle_timeout
        buffered, closed = up.conn.trailing_data
        parse_up = bool(buffered) or closed  # else the upstream has nothing to parse yet
        while True:
            # Whatever is already buffered on either side, before waiting for more.
            need_client = False
            while not request_done:
                ev = conn.next_event()
                if ev is h11.NEED_DATA:
                    need_client = True
                    break
                if ev is h11.PAUSED:
                    request_done = True  # (an upgrade proposal pauses here until we answer)
                    break
                if isinstance(ev, h11.Data):
                    to_up += up.conn.send(h11.Data(data=ev.data))
                elif isinstance(ev, h11.EndOfMessage):
                    to_up += up.conn.send(h11.EndOfMessage())
                    request_done = True
                else:  # ConnectionClosed in the middle of a request body
                    raise _Close
            if to_up:
                up.sock.sendall(to_up)
                to_up.clear()
            if log is not None:
                log()
                log = None
            while parse_up:
                ev = up.conn.next_event()
                if ev is h11.NEED_DATA or ev is h11.PAUSED:
                    break
                if isinstance(ev, h11.Data):
                    to_client += conn.send(h11.Data(data=ev.data))
                elif isinstance(ev, h11.Response):
                    to_client += conn.send(h11.Response(status_code=ev.status_code, headers=_response_headers(ev), reason=ev.reason, _parsed=True))  # fmt: skip
                elif isinstance(ev, h11.EndOfMessage):
                    to_client += conn.send(h11.EndOfMessage())
                    response_done = True
                    break
                elif isinstance(ev, h11.InformationalResponse):
                    if ev.status_code == 101:
                        if upgrade is None:
                            raise _Close
                        to_client += conn.send(h11.InformationalResponse(status_code=101, headers=_response_headers(ev, upgrade=True), reason=ev.reason, _parsed=True))  # fmt: skip
                        switched = response_done = True
                        break
                    to_client += conn.send(h11.InformationalResponse(status_code=ev.status_code, headers=_response_headers(ev), reason=ev.reason, _parsed=True))  # fmt: skip
                else:  # ConnectionClosed before the response was complete
                    if to_client:
                        sock.sendall(to_client)
                    if conn.our_state is h11.SEND_RESPONSE:
                        self.server.refuse_http(sock, "http", up.host, up.port, UPSTREAM_FAILED,
                                                "the upstream closed without a response")  # fmt: skip
                    raise _Close
            if to_client:
                sock.sendall(to_client)
                to_client.clear()
            if response_done:
                break
            if not (need_client and not request_done):
                try:
                    data = up.sock.recv(_RECV)
                except (BlockingIOError, TimeoutError):
                    raise _Close from None  # nothing from the upstream for idle_timeout
                up.conn.receive_data(data)
                parse_up = True
                continue
            if poller is None:
                poller = select.poll()
                poller.register(sock, select.POLLIN)
                poller.register(up.sock, select.POLLIN)
            ready = poller.poll(idle * 1000)
            if not ready:
                raise _Close  # nothing moved for idle_timeout
            for fd, _ in ready:
                if fd == sock.fileno():
                    conn.receive_data(sock.recv(_RECV))
                else:
                    up.conn.receive_data(up.sock.recv(_RECV))
                    parse_up = True
        if switched:
            # Both sides agreed on a new protocol: from here on the bytes are opaque, between the
            # client and the already judged upstream.
            leftover_client = conn.trailing_data[0]
            leftover_up = up.conn.trailing_data[0]
            if leftover_client:
                up.sock.sendall(leftover_client)
            if leftover_up:
                sock.sendall(leftover_up)
            session, self.session, self.up = self.session, None, None
            self.server.hand_off(self.client, up.sock, session)
            return False
        if not request_done or conn.their_state is not h11.DONE:
            return False  # answered before the request was complete: the connection cannot go on
        if up.conn.our_state is h11.DONE and up.conn.their_state is h11.DONE:
            up.conn.start_next_cycle()
        else:
            self._drop_upstream()
        return True


# -- header handling ----------------------------------------------------------------------------------
def _values(headers) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        out.setdefault(name, []).append(value)
    return out


def _connection_tokens(values: dict) -> set[bytes]:
    return {t.strip().lower() for v in values.get(b"connection", []) for t in v.split(b",")}


def _framing_problem(values: dict, connect: bool) -> str | None:
    """Why the request's body framing is ambiguous (answered 400), or None."""
    te = values.get(b"transfer-encoding")
    cl = values.get(b"content-length")
    if te and cl:
        return "Content-Length together with Transfer-Encoding (ambiguous framing)"
    if connect and (te or (cl and cl[0].strip() != b"0")):
        return "a CONNECT request with a body"
    return None


def _wanted_upgrade(values: dict) -> bytes | None:
    """The protocol to switch to, when the client asks for one the proxy relays (websocket)."""
    if b"upgrade" not in _connection_tokens(values):
        return None
    offered = [t.strip().lower() for v in values.get(b"upgrade", []) for t in v.split(b",")]
    for proto in offered:
        if proto.split(b"/")[0] in _UPGRADES:
            return proto
    return None


def _request_headers(req: h11.Request, values: dict, host: str, port: int, upgrade: bytes | None) -> list:
    drop = set(_HOP_BY_HOP | _connection_tokens(values))
    drop.discard(b"host")  # "Connection: host" must not drop the judged Host header
    out = [(n, v) for n, v in req.headers.raw_items() if n.lower() not in drop]
    if b"host" not in values:
        out.append((b"Host", format_authority(host, port).encode()))
    if upgrade is not None:
        out += [(b"Connection", b"Upgrade"), (b"Upgrade", upgrade)]
    return out


def _response_headers(ev, upgrade: bool = False):
    """The response's headers without hop-by-hop ones (``ev.headers`` itself when none is there)."""
    headers = ev.headers
    if not any(name in _HOP_BY_HOP for name, _ in headers):
        return headers  # nothing to drop: h11 takes its own parsed headers as they are
    values = _values(headers)
    drop = _HOP_BY_HOP | _connection_tokens(values)
    if upgrade:
        drop -= {b"upgrade", b"connection"}
    return [(n, v) for n, v in headers.raw_items() if n.lower() not in drop]


def _target_of(raw: bytes) -> tuple[str, int]:
    """Best-effort host and port named by a request line that could not be served (for the log)."""
    line = raw.split(b"\n", 1)[0].strip()
    parts = line.split(b" ")
    if len(parts) < 2:
        return "", 0
    target = parts[1].decode("ascii", "backslashreplace")
    try:
        if parts[0] == b"CONNECT":
            return split_authority(target)
        if "://" in target:
            scheme, _, rest = target.partition("://")
            authority = rest.split("/", 1)[0].split("?", 1)[0]
            return split_authority(authority, 443 if scheme.lower() in ("https", "wss") else 80)
        for header in raw.split(b"\n")[1:]:
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"host":
                return split_authority(value.strip().decode("ascii", "backslashreplace"), 80)
    except HostError:
        return target[:100], 0
    return "", 0


def _with_address(d, address):
    import dataclasses

    return dataclasses.replace(d, addresses=(address,))


def _kernel_timeouts(sock: socket.socket, receive: float, send: float) -> None:
    for opt, seconds in ((socket.SO_RCVTIMEO, receive), (socket.SO_SNDTIMEO, send)):
        sock.setsockopt(socket.SOL_SOCKET, opt, struct.pack("ll", int(seconds), int(seconds % 1 * 1e6)))


def _idle_and_open(sock: socket.socket) -> bool:
    """A kept upstream connection is reusable only if it has nothing to say (no EOF, no stray bytes)."""
    try:
        sock.recv(1, _PEEK_NOWAIT)
    except BlockingIOError:
        return True  # open, and nothing waiting
    except OSError:
        return False
    return False  # EOF or unsolicited bytes


def _strerror(err: int | None) -> str:
    import os

    return os.strerror(err) if err else "unknown error"
