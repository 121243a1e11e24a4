"""Seatbelt (SBPL) profile generation: ``ResolvedPolicy`` -> profile text + ``-D`` parameters.

Pure functions over data; nothing here calls macOS. Paths never enter the profile text
as SBPL strings: each is a ``(param "NAME")`` whose value travels as ``-D NAME=VALUE``.
The one exception is the case-insensitive guard for protected names, a regex that must
contain its root; it is regex-escaped and SBPL-string-escaped (see ``sbpl_string``).

Rule order matters in Seatbelt (a later matching rule overrides an earlier one), so the
profile lists allows first and explicit denies last; carve-outs are also written as
``require-not`` inside the allow itself, so they hold whichever way a rule set is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import PurePosixPath

from cordon.sandbox.errors import ConfigError
from cordon.sandbox.resolve import ResolvedPolicy

from cordon.paths import within

# On macOS these top-level names are symlinks into /private; Seatbelt sees the real path.
PRIVATE_ALIASES = ("/tmp", "/var", "/etc")

# Services a networked tool needs beyond the base profile: DNS, proxies, certificate trust.
NETWORK_MACH_SERVICES = (
    "com.apple.SystemConfiguration.DNSConfiguration",
    "com.apple.SystemConfiguration.configd",
    "com.apple.dnssd.service",
    "com.apple.networkd",
    "com.apple.nsurlsessiond",
    "com.apple.ocspd",
    "com.apple.trustd.agent",
    "com.apple.SecurityServer",
)
# TLS through the proxy still verifies certificates in-process, which asks trustd.
PROXY_MACH_SERVICES = ("com.apple.trustd.agent", "com.apple.SecurityServer", "com.apple.ocspd")

# `allow_git_write` (audited git mode): these stay read-only inside .git, so nothing the
# command writes there can run code on the host later (hooks, config, info/attributes).
GIT_READ_ONLY = ("hooks", "config", "config.lock", "info", "modules")

_REGEX_SPECIAL = set(".^$|()[]{}*+?\\")


def base_profile() -> str:
    """The static part of every profile (package data ``base.sbpl``)."""
    return resources.files("cordon.sandbox.macos").joinpath("base.sbpl").read_text(encoding="utf-8")


def darwin_path(p: os.PathLike[str] | str) -> str:
    """The path Seatbelt sees: normalised, with /tmp, /var and /etc under /private.

    ``ResolvedPolicy`` paths are already canonical on the planning host; this adds the
    macOS aliases, so a plan made on Linux matches what the kernel reports on macOS.
    """
    s = os.fspath(p)
    if not s.startswith("/"):
        raise ConfigError(f"path must be absolute: {s!r}", field="path")
    if "\0" in s:
        raise ConfigError(f"path contains a NUL byte: {s!r}", field="path")
    s = str(PurePosixPath(os.path.normpath(s)))
    if s.startswith("//"):
        s = "/" + s.lstrip("/")
    for alias in PRIVATE_ALIASES:
        if within(s, alias):
            return "/private" + s
    return s


def sbpl_string(s: str) -> str:
    """``s`` as an SBPL (TinyScheme) string literal: quotes, backslashes, controls escaped."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x};")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def regex_escape(s: str) -> str:
    """``s`` as a POSIX ERE matching exactly ``s`` (Seatbelt's regex dialect)."""
    return "".join("\\" + ch if ch in _REGEX_SPECIAL else ch for ch in s)


def case_insensitive(name: str) -> str:
    """A regex for ``name`` in any letter case: APFS is case-insensitive by default."""
    out = []
    for ch in name:
        if ch.lower() != ch.upper():
            out.append(f"[{ch.upper()}{ch.lower()}]")
        else:
            out.append(regex_escape(ch))
    return "".join(out)


@dataclass
class Profile:
    """The generated profile and the ``-D`` parameters it refers to, in order."""

    text: str
    params: dict[str, str] = field(default_factory=dict)


class _Builder:
    def __init__(self) -> None:
        self.params: dict[str, str] = {}
        self.lines: list[str] = []

    def param(self, name: str, path: str) -> str:
        """Register ``-D name=path`` and return the SBPL expression that reads it."""
        if name in self.params and self.params[name] != path:
            raise AssertionError(f"parameter {name} bound twice")
        self.params[name] = path
        return f'(param "{name}")'

    def emit(self, *lines: str) -> None:
        self.lines.extend(lines)


def _protected_entries(root: str, names: list[str], allow_git_write: bool) -> list[tuple[str, str]]:
    """(path, filter kind) pairs carved out of a writable root for the protected names."""
    out: list[tuple[str, str]] = []
    for name in names:
        path = f"{root.rstrip('/')}/{name}"
        if name == ".git" and allow_git_write:
            # The directory itself may not be replaced or removed; the parts that could
            # make the host run code later stay read-only; objects/refs/index/logs do not.
            out.append((path, "literal"))
            out.extend((f"{path}/{sub}", "subpath") for sub in GIT_READ_ONLY)
        else:
            out.append((path, "subpath"))
    return out


def render(
    policy: ResolvedPolicy,
    *,
    tmpdir: str | None,
    proxy_ports: list[int],
    host_tmpdir: str | None = None,
) -> Profile:
    """Build the profile for ``policy``.

    ``tmpdir``: the private temp folder (writable; TMPDIR points there), or None with
    ``share_tmp``. ``proxy_ports``: loopback ports of the local proxy (PROXY mode only).
    ``host_tmpdir``: the user's own temp folder, writable only with ``share_tmp``.
    """
    b = _Builder()
    b.emit(base_profile().rstrip("\n"), "")

    deny_read = [darwin_path(p) for p in policy.deny_read]
    deny_sockets = [darwin_path(p) for p in policy.deny_sockets]
    read_only = [darwin_path(p) for p in policy.read_only_paths]

    # Reads: everything except the deny-read list.
    b.emit("; Reads: everything but the deny-read list.")
    deny_read_refs = [b.param(f"DENY_READ_{i}", p) for i, p in enumerate(deny_read)]
    socket_refs = [b.param(f"DENY_SOCKET_{i}", p) for i, p in enumerate(deny_sockets)]
    hidden = deny_read_refs + socket_refs
    if hidden:
        b.emit("(allow file-read*")
        b.emit('  (require-all (subpath "/")')
        for ref in hidden:
            b.emit(f"    (require-not (subpath {ref}))")
        b.emit("  ))")
    else:
        b.emit("(allow file-read*)")
    b.emit("")

    # Writes.
    b.emit("; Writes: only under the writable roots, protected names carved out.")
    if policy.mode == "danger-full-access":
        b.emit('(allow file-write* (subpath "/"))')
    else:
        roots = [darwin_path(p) for p in policy.writable_roots] if policy.mode == "workspace-write" else []
        for i, root in enumerate(roots):
            ref = b.param(f"WRITABLE_ROOT_{i}", root)
            exclusions: list[tuple[str, str]] = _protected_entries(
                root, policy.protected_names, policy.allow_git_write
            )
            exclusions += [(p, "subpath") for p in read_only + deny_read + deny_sockets if within(p, root)]
            if not exclusions:
                b.emit(f"(allow file-write* (subpath {ref}))")
                continue
            b.emit("(allow file-write*")
            b.emit(f"  (require-all (subpath {ref})")
            for j, (path, kind) in enumerate(exclusions):
                b.emit(f"    (require-not ({kind} {b.param(f'WRITABLE_ROOT_{i}_EXCLUDED_{j}', path)}))")
            guard = [n for n in policy.protected_names if not (n == ".git" and policy.allow_git_write)]
            if guard:
                # Case variants (.GIT) name the same folder on a case-insensitive volume.
                alts = "|".join(case_insensitive(n) for n in guard)
                rx = f"^{regex_escape(root.rstrip('/'))}/({alts})(/|$)"
                b.emit(f"    (require-not (regex {sbpl_string(rx)}))")
            b.emit("  ))")
        if not roots:
            b.emit("; (no writable roots)")
    b.emit("")

    b.emit("; Temporary files.")
    if tmpdir is not None:
        b.emit(f"(allow file-write* (subpath {b.param('PRIVATE_TMP', darwin_path(tmpdir))}))")
    if policy.share_tmp:
        b.emit('(allow file-write* (subpath "/private/tmp") (subpath "/private/var/tmp"))')
        if host_tmpdir:
            b.emit(f"(allow file-write* (subpath {b.param('HOST_TMPDIR', darwin_path(host_tmpdir))}))")
    b.emit("")

    # Explicit denies last: they override any allow above.
    if policy.mode != "danger-full-access":
        b.emit("; Denies (later rules win in Seatbelt).")
        for i, p in enumerate(read_only):
            b.emit(f"(deny file-write* (subpath {b.param(f'READ_ONLY_{i}', p)}))")
        for ref in deny_read_refs:
            b.emit(f"(deny file-read* file-write* (subpath {ref}))")
        for ref in socket_refs:
            b.emit(f"(deny file-read* file-write* (subpath {ref}))")
        b.emit("")

    b.emit(*_network(policy, proxy_ports, socket_refs))
    return Profile(text="\n".join(b.lines).rstrip("\n") + "\n", params=b.params)


def _network(policy: ResolvedPolicy, proxy_ports: list[int], socket_refs: list[str]) -> list[str]:
    mode = policy.network.mode
    if mode == "off":
        return ["; Network: none (the default deny applies)."]
    if mode == "proxy":
        if not proxy_ports:
            # Fail closed: no proxy to talk to means no network at all.
            return ["; Network: proxy mode without a proxy port: none (fail closed)."]
        out = ["; Network: only the local proxy."]
        for port in proxy_ports:
            if not (isinstance(port, int) and 0 < port < 65536):
                raise ConfigError(f"proxy port out of range: {port!r}", field="network.proxy_port")
            out.append(f'(allow network-outbound (remote ip "localhost:{port}"))')
        out.append("(allow mach-lookup")
        out.extend(f'  (global-name "{s}")' for s in PROXY_MACH_SERVICES)
        out.append("  )")
        return out
    out = [
        "; Network: on.",
        "(allow network-outbound)",
        "(allow network-inbound)",
        "(allow network-bind)",
        "(allow system-socket (require-all (socket-domain AF_SYSTEM) (socket-protocol 2)))",
        '(allow sysctl-read (sysctl-name-prefix "net.routetable"))',
        "(allow mach-lookup",
    ]
    out.extend(f'  (global-name "{s}")' for s in NETWORK_MACH_SERVICES)
    out.append("  )")
    # Host control sockets stay unreachable even with the network on.
    out.extend(f"(deny network-outbound (remote unix-socket (subpath {ref})))" for ref in socket_refs)
    return out
