"""Canonical hosts and patterns: every spelling of a destination judged as one."""

from __future__ import annotations

import ipaddress

import pytest
from cordon.netproxy.hosts import HostError, canonical_host, split_authority
from cordon.netproxy.patterns import PatternError, parse_pattern


@pytest.mark.parametrize(
    ("raw", "canon"),
    [
        ("Example.COM", "example.com"),
        ("example.com.", "example.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0x7F000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("[::1]", "::1"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("::FFFF:127.0.0.1", "127.0.0.1"),
        ("[::ffff:7f00:1]", "127.0.0.1"),
        ("[2001:DB8::1]", "2001:db8::1"),
        ("_dmarc.example.com", "_dmarc.example.com"),
        ("localhost", "localhost"),
    ],
)
def test_canonical_spellings(raw, canon):
    assert canonical_host(raw) == canon


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "[fe80::1%eth0]",
        "fe80::1%25eth0",
        "a..b",
        "a b",
        "evil.com\r\nX: y",
        "user@host",
        "x" * 64 + ".com",
        ".".join(["a" * 60] * 5),
        "1.2.3.4.5",
        "256.1.1.1",
        "foo.123",
        "0x1g.0.0.1",
        "[::1",
        "-bad.example",
        "a/b",
        "exa\x00mple.com",
    ],
)
def test_rejected_hosts(raw):
    with pytest.raises(HostError):
        canonical_host(raw)


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("example.com:443", ("example.com", 443)),
        ("[::1]:8080", ("::1", 8080)),
        ("2130706433:80", ("127.0.0.1", 80)),
    ],
)
def test_split_authority(authority, expected):
    assert split_authority(authority) == expected


@pytest.mark.parametrize(
    "authority",
    ["evil:443@allowed:80", "example.com:0", "example.com:65536", "example.com", "::1:80", "h:08", "h:+1"],
)
def test_split_authority_rejects(authority):
    with pytest.raises(HostError):
        split_authority(authority)


def _m(pattern: str, host: str, port: int = 443) -> bool:
    h = canonical_host(host)
    ip = None
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        pass
    return parse_pattern(pattern, allow_any=True).matches(h, ip, port)


@pytest.mark.parametrize(
    ("pattern", "host", "port", "hit"),
    [
        ("example.com", "example.com", 80, True),
        ("example.com", "EXAMPLE.com.", 8443, True),
        ("example.com", "www.example.com", 443, False),
        ("*.example.com", "www.example.com", 443, True),
        ("*.example.com", "a.b.example.com", 443, True),
        ("*.example.com", "example.com", 443, False),
        ("*.example.com", "badexample.com", 443, False),
        ("**.example.com", "example.com", 443, True),
        ("**.example.com", "a.example.com", 443, True),
        ("example.com:8443", "example.com", 8443, True),
        ("example.com:8443", "example.com", 443, False),
        ("127.0.0.1:18080", "2130706433", 18080, True),
        ("127.0.0.1:18080", "127.1", 18081, False),
        ("127.1", "127.0.0.1", 5, True),
        ("[::1]:18081", "::1", 18081, True),
        ("::1", "[0::1]", 1, True),
        ("10.0.0.0/8", "10.2.3.4", 1, True),
        ("10.0.0.0/8", "11.0.0.1", 1, False),
        ("[fd00::/8]:443", "fd12::1", 443, True),
        ("127.0.0.1", "::ffff:127.0.0.1", 80, True),
        ("localhost", "localhost", 1, True),
        ("localhost", "127.0.0.1", 1, False),
        ("*", "anything.example", 1, True),
        ("*.example.com", "1.2.3.4", 1, False),
    ],
)
def test_pattern_matching(pattern, host, port, hit):
    assert _m(pattern, host, port) is hit


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        "*",  # only in deny lists
        "*.1.2.3.4",
        "ex*ample.com",
        "*.*.example.com",
        "https://example.com",
        "example.com:0",
        "example.com:99999",
        "example.com:080",
        "a..b",
        "[fe80::1%eth0]",
        "10.0.0.1/8",  # host bits set: the author meant something else
        "10.0.0.0/33",
        "1.2.3.4.5",
        "[::1",
        "x" * 64 + ".com",
    ],
)
def test_invalid_allow_patterns(pattern):
    with pytest.raises(PatternError) as e:
        parse_pattern(pattern)
    assert e.value.pattern == pattern


def test_star_is_a_deny_pattern():
    assert parse_pattern("*", allow_any=True).kind == "any"
    assert parse_pattern("*:22", allow_any=True).port == 22
