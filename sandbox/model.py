"""The public input model of a confinement: ``SandboxPolicy`` (pydantic: validation, JSON schema).

Every backend (linux/, macos/, windows/) takes the *resolved* form instead, the stdlib
``ResolvedPolicy`` of ``sandbox.resolve`` (absolute, canonical paths, no defaults left to
interpret), which ``SandboxPolicy.resolve`` makes. This module must not import any backend or
touch the OS beyond reading paths.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Literal

from cordon.policy.envpolicy import EnvironmentPolicy

# The defaults live in sandbox.resolve (no pydantic there: the `sandbox run` hot path).
from cordon.sandbox.resolve import (
    DEFAULT_DENY_READ,
    DEFAULT_DENY_SOCKETS,
    PROTECTED_NAMES,
    ResolvedPolicy,
)
from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    origins: dict[str, str] = Field(
        default_factory=dict,
        description="pattern -> FILE:LINE:COL of the .rules network_rule that declared it",
    )


class ResourceLimits(BaseModel):
    """Resource limits of one sandboxed command; None means no limit (``tmp``: the default size).

    Values are numbers (bytes, a count, seconds) or strings as on the command line: ``"512M"``,
    ``"10m"``. Keys may be written ``file-size`` or ``file_size``. A bad value raises
    ``ConfigError`` naming the key. See ``cordon.sandbox.limits``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory: int | None = Field(default=None, description="bytes, the command's whole tree")
    pids: int | None = Field(default=None, description="processes and threads of the tree")
    cpu: float | None = Field(default=None, description="seconds of CPU time of the tree")
    wall: float | None = Field(default=None, description="seconds of wall-clock time")
    file_size: int | None = Field(default=None, description="bytes, the largest file written")
    tmp: int | None = Field(default=None, description="bytes, each of the private /tmp and /dev/shm")

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data):
        if not isinstance(data, dict):
            return data
        from cordon.sandbox.limits import KEYS, key_of, parse

        out = {}
        for k, v in data.items():
            key = key_of(str(k))
            out[KEYS[key][0]] = None if v is None else parse(key, v)
        return out


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
    allow_unenforced: list[str] = Field(
        default_factory=list,
        description="Guarantees the user accepts losing where a backend cannot enforce them, e.g. "
        '"network", "deny-read", "limits"; without this such a backend refuses to run',
    )
    allow_agents: list[Literal["ssh", "gpg", "docker", "dbus"]] = Field(
        default_factory=list,
        description="Agent sockets the environment names (SSH_AUTH_SOCK, the gpg agent, DOCKER_HOST/"
        "CONTAINER_HOST, DBUS_SESSION_BUS_ADDRESS) that stay reachable, with their variables; the "
        "others are masked and their variables dropped",
    )
    default_deny_read: bool = Field(
        default=True,
        description="Also hide the credential files environment variables point at "
        "(GOOGLE_APPLICATION_CREDENTIALS, KUBECONFIG, ...) and, for root launches, the files under "
        "/etc only root may read",
    )
    limits: ResourceLimits = Field(default_factory=ResourceLimits)

    def resolve(self, cwd: str | os.PathLike[str] | None = None, home: str | None = None) -> ResolvedPolicy:
        """The ``ResolvedPolicy`` every backend takes: absolute, canonical paths, defaults
        applied. The pydantic edge: this model's fields go to ``sandbox.resolve.resolve`` (the one
        function that makes a ResolvedPolicy, also behind the CLI) as plain values."""
        from cordon.sandbox.resolve import resolve

        return resolve(
            mode=self.mode.value,
            workspace=self.workspace,
            writable_roots=self.writable_roots,
            read_only_paths=self.read_only_paths,
            deny_read=self.deny_read,
            deny_sockets=self.deny_sockets,
            protected_names=self.protected_names,
            allow_git_write=self.allow_git_write,
            share_tmp=self.share_tmp,
            network=self.network.model_dump(mode="json"),
            env=self.env.model_dump(mode="json"),
            fallback=self.fallback,
            allow_unenforced=self.allow_unenforced,
            allow_agents=self.allow_agents,
            default_deny_read=self.default_deny_read,
            limits=self.limits.model_dump(),
            cwd=cwd,
            home=home,
        )
