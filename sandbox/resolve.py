"""``ResolvedPolicy``: the one form of a sandbox policy every backend takes, and ``resolve``,
the one function that makes it.

A ``ResolvedPolicy`` is immutable, annotated and standard-library only (``sandbox run`` builds
one at every launch, and pydantic alone costs ~50 ms to import): paths absolute and canonical
(``str``), sequences as tuples, mappings read-only, the words (sandbox and network modes,
env inheritance) from ``cordon.vocabulary``. Every entry point reaches it through ``resolve``:
the CLI and ``sandbox plan`` from the merged flags and config files (``config.to_inputs``), the
library, the Pool and the MCP server from a pydantic ``SandboxPolicy`` (``SandboxPolicy.resolve``,
which hands ``resolve`` its fields as plain values). pydantic stays at those edges.
"""

from __future__ import annotations

import os

# Secrets hidden by default: the curated list lives in sandbox/denylist.py, grouped by kind.
# "~" means the invoking user's home (and, when launched as root, also /root); entries that
# do not exist are still masked where the backend can.
from cordon.sandbox.denylist import DEFAULT_DENY_READ
from cordon.sandbox.frozen import Frozen, FrozenDict
from cordon.sandbox.limits import Limits

from cordon.vocabulary import CONFINEMENT_MODES, NETWORK_MODES, PROTECTED_NAMES

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: typing is not imported on the hot path
    from collections.abc import Mapping
    from typing import Literal

    from cordon.vocabulary import ConfinementMode, NetworkMode

# Host control sockets: reaching one is reaching the host.
DEFAULT_DENY_SOCKETS = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd",
    "/run/podman",
    "/run/dbus/system_bus_socket",
    "/var/run/dbus/system_bus_socket",
    "/run/systemd/private",
    "/run/user",
)
ENV_INHERIT = ("all", "core", "none")
FALLBACKS = ("none", "landlock")


class NetworkRules(Frozen):
    """What the sandboxed command may reach. ``proxy``: only what the domain-filtering proxy allows."""

    mode: NetworkMode = "off"
    allow_domains: tuple[str, ...] = ()
    deny_domains: tuple[str, ...] = ()
    resolve: Mapping[str, str] = FrozenDict()  # HOST -> ADDR pins, like curl --resolve
    net_log: str | None = None
    origins: Mapping[str, str] = FrozenDict()  # pattern -> FILE:LINE:COL of its .rules network_rule


class EnvRules(Frozen):
    """Which parent variables reach the command: Codex's shell_environment_policy steps
    (cordon.policy.envfilter), with its ``filters`` table already folded into the two lists."""

    inherit: Literal["all", "core", "none"] = "all"
    ignore_default_excludes: bool = False
    exclude: tuple[str, ...] = ()
    set: Mapping[str, str] = FrozenDict()
    include_only: tuple[str, ...] = ()


class ResolvedPolicy(Frozen):
    """A sandbox policy with every default applied and every path absolute and canonical."""

    mode: ConfinementMode
    cwd: str
    workspace: str | None
    writable_roots: tuple[str, ...]
    read_only_paths: tuple[str, ...]
    deny_read: tuple[str, ...]
    deny_sockets: tuple[str, ...]
    protected_names: tuple[str, ...] = PROTECTED_NAMES
    allow_git_write: bool = False
    share_tmp: bool = False
    network: NetworkRules = NetworkRules()
    env: EnvRules = EnvRules()
    fallback: Literal["none", "landlock"] = "none"
    allow_unenforced: tuple[str, ...] = ()
    allow_agents: tuple[str, ...] = ()
    default_deny_read: bool = True
    limits: Limits = Limits()


def homes(home: str | None = None) -> list[str]:
    """The invoking user's home first; when running as root, also /root."""
    out = [home or os.environ.get("HOME") or os.path.expanduser("~")]
    if hasattr(os, "geteuid"):
        import pwd

        try:
            real = pwd.getpwuid(os.geteuid()).pw_dir
        except KeyError:
            real = None
        for h in (real, "/root" if os.geteuid() == 0 else None):
            if h and h not in out:
                out.append(h)
    return out


def canonical(p: str) -> str:
    """Resolve symlinks in the longest existing part; keep a missing tail literal."""
    return os.path.realpath(os.path.normpath(p))


def realpath_all(paths) -> list[str]:
    """``os.path.realpath`` of each path, each folder resolved once for all. The deny list holds
    ~90 paths in a few folders: resolved one by one, that was ~350 ``lstat`` calls per launch,
    repeated by the resolver, the inner stage and the secrets finder. (``canonical`` of each
    is ``realpath_all`` of the normalised paths.)"""
    folders: dict[str, str] = {}
    out = []
    for p in paths:
        head, tail = os.path.split(p)
        q = p + "/"
        if not tail or not p.startswith("/") or "/./" in q or "/../" in q or "//" in p:
            out.append(os.path.realpath(p))  # "..": after the symlinks before it, as realpath does
            continue
        real = folders.get(head)
        if real is None:
            real = folders[head] = os.path.realpath(head)
        cand = os.path.join(real, tail)
        # The last part resolved as realpath would: followed when it is a symlink, kept literal
        # when it does not exist.
        out.append(os.path.realpath(cand) if os.path.islink(cand) else cand)
    return out


def _dedup(items) -> tuple:
    return tuple(dict.fromkeys(items))


def _choice(value, allowed: tuple[str, ...], field: str) -> str:
    # ``str()``: an edge may hand a StrEnum member (pydantic's SandboxMode): its value.
    text = str(value)
    if text not in allowed:
        from cordon.sandbox.errors import ConfigError

        raise ConfigError(f"expected one of {', '.join(allowed)}, got {text!r}", field=field)
    return text


def network_rules(network: Mapping | NetworkRules | None) -> NetworkRules:
    """The network part from plain values (a mapping of NetworkRules' fields; None: off)."""
    if isinstance(network, NetworkRules):
        return network
    n = dict(network or {})
    net_log = n.get("net_log")
    return NetworkRules(
        mode=_choice(n.get("mode") or "off", NETWORK_MODES, "network.mode"),
        allow_domains=tuple(n.get("allow_domains") or ()),
        deny_domains=tuple(n.get("deny_domains") or ()),
        resolve=FrozenDict(n.get("resolve") or {}),
        net_log=None if net_log is None else os.fspath(net_log),
        origins=FrozenDict(n.get("origins") or {}),
    )


def env_rules(env: Mapping | EnvRules | None) -> EnvRules:
    """The environment part from plain values (EnvRules' fields, plus Codex's ``filters`` table
    ``{PATTERN: "include" | "exclude"}``, folded into include_only / exclude; None: inherit all)."""
    if isinstance(env, EnvRules):
        return env
    e = dict(env or {})
    filters = dict(e.get("filters") or {})
    return EnvRules(
        inherit=_choice(e.get("inherit") or "all", ENV_INHERIT, "env.inherit"),
        ignore_default_excludes=bool(e.get("ignore_default_excludes", False)),
        exclude=(*(e.get("exclude") or ()), *(p for p, a in filters.items() if str(a) == "exclude")),
        set=FrozenDict(e.get("set") or {}),
        include_only=(
            *(e.get("include_only") or ()),
            *(p for p, a in filters.items() if str(a) == "include"),
        ),
    )


def resolve(
    *,
    mode: str = "workspace-write",
    workspace=None,
    writable_roots=(),
    read_only_paths=(),
    deny_read=DEFAULT_DENY_READ,
    deny_sockets=DEFAULT_DENY_SOCKETS,
    protected_names=PROTECTED_NAMES,
    allow_git_write: bool = False,
    share_tmp: bool = False,
    network=None,
    env=None,
    fallback: str = "none",
    allow_unenforced=(),
    allow_agents=(),
    default_deny_read: bool = True,
    limits=None,
    cwd=None,
    home: str | None = None,
) -> ResolvedPolicy:
    """The ``ResolvedPolicy`` for these plain values: absolute canonical paths, "~" expanded (to
    every home, see ``homes``), defaults applied. ``network`` / ``env``: mappings of the fields
    of ``NetworkRules`` / ``EnvRules`` (or those types); ``limits``: key -> value as
    ``sandbox.limits.parse`` reads it. The one way to a ResolvedPolicy."""
    base = canonical(os.fspath(cwd) if cwd is not None else os.getcwd())
    hs = homes(home)

    def absolute(p) -> str:
        s = os.fspath(p)
        if s == "~" or s.startswith("~/"):
            s = os.path.join(hs[0], s[2:]) if len(s) > 1 else hs[0]
        return canonical(os.path.join(base, s))

    def expand_all(p) -> list[str]:
        """Absolute and normalised, not yet canonical (realpath_all resolves the list at once)."""
        s = os.fspath(p)
        if s == "~" or s.startswith("~/"):
            return [os.path.normpath(os.path.join(h, s[2:]) if len(s) > 1 else h) for h in hs]
        return [os.path.normpath(os.path.join(base, s))]

    mode = _choice(mode, CONFINEMENT_MODES, "mode")
    writable: list[str] = []
    if mode == "workspace-write":
        writable.append(absolute(workspace) if workspace else base)
        writable.extend(absolute(p) for p in writable_roots)
    from cordon.sandbox.limits import resolve as resolve_limits

    return ResolvedPolicy(
        mode=mode,
        cwd=base,
        workspace=writable[0] if writable else None,
        writable_roots=_dedup(writable),
        read_only_paths=_dedup(absolute(p) for p in read_only_paths),
        deny_read=_dedup(realpath_all([q for p in deny_read for q in expand_all(p)])),
        deny_sockets=_dedup(os.path.normpath(os.fspath(p)) for p in deny_sockets),
        protected_names=tuple(protected_names),
        allow_git_write=bool(allow_git_write),
        share_tmp=bool(share_tmp),
        network=network_rules(network),
        env=env_rules(env),
        fallback=_choice(fallback, FALLBACKS, "fallback"),
        allow_unenforced=tuple(allow_unenforced),
        allow_agents=_dedup(allow_agents),
        default_deny_read=bool(default_deny_read),
        limits=resolve_limits(limits),
    )


def apply_env(env: EnvRules, environ, *, platform: str | None = None) -> dict[str, str]:
    """The environment a command gets under ``env`` from ``environ``: Codex's
    shell_environment_policy steps (cordon.policy.envfilter, the same function behind
    ``policy.envpolicy.apply_env_policy``). ``platform``: as ``filter_environ`` takes it."""
    from cordon.policy.envfilter import filter_environ

    return filter_environ(
        environ,
        inherit=env.inherit,
        ignore_default_excludes=env.ignore_default_excludes,
        exclude=list(env.exclude),
        set=dict(env.set),
        include_only=list(env.include_only),
        platform=platform,
    )
