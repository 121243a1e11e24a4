"""The proxy's errors: ``ProxyError`` (a ``CordonError``) and, beneath it, the bad inputs."""

from __future__ import annotations

from cordon.errors import CordonError


class ProxyError(CordonError):
    """The network proxy refused a request or could not do what was asked (a live policy
    update to a proxy that is gone, say). Bad inputs are the subclasses ``PatternError``,
    ``HostError`` and ``HelloError``, which are ``ValueError``s too."""
