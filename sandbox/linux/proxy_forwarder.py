"""In-sandbox bridge to the proxy. Stdlib only, started with ``python -I -S`` (~15 ms).

Runs inside the sandbox's network namespace (which has only loopback):

    proxy_forwarder.py SOCKET PORT [PORT...]
        listen on 127.0.0.1:PORT (and [::1]:PORT when there is IPv6 loopback); hand every
        accepted connection to the proxy over the unix SOCKET with SCM_RIGHTS, then forget
        it. Prints ``ready`` once listening.
    proxy_forwarder.py --connect HOST PORT
        a ProxyCommand for ssh (GIT_SSH_COMMAND): open a CONNECT tunnel through
        $HTTPS_PROXY and relay stdin/stdout.

The hand-off means no byte of the traffic passes through this process: the proxy owns the
client socket itself. The proxy's listening socket exists before the proxy has finished
starting, so connections made early simply wait in the kernel's queue.
"""

import _socket  # not ``socket``: its enum-based wrapper costs ~30 ms of start-up
import array
import os
import select
import sys
import time


def _connect_unix(path: str, deadline: float):
    while True:
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _listen(port: int) -> list:
    out = []
    for fam, host in ((_socket.AF_INET, "127.0.0.1"), (_socket.AF_INET6, "::1")):
        s = _socket.socket(fam, _socket.SOCK_STREAM)
        s.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        try:
            if fam == _socket.AF_INET6:
                s.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 1)
            s.bind((host, port))
        except OSError:
            s.close()
            if fam == _socket.AF_INET:
                raise
            continue  # no IPv6 loopback in this namespace
        s.listen(512)
        out.append(s)
    return out


def serve(path: str, ports: list[int]) -> int:
    link = _connect_unix(path, time.monotonic() + 5)
    listeners = [s for p in ports for s in _listen(p)]
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    poller = select.poll()
    by_fd = {s.fileno(): s for s in listeners}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    rights = (_socket.SOL_SOCKET, _socket.SCM_RIGHTS)
    while True:
        for fd, _ in poller.poll():
            try:
                conn, _ = by_fd[fd]._accept()
            except OSError:
                continue
            try:
                link.sendmsg([b"c"], [(*rights, array.array("i", [conn]))])
            except OSError:
                return 1  # the proxy is gone; the sandbox has no network any more
            finally:
                os.close(conn)


def connect(host: str, port: str) -> int:
    """ssh ProxyCommand: CONNECT host:port through $HTTPS_PROXY, then relay stdin/stdout."""
    import base64
    import socket
    from urllib.parse import unquote, urlsplit

    url = urlsplit(os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy") or "")
    if not url.hostname:
        sys.stderr.write("forwarder: HTTPS_PROXY is not set\n")
        return 2
    s = socket.create_connection((url.hostname, url.port or 3128))
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    req = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if url.username:
        cred = base64.b64encode(f"{unquote(url.username)}:{unquote(url.password or '')}".encode()).decode()
        req += f"Proxy-Authorization: Basic {cred}\r\n"
    s.sendall((req + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        sys.stderr.write(f"forwarder: proxy refused {target}: {head.decode('latin-1').strip()}\n")
        return 1
    rest = head.split(b"\r\n\r\n", 1)[1]
    out = sys.stdout.buffer
    if rest:
        out.write(rest)
        out.flush()
    fds = {0: s.fileno(), s.fileno(): 1}
    open_in = True
    while True:
        r, _, _ = select.select([0, s.fileno()] if open_in else [s.fileno()], [], [])
        for fd in r:
            data = os.read(fd, 65536)
            if not data:
                if fd == 0:
                    open_in = False
                    s.shutdown(socket.SHUT_WR)
                    continue
                return 0
            dst = fds[fd]
            while data:
                data = data[os.write(dst, data) :]


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "--connect":
        return connect(argv[1], argv[2])
    if len(argv) < 2:
        sys.stderr.write("usage: proxy_forwarder.py SOCKET PORT [PORT...] | --connect HOST PORT\n")
        return 2
    try:
        return serve(argv[0], [int(p) for p in argv[1:]])
    except OSError as e:
        sys.stderr.write(f"forwarder: {e}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
