"""The one platform-independent description of a confinement: ``SandboxPolicy``.

Every backend (linux/, macos/, windows/) consumes the *resolved* form, which has
absolute, canonical paths and no defaults left to interpret. This module owns the
model and its resolution; it must not import any backend or touch the OS beyond
reading paths.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from policy.envpolicy import EnvironmentPolicy

PROTECTED_NAMES = (".git", ".codex", ".agents")

# Secrets hidden by default. "~" means the invoking user's home (and, when launched as
# root, also /root); entries that do not exist are still masked where the backend can.
DEFAULT_DENY_READ = (
    "~/.ssh",
    "~/.aws",
    "~/.gnupg",
    "~/.netrc",
    "~/.git-credentials",
    "~/.config/gh",
    "~/.docker",
    "~/.kube",
    "~/.config/gcloud",
    "~/.azure",
    "~/.config/doctl",
    "~/.oci",
    "~/.pypirc",
    "~/.npmrc",
    "~/.codex/auth.json",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/shadow-",
    "/etc/gshadow-",
)

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


class SandboxMode(StrEnum):
    READ_ONLY = "read-only"
    WORKSPACE_WRITE = "workspace-write"
    DANGER_FULL_ACCESS = "danger-full-access"


class NetworkMode(StrEnum):
    OFF = "off"
    ON = "on"
    PROXY = "proxy"


class NetworkPolicy(BaseModel):
    """Network reach. ``proxy`` means: only what the domain-filtering proxy allows."""

    model_config = ConfigDict(extra="forbid")

    mode: NetworkMode = NetworkMode.OFF
    allow_domains: list[str] = Field(default_factory=list)
    deny_domains: list[str] = Field(default_factory=list)
    resolve: dict[str, str] = Field(
        default_factory=dict, description="HOST -> ADDR pins, like curl --resolve"
    )
    net_log: Path | None = None


class SandboxPolicy(BaseModel):
    """What a sandboxed command may read, write and reach. Defaults are the safe choice."""

    model_config = ConfigDict(extra="forbid")

    mode: SandboxMode = SandboxMode.WORKSPACE_WRITE
    workspace: Path | None = Field(
        default=None, description="Writable workspace; default: the current directory"
    )
    writable_roots: list[Path] = Field(default_factory=list)
    read_only_paths: list[Path] = Field(default_factory=list)
    deny_read: list[str] = Field(default_factory=lambda: list(DEFAULT_DENY_READ))
    deny_sockets: list[str] = Field(default_factory=lambda: list(DEFAULT_DENY_SOCKETS))
    protected_names: list[str] = Field(default_factory=lambda: list(PROTECTED_NAMES))
    allow_git_write: bool = False
    share_tmp: bool = Field(
        default=False, description="Share the host's /tmp and /dev/shm instead of private ones"
    )
    network: NetworkPolicy = Field(default_factory=NetworkPolicy)
    env: EnvironmentPolicy = Field(default_factory=EnvironmentPolicy)
    fallback: Literal["none", "landlock"] = "none"

    def resolve(self, cwd: str | os.PathLike[str] | None = None, home: str | None = None) -> ResolvedPolicy:
        """Absolute, canonical paths; the form every backend consumes."""
        base = Path(cwd or os.getcwd()).resolve()
        homes = _homes(home)

        def absolute(p: str | os.PathLike[str]) -> Path:
            s = os.fspath(p)
            if s == "~" or s.startswith("~/"):
                s = os.path.join(homes[0], s[2:]) if len(s) > 1 else homes[0]
            return _canonical(base / s)

        def expand_all(p: str) -> list[Path]:
            if p == "~" or p.startswith("~/"):
                return [_canonical(Path(h) / p[2:]) if len(p) > 1 else _canonical(Path(h)) for h in homes]
            return [absolute(p)]

        writable: list[Path] = []
        if self.mode == SandboxMode.WORKSPACE_WRITE:
            writable.append(absolute(self.workspace) if self.workspace else base)
            writable.extend(absolute(p) for p in self.writable_roots)
        deny = _dedup(q for p in self.deny_read for q in expand_all(p))
        return ResolvedPolicy(
            mode=self.mode,
            cwd=base,
            workspace=writable[0] if writable else None,
            writable_roots=_dedup(writable),
            read_only_paths=_dedup(absolute(p) for p in self.read_only_paths),
            deny_read=deny,
            deny_sockets=_dedup(Path(p) for p in self.deny_sockets),
            protected_names=list(self.protected_names),
            allow_git_write=self.allow_git_write,
            share_tmp=self.share_tmp,
            network=self.network,
            env=self.env,
            fallback=self.fallback,
        )


class ResolvedPolicy(BaseModel):
    """A ``SandboxPolicy`` with every path absolute and canonical."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: SandboxMode
    cwd: Path
    workspace: Path | None
    writable_roots: list[Path]
    read_only_paths: list[Path]
    deny_read: list[Path]
    deny_sockets: list[Path]
    protected_names: list[str]
    allow_git_write: bool
    share_tmp: bool
    network: NetworkPolicy
    env: EnvironmentPolicy
    fallback: Literal["none", "landlock"]


def _homes(home: str | None) -> list[str]:
    """The invoking user's home first; when running as root, also /root."""
    homes = [home or os.environ.get("HOME") or os.path.expanduser("~")]
    if os.name == "posix" and hasattr(os, "geteuid"):
        import pwd

        try:
            real = pwd.getpwuid(os.geteuid()).pw_dir
        except KeyError:
            real = None
        for h in (real, "/root" if os.geteuid() == 0 else None):
            if h and h not in homes:
                homes.append(h)
    return homes


def _canonical(p: Path) -> Path:
    """Resolve symlinks in the longest existing ancestor; keep the missing tail literal."""
    p = Path(os.path.normpath(p))
    return p.resolve(strict=False)


def _dedup(paths) -> list[Path]:
    seen: dict[Path, None] = {}
    for p in paths:
        seen.setdefault(p, None)
    return list(seen)
