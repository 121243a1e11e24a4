"""The environment-policy algorithm itself, with no dependency beyond the standard library.

``policy.envpolicy`` wraps it in a pydantic model for config and JSON; ``sandbox run``'s hot
path calls it directly with plain values, so both always compute the same environment.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: this module is on `sandbox run`'s hot path (~3 ms)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

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
# Windows needs more to start anything at all (Codex's Windows core list).
CORE_VARS_WINDOWS = (
    "PATH", "PATHEXT", "COMSPEC", "SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "USERNAME", "USERDOMAIN",
    "USERPROFILE", "HOMEDRIVE", "HOMEPATH", "TEMP", "TMP", "APPDATA", "LOCALAPPDATA", "PROGRAMDATA",
    "PROGRAMFILES", "PROGRAMFILES(X86)", "PROGRAMW6432", "COMMONPROGRAMFILES", "COMMONPROGRAMFILES(X86)",
    "NUMBER_OF_PROCESSORS", "PROCESSOR_ARCHITECTURE", "OS",
)  # fmt: skip
DEFAULT_EXCLUDES = ("*KEY*", "*SECRET*", "*TOKEN*")
WINDOWS_DEFAULT_PATHEXT = ".COM;.EXE;.BAT;.CMD"


def matches(name: str, patterns: Iterable[str]) -> bool:
    """True if ``name`` matches any glob in ``patterns``, ignoring case (as Codex does)."""
    upper = name.upper()
    for pattern in patterns:
        p = pattern.upper()
        inner = p[1:-1]
        if len(p) > 2 and p[0] == p[-1] == "*" and not any(c in inner for c in "*?["):
            if inner in upper:  # the common *KEY* form, without fnmatch's regex compile
                return True
            continue
        import fnmatch

        if fnmatch.fnmatchcase(upper, p):
            return True
    return False


def filter_environ(
    environ: Mapping[str, str],
    *,
    inherit: str = "all",
    ignore_default_excludes: bool = False,
    exclude: Iterable[str] = (),
    set: Mapping[str, str] | None = None,
    include_only: Iterable[str] = (),
    platform: str | None = None,
) -> dict[str, str]:
    """Codex's ``populate_env`` steps in order: inherit, default excludes, exclude, set,
    include_only, then on Windows ``PATHEXT`` if missing."""
    windows = (platform or sys.platform).startswith("win")
    if inherit == "all":
        env = dict(environ)
    elif inherit == "core":
        if windows:  # Windows variable names are case-insensitive
            core = {v.upper() for v in CORE_VARS_WINDOWS}
            env = {k: v for k, v in environ.items() if k.upper() in core}
        else:
            env = {k: v for k, v in environ.items() if k in CORE_VARS_UNIX}
    else:
        env = {}
    if not ignore_default_excludes:
        env = {k: v for k, v in env.items() if not matches(k, DEFAULT_EXCLUDES)}
    exclude = list(exclude)
    if exclude:
        env = {k: v for k, v in env.items() if not matches(k, exclude)}
    env.update(set or {})
    include_only = list(include_only)
    if include_only:
        env = {k: v for k, v in env.items() if matches(k, include_only)}
    if windows and not any(k.upper() == "PATHEXT" for k in env):
        env["PATHEXT"] = WINDOWS_DEFAULT_PATHEXT
    return env
