"""Allow/deny destination patterns: parsed and validated once, matched against canonical hosts.

Forms: ``example.com`` (that host, any port), ``*.example.com`` (subdomains at any depth,
not the apex), ``**.example.com`` (apex and subdomains), ``host:PORT`` on any of those,
IP literals (``127.0.0.1``, ``[::1]:8080``, any IPv4 spelling), CIDR ranges (``10.0.0.0/8``,
``[fd00::/8]:443``), ``localhost``; ``*`` (everything) only where the caller allows it (deny
lists). A pattern that can never match (``*.1.2.3.4``, ``a..b``, host bits set in a CIDR, a
zone id) is an error, never a silent no-op.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from cordon.netproxy.errors import ProxyError
from cordon.netproxy.hosts import HostError, IPAddress, canonical_host, ip_of, parse_port


class PatternError(ProxyError, ValueError):
    """A pattern that is malformed or can never match; ``pattern`` is the offending text."""

    def __init__(self, message: str, pattern: str):
        super().__init__(f"{pattern!r}: {message}")
        self.pattern = pattern
        self.detail = message


@dataclasses.dataclass(frozen=True)
class Pattern:
    text: str
    kind: str  # "exact" | "subdomains" | "apex+subdomains" | "ip" | "cidr" | "any"
    host: str = ""
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    port: int | None = None
    origin: str = ""  # where the entry was declared (a .rules network_rule's FILE:LINE:COL), if known

    def matches(self, host: str, ip: IPAddress | None, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        k = self.kind
        if k == "exact":
            return ip is None and host == self.host
        if k == "subdomains":
            return ip is None and host.endswith("." + self.host)
        if k == "apex+subdomains":
            return ip is None and (host == self.host or host.endswith("." + self.host))
        if k in ("ip", "cidr"):
            return ip is not None and self.network is not None and ip in self.network
        return k == "any"

    def matches_address(self, ip: IPAddress, port: int) -> bool:
        """True when this is an IP/CIDR pattern covering ``ip`` (used to vet resolved addresses)."""
        return self.kind in ("ip", "cidr") and self.matches(str(ip), ip, port)

    def __str__(self) -> str:
        return self.text


def parse_pattern(text: str, *, allow_any: bool = False) -> Pattern:
    """Parse one pattern; raise ``PatternError`` saying why it is unusable."""
    if not isinstance(text, str):
        raise PatternError("a pattern must be a string", repr(text))
    raw = text.strip()
    if not raw:
        raise PatternError("empty pattern", text)
    if "://" in raw:
        raise PatternError("give a host pattern, not a URL (drop the scheme)", text)
    host_part, port = _split_port(raw, text)
    if host_part == "*":
        if not allow_any:
            raise PatternError("'*' (every host) is only accepted in deny lists", text)
        return Pattern(raw, "any", port=port)
    for prefix, kind in (("**.", "apex+subdomains"), ("*.", "subdomains")):
        if host_part.startswith(prefix):
            base = host_part[len(prefix) :]
            if "*" in base:
                raise PatternError("'*' may only be the whole first label", text)
            try:
                canon = canonical_host(base)
            except HostError as e:
                raise PatternError(str(e), text) from None
            if ip_of(canon) is not None:
                raise PatternError("a wildcard over an IP address can never match", text)
            return Pattern(raw, kind, host=canon, port=port)
    if "*" in host_part:
        raise PatternError("'*' may only be the whole first label ('*.example.com')", text)
    if "/" in host_part:
        try:
            net = ipaddress.ip_network(host_part, strict=True)
        except ValueError as e:
            raise PatternError(f"invalid CIDR range ({e})", text) from None
        if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped and net.prefixlen >= 96:
            net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
        return Pattern(raw, "cidr", host=str(net), network=net, port=port)
    try:
        canon = canonical_host(host_part)
    except HostError as e:
        raise PatternError(str(e), text) from None
    ip = ip_of(canon)
    if ip is not None:
        return Pattern(raw, "ip", host=canon, network=ipaddress.ip_network(ip), port=port)
    return Pattern(raw, "exact", host=canon, port=port)


def _split_port(raw: str, text: str) -> tuple[str, int | None]:
    """Split an optional ``:PORT``; IPv6 needs brackets to carry a port."""
    try:
        if raw.startswith("["):
            end = raw.find("]")
            if end < 0:
                raise PatternError("unbalanced '['", text)
            rest = raw[end + 1 :]
            if rest and not rest.startswith(":"):
                raise PatternError("unexpected text after ']'", text)
            return raw[1:end], parse_port(rest[1:]) if rest else None
        if raw.count(":") == 1:
            host, port = raw.split(":")
            return host, parse_port(port)
        return raw, None  # a name, or an unbracketed IPv6 literal/range without port
    except HostError as e:
        raise PatternError(str(e), text) from None
