"""Our own TLS ClientHello reader: just enough to judge the server_name a client asks for.

Why our own: the proxy must tell "no server_name extension" apart from "a server_name the
parser did not like". A library that returns ``None`` for both lets ``evil.example:443`` or a
list of names (``<odd entry>, evil.example``) through as "no SNI", while real servers and TLS
libraries route on such names (nginx strips the port; Go, rustls, squid and mbedTLS skip the
odd entry). Here anything but exactly one well-formed DNS host name in one well-formed
extension is an error (``HelloError``), never "no SNI".

Layout (RFC 8446 4.1.2, RFC 6066 3): record header(s) -> handshake header -> legacy_version,
random, session_id, cipher_suites, compression_methods, extensions; server_name (type 0) is a
list of (name_type, name) of which only host_name (0) exists.
"""

from __future__ import annotations

import dataclasses
import re

from cordon.netproxy.errors import ProxyError

SERVER_NAME = 0x0000
ECH = 0xFE0D  # encrypted_client_hello: only the outer (public) name can be judged
MAX_HELLO = 64 * 1024

_NUMERIC = re.compile(rb"^(?:[0-9]+|0[xX][0-9a-fA-F]*)$")  # WHATWG: such a name is IPv4
_HOST_LABEL = re.compile(rb"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


class HelloError(ProxyError, ValueError):
    """A ClientHello (or its server_name) that is malformed or not a plain host name."""


@dataclasses.dataclass(frozen=True)
class ClientHello:
    server_name: str | None  # None: the hello has no server_name extension at all
    ech: bool = False  # an encrypted_client_hello extension is present (outer hello)


def handshake_message(data: bytes) -> bytes | None:
    """The ClientHello handshake message from TLS records at the start of ``data``.

    None while more bytes are needed; ``HelloError`` when the bytes are not TLS handshake
    records starting with a ClientHello, or the hello would exceed ``MAX_HELLO``.
    """
    hs = bytearray()
    off = 0
    while off + 5 <= len(data):
        ctype, major, length = data[off], data[off + 1], data[off + 3] << 8 | data[off + 4]
        if ctype != 0x16 or major != 3:
            raise HelloError("not a TLS handshake record")
        if length == 0:
            raise HelloError("empty TLS record")
        if off + 5 + length > len(data):
            break
        hs += data[off + 5 : off + 5 + length]
        off += 5 + length
        if len(hs) >= 4:
            if hs[0] != 1:
                raise HelloError("the first handshake message is not a ClientHello")
            size = 4 + (hs[1] << 16 | hs[2] << 8 | hs[3])
            if size > MAX_HELLO:
                raise HelloError("ClientHello too large")
            if len(hs) >= size:
                return bytes(hs[:size])
    if len(data) > MAX_HELLO + 5 * 64:
        raise HelloError("ClientHello too large")
    return None


class _Reader:
    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None):
        self.buf, self.pos, self.end = buf, pos, len(buf) if end is None else end

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise HelloError(f"truncated {what}")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "big")

    def vector(self, len_size: int, what: str) -> _Reader:
        n = self.uint(len_size, f"{what} length")
        start = self.pos
        self.take(n, what)
        return _Reader(self.buf, start, start + n)

    @property
    def left(self) -> int:
        return self.end - self.pos


def parse(message: bytes) -> ClientHello:
    """Parse a ClientHello handshake message (as returned by ``handshake_message``)."""
    r = _Reader(message)
    if r.uint(1, "handshake type") != 1:
        raise HelloError("not a ClientHello")
    if r.uint(3, "handshake length") != r.left:
        raise HelloError("handshake length does not match")
    if r.take(1, "version")[0] != 3:
        raise HelloError("not a TLS 1.x ClientHello")
    r.take(1 + 32, "random")
    if r.vector(1, "session id").left > 32:
        raise HelloError("session id longer than 32 bytes")
    suites = r.vector(2, "cipher suites")
    if suites.left == 0 or suites.left % 2:
        raise HelloError("bad cipher suite list")
    if r.vector(1, "compression methods").left == 0:
        raise HelloError("empty compression method list")
    if r.left == 0:
        return ClientHello(None)  # an old-style hello without extensions
    exts = r.vector(2, "extensions")
    if r.left:
        raise HelloError("bytes after the extensions")
    seen: set[int] = set()
    name: str | None = None
    while exts.left:
        kind = exts.uint(2, "extension type")
        body = exts.vector(2, "extension")
        if kind in seen:
            raise HelloError(f"extension {kind} appears twice")
        seen.add(kind)
        if kind == SERVER_NAME:
            name = _server_name(body)
    return ClientHello(name, ech=ECH in seen)


def _server_name(ext: _Reader) -> str:
    names = ext.vector(2, "server name list")
    if ext.left:
        raise HelloError("bytes after the server name list")
    entries = []
    while names.left:
        name_type = names.uint(1, "server name type")
        value = names.vector(2, "server name")
        entries.append((name_type, value.take(value.left, "server name")))
    if len(entries) != 1:
        raise HelloError(f"the server name list holds {len(entries)} entries, not one")
    name_type, raw = entries[0]
    if name_type != 0:
        raise HelloError(f"server name of type {name_type}, not a host name")
    return _host_name(raw)


def _host_name(raw: bytes) -> str:
    shown = raw[:80].decode("ascii", "backslashreplace")
    if b":" in raw:
        raise HelloError(f"server name {shown!r} carries a port or is an IPv6 address")
    name = raw[:-1] if raw.endswith(b".") else raw
    if not name or len(name) > 253:
        raise HelloError(f"server name {shown!r} has a bad length")
    labels = name.split(b".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        raise HelloError(f"server name {shown!r} is not a host name")
    if _NUMERIC.match(labels[-1]):
        raise HelloError(f"server name {shown!r} is an IP address, not a host name")
    return name.decode("ascii")
