"""Real TLS ClientHellos (made by Python's ssl module) and surgically altered copies of them."""

from __future__ import annotations

import contextlib
import ssl
import struct


def client_hello(sni: str | None) -> bytes:
    """The first flight of a real TLS client (one record) asking for ``sni`` (None: no SNI)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def server_names(*entries: tuple[int, bytes]) -> bytes:
    """A server_name extension body: a list of (name_type, name) entries."""
    items = b"".join(bytes([kind]) + struct.pack(">H", len(name)) + name for kind, name in entries)
    return struct.pack(">H", len(items)) + items


def with_server_name(
    hello: bytes, ext_body: bytes | None, *, extra: tuple[tuple[int, bytes], ...] = ()
) -> bytes:
    """``hello`` (one record) with its server_name extension body replaced by ``ext_body``
    (None: removed), ``extra`` raw extensions appended, and every length fixed up."""
    assert hello[0] == 0x16
    body = hello[9:]
    pos = 2 + 32
    pos += 1 + body[pos]  # session id
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")  # cipher suites
    pos += 1 + body[pos]  # compression methods
    fixed = body[:pos]
    exts = body[pos + 2 : pos + 2 + int.from_bytes(body[pos : pos + 2], "big")]
    out = [] if ext_body is None else [struct.pack(">HH", 0, len(ext_body)) + ext_body]
    i = 0
    while i < len(exts):
        kind, n = struct.unpack(">HH", exts[i : i + 4])
        if kind != 0:
            out.append(exts[i : i + 4 + n])
        i += 4 + n
    out += [struct.pack(">HH", kind, len(data)) + data for kind, data in extra]
    all_exts = b"".join(out)
    body = fixed + struct.pack(">H", len(all_exts)) + all_exts
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return hello[:3] + struct.pack(">H", len(handshake)) + handshake
