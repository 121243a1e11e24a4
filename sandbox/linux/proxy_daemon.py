"""The per-sandbox proxy process started by ``proxy_bridge.prepare``.

Protocol: the inherited fd named by ``config["fd"]`` is the listening AF_UNIX
SOCK_SEQPACKET socket the in-sandbox forwarder hands connections to (bound by the
launcher *before* this process starts, so nothing waits for our imports). stdin carries JSON lines: the first is the configuration
``{"allow", "deny", "resolve", "token", "log"}``; each later line replaces the lists
(a live update) and is answered on stdout with ``{"ok": true, "cut": N}`` or
``{"ok": false, "error": "..."}``. EOF on stdin (the launcher exited) stops the proxy.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sys
import threading


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the command; the launcher stops us
    from cordon.sandbox.hardening import harden_process

    harden_process()

    from cordon.netproxy.limits import Limits, raise_fd_limit
    from cordon.netproxy.policy import NetPolicy
    from cordon.netproxy.server import ProxyServer

    config = json.loads(sys.stdin.readline())
    policy = NetPolicy.from_lists(
        config.get("allow", ()), config.get("deny", ()), config.get("resolve"), config.get("origins")
    )
    raise_fd_limit()
    limits = Limits().resolved()
    # One client (the sandbox): its cap is the whole proxy's.
    limits = dataclasses.replace(limits, max_per_client=limits.max_connections)
    server = ProxyServer(policy, token=config.get("token"), log_path=config.get("log"), limits=limits)
    server.serve_handoff(socket.socket(fileno=int(config["fd"])))
    threading.Thread(target=_warm_up, daemon=True).start()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            new = NetPolicy.from_lists(
                req.get("allow", ()), req.get("deny", ()), req.get("resolve"), req.get("origins")
            )
            reply = {"ok": True, "cut": server.update(new)}
        except (ValueError, TypeError) as e:
            reply = {"ok": False, "error": str(e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    server.close()
    return 0


def _warm_up() -> None:
    """Import the HTTP parser (h11) at low priority: the sandbox is starting on the same
    cores and comes first; a request arriving meanwhile waits on the import lock."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # this thread only (Linux)
    except OSError:
        pass
    import h11  # noqa: F401


if __name__ == "__main__":
    sys.exit(main())
