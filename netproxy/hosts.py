"""One canonical spelling for every destination host, shared by pattern loading and runtime.

``canonical_host`` turns whatever a client (or a config file) wrote into the form the
policy judges and the proxy dials: lower-case IDNA names without a trailing dot, IPv4 in
dotted-quad form whatever spelling was used (``2130706433``, ``127.1``, ``0x7f.0.0.1``,
``0177.0.0.1``), IPv6 compressed, IPv4-mapped IPv6 unwrapped to IPv4. Zone ids, control
bytes, userinfo and over-long names are errors. Stdlib only (plus ``idna`` when a name is
not ASCII), so the sandbox launcher can validate patterns without importing the proxy.
"""

from __future__ import annotations

import ipaddress
import re

from cordon.netproxy.errors import ProxyError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")
_NUMERIC = re.compile(r"^(?:[0-9]+|0[xX][0-9a-fA-F]*)$")


class HostError(ProxyError, ValueError):
    """A host (or authority) that cannot be judged; the proxy answers 400 for it."""


def canonical_host(raw: str) -> str:
    """The canonical spelling of ``raw`` (a name or an IP literal, IPv6 with or without brackets)."""
    if not isinstance(raw, str) or not raw:
        raise HostError("empty host")
    if len(raw) > 300:
        raise HostError("host is too long")
    if any(c in raw for c in "%@/\\?# \t\r\n\x00") or not raw.isprintable():
        if "%" in raw:
            raise HostError("IPv6 zone ids are not accepted")
        raise HostError(f"invalid character in host {raw[:60]!r}")
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise HostError(f"unbalanced brackets in {raw!r}")
        return _ipv6(raw[1:-1])
    if ":" in raw:
        return _ipv6(raw)
    return _name_or_ipv4(raw)


def ip_of(host: str) -> IPAddress | None:
    """The address a *canonical* host denotes, or None for a name."""
    if host[:1].isdigit() or ":" in host:
        try:
            return ipaddress.ip_address(host)
        except ValueError:
            return None
    return None


def split_authority(authority: str, default_port: int | None = None) -> tuple[str, int]:
    """``host:port`` / ``[v6]:port`` -> (canonical host, port). Userinfo and port 0 are errors."""
    if "@" in authority:
        raise HostError("userinfo is not accepted in a proxy target")
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise HostError(f"unbalanced brackets in {authority!r}")
        host_part, rest = authority[: end + 1], authority[end + 1 :]
        if rest and not rest.startswith(":"):
            raise HostError(f"junk after IPv6 literal in {authority!r}")
        port_part = rest[1:] if rest else None
    elif authority.count(":") == 1:
        host_part, port_part = authority.split(":")
    elif ":" in authority:
        raise HostError(f"IPv6 literals must be bracketed: {authority!r}")
    else:
        host_part, port_part = authority, None
    if port_part is None or port_part == "":
        if default_port is None:
            raise HostError(f"missing port in {authority!r}")
        port = default_port
    else:
        port = parse_port(port_part)
    return canonical_host(host_part), port


def parse_port(text: str) -> int:
    if not text.isdigit() or not text.isascii() or (len(text) > 1 and text[0] == "0"):
        raise HostError(f"invalid port {text!r}")
    port = int(text)
    if not 1 <= port <= 65535:
        raise HostError(f"port {port} is out of range 1-65535")
    return port


def format_authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ipv6(text: str) -> str:
    if "%" in text:
        raise HostError("IPv6 zone ids are not accepted")
    try:
        ip = ipaddress.IPv6Address(text)
    except ValueError as e:
        raise HostError(f"invalid IPv6 address {text!r}") from e
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _name_or_ipv4(text: str) -> str:
    name = text[:-1] if text.endswith(".") else text
    if not name or name.endswith("."):
        raise HostError(f"invalid host {text!r}")
    if not name.isascii():
        try:
            import idna

            name = idna.encode(name, uts46=True).decode("ascii")
        except (ImportError, UnicodeError, ValueError) as e:
            raise HostError(f"invalid internationalised name {text!r}") from e
    name = name.lower()
    labels = name.split(".")
    if _NUMERIC.match(labels[-1]):
        # WHATWG: a host whose last label is a number is an IPv4 address or nothing.
        return str(_parse_ipv4(labels, text))
    if len(name) > 253:
        raise HostError("host name is longer than 253 characters")
    for label in labels:
        if not label or len(label) > 63 or not _LABEL.match(label):
            raise HostError(f"invalid label {label[:70]!r} in host name")
    return name


def _parse_ipv4(parts: list[str], original: str) -> ipaddress.IPv4Address:
    """inet_aton/WHATWG rules: 1-4 parts, each decimal, 0x-hex or 0-octal; the last fills the rest."""
    if len(parts) > 4:
        raise HostError(f"{original!r} is not a valid IPv4 address")
    values: list[int] = []
    for p in parts:
        try:
            if p[:2] in ("0x", "0X"):
                v = int(p[2:] or "0", 16)
            elif len(p) > 1 and p[0] == "0":
                v = int(p, 8)
            else:
                v = int(p, 10)
        except ValueError as e:
            raise HostError(f"{original!r} is not a valid IPv4 address") from e
        values.append(v)
    if any(v > 255 for v in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise HostError(f"{original!r} is not a valid IPv4 address")
    n = values[-1]
    for i, v in enumerate(values[:-1]):
        n += v << (8 * (3 - i))
    return ipaddress.IPv4Address(n)
