"""Give a sandbox with its own network namespace a filtered way out: Cordon's proxy, bridged in.

``prepare()`` (called by the Linux launcher before bwrap starts):

1. validates the policy (``ConfigError`` naming the field and entry),
2. binds a unix SOCK_SEQPACKET socket in ``runtime_dir/netproxy-XXXX/`` (mode 0700),
3. starts the proxy process (``proxy_daemon``) with that listening socket as fd 3, in
   parallel with the sandbox start: nothing waits for its ~0.3 s of imports, because
   the socket already accepts and the kernel queues early connections,
4. returns the bwrap arguments (bind that directory into the sandbox read-only), the
   ``prelude`` (the stdlib forwarder, listening on 127.0.0.1:3128 and :1080 inside the
   namespace, handing each accepted socket to the proxy) and the environment for the
   command (proxy URLs carrying a per-sandbox credential).

The sandboxed command may open unix sockets (for IPC among its own processes) and so can
reach this socket by path too: that is the same door the forwarder uses, and the proxy applies
the same credential check and domain filter there (tests/sandbox/linux/test_local_ipc.py).
Only loopback exists in the namespace, so nothing else leaves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cordon.netproxy.errors import ProxyError
from cordon.sandbox.errors import ConfigError
from cordon.sandbox.noproxy import NO_PROXY_VARS, no_proxy_for

HTTP_PORT = 3128
SOCKS_PORT = 1080
USER = "cordon"
FORWARDER = Path(__file__).with_name("proxy_forwarder.py")
# The folder holding the ``cordon`` package (site-packages, or a checkout's root), for the daemon.
_PKG_ROOT = str(Path(sys.modules["cordon"].__file__).resolve().parents[1])


@dataclasses.dataclass
class Bridge:
    bwrap_args: list[str]
    prelude: list[str]
    env: dict[str, str]
    socket_path: Path
    log_path: Path
    _proc: subprocess.Popen | None = dataclasses.field(default=None, repr=False)
    _dir: Path | None = dataclasses.field(default=None, repr=False)
    _policy: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)
    _final_events: list[dict] | None = dataclasses.field(default=None, repr=False)
    _log_offset: int = 0  # a user's --net-log may hold earlier runs: summarise only ours

    def update_policy(
        self,
        allow: Iterable[str] | None = None,
        deny: Iterable[str] | None = None,
        resolve: Mapping[str, str] | None = None,
    ) -> int:
        """Replace the lists given, live; returns how many open connections were cut."""
        from cordon.netproxy.policy import NetPolicy

        new = {
            "allow": list(self._policy["allow"] if allow is None else allow),
            "deny": list(self._policy["deny"] if deny is None else deny),
            "resolve": dict(self._policy["resolve"] if resolve is None else resolve),
            "origins": dict(self._policy.get("origins") or {}),
        }
        NetPolicy.from_lists(new["allow"], new["deny"], new["resolve"])  # raise PatternError here
        if self._proc is None or self._proc.poll() is not None:
            raise ProxyError("the network proxy is not running")
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(json.dumps(new) + "\n")
        self._proc.stdin.flush()
        reply = json.loads(self._proc.stdout.readline() or '{"ok": false, "error": "proxy exited"}')
        if not reply.get("ok"):
            raise ProxyError(f"policy update failed: {reply.get('error')}")
        self._policy = new
        return int(reply["cut"])

    def events(self) -> list[dict]:
        """Every decision so far (one dict per line of the net log)."""
        if self._final_events is not None:
            return self._final_events
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        out = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def summary(self) -> str | None:
        """One line about denied connections, or None when nothing was denied.

        Host names come from the sandboxed command: control characters (ESC, BEL, CR...) and
        invisible formatting characters are escaped so they cannot drive the user's terminal.
        """
        denied = [e for e in self.events() if e.get("verdict") == "deny"]
        if not denied:
            return None
        seen: dict[str, None] = {}
        for e in denied:
            host = printable(str(e.get("host") or "unknown target"))
            target = f"{host}:{e.get('port')}" if e.get("port") else host
            why = printable(str(e.get("reason")))
            if e.get("allow_with") and e.get("reason") == "private-address":
                why += f"; allow with {printable(str(e['allow_with']))}"
            seen.setdefault(f"{target} ({why})", None)
        shown = list(seen)[:5]
        more = f", +{len(seen) - 5} more" if len(seen) > 5 else ""
        return f"network: {len(denied)} connection(s) denied: {', '.join(shown)}{more}"

    def close(self) -> None:
        """Stop the proxy and remove its runtime directory (``summary()`` keeps working)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            # Every decision is already on disk (line-buffered), so there is nothing to flush:
            # do not wait for a daemon that may still be importing.
            proc.terminate()
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(OSError):
                proc.stdout.close()
            self._final_events = self.events()
        if self._dir is not None:
            _rmtree(self._dir, ignore_errors=True)
            self._dir = None

    cleanup = close

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def prepare(
    network,
    *,
    runtime_dir: Path,
    extra_allow: Iterable[str] = (),
    extra_deny: Iterable[str] = (),
    python: str | None = None,
    explicit_env: Mapping[str, str] | None = None,
) -> Bridge:
    """Start (in the background) the proxy for one sandbox; see the module docstring.

    ``network`` is a ``sandbox.model.NetworkPolicy``; ``extra_allow``/``extra_deny`` come from
    ``network_rule`` entries (``netproxy.policy.lists_from_rules``); ``explicit_env`` is what the
    user set for the command (``--env-set``): a ``NO_PROXY`` there is merged with Cordon's.
    """
    from cordon.netproxy.patterns import PatternError
    from cordon.netproxy.policy import NetPolicy

    allow = [*network.allow_domains, *extra_allow]
    deny = [*network.deny_domains, *extra_deny]
    resolve = dict(network.resolve or {})
    origins = dict(getattr(network, "origins", None) or {})  # .rules patterns -> FILE:LINE:COL
    try:
        policy = NetPolicy.from_lists(allow, deny, resolve, origins)
    except PatternError as e:
        field = "network.resolve" if "=" in e.pattern else _field_of(e.pattern, network)
        raise _config_error(f"invalid network pattern {e}", field) from None

    runtime_dir = Path(runtime_dir)
    runtime_dir.mkdir(parents=True, exist_ok=True)
    _sweep_stale(runtime_dir)
    d = runtime_dir / f"netproxy-{os.getpid()}-{os.urandom(4).hex()}"
    d.mkdir(mode=0o700)
    sock_path = d / "proxy.sock"
    log_path = Path(network.net_log) if network.net_log else d / "events.jsonl"
    if network.net_log:
        # Fail here, with the field named, rather than in the proxy process later.
        try:
            with open(log_path, "a", encoding="utf-8"):
                pass
        except OSError as e:
            _rmtree(d, ignore_errors=True)
            raise _config_error(
                f"cannot write the net log {log_path}: {e.strerror}", "network.net_log"
            ) from None
    log_offset = log_path.stat().st_size if log_path.exists() else 0
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        listener.bind(str(sock_path))
        listener.listen(128)
        token = os.urandom(16).hex()
        config = {
            "allow": allow,
            "deny": deny,
            "resolve": resolve,
            "origins": origins,
            "token": token,
            "log": str(log_path),
        }
        config["fd"] = listener.fileno()
        proc = subprocess.Popen(
            [
                python or sys.executable,
                "-I",
                "-c",
                f"import sys; sys.path.insert(0, {_PKG_ROOT!r}); from cordon.sandbox.linux.proxy_daemon import main; sys.exit(main())",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=(listener.fileno(),),
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
            text=True,
        )
    except BaseException:
        listener.close()
        _rmtree(d, ignore_errors=True)
        raise
    listener.close()
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(config) + "\n")
    proc.stdin.flush()

    http = f"http://{USER}:{token}@127.0.0.1:{HTTP_PORT}"
    socks = f"socks5h://{USER}:{token}@127.0.0.1:{SOCKS_PORT}"
    # The forwarder runs inside the sandbox, where this package may be invisible (a checkout or
    # venv under the private /tmp): a copy goes into the bridge folder, which is always bound in,
    # and it runs on the real interpreter (-I -S: stdlib only, no venv needed).
    py = os.path.realpath(python or sys.executable)
    forwarder = d / "forwarder.py"
    shutil.copyfile(FORWARDER, forwarder)
    os.chmod(forwarder, 0o444)
    return Bridge(
        bwrap_args=["--ro-bind", str(d), str(d)],
        prelude=[py, "-I", "-S", str(forwarder), str(sock_path), str(HTTP_PORT), str(SOCKS_PORT)],
        env=proxy_env(
            http,
            socks,
            token,
            ssh_helper=[py, "-I", "-S", str(forwarder)],
            no_proxy=no_proxy_for(policy.allow, explicit_env or {}),
        ),
        socket_path=sock_path,
        log_path=log_path,
        _proc=proc,
        _dir=d,
        _policy={"allow": allow, "deny": deny, "resolve": resolve, "origins": origins},
        _log_offset=log_offset,
    )


def _sweep_stale(runtime_dir: Path) -> None:
    """Remove bridge directories left by launchers that were killed (SIGKILL skips close())."""
    try:
        names = os.listdir(runtime_dir)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) != 3 or parts[0] != "netproxy" or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            _rmtree(runtime_dir / name)
        except OSError:
            pass  # alive (maybe another user's): leave it


def _rmtree(path, ignore_errors: bool = True) -> None:
    import shutil  # only on the way out: keep the launcher's start-up imports small

    shutil.rmtree(path, ignore_errors=ignore_errors)


def update_policy(bridge: Bridge, **lists) -> int:
    """Module-level spelling of ``Bridge.update_policy``."""
    return bridge.update_policy(**lists)


def proxy_env(
    http: str, socks: str, token: str, *, ssh_helper: list[str] | None = None, no_proxy: str = ""
) -> dict[str, str]:
    """Environment that points common tools at the proxy; ``NO_PROXY`` (and its spellings) = ``no_proxy``."""
    env: dict[str, str] = {}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "GRPC_PROXY", "WS_PROXY", "WSS_PROXY", "DOCKER_HTTP_PROXY",
                 "DOCKER_HTTPS_PROXY", "YARN_HTTP_PROXY", "YARN_HTTPS_PROXY", "BUNDLE_HTTP_PROXY",
                 "BUNDLE_HTTPS_PROXY", "PIP_PROXY"):  # fmt: skip
        env[name] = http
        if not name.startswith(("DOCKER", "YARN", "BUNDLE", "PIP")):
            env[name.lower()] = http
    # npm reads its settings from npm_config_<key> for its own keys only (proxy, https-proxy,
    # noproxy); anything else, such as npm_config_http_proxy, makes every npm command warn.
    env["npm_config_proxy"] = http
    env["npm_config_https_proxy"] = http
    for name in ("ALL_PROXY", "FTP_PROXY"):
        env[name] = socks
        env[name.lower()] = socks
    for name in NO_PROXY_VARS:
        env[name] = no_proxy
    env.update(
        {
            "RSYNC_PROXY": f"{USER}:{token}@127.0.0.1:{HTTP_PORT}",
            "CLOUDSDK_PROXY_TYPE": "http",
            "CLOUDSDK_PROXY_ADDRESS": "127.0.0.1",
            "CLOUDSDK_PROXY_PORT": str(HTTP_PORT),
            "CLOUDSDK_PROXY_USERNAME": USER,
            "CLOUDSDK_PROXY_PASSWORD": token,
            "NODE_USE_ENV_PROXY": "1",
            "ELECTRON_GET_USE_PROXY": "true",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.proxyAuthMethod",
            "GIT_CONFIG_VALUE_0": "basic",
            "CORDON_NETWORK": "proxy",
        }
    )
    if ssh_helper:
        cmd = " ".join(_shquote(a) for a in ssh_helper)
        # ssh's ProxyCommand is run by a shell; %h/%p are ssh's tokens.
        env["GIT_SSH_COMMAND"] = f"ssh -o ProxyCommand={_shquote(cmd + ' --connect %h %p')}"
    return env


_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)


def printable(text: str) -> str:
    """``text`` with control characters (C0, DEL, C1) and bidi/zero-width marks escaped."""
    out = []
    for ch in text:
        o = ord(ch)
        if o < 0x20 or 0x7F <= o < 0xA0:
            out.append(f"\\x{o:02x}")
        elif ch in _INVISIBLE:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _shquote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def _field_of(pattern: str, network) -> str:
    if pattern in network.deny_domains:
        return "network.deny_domains"
    if pattern in network.allow_domains:
        return "network.allow_domains"
    return "network_rule"


def _config_error(message: str, field: str) -> ConfigError:
    return ConfigError(message, field=field)
