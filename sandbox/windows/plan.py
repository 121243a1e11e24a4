"""The Windows plan: restricted token, job object, ACL changes and network method, as data.

Pure: ``build_plan`` makes no Win32 call, so ``sandbox plan --platform windows`` works
on any host. ``win32.launch`` carries a plan out. Paths keep the form the policy gives;
Windows paths (``C:\\...``) pass through unchanged, POSIX ones are shown as given.

What a restricted token does and does not stop is listed in every plan under
``not_enforced``, so nobody has to read the docs to find the gaps.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from policy.envpolicy import apply_env_policy
from sandbox.errors import ConfigError
from sandbox.model import NetworkMode, ResolvedPolicy, SandboxMode

EVERYONE_SID = "S-1-1-0"
SYSTEM_SID = "S-1-5-18"
# Placeholder in the plan: the launcher reads the real logon SID from its own token.
LOGON_SID = "logon-sid-of-current-token"
# Capability SIDs live under S-1-15-3 (SECURITY_APP_PACKAGE_AUTHORITY, capability
# base RID); ours carry 8 sub-authorities from a SHA-256, like DeriveCapabilitySidsFromName.
CAPABILITY_SID_PREFIX = "S-1-15-3-1024"

TOKEN_FLAGS = ("DISABLE_MAX_PRIVILEGE", "LUA_TOKEN", "WRITE_RESTRICTED")

JOB_LIMITS = (
    "JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE",
    "JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION",
    "JOB_OBJECT_LIMIT_ACTIVE_PROCESS",
)
UI_RESTRICTIONS = (
    "JOB_OBJECT_UILIMIT_DESKTOP",
    "JOB_OBJECT_UILIMIT_DISPLAYSETTINGS",
    "JOB_OBJECT_UILIMIT_EXITWINDOWS",
    "JOB_OBJECT_UILIMIT_GLOBALATOMS",
    "JOB_OBJECT_UILIMIT_HANDLES",
    "JOB_OBJECT_UILIMIT_READCLIPBOARD",
    "JOB_OBJECT_UILIMIT_SYSTEMPARAMETERS",
    "JOB_OBJECT_UILIMIT_WRITECLIPBOARD",
)
# Enough for make -j and test runners; a fork bomb stops here.
ACTIVE_PROCESS_LIMIT = 512

# Rights granted on writable roots (inherited): read, write, execute, delete. Not
# FILE_DELETE_CHILD: on NTFS that right on a folder deletes or renames any child even
# when the child denies DELETE, which would let the command move `.git` aside.
GRANT_RIGHTS = ("FILE_GENERIC_READ", "FILE_GENERIC_WRITE", "FILE_GENERIC_EXECUTE", "DELETE")
# Rights denied on protected names: every way to change the object or what it holds.
DENY_WRITE_RIGHTS = (
    "FILE_WRITE_DATA",
    "FILE_APPEND_DATA",
    "FILE_WRITE_EA",
    "FILE_WRITE_ATTRIBUTES",
    "DELETE",
    "FILE_DELETE_CHILD",
    "WRITE_DAC",
    "WRITE_OWNER",
)
INHERIT = ("OBJECT_INHERIT_ACE", "CONTAINER_INHERIT_ACE")

# Advisory network blocking (Codex's unelevated method): a dead proxy and offline flags.
DEAD_PROXY = "http://127.0.0.1:9"
OFFLINE_ENV = {
    "PIP_NO_INDEX": "1",
    "NPM_CONFIG_OFFLINE": "true",
    "CARGO_NET_OFFLINE": "true",
    "GIT_SSH_COMMAND": "cmd /c exit 1",
    "GIT_ALLOW_PROTOCOL": "file",
}
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "GIT_HTTP_PROXY", "GIT_HTTPS_PROXY")

NOT_ENFORCED_ALWAYS = (
    "reads: a WRITE_RESTRICTED token checks restricting SIDs for writes only; the command reads "
    "whatever the user can read",
    "paths where Everyone or the logon SID already has write access stay writable",
    "alternate data streams and case variants (.GiT) of protected names are not denied separately",
    "programs started through the shell or COM outside the job (e.g. a browser via Explorer) escape it",
)


class TokenPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base: str = "current process token"
    api: str = "CreateRestrictedToken"
    flags: list[str] = Field(default_factory=lambda: list(TOKEN_FLAGS))
    restricting_sids: list[str]
    capability_sid: str
    capability_name: str
    privileges_kept: list[str] = Field(default_factory=lambda: ["SeChangeNotifyPrivilege"])
    # GENERIC_ALL in the token's default DACL (objects the command creates); see win32.default_dacl
    default_dacl: list[str] = Field(default_factory=list)
    integrity_level: str = "unchanged (medium)"


class JobPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limits: list[str] = Field(default_factory=lambda: list(JOB_LIMITS))
    active_process_limit: int = ACTIVE_PROCESS_LIMIT
    ui_restrictions: list[str] = Field(default_factory=lambda: list(UI_RESTRICTIONS))


class AceEntry(BaseModel):
    """One ACE added with SetEntriesInAclW + SetNamedSecurityInfoW."""

    model_config = ConfigDict(extra="forbid")

    path: str
    access: str  # "grant" | "deny"
    sid: str
    rights: list[str]
    inheritance: list[str]
    reason: str
    when_absent: str = "skip"  # "skip": nothing to put an ACE on (see not_enforced)


class NetworkPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: str
    method: str
    enforced: bool
    env: dict[str, str]
    limits: list[str]


class WindowsPlan(BaseModel):
    """What runs on Windows, by part: ``token``, ``job``, ``acl``, ``network``."""

    model_config = ConfigDict(extra="forbid")

    platform: str = "windows"
    argv: list[str]
    command_line: str
    cwd: str
    env: dict[str, str]
    token: TokenPlan
    job: JobPlan
    acl: list[AceEntry]
    network: NetworkPlan
    not_enforced: list[str]


def capability_name(policy: ResolvedPolicy) -> str:
    """A stable name for this sandbox: the same writable roots give the same SID.

    Deterministic on purpose: re-running in a workspace reuses its ACEs instead of
    piling up one orphan SID per run in every folder's DACL.
    """
    roots = sorted(_win(p).lower() for p in policy.writable_roots)
    digest = hashlib.sha256("\0".join(["cordon-sandbox-v1", policy.mode.value, *roots]).encode()).hexdigest()
    return f"cordon.sandbox.{digest[:32]}"


def derive_capability_sid(name: str) -> str:
    """S-1-15-3-1024-a-b-c-d-e-f-g-h: the SHA-256 of the upper-cased UTF-16LE name as 8 DWORDs."""
    digest = hashlib.sha256(name.upper().encode("utf-16-le")).digest()
    subs = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]
    return "-".join([CAPABILITY_SID_PREFIX, *map(str, subs)])


def _win(p: os.PathLike[str] | str) -> str:
    return os.fspath(p)


def _join(root: str, name: str) -> str:
    sep = "\\" if ("\\" in root or (len(root) >= 2 and root[1] == ":")) else "/"
    return root.rstrip("\\/") + sep + name


def environment_block(env: Mapping[str, str]) -> str:
    """CreateProcess's UNICODE environment: K=V NUL-separated, sorted case-insensitively, NUL-ended."""
    for k in env:
        if not k or "=" in k[1:] or "\0" in k or "\0" in env[k]:
            raise ConfigError(f"environment variable cannot be passed to Windows: {k!r}", field="env")
    items = sorted(env.items(), key=lambda kv: kv[0].upper())
    return "".join(f"{k}={v}\0" for k, v in items) + "\0"


def build_plan(
    policy: ResolvedPolicy, argv: list[str], env: Mapping[str, str], *, proxy_url: str | None = None
) -> WindowsPlan:
    """Plan ``argv`` under ``policy`` on Windows (unelevated restricted token).

    ``proxy_url``: in proxy mode, the running local proxy (``run`` starts one); the
    *_PROXY variables point there.
    """
    if not argv:
        raise ConfigError("no command given", field="argv")
    if any("\0" in a for a in argv):
        raise ConfigError("an argument contains a NUL character", field="argv")
    name = capability_name(policy)
    cap = derive_capability_sid(name)
    token = TokenPlan(
        restricting_sids=[cap, LOGON_SID, EVERYONE_SID],
        capability_sid=cap,
        capability_name=name,
        default_dacl=[LOGON_SID, cap, SYSTEM_SID],
    )

    acl: list[AceEntry] = []
    not_enforced = list(NOT_ENFORCED_ALWAYS)
    if policy.mode == SandboxMode.DANGER_FULL_ACCESS:
        # Writes are gated by restricting SIDs; only Everyone-granted paths are left. To
        # honour "full access" the token is not write-restricted at all.
        token.flags = ["DISABLE_MAX_PRIVILEGE", "LUA_TOKEN"]
        token.restricting_sids = []
        token.default_dacl = []
    roots = [_win(p) for p in policy.writable_roots] if policy.mode == SandboxMode.WORKSPACE_WRITE else []
    for root in roots:
        acl.append(
            AceEntry(
                path=root,
                access="grant",
                sid=cap,
                rights=list(GRANT_RIGHTS),
                inheritance=list(INHERIT),
                reason="writable root",
            )
        )
    for root in roots:
        for pname in policy.protected_names:
            acl.append(
                AceEntry(
                    path=_join(root, pname),
                    access="deny",
                    sid=cap,
                    rights=list(DENY_WRITE_RIGHTS),
                    inheritance=list(INHERIT),
                    reason=f"protected name {pname}",
                )
            )
    for p in [*policy.read_only_paths, *policy.deny_read]:
        acl.append(
            AceEntry(
                path=_win(p),
                access="deny",
                sid=cap,
                rights=list(DENY_WRITE_RIGHTS),
                inheritance=list(INHERIT),
                reason="read-only path" if p in policy.read_only_paths else "deny-read path (writes only)",
            )
        )
    if roots and policy.protected_names:
        not_enforced.append(
            "a protected name that does not exist yet cannot carry an ACE, so it can be created "
            f"({', '.join(policy.protected_names)})"
        )
    if policy.allow_git_write:
        not_enforced.append("allow_git_write: Windows keeps all of .git read-only (no audited split)")
    if policy.deny_read:
        not_enforced.append(
            "deny_read: reads of these paths are NOT blocked (write-restricted token); they only get "
            "deny-write ACEs: " + ", ".join(_win(p) for p in policy.deny_read)
        )
    if not policy.share_tmp:
        not_enforced.append(
            "private temp: not provided; %TEMP% is the user's own and stays as writable as before"
        )

    child_env = apply_env_policy(policy.env, env)
    # The same markers as on Linux (sandbox.linux.assemble.sandbox_env).
    child_env["CORDON_SANDBOX"] = "windows"
    child_env["CORDON_SANDBOX_NETWORK"] = policy.network.mode.value
    network = _network(policy, child_env, proxy_url)
    if not network.enforced:
        not_enforced.append(
            f"network={network.mode}: {network.method} is advisory; programs opening sockets bypass it"
        )
    return WindowsPlan(
        argv=list(argv),
        command_line=subprocess.list2cmdline(argv),
        cwd=_win(policy.cwd),
        env=child_env,
        token=token,
        job=JobPlan(),
        acl=acl,
        network=network,
        not_enforced=not_enforced,
    )


def _network(policy: ResolvedPolicy, child_env: dict[str, str], proxy_url: str | None) -> NetworkPlan:
    mode = policy.network.mode
    limits = [
        "a per-identity firewall block needs a separate local user and one elevation: Windows "
        "Firewall and WFP match the token's user/group SIDs, not restricting SIDs, so a restricted "
        "token of the invoking user cannot be singled out",
        "the system DNS client (Dnscache) resolves names on the command's behalf",
    ]
    if mode == NetworkMode.ON:
        return NetworkPlan(mode="on", method="none", enforced=True, env={}, limits=[])
    if mode == NetworkMode.OFF:
        env = {v: DEAD_PROXY for v in PROXY_VARS} | {"NO_PROXY": "localhost,127.0.0.1,::1"} | OFFLINE_ENV
        env["CODEX_SANDBOX_NETWORK_DISABLED"] = "1"
        child_env.update(env)
        return NetworkPlan(
            mode="off",
            method="environment (dead proxy, offline flags)",
            enforced=False,
            env=env,
            limits=limits,
        )
    env = {v: proxy_url or DEAD_PROXY for v in PROXY_VARS} | {"NO_PROXY": ""}
    child_env.update(env)
    return NetworkPlan(
        mode="proxy",
        method="environment (*_PROXY point at Cordon's proxy on host loopback; dead port until it runs)",
        enforced=False,
        env=env,
        limits=limits,
    )
