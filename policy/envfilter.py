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

# Cordon's additions to the default excludes (Codex has only the three above): names that hold
# passwords and credentials, and values that carry one whatever the name. Turned off together
# with the default excludes (``ignore_default_excludes``).
SECRET_NAME_PATTERNS = (
    "*PASSWORD*",
    "*PASSWD*",
    "*PASSPHRASE*",
    "*CREDENTIAL*",
    "*_AUTH",
    "*_AUTH_*",
    "AUTH_*",
    "*_PWD",
    "*_PASS",
    "*COOKIE*",
    "*SESSION_ID*",
)
# Value prefixes of well-known tokens (GitHub, GitLab, Slack, Stripe, OpenAI/Anthropic, AWS).
SECRET_VALUE_PREFIXES = (
    "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xoxb-", "xoxp-", "xoxa-",
    "xoxs-", "sk_live_", "rk_live_", "sk-ant-", "sk-proj-", "AKIA", "ASIA",
)  # fmt: skip
WEBHOOK_MARKERS = (
    "hooks.slack.com/",
    "discord.com/api/webhooks/",
    "discordapp.com/api/webhooks/",
    ".webhook.office.com/",
    "outlook.office.com/webhook",
    "hooks.zapier.com/",
    "chat.googleapis.com/v1/spaces/",
    "api.telegram.org/bot",
)
DSN_PASSWORD_KEYS = ("password=", "pwd=", "passwd=")


def matches(name: str, patterns: Iterable[str]) -> bool:
    """True if ``name`` matches any glob in ``patterns``, ignoring case (as Codex does)."""
    key = patterns if isinstance(patterns, tuple) else tuple(patterns)
    c = _compiled.get(key)
    if c is None:
        c = _compile(key)
        if len(_compiled) < 64:  # the default lists and a policy's own: a handful per process
            _compiled[key] = c
    exact, contains, prefixes, suffixes, globs = c
    upper = name.upper()
    if upper in exact or upper.startswith(prefixes) or upper.endswith(suffixes):
        return True
    if any(body in upper for body in contains):
        return True
    if globs:
        import fnmatch

        return any(fnmatch.fnmatchcase(upper, p) for p in globs)
    return False


# patterns -> (exact names, *BODY*, BODY*, *BODY, other globs), upper-case: the filter runs once
# per variable per list at every launch.
_compiled: dict[tuple, tuple] = {}


def _compile(patterns: tuple) -> tuple:
    exact, contains, prefixes, suffixes, globs = set(), [], [], [], []
    for pattern in patterns:
        p = pattern.upper()
        # The common forms (*KEY*, *_AUTH, AUTH_*, NAME) without fnmatch's regex compile:
        # importing re costs the `sandbox run` hot path more than the whole filter.
        head, body, tail = p[:1] == "*", p.strip("*"), p[-1:] == "*" and len(p) > 1
        if body and not any(c in body for c in "*?[") and len(p) - len(body) == head + tail:
            if head and tail:
                contains.append(body)
            elif head:
                suffixes.append(body)
            elif tail:
                prefixes.append(body)
            else:
                exact.add(body)
        else:
            globs.append(p)
    return frozenset(exact), tuple(contains), tuple(prefixes), tuple(suffixes), tuple(globs)


def looks_secret(value: str) -> bool:
    """A value that carries a credential whatever its variable is called: a URL with a password
    (``postgres://u:pw@host``), a key=value DSN with a password, a webhook URL (the URL is the
    secret), a JWT, a private key, a well-known token prefix. String tests only (no ``re``: this
    runs on ``sandbox run``'s hot path)."""
    v = value.strip()
    if len(v) < 8:
        return False
    if "://" in v:
        authority = v.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        if "@" in authority:
            user = authority.rsplit("@", 1)[0]
            if ":" in user or len(user) >= 20:  # user:password, or a token as the user name
                return True
        if any(m in v for m in WEBHOOK_MARKERS):
            return True
    low = v.lower()
    if any(k in low for k in DSN_PASSWORD_KEYS) and (";" in v or " " in v or v.startswith(DSN_PASSWORD_KEYS)):
        return True
    if v.startswith("eyJ") and v.count(".") == 2 and len(v) >= 24 and " " not in v:
        return True  # a JWT: base64url JSON header, payload, signature
    if "-----BEGIN" in v and "PRIVATE KEY" in v:
        return True
    return v.startswith(SECRET_VALUE_PREFIXES) and len(v) >= 20 and " " not in v


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
    include_only, then on Windows ``PATHEXT`` if missing. The default-excludes step also drops
    Cordon's ``SECRET_NAME_PATTERNS`` and values that ``looks_secret``."""
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
        env = {
            k: v
            for k, v in env.items()
            if not matches(k, DEFAULT_EXCLUDES)
            and not matches(k, SECRET_NAME_PATTERNS)
            and not looks_secret(v)
        }
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
