"""Cordon's domain-filtering network proxy (HTTP, CONNECT, SOCKS5), built on mitmproxy.

Owns: network policy (domain patterns, address vetting), the proxy process, and the
bridge into a sandbox's network namespace. Must not touch: filesystem confinement.
"""
