"""The network policy: judge a destination, resolve an allowed name once, vet the address.

Order (every protocol goes through ``NetPolicy.decide``): canonicalise -> deny list ->
allow list -> (only now) resolve, using ``--resolve`` pins first -> vet each address ->
the caller dials the vetted address, never the name (no second lookup, no rebinding).
A name may not land on loopback, private, link-local, metadata, multicast or this host's
own addresses unless that address (or its range) is itself allow-listed; ``localhost``
and ``*.localhost`` resolve to loopback without DNS and are explicit by being listed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Iterable, Mapping

from cordon.netproxy.hosts import HostError, IPAddress, canonical_host, ip_of
from cordon.netproxy.patterns import Pattern, PatternError, parse_pattern

# Reasons; they double as the X-Proxy-Error values the proxy answers with.
ALLOWED = "allowed"
DENY_LISTED = "deny-listed"
NOT_ALLOWED = "not-allowed"
PRIVATE_ADDRESS = "private-address"
SNI_MISMATCH = "sni-mismatch"
SNI_INVALID = "sni-invalid"
SNI_MISSING = "sni-missing"
HOST_MISMATCH = "host-mismatch"
BAD_REQUEST = "bad-request"
AUTH_REQUIRED = "auth-required"
UNSUPPORTED = "unsupported"
UPSTREAM_FAILED = "upstream-failed"
RESOLVE_FAILED = "resolve-failed"
CAPACITY = "capacity"  # a connection cap was reached (503 / SOCKS general failure)
TIMEOUT = "timeout"  # a request head did not arrive in time (408)

# Cloud metadata endpoints that are globally routable (the rest sit in non-global ranges).
_METADATA = (ipaddress.ip_address("168.63.129.16"),)
_V4_EMBEDDING = (
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated)
)
_6TO4 = ipaddress.ip_network("2002::/16")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The proxy's answer for one destination (host, port): allowed or not, and why."""

    allowed: bool
    reason: str  # one of the constants above
    detail: str = ""  # e.g. the matching pattern, or the address class
    host: str = ""
    port: int = 0
    addresses: tuple[IPAddress, ...] = ()  # vetted, in dial order (allowed decisions only)
    refused_address: IPAddress | None = None  # private-address: the first address refused
    origin: str = ""  # where the deciding pattern was declared (FILE:LINE:COL), if known


class NetPolicy:
    """Immutable allow/deny lists plus name pins. Build with ``NetPolicy.from_lists``."""

    def __init__(
        self,
        allow: Iterable[Pattern] = (),
        deny: Iterable[Pattern] = (),
        pins: Mapping[str, tuple[IPAddress, ...]] | None = None,
    ):
        self.allow = tuple(allow)
        self.deny = tuple(deny)
        self.pins = dict(pins or {})
        self._local: frozenset[IPAddress] | None = None

    @classmethod
    def from_lists(
        cls,
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
        resolve: Mapping[str, str] | Iterable[str] | None = None,
        origins: Mapping[str, str] | None = None,
    ) -> NetPolicy:
        """Validate patterns and pins; raise ``PatternError`` naming the first bad entry.
        ``origins`` maps a pattern's text to where it was declared (a ``.rules`` file's
        ``FILE:LINE:COL``): decisions and the log name it."""
        o = origins or {}
        a = [_declared(parse_pattern(p), o) for p in allow]
        d = [_declared(parse_pattern(p, allow_any=True), o) for p in deny]
        return cls(a, d, parse_pins(resolve or {}))

    def to_lists(self) -> dict:
        return {
            "allow": [p.text for p in self.allow],
            "deny": [p.text for p in self.deny],
            "resolve": {h: ",".join(map(str, a)) for h, a in self.pins.items()},
            "origins": {p.text: p.origin for p in (*self.allow, *self.deny) if p.origin},
        }

    # -- judging -------------------------------------------------------------------------
    def judge(self, host: str, port: int) -> Verdict:
        """Deny list, then allow list, on a canonical host. No resolution happens here."""
        ip = ip_of(host)
        for p in self.deny:
            if p.matches(host, ip, port):
                return Verdict(False, DENY_LISTED, p.text, host, port, origin=p.origin)
        for p in self.allow:
            if p.matches(host, ip, port):
                return Verdict(True, ALLOWED, p.text, host, port, origin=p.origin)
        return Verdict(False, NOT_ALLOWED, "", host, port)

    def decide(self, raw_host: str, port: int, *, resolver=None) -> Verdict:
        """Judge, then resolve (allowed names only) and vet. ``resolver(host, port)`` is for tests."""
        try:
            host = canonical_host(raw_host)
        except HostError as e:
            return Verdict(False, BAD_REQUEST, str(e), str(raw_host)[:100], port)
        if not 1 <= port <= 65535:
            return Verdict(False, BAD_REQUEST, f"port {port} out of range", host, port)
        verdict = self.judge(host, port)
        if not verdict.allowed:
            return verdict
        ip = ip_of(host)
        if ip is not None:
            # An IP literal is allow-listed explicitly; deny-listed ranges already won above.
            return dataclasses.replace(verdict, addresses=(ip,))
        try:
            candidates = self.resolve(host, port, resolver)
        except OSError as e:
            return Verdict(False, RESOLVE_FAILED, str(e)[:120], host, port)
        good: list[IPAddress] = []
        first_problem: tuple[str, str] | None = None
        refused: IPAddress | None = None
        for addr in candidates:
            problem = self.vet(host, addr, port)
            if problem is None:
                good.append(addr)
            elif first_problem is None:
                first_problem, refused = problem, addr
        if not good:
            reason, detail = first_problem or (RESOLVE_FAILED, "no addresses")
            return Verdict(False, reason, detail, host, port, refused_address=refused)
        return dataclasses.replace(verdict, addresses=tuple(good))

    def still_allowed(self, host: str, port: int, address: IPAddress | None, sni: str | None) -> Verdict:
        """Re-judge an open connection after a policy change (no new DNS lookup)."""
        verdict = self.judge(host, port)
        if not verdict.allowed:
            return verdict
        if address is not None and ip_of(host) is None:
            problem = self.vet(host, address, port)
            if problem is not None:
                return Verdict(False, problem[0], problem[1], host, port)
        if sni and sni != host:
            v = self.judge(sni, port)
            if not v.allowed:
                return Verdict(False, SNI_MISMATCH, f"SNI {sni} {v.reason}", host, port)
        return verdict

    def sni_optional(self, host: str) -> bool:
        """May a TLS ClientHello to ``host`` (canonical) carry no server_name?

        Only for an IP-literal destination: there is no name to send (RFC 6066 forbids
        addresses in server_name) and the address itself was judged. A client that reaches a
        *name* without saying which one leaves the server to pick any site it hosts.
        """
        return ip_of(host) is not None

    # -- resolution and vetting ------------------------------------------------------------
    def resolve(self, host: str, port: int, resolver=None) -> list[IPAddress]:
        if host in self.pins:
            return list(self.pins[host])
        if host == "localhost" or host.endswith(".localhost"):
            return [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
        if resolver is not None:
            return list(resolver(host, port))
        seen: dict[IPAddress, None] = {}
        for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            addr = ipaddress.ip_address(sockaddr[0].split("%")[0])
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
                addr = addr.ipv4_mapped
            seen.setdefault(addr, None)
        return list(seen)

    def vet(self, host: str, addr: IPAddress, port: int) -> tuple[str, str] | None:
        """Why ``host`` may not be dialled at ``addr`` (reason, address class), or None if fine."""
        for p in self.deny:
            if p.kind in ("ip", "cidr") and _covers(p, addr, port):
                return DENY_LISTED, p.text
        cls = self.address_class(addr)
        if cls is None:
            return None
        if (host == "localhost" or host.endswith(".localhost")) and cls == "loopback":
            return None
        if any(_covers(p, addr, port) for p in self.allow if p.kind in ("ip", "cidr")):
            return None
        return PRIVATE_ADDRESS, cls

    def address_class(self, addr: IPAddress) -> str | None:
        """None for an ordinary public address, else why it is special."""
        for a in _embedded_v4(addr):
            cls = self.address_class(a)
            if cls is not None:
                return cls
        if addr.is_loopback:
            return "loopback"
        if addr.is_link_local:
            return "link-local"
        if addr in _METADATA:
            return "metadata"
        if addr.is_multicast:
            return "multicast"
        if addr.is_unspecified:
            return "unspecified"
        if addr in self.local_addresses():
            return "own-interface"
        if not addr.is_global:
            return "private"
        return None

    def local_addresses(self) -> frozenset[IPAddress]:
        if self._local is None:
            self._local = frozenset(local_addresses())
        return self._local


def _covers(p: Pattern, addr: IPAddress, port: int) -> bool:
    return p.matches(str(addr), addr, port) or any(p.matches(str(a), a, port) for a in _embedded_v4(addr))


def _embedded_v4(addr: IPAddress) -> list[ipaddress.IPv4Address]:
    if not isinstance(addr, ipaddress.IPv6Address):
        return []
    out = []
    if addr.ipv4_mapped:
        out.append(addr.ipv4_mapped)
    if any(addr in n for n in _V4_EMBEDDING) and not addr.is_loopback and not addr.is_unspecified:
        out.append(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    if addr.sixtofour:
        out.append(addr.sixtofour)
    return out


def local_addresses() -> list[IPAddress]:
    """Every address on this host's interfaces (a name resolving to one is refused)."""
    out: list[IPAddress] = []
    try:
        import psutil

        for addrs in psutil.net_if_addrs().values():
            for a in addrs:
                if a.family in (socket.AF_INET, socket.AF_INET6):
                    try:
                        out.append(ipaddress.ip_address(a.address.split("%")[0]))
                    except ValueError:
                        pass
    except ImportError:  # psutil is a dependency; keep working without it
        pass
    return out


def parse_pins(resolve: Mapping[str, str] | Iterable[str]) -> dict[str, tuple[IPAddress, ...]]:
    """``HOST=ADDR[,ADDR]`` (or a mapping) -> canonical host -> addresses."""
    items = resolve.items() if isinstance(resolve, Mapping) else (_split_pin(s) for s in resolve)
    pins: dict[str, tuple[IPAddress, ...]] = {}
    for host, addrs in items:
        try:
            h = canonical_host(host)
        except HostError as e:
            raise PatternError(str(e), f"{host}={addrs}") from None
        if ip_of(h) is not None:
            raise PatternError("pin a name, not an address", f"{host}={addrs}")
        out = []
        for a in str(addrs).split(","):
            try:
                ip = ip_of(canonical_host(a.strip()))
            except HostError:
                ip = None
            if ip is None:
                raise PatternError(f"{a.strip()!r} is not an IP address", f"{host}={addrs}")
            out.append(ip)
        pins[h] = tuple(out)
    return pins


def _declared(p: Pattern, origins: Mapping[str, str]) -> Pattern:
    origin = origins.get(p.text)
    return dataclasses.replace(p, origin=str(origin)) if origin else p


def _split_pin(s: str) -> tuple[str, str]:
    if "=" not in s:
        raise PatternError("expected HOST=ADDR", s)
    host, _, addr = s.partition("=")
    return host.strip(), addr.strip()


def lists_from_rules(rules: Iterable) -> tuple[list[str], list[str]]:
    """``network_rule(...)`` entries (objects with ``host`` and ``decision``) -> (allow, deny).

    ``allow`` goes to the allow list; ``forbidden`` and ``prompt`` (nobody to ask inside a
    proxy) go to the deny list.
    """
    allow: list[str] = []
    deny: list[str] = []
    for r in rules:
        decision = str(getattr(r, "decision", "")).lower()
        host = str(r.host)
        (allow if decision == "allow" else deny).append(host)
    return allow, deny
