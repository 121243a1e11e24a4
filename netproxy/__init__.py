"""Cordon's domain-filtering network proxy (HTTP, CONNECT, SOCKS5); h11 parses HTTP, we read the TLS SNI and splice.

Owns: network policy (domain patterns, canonical hosts, address vetting) and the proxy, as a
library. Must not touch: anything of ``cordon.sandbox`` (it imports nothing of it; the bridge
into a sandbox's network namespace, the in-sandbox forwarder and the per-sandbox proxy process
belong to the sandbox's Linux backend, ``cordon.sandbox.linux.proxy_*``).

Modules: ``policy``/``patterns``/``hosts`` judge a destination; ``server`` accepts, admits
(``limits``), speaks SOCKS and sets up tunnels; ``http1`` serves HTTP/1.1 with h11;
``clienthello`` reads the TLS server_name; ``relay`` moves established tunnels' bytes.

Public API (imported lazily, so ``import cordon.netproxy`` is free):
``start(allow, deny, ...) -> Proxy`` (``Proxy.update``, ``Proxy.stop``), ``NetPolicy``,
``Verdict``, ``canonical_host``; errors: ``ProxyError`` (a ``CordonError``) and its
``PatternError``, ``HostError``, ``HelloError``.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "start": "cordon.netproxy.api",
    "Proxy": "cordon.netproxy.api",
    "NetPolicy": "cordon.netproxy.policy",
    "Verdict": "cordon.netproxy.policy",
    "PatternError": "cordon.netproxy.patterns",
    "canonical_host": "cordon.netproxy.hosts",
    "HostError": "cordon.netproxy.hosts",
    "HelloError": "cordon.netproxy.clienthello",
    "ProxyError": "cordon.netproxy.errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cordon.netproxy' has no attribute {name!r}")
