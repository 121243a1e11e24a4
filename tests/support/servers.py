"""Loopback-only HTTP and HTTPS echo servers and a raw TCP recorder.

Every server binds 127.0.0.1 or ::1 on an ephemeral port; tests never reach anything
else. The HTTPS server uses a throwaway self-signed certificate made at start-up.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body_in = self.rfile.read(length) if length else b""
        if self.path.startswith("/bytes/"):
            n = int(self.path.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"x" * 65536
            while n > 0:
                self.wfile.write(chunk[: min(n, len(chunk))])
                n -= len(chunk)
            return
        payload = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": body_in.decode("latin-1"),
                "server": self.server.server_address[:2],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _reply

    def log_message(self, *args) -> None:  # keep test output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, tls: ssl.SSLContext | None):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, 0), _EchoHandler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)


class EchoServer:
    """An HTTP(S) echo server on loopback. ``url`` is its base URL; ``/bytes/N`` streams N bytes."""

    def __init__(
        self, host: str = "127.0.0.1", tls: bool = False, cert_names: tuple[str, ...] = ("localhost",)
    ):
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("test servers bind loopback only")
        self.host = host
        self.tls = tls
        self.cert_file: Path | None = None
        ctx = None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.cert_file = self_signed_cert((*cert_names, host), ctx)
        self._server = _Server(host, ctx)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        h = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{h}:{self.port}"

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self.cert_file is not None:
            shutil.rmtree(self.cert_file.parent, ignore_errors=True)


class TcpRecorder:
    """A raw TCP listener that records the first bytes of each connection (for SNI checks)."""

    def __init__(self, host: str = "127.0.0.1"):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(1.0)
            data = b""
            try:
                data = conn.recv(65536)
            except OSError:
                pass
            # The proxy dials before it answers a tunnel (to report an unreachable upstream),
            # so a connection that carries no byte is not something the client sent.
            self.connections += 1
            if data:
                self.received.append(data)
            conn.close()

    def __enter__(self) -> TcpRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def self_signed_cert(names: tuple[str, ...], ctx: ssl.SSLContext) -> Path:
    """Make a throwaway self-signed cert+key for ``names``, load both into ``ctx`` and return the
    certificate's path (world-readable: clients, also the unprivileged test account, trust it).

    The private key exists on disk only while ``ctx`` loads it, in a folder only this process's
    user can enter; nothing key-shaped is left in /tmp (the caller removes the cert folder)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for n in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            sans.append(x509.DNSName(n))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    d = Path(tempfile.mkdtemp(prefix="cordon-cert-"))
    cert_file = d / "cert.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    cert_file.chmod(0o644)
    private = Path(tempfile.mkdtemp(prefix="key-", dir=d))  # 0700
    key_file = private / "key.pem"
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        ctx.load_cert_chain(cert_file, key_file)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    d.chmod(0o755)
    return cert_file
