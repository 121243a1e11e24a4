"""The ``NO_PROXY`` list a proxied command gets: one rule for every platform.

The user's own entries (``--env-set NO_PROXY=...`` or any of its spellings) come first and are
kept; then the loopback names, so that a client honouring the proxy variables talks to a
local server directly. Loopback is left out when the policy allows a loopback destination:
the user then asked for a *host* service, which only the proxy reaches (on Linux the
namespace's loopback is not the host's; on macOS and Windows the profile or the firewall lets
the command reach no loopback port but the proxy's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

NO_PROXY_VARS = ("NO_PROXY", "no_proxy", "npm_config_noproxy", "YARN_NO_PROXY", "BUNDLE_NO_PROXY")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def no_proxy_for(allow: Iterable, explicit_env: Mapping[str, str]) -> str:
    """``allow``: the parsed allow patterns (``netproxy.patterns.Pattern``); ``explicit_env``: what the user set."""
    user: list[str] = []
    for name in NO_PROXY_VARS:
        for item in (explicit_env.get(name) or "").split(","):
            if item.strip() and item.strip() not in user:
                user.append(item.strip())
    ours = [] if allows_loopback(allow) else [n for n in LOOPBACK_NAMES if n not in user]
    return ",".join(user + ours)


def no_proxy_for_domains(allow_domains: Iterable[str], explicit_env: Mapping[str, str]) -> str:
    """``no_proxy_for`` from allow-list entries as written (the macOS and Windows plans hold those)."""
    from cordon.netproxy.patterns import PatternError, parse_pattern

    patterns = []
    for text in allow_domains:
        try:
            patterns.append(parse_pattern(text))
        except PatternError:
            continue  # the proxy refuses to start on it, naming the entry; nothing to bypass here
    return no_proxy_for(patterns, explicit_env)


def allows_loopback(allow: Iterable) -> bool:
    """Does an allow pattern name loopback (``localhost``, 127.0.0.0/8, ::1)?"""
    import ipaddress  # not at import: ``sandbox run`` imports this module on its start-up path

    probes = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
    loopback_v4 = ipaddress.ip_network("127.0.0.0/8")
    for p in allow:
        if p.kind in ("exact", "apex+subdomains") and (
            p.host == "localhost" or p.host.endswith(".localhost")
        ):
            return True
        if p.kind == "subdomains" and p.host == "localhost":
            return True
        if p.kind in ("ip", "cidr") and p.network is not None:
            if any(a.version == p.network.version and a in p.network for a in probes):
                return True
            if p.network.version == 4 and p.network.overlaps(loopback_v4):
                return True
    return False
