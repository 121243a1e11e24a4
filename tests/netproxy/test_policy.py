"""Policy decisions: deny wins, names resolved only when allowed, resolved addresses vetted."""

from __future__ import annotations

import ipaddress
from types import SimpleNamespace

import pytest
from cordon.netproxy.patterns import PatternError
from cordon.netproxy.policy import NetPolicy, lists_from_rules, local_addresses


class Resolver:
    """Records every lookup; answers from a table (so tests need no DNS)."""

    def __init__(self, table: dict[str, list[str]]):
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host, port):
        self.asked.append(host)
        return [ipaddress.ip_address(a) for a in self.table.get(host, [])]


def test_deny_wins_over_allow():
    p = NetPolicy.from_lists(["*.example.com"], ["bad.example.com"])
    d = p.decide("bad.example.com", 443, resolver=Resolver({"bad.example.com": ["93.184.216.34"]}))
    assert (d.allowed, d.reason, d.detail) == (False, "deny-listed", "bad.example.com")
    assert p.decide("ok.example.com", 443, resolver=Resolver({"ok.example.com": ["93.184.216.34"]})).allowed


def test_names_not_allowed_are_never_resolved():
    r = Resolver({"evil.test": ["93.184.216.34"]})
    p = NetPolicy.from_lists(["good.test"], ["denied.test"])
    assert p.decide("evil.test", 443, resolver=r).reason == "not-allowed"
    assert p.decide("denied.test", 443, resolver=r).reason == "deny-listed"
    assert r.asked == []


@pytest.mark.parametrize(
    ("address", "cls"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.1.1", "private"),
        ("172.16.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("168.63.129.16", "metadata"),
        ("100.100.100.200", "private"),
        ("fd00:ec2::254", "private"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 wrapping loopback
        ("2002:7f00:1::", "loopback"),  # 6to4 wrapping loopback
    ],
)
def test_allowed_name_resolving_to_special_address_is_refused(address, cls):
    p = NetPolicy.from_lists(["rebind.test"])
    d = p.decide("rebind.test", 80, resolver=Resolver({"rebind.test": [address]}))
    assert (d.allowed, d.reason, d.detail) == (False, "private-address", cls)


def test_own_interface_address_is_refused():
    own = [a for a in local_addresses() if not (a.is_loopback or a.is_link_local)]
    p = NetPolicy.from_lists(["me.test"])
    if own:  # a real interface address of this machine
        d = p.decide("me.test", 80, resolver=Resolver({"me.test": [str(own[0])]}))
        assert (d.allowed, d.detail) == (False, "own-interface")
    # A public address on one of our interfaces is refused too (the list is per host).
    p._local = frozenset({ipaddress.ip_address("93.184.216.34")})
    d = p.decide("me.test", 80, resolver=Resolver({"me.test": ["93.184.216.34"]}))
    assert (d.allowed, d.detail) == (False, "own-interface")


def test_special_address_allowed_when_listed_itself():
    p = NetPolicy.from_lists(["app.test", "127.0.0.1:8080", "10.0.0.0/8"])
    r = Resolver({"app.test": ["127.0.0.1"], "intra.test": ["10.9.9.9"]})
    assert p.decide("app.test", 8080, resolver=r).addresses == (ipaddress.ip_address("127.0.0.1"),)
    assert p.decide("app.test", 8081, resolver=r).reason == "private-address"  # port not allowed


def test_safe_addresses_are_kept_and_unsafe_dropped():
    p = NetPolicy.from_lists(["mixed.test"])
    d = p.decide("mixed.test", 443, resolver=Resolver({"mixed.test": ["127.0.0.1", "93.184.216.34"]}))
    assert d.allowed and d.addresses == (ipaddress.ip_address("93.184.216.34"),)


def test_deny_listed_address_blocks_an_allowed_name():
    p = NetPolicy.from_lists(["cdn.test"], ["93.184.216.0/24"])
    d = p.decide("cdn.test", 443, resolver=Resolver({"cdn.test": ["93.184.216.34"]}))
    assert (d.allowed, d.reason) == (False, "deny-listed")


def test_pins_are_used_and_vetted():
    r = Resolver({})
    p = NetPolicy.from_lists(["pinned.test"], resolve={"pinned.test": "127.0.0.1"})
    assert p.decide("pinned.test", 80, resolver=r).reason == "private-address"
    p = NetPolicy.from_lists(["pinned.test", "127.0.0.1:80"], resolve=["PINNED.test.=127.0.0.1"])
    assert p.decide("pinned.test", 80, resolver=r).allowed
    assert r.asked == []


def test_localhost_is_explicit_and_never_asks_dns():
    r = Resolver({"localhost": ["93.184.216.34"]})
    p = NetPolicy.from_lists(["localhost"])
    d = p.decide("localhost", 8080, resolver=r)
    assert d.allowed and all(a.is_loopback for a in d.addresses)
    assert r.asked == []
    assert NetPolicy.from_lists(["localhost"]).decide("127.0.0.1", 8080).reason == "not-allowed"


@pytest.mark.parametrize(
    ("raw", "allowed"),
    [
        ("127.0.0.1", True),
        ("2130706433", True),
        ("127.1", True),
        ("0x7f.0.0.1", True),
        ("0177.0.0.1", True),
        ("::ffff:127.0.0.1", True),
        ("127.0.0.2", False),
        ("[::1]", False),
    ],
)
def test_ip_spellings_are_judged_canonically(raw, allowed):
    p = NetPolicy.from_lists(["127.0.0.1:9"])
    assert p.decide(raw, 9).allowed is allowed


def test_denied_ip_in_other_spelling_stays_denied():
    p = NetPolicy.from_lists(["0.0.0.0/0"], ["127.0.0.1"])
    for raw in ("2130706433", "127.1", "0x7f000001", "::ffff:7f00:1"):
        assert p.decide(raw, 80).reason == "deny-listed", raw


def test_bad_input_is_a_bad_request():
    p = NetPolicy.from_lists(["example.com"])
    assert p.decide("fe80::1%eth0", 80).reason == "bad-request"
    assert p.decide("example.com", 0).reason == "bad-request"


def test_invalid_pin_is_an_error():
    with pytest.raises(PatternError):
        NetPolicy.from_lists([], resolve=["nohost"])
    with pytest.raises(PatternError):
        NetPolicy.from_lists([], resolve={"a.test": "not-an-ip"})
    with pytest.raises(PatternError):
        NetPolicy.from_lists([], resolve={"1.2.3.4": "5.6.7.8"})


def test_network_rules_map_to_lists():
    rules = [
        SimpleNamespace(host="api.example.com", protocol="https", decision="allow"),
        SimpleNamespace(host="evil.example.com", protocol="https", decision="forbidden"),
        SimpleNamespace(host="ask.example.com", protocol="https", decision="prompt"),
    ]
    assert lists_from_rules(rules) == (["api.example.com"], ["evil.example.com", "ask.example.com"])


def test_decisions_name_where_a_pattern_was_declared():
    origins = {"evil.test": "net.rules:1:1", "ok.test:443": "net.rules:2:1"}
    p = NetPolicy.from_lists(["ok.test:443", "flag.test"], ["evil.test"], origins=origins)
    assert (p.judge("evil.test", 443).reason, p.judge("evil.test", 443).origin) == (
        "deny-listed",
        "net.rules:1:1",
    )
    assert p.judge("ok.test", 443).origin == "net.rules:2:1"
    assert p.judge("flag.test", 443).origin == ""  # a flag: no file to name
    assert (
        NetPolicy.from_lists(**{k: v for k, v in p.to_lists().items() if k != "resolve"})
        .judge("evil.test", 80)
        .origin
        == "net.rules:1:1"
    )  # survives a live update (to_lists -> from_lists)


def test_revocation_rejudges_without_dns():
    p = NetPolicy.from_lists(["a.test", "127.0.0.1:80"])
    assert p.still_allowed("a.test", 80, ipaddress.ip_address("127.0.0.1"), None).allowed
    p2 = NetPolicy.from_lists(["a.test"])
    assert p2.still_allowed("a.test", 80, ipaddress.ip_address("127.0.0.1"), None).reason == "private-address"
    assert NetPolicy.from_lists([]).still_allowed("a.test", 80, None, None).reason == "not-allowed"


def test_idn_allow_pattern_loads_and_matches_its_punycode():
    """IDN patterns need the declared ``idna`` dependency (they used to abort without it)."""
    from cordon.netproxy.policy import NetPolicy

    policy = NetPolicy.from_lists(["bücher.example"], [])
    assert policy.allow[0].host == "xn--bcher-kva.example"
    assert policy.judge("xn--bcher-kva.example", 443).allowed
