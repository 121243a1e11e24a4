"""Codex's ``shell_environment_policy`` algorithm: which variables a command sees.

Pure function over a mapping; the sandbox calls it for every launch. Steps run in
Codex's order (inherit, default excludes, exclude, set, include_only). Unlike current
Codex, the default excludes (*KEY*, *SECRET*, *TOKEN*) are ON unless turned off: a
sandbox that hands API keys to the command it confines is not doing its job.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CORE_VARS_UNIX = (
    "PATH",
    "SHELL",
    "TMPDIR",
    "TEMP",
    "TMP",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LOGNAME",
    "USER",
)
DEFAULT_EXCLUDES = ("*KEY*", "*SECRET*", "*TOKEN*")


class EnvironmentPolicy(BaseModel):
    """Which parent variables reach the command (keys as in Codex's config.toml)."""

    model_config = ConfigDict(extra="forbid")

    inherit: Literal["all", "core", "none"] = "all"
    ignore_default_excludes: bool = False
    exclude: list[str] = Field(default_factory=list)
    set: dict[str, str] = Field(default_factory=dict)
    include_only: list[str] = Field(default_factory=list)


def _matches(name: str, patterns: list[str] | tuple[str, ...]) -> bool:
    # Codex matches case-insensitively against the variable name.
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, p.upper()) for p in patterns)


def apply_env_policy(policy: EnvironmentPolicy, environ: Mapping[str, str]) -> dict[str, str]:
    """Return the environment a command gets under ``policy`` from ``environ``."""
    if policy.inherit == "all":
        env = dict(environ)
    elif policy.inherit == "core":
        env = {k: v for k, v in environ.items() if k in CORE_VARS_UNIX}
    else:
        env = {}
    if not policy.ignore_default_excludes:
        env = {k: v for k, v in env.items() if not _matches(k, DEFAULT_EXCLUDES)}
    if policy.exclude:
        env = {k: v for k, v in env.items() if not _matches(k, policy.exclude)}
    env.update(policy.set)
    if policy.include_only:
        env = {k: v for k, v in env.items() if _matches(k, policy.include_only)}
    return env
