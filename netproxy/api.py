"""Library API: run the proxy in this process (threads) and change its policy while it runs.

proxy = netproxy.start(allow=["example.com"], listen=("127.0.0.1", 0))
proxy.url          # http://cordon:<token>@127.0.0.1:PORT  (also speaks SOCKS5 on that port)
proxy.update(allow=["example.com", "api.example.org"])   # cuts connections that lost permission
proxy.stop()
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable, Mapping

from cordon.netproxy.hosts import format_authority
from cordon.netproxy.limits import Limits, raise_fd_limit
from cordon.netproxy.policy import NetPolicy
from cordon.netproxy.server import ProxyServer

USER = "cordon"


class Proxy:
    """A running proxy. ``url``/``socks_url`` carry the credential; ``stop()`` ends it."""

    def __init__(self, server: ProxyServer, address: tuple[str, int], socks: tuple[str, int] | None):
        self.server = server
        self.address = address
        self.socks_address = socks or address

    @property
    def token(self) -> str | None:
        return self.server.token

    def _url(self, scheme: str, addr: tuple[str, int]) -> str:
        cred = f"{USER}:{self.token}@" if self.token else ""
        return f"{scheme}://{cred}{format_authority(*addr)}"

    @property
    def url(self) -> str:
        return self._url("http", self.address)

    @property
    def socks_url(self) -> str:
        return self._url("socks5h", self.socks_address)

    @property
    def policy(self) -> NetPolicy:
        return self.server.policy

    def update(
        self,
        allow: Iterable[str] | None = None,
        deny: Iterable[str] | None = None,
        resolve: Mapping[str, str] | None = None,
    ) -> int:
        """Replace the lists given (others stay); returns how many open connections were cut."""
        cur = self.server.policy.to_lists()
        policy = NetPolicy.from_lists(
            cur["allow"] if allow is None else allow,
            cur["deny"] if deny is None else deny,
            cur["resolve"] if resolve is None else resolve,
            cur["origins"],
        )
        return self.server.update(policy)

    def stop(self) -> None:
        self.server.close()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start(
    allow: Iterable[str] = (),
    deny: Iterable[str] = (),
    *,
    resolve: Mapping[str, str] | Iterable[str] | None = None,
    listen: tuple[str, int] = ("127.0.0.1", 0),
    socks: tuple[str, int] | None = None,
    auth: bool | str = True,
    net_log: str | os.PathLike | None = None,
    on_event: Callable[[dict], None] | None = None,
    limits: Limits | None = None,
) -> Proxy:
    """Validate the policy (``PatternError`` on a bad entry) and start listening.

    ``auth``: True = a fresh random credential, a string = that token, False = none.
    Every listener speaks HTTP/CONNECT and SOCKS5 (told apart by the first byte).
    The process's soft descriptor limit is raised to its hard limit first; ``limits``
    overrides the connection caps and timeouts (``netproxy.limits.Limits``).
    """
    policy = NetPolicy.from_lists(allow, deny, resolve)
    token = secrets.token_hex(16) if auth is True else (auth or None)
    raise_fd_limit()
    server = ProxyServer(policy, token=token, log_path=net_log, on_event=on_event, limits=limits)
    try:
        addr = server.listen_tcp(*listen)
        socks_addr = server.listen_tcp(*socks) if socks else None
    except OSError:
        server.close()
        raise
    return Proxy(server, addr, socks_addr)
