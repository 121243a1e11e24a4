"""Codex's ``shell_environment_policy`` algorithm: which variables a command sees.

Pure function over a mapping; the sandbox calls it for every launch. Steps run in Codex's order
(``populate_env``): inherit (all/core/none), default excludes, exclude, set, include_only, then
on Windows ``PATHEXT`` if missing. Patterns are case-insensitive globs (``*``, ``?``, ``[...]``)
on the variable *name*.

Unlike current Codex (which defaults ``ignore_default_excludes`` to true since 2026), the default
excludes (*KEY*, *SECRET*, *TOKEN*) are ON unless turned off: a sandbox that hands API keys to
the command it confines is not doing its job.

The newer ``filters`` table (``{"PATTERN" = "include" | "exclude"}``) is accepted as another
spelling of ``include_only`` / ``exclude``; it cannot be mixed with those arrays, and two patterns
that differ only in case are an error (as in Codex).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from cordon.policy.envfilter import (  # noqa: F401  (re-exported: the public names live here too)
    CORE_VARS_UNIX,
    CORE_VARS_WINDOWS,
    DEFAULT_EXCLUDES,
    WINDOWS_DEFAULT_PATHEXT,
    filter_environ,
    matches,
)
from pydantic import BaseModel, ConfigDict, Field, model_validator


class EnvironmentPolicy(BaseModel):
    """Which parent variables reach the command (keys as in Codex's config.toml)."""

    model_config = ConfigDict(extra="forbid")

    inherit: Literal["all", "core", "none"] = "all"
    ignore_default_excludes: bool = False
    exclude: list[str] = Field(default_factory=list)
    set: dict[str, str] = Field(default_factory=dict)
    include_only: list[str] = Field(default_factory=list)
    filters: dict[str, Literal["include", "exclude"]] = Field(default_factory=dict)
    experimental_use_profile: bool = False

    @model_validator(mode="after")
    def _check_filters(self) -> EnvironmentPolicy:
        if self.filters and (self.exclude or self.include_only):
            raise ValueError("`filters` cannot be combined with the legacy `exclude` / `include_only` arrays")
        seen: dict[str, str] = {}
        for pattern in self.filters:
            folded = pattern.upper()
            if folded in seen:
                raise ValueError(
                    f"`filters` has patterns that differ only in case: {seen[folded]!r} and {pattern!r}"
                )
            seen[folded] = pattern
        return self

    def effective_exclude(self) -> list[str]:
        """``exclude`` plus the ``filters`` entries marked exclude."""
        return [*self.exclude, *(p for p, action in self.filters.items() if action == "exclude")]

    def effective_include_only(self) -> list[str]:
        """``include_only`` plus the ``filters`` entries marked include."""
        return [*self.include_only, *(p for p, action in self.filters.items() if action == "include")]


_matches = matches  # older private name, kept for callers


def apply_env_policy(
    policy: EnvironmentPolicy, environ: Mapping[str, str], *, platform: str | None = None
) -> dict[str, str]:
    """Return the environment a command gets under ``policy`` from ``environ``.

    ``platform`` (a ``sys.platform`` value, default the running one) picks the core list and the
    Windows ``PATHEXT`` step, so a Windows plan can be built on Linux.
    """
    return filter_environ(
        environ,
        inherit=policy.inherit,
        ignore_default_excludes=policy.ignore_default_excludes,
        exclude=policy.effective_exclude(),
        set=policy.set,
        include_only=policy.effective_include_only(),
        platform=platform,
    )
