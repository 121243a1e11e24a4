"""Policy resolution without pydantic: the one implementation behind ``SandboxPolicy.resolve``.

``sandbox run`` must start in a few milliseconds, and pydantic alone costs ~50 ms to
import, so the hot path resolves plain values here into a ``Resolved`` object that has
exactly the attributes of ``sandbox.model.ResolvedPolicy``; ``SandboxPolicy.resolve``
calls the same code and wraps the result in the pydantic model. Standard library only.
"""

from __future__ import annotations

import os

# Secrets hidden by default: the curated list lives in sandbox/denylist.py, grouped by kind.
# "~" means the invoking user's home (and, when launched as root, also /root); entries that
# do not exist are still masked where the backend can.
from cordon.sandbox.denylist import DEFAULT_DENY_READ
from cordon.sandbox.frozen import Record

from cordon.vocabulary import PROTECTED_NAMES

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


class Resolved(Record):
    """Same attributes as ResolvedPolicy; paths are ``str``."""


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


def _dedup(items) -> list:
    return list(dict.fromkeys(items))


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
) -> Resolved:
    """Absolute canonical paths, defaults applied. ``network``/``env`` are passed through."""
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

    mode = str(getattr(mode, "value", mode))
    writable: list[str] = []
    if mode == "workspace-write":
        writable.append(absolute(workspace) if workspace else base)
        writable.extend(absolute(p) for p in writable_roots)
    return Resolved(
        mode=mode,
        cwd=base,
        workspace=writable[0] if writable else None,
        writable_roots=_dedup(writable),
        read_only_paths=_dedup(absolute(p) for p in read_only_paths),
        deny_read=_dedup(realpath_all([q for p in deny_read for q in expand_all(p)])),
        deny_sockets=_dedup(os.path.normpath(os.fspath(p)) for p in deny_sockets),
        protected_names=list(protected_names),
        allow_git_write=bool(allow_git_write),
        share_tmp=bool(share_tmp),
        network=network
        if network is not None
        else Record(mode="off", allow_domains=[], deny_domains=[], resolve={}, net_log=None, origins={}),
        env=env
        if env is not None
        else Record(
            inherit="all", ignore_default_excludes=False, exclude=[], set={}, include_only=[], filters={}
        ),
        fallback=fallback,
        allow_unenforced=list(allow_unenforced),
        allow_agents=_dedup(allow_agents),
        default_deny_read=bool(default_deny_read),
        limits=_limits(limits),
    )


def _limits(limits):
    from cordon.sandbox.limits import resolve as resolve_limits

    return resolve_limits(limits)


def apply_env(env_policy, environ) -> dict[str, str]:
    """Codex's shell_environment_policy steps, same as policy.envpolicy.apply_env_policy.

    A pydantic ``EnvironmentPolicy`` goes to that function; a plain ``Record`` (the hot
    path) is handled here with the same steps (a test checks both agree).
    """
    if hasattr(env_policy, "model_dump"):
        from cordon.policy.envpolicy import apply_env_policy

        return apply_env_policy(env_policy, environ)
    from cordon.policy.envfilter import filter_environ

    filters = getattr(env_policy, "filters", None) or {}
    return filter_environ(
        environ,
        inherit=str(getattr(env_policy.inherit, "value", env_policy.inherit)),
        ignore_default_excludes=env_policy.ignore_default_excludes,
        exclude=[*env_policy.exclude, *(p for p, a in filters.items() if a == "exclude")],
        set=env_policy.set,
        include_only=[*env_policy.include_only, *(p for p, a in filters.items() if a == "include")],
    )
