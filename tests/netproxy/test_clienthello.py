"""Our ClientHello reader on real hellos from Python's TLS stack, and on altered copies of them."""

from __future__ import annotations

import pytest
from cordon.netproxy import clienthello
from cordon.netproxy.clienthello import HelloError

from tests.support.tls import client_hello, server_names, with_server_name


def read(data: bytes) -> clienthello.ClientHello:
    message = clienthello.handshake_message(data)
    assert message is not None
    return clienthello.parse(message)


@pytest.mark.parametrize("name", ["example.com", "a-b.example", "xn--bcher-kva.example", "_svc.example"])
def test_real_hello_names(name):
    assert read(client_hello(name)).server_name == name


def test_no_server_name_is_none_not_an_error():
    assert read(client_hello(None)).server_name is None
    assert read(client_hello("127.0.0.1")).server_name is None  # ssl sends no SNI for addresses
    assert read(with_server_name(client_hello("x.example"), None)).server_name is None


def test_incomplete_hello_needs_more_bytes():
    hello = client_hello("example.com")
    for cut in (0, 3, 5, 40, len(hello) - 1):
        assert clienthello.handshake_message(hello[:cut]) is None
    # The same hello split over two TLS records is reassembled.
    hs = hello[5:]
    split = (
        hello[:3]
        + (40).to_bytes(2, "big")
        + hs[:40]
        + hello[:3]
        + (len(hs) - 40).to_bytes(2, "big")
        + hs[40:]
    )
    assert read(split).server_name == "example.com"


@pytest.mark.parametrize(
    ("ext", "why"),
    [
        (server_names((0, b"evil.example:443")), "port"),
        (server_names((0, b"[::1]")), "port"),
        (server_names((1, b"x"), (0, b"evil.example")), "2 entries"),
        (server_names((0, b"ok.example"), (0, b"evil.example")), "2 entries"),
        (server_names((7, b"evil.example")), "type 7"),
        (server_names(), "0 entries"),
        (server_names((0, b"")), "bad length"),
        (server_names((0, b"evil example")), "not a host name"),
        (server_names((0, b"evil.example\x00.ok")), "not a host name"),
        (server_names((0, b"-x.example")), "not a host name"),
        (server_names((0, b"a..example")), "not a host name"),
        (server_names((0, "bücher.example".encode())), "not a host name"),
        (server_names((0, b"a" * 64 + b".example")), "not a host name"),
        (server_names((0, b"1.2.3.4")), "IP address"),
        (server_names((0, b"0x7f.1")), "IP address"),
        (server_names((0, b"ok.example")) + b"\x00", "bytes after"),
        (server_names((0, b"ok.example"))[:-2], "truncated"),
        (b"\x00", "truncated"),
    ],
)
def test_odd_server_names_are_errors_never_no_sni(ext, why):
    with pytest.raises(HelloError, match=why):
        read(with_server_name(client_hello("ok.example"), ext))


def test_a_second_server_name_extension_is_an_error():
    hello = with_server_name(client_hello("ok.example"), server_names((0, b"ok.example")),
                             extra=((0, server_names((0, b"evil.example"))),))  # fmt: skip
    with pytest.raises(HelloError, match="twice"):
        read(hello)


def test_ech_is_reported():
    hello = with_server_name(
        client_hello("ok.example"), server_names((0, b"ok.example")), extra=((0xFE0D, b"x"),)
    )
    assert read(hello) == clienthello.ClientHello("ok.example", ech=True)


@pytest.mark.parametrize(
    "data",
    [
        b"\x17\x03\x03\x00\x05hello",
        b"\x16\x02\x00\x00\x05hello",
        b"\x16\x03\x01\x00\x00",
        b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",
    ],
)
def test_not_a_client_hello(data):
    with pytest.raises(HelloError):
        clienthello.handshake_message(data)


def test_oversized_hello_is_refused():
    big = b"\x16\x03\x01\x40\x00" + b"\x01\xff\xff\xff" + b"\x00" * (0x4000 - 4)
    with pytest.raises(HelloError, match="too large"):
        clienthello.handshake_message(big)


def test_garbage_after_a_valid_prefix_never_crashes():
    hello = client_hello("ok.example")
    for i in range(9, len(hello), 7):
        mutated = hello[:i] + bytes([hello[i] ^ 0xFF]) + hello[i + 1 :]
        try:
            message = clienthello.handshake_message(mutated)
            if message is not None:
                clienthello.parse(message)
        except HelloError:
            pass
