"""The sandbox's proxy bridge, its proxy process, the forwarder and ``sandbox proxy``."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from cordon.sandbox.linux import proxy_bridge

from cordon import netproxy

pytestmark = pytest.mark.network


def network(**kw):
    base = {"mode": "proxy", "allow_domains": [], "deny_domains": [], "resolve": {}, "net_log": None}
    base.update(kw)
    return SimpleNamespace(**base)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def forwarded(tmp_path):
    """prepare() a bridge and run its forwarder here (host namespace, free ports)."""
    running = []

    def make(**kw):
        bridge = proxy_bridge.prepare(network(**kw), runtime_dir=tmp_path / "run")
        http, socks = free_port(), free_port()
        argv = [*bridge.prelude[:-2], str(http), str(socks)]
        fwd = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert fwd.stdout.readline() == "ready\n"
        running.append((bridge, fwd))
        token = bridge.env["HTTP_PROXY"].split(":")[2].split("@")[0]
        return bridge, http, socks, token

    yield make
    for bridge, fwd in running:
        fwd.kill()
        fwd.wait()
        bridge.close()


def _connect(port: int, token: str, target: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    auth = base64.b64encode(f"cordon:{token}".encode()).decode()
    s.sendall(
        f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {auth}\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return s


def test_forwarder_hands_connections_to_the_proxy_and_live_update_cuts(forwarded, http_server):
    target = f"127.0.0.1:{http_server.port}"
    bridge, http, _, token = forwarded(allow_domains=[target])
    s = _connect(http, token, target)
    s.sendall(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in s.recv(65536)
    assert bridge.update_policy(allow=["other.test"]) == 1
    s.settimeout(3)
    rest = b""
    try:
        s.sendall(b"GET /two HTTP/1.1\r\nHost: x\r\n\r\n")
        while chunk := s.recv(65536):
            rest += chunk
    except OSError:
        pass
    s.close()
    assert b"200 OK" not in rest
    assert bridge.update_policy(allow=[target]) == 0
    _connect(http, token, target).close()
    with pytest.raises(netproxy.PatternError):
        bridge.update_policy(allow=["a..b"])
    kinds = [(e["verdict"], e.get("detail", "")[:7]) for e in bridge.events()]
    assert ("deny", "revoked") in kinds


def test_summary_and_cleanup(forwarded, tmp_path):
    bridge, http, _, token = forwarded(allow_domains=["allowed.test"])
    s = socket.create_connection(("127.0.0.1", http), timeout=5)
    auth = base64.b64encode(f"cordon:{token}".encode()).decode()
    s.sendall(
        f"GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\nProxy-Authorization: Basic {auth}\r\n\r\n".encode()
    )
    assert b"403" in s.recv(4096)
    s.close()
    time.sleep(0.1)
    directory = bridge.socket_path.parent
    bridge.close()
    assert not directory.exists()
    assert bridge.summary() == "network: 1 connection(s) denied: evil.test:80 (not-allowed)"


def test_user_net_log_summary_counts_only_this_run(tmp_path):
    log = tmp_path / "net.jsonl"
    log.write_text(
        json.dumps({"verdict": "deny", "host": "old.test", "port": 1, "reason": "not-allowed"}) + "\n"
    )
    bridge = proxy_bridge.prepare(network(allow_domains=["a.test"], net_log=log), runtime_dir=tmp_path / "r")
    bridge.close()
    assert bridge.summary() is None
    assert log.read_text().count("\n") == 1


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"allow_domains": ["*.1.2.3.4"]}, "network.allow_domains"),
        ({"deny_domains": ["ex*ample.com"]}, "network.deny_domains"),
        ({"resolve": {"a.test": "nope"}}, "network.resolve"),
        ({"net_log": "/proc/no/such/dir/log"}, "network.net_log"),
    ],
)
def test_bad_configuration_is_a_config_error(tmp_path, kw, field):
    from cordon.sandbox.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        proxy_bridge.prepare(network(**kw), runtime_dir=tmp_path / "run")
    assert e.value.field == field
    assert not any((tmp_path / "run").glob("netproxy-*")), "nothing half-made is left behind"


def test_environment_for_the_command():
    env = proxy_bridge.proxy_env("http://u:t@127.0.0.1:3128", "socks5h://u:t@127.0.0.1:1080", "t")
    assert env["HTTP_PROXY"] == env["https_proxy"] == env["GRPC_PROXY"] == env["npm_config_proxy"]
    assert env["ALL_PROXY"].startswith("socks5h://") and env["all_proxy"] == env["ALL_PROXY"]
    assert env["NO_PROXY"] == env["no_proxy"] == ""
    assert env["CLOUDSDK_PROXY_PASSWORD"] == "t"
    # npm: only keys npm knows (npm_config_http_proxy made every npm command warn).
    assert env["npm_config_https_proxy"] == env["HTTP_PROXY"]
    assert not any(k.lower() == "npm_config_http_proxy" for k in env)


def _policy(allow):
    from cordon.netproxy.policy import NetPolicy

    return NetPolicy.from_lists(allow, [])


@pytest.mark.parametrize(
    ("allow", "explicit", "expected"),
    [
        (["pypi.org"], {}, "localhost,127.0.0.1,::1"),
        (["pypi.org"], {"NO_PROXY": "corp.example, .internal"}, "corp.example,.internal,localhost,127.0.0.1,::1"),
        (["pypi.org"], {"no_proxy": "a.example", "NO_PROXY": "b.example,a.example"}, "b.example,a.example,localhost,127.0.0.1,::1"),
        (["pypi.org"], {"NO_PROXY": "localhost"}, "localhost,127.0.0.1,::1"),
        # A loopback destination on the allow list is a host service: only the proxy reaches it.
        (["127.0.0.1:8080"], {}, ""),
        (["localhost"], {"NO_PROXY": "corp.example"}, "corp.example"),
        (["[::1]:9000"], {}, ""),
        (["127.0.0.0/8"], {}, ""),
        (["10.0.0.0/8"], {}, "localhost,127.0.0.1,::1"),
    ],
)  # fmt: skip
def test_no_proxy_merges_the_users_and_loopback(allow, explicit, expected):
    assert proxy_bridge.no_proxy_for(_policy(allow).allow, explicit) == expected


def test_prepare_puts_the_merged_no_proxy_in_every_spelling(tmp_path):
    with proxy_bridge.prepare(
        network(allow_domains=["pypi.org"]),
        runtime_dir=tmp_path / "run",
        explicit_env={"NO_PROXY": "corp.example"},
    ) as bridge:
        for name in proxy_bridge.NO_PROXY_VARS:
            assert bridge.env[name] == "corp.example,localhost,127.0.0.1,::1", name


def test_summary_escapes_control_characters_and_says_how_to_allow(tmp_path):
    log = tmp_path / "events.jsonl"
    events = [
        {"verdict": "deny", "host": "evil\x1b]0;pwned\x07\r.test", "port": 80, "reason": "bad-request"},
        {"verdict": "deny", "host": "\u202eexample.com", "port": 443, "reason": "not-allowed"},
        {"verdict": "deny", "host": "mirror.test", "port": 443, "reason": "private-address",
         "allow_with": "--allow-domain 192.0.2.7:443"},
        {"verdict": "deny", "host": None, "port": None, "reason": "capacity",
         "target_unknown": "closed before its request was read"},
    ]  # fmt: skip
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    bridge = proxy_bridge.Bridge(bwrap_args=[], prelude=[], env={}, socket_path=tmp_path / "s", log_path=log)
    line = bridge.summary()
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in line), line
    assert "evil\\x1b]0;pwned\\x07\\x0d.test:80" in line
    assert "\\u202eexample.com:443" in line
    assert "mirror.test:443 (private-address; allow with --allow-domain 192.0.2.7:443)" in line
    assert "unknown target (capacity)" in line


def test_ssh_proxy_command_helper(http_server):
    """``forwarder.py --connect`` (GIT_SSH_COMMAND's ProxyCommand) tunnels stdin/stdout via CONNECT."""
    with netproxy.start([f"127.0.0.1:{http_server.port}"]) as p:
        env = dict(os.environ, HTTPS_PROXY=p.url)
        r = subprocess.run(
            [
                sys.executable,
                "-I",
                "-S",
                str(proxy_bridge.FORWARDER),
                "--connect",
                "127.0.0.1",
                str(http_server.port),
            ],
            input=b"GET /ssh HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            capture_output=True,
            env=env,
            timeout=10,
        )
        assert r.returncode == 0, r.stderr
        assert b'"path": "/ssh"' in r.stdout
        r = subprocess.run(
            [sys.executable, "-I", "-S", str(proxy_bridge.FORWARDER), "--connect", "evil.test", "22"],
            input=b"",
            capture_output=True,
            env=env,
            timeout=10,
        )
        assert r.returncode == 1 and b"not-allowed" in r.stderr


def test_sandbox_proxy_command(http_server, tmp_path):
    log = tmp_path / "log.jsonl"
    argv = [
        sys.executable,
        "-m",
        "cordon.sandbox",
        "proxy",
        "--allow-domain",
        f"127.0.0.1:{http_server.port}",
    ]
    argv += ["--listen", "127.0.0.1:0", "--socks", "127.0.0.1:0", "--net-log", str(log)]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        http_url = proc.stdout.readline().strip().split("=", 1)[1]
        socks_url = proc.stdout.readline().strip().split("=", 1)[1]
        for proxy in (http_url, socks_url):
            r = subprocess.run(
                ["curl", "-sS", "-x", proxy, f"{http_server.url}/cli"], capture_output=True, text=True
            )
            assert json.loads(r.stdout)["path"] == "/cli", r.stderr
        wrong = "http://cordon:wrong@127.0.0.1:" + http_url.rsplit(":", 1)[1]
        r = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-x", wrong, f"{http_server.url}/"],
            capture_output=True,
            text=True,
        )
        assert r.stdout == "407"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "2 allowed, 1 denied" in err
    assert len(log.read_text().splitlines()) == 3


def test_sandbox_proxy_rejects_bad_patterns():
    r = subprocess.run(
        [sys.executable, "-m", "cordon.sandbox", "proxy", "--allow-domain", "*.1.2.3.4"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert "'*.1.2.3.4'" in r.stderr and "never match" in r.stderr


def test_sandbox_proxy_takes_network_rules(http_server, tmp_path):
    rules = tmp_path / "net.rules"
    rules.write_text(
        'network_rule(host="127.0.0.1", protocol="http", decision="allow")\n'
        'network_rule(host="evil.test", protocol="http", decision="forbidden")\n'
    )
    argv = [sys.executable, "-m", "cordon.sandbox", "proxy", "--rules", str(rules), "--listen", "127.0.0.1:0"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip().split("=", 1)[1]
        ok = subprocess.run(
            ["curl", "-sS", "-x", url, f"{http_server.url}/r"], capture_output=True, text=True
        )
        assert json.loads(ok.stdout)["path"] == "/r"
        denied = subprocess.run(
            ["curl", "-sS", "-i", "-x", url, "http://evil.test/"], capture_output=True, text=True
        )
        assert "X-Proxy-Error: deny-listed" in denied.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    bad = tmp_path / "bad.rules"
    bad.write_text('network_rule(host="a.test", protocol="http", decision="allow"\n')
    r = subprocess.run(
        [sys.executable, "-m", "cordon.sandbox", "proxy", "--rules", str(bad)], capture_output=True, text=True
    )
    assert r.returncode == 2 and f"{bad}:1:" in r.stderr


def test_directories_of_killed_launchers_are_swept(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = run_dir / f"netproxy-{dead.pid}-abcd1234"
    stale.mkdir()
    (stale / "proxy.sock").write_text("")
    alive = run_dir / f"netproxy-{os.getpid()}-abcd1234"
    alive.mkdir()
    bridge = proxy_bridge.prepare(network(allow_domains=["a.test"]), runtime_dir=run_dir)
    bridge.close()
    assert not stale.exists() and alive.exists()
