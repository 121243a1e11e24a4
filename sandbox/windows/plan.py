"""The Windows plan: restricted token, job object, ACL changes and network method, as data.

Pure: ``build_plan`` makes no Win32 call, so ``sandbox plan --platform windows`` works
on any host. ``win32.launch`` carries a plan out. Paths keep the form the policy gives;
Windows paths (``C:\\...``) pass through unchanged, POSIX ones are shown as given.

What a restricted token does and does not stop is listed in every plan under
``not_enforced``, so nobody has to read the docs to find the gaps.

Two methods (``WindowsPlan.method``):

- ``restricted-token``: a write-restricted copy of the invoking user's token. Confines
  writes; cannot confine reads or the network (see ``unenforced``).
- ``sandbox-user``: the command runs as a dedicated local account provisioned once with
  elevation (like Codex's elevated sandbox and srt's windows-install), under the same
  write-restricted token derived from *that* account's token. Deny-read ACEs name the
  account's SID, which the kernel checks on reads; a Windows Firewall rule scoped to the
  account's SID blocks its outbound traffic. Chosen whenever the policy needs either.

``unenforced`` names the guarantees (``GUARANTEES``) a plan cannot give; the runner
refuses such a plan unless each one is listed in the policy's ``allow_unenforced``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import ntpath
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

from cordon.sandbox.config import UNENFORCEABLE
from cordon.sandbox.errors import ConfigError
from cordon.sandbox.noproxy import no_proxy_for_domains
from cordon.sandbox.resolve import ResolvedPolicy, apply_env

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

# Rights denied on deny-read paths (inherited): reading data or listing, attributes, EAs,
# executing or traversing, plus every write right (a secret is not rewritten either).
DENY_READ_RIGHTS = (
    "FILE_READ_DATA",
    "FILE_LIST_DIRECTORY",
    "FILE_READ_EA",
    "FILE_EXECUTE",
    "FILE_READ_ATTRIBUTES",
    *DENY_WRITE_RIGHTS,
)
# Read and run (read-only mode: the sandbox account must still read the folder it runs in).
READ_RIGHTS = ("FILE_GENERIC_READ", "FILE_GENERIC_EXECUTE")

# Guarantees a plan may be unable to give; a policy accepts losing one by naming it in
# ``allow_unenforced`` (one list for the CLI, the config and the plans).
GUARANTEES = UNENFORCEABLE

METHOD_TOKEN = "restricted-token"
METHOD_USER = "sandbox-user"

# The dedicated accounts (provisioned once, elevated; see docs/platforms.md). Offline:
# outbound blocked by the firewall except TCP to Cordon's proxy port on loopback. Online:
# no firewall rule; used when only deny-read needs the separate identity.
USER_OFFLINE = "CordonSandboxOffline"
USER_ONLINE = "CordonSandboxOnline"
# The proxy port the offline account may reach (fixed: firewall rules are set up once).
PROXY_PORT = 47890
# Where a Windows Credential Manager generic credential holds the account's password
# (readable only by the invoking user; stored with cmdkey at provisioning).
CREDENTIAL_TARGET = "cordon-sandbox/{user}"
# Placeholders resolved at launch: the account's SID (LookupAccountNameW) and the Python
# running Cordon (the runner must be readable by the account).
ACCOUNT_PREFIX = "account:"
RUNNER_PYTHON = "python-of-this-cordon"
RUNNER = (RUNNER_PYTHON, "-m", "cordon.sandbox.windows.inner")
FIREWALL_RULES_KEY = r"SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\FirewallRules"
FIREWALL_PROFILES_KEY = r"SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy"
FIREWALL_PROFILES = ("DomainProfile", "StandardProfile", "PublicProfile")
# Everything but 127.0.0.0/8 and ::1 (and ::, which is never a destination), as Windows
# Firewall address ranges.
NON_LOOPBACK = (
    "0.0.0.0-126.255.255.255",
    "128.0.0.0-255.255.255.255",
    "::2-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
)
LOOPBACK = ("127.0.0.0/8", "::1")

PROVISION_HINT = (
    "run `sandbox windows-setup` once (one UAC prompt; `sandbox windows-setup --print` shows the "
    "script). By hand, from an elevated PowerShell: New-LocalUser {user}; New-NetFirewallRule for "
    "each rule named in the plan (sandbox plan --platform windows --json), scoped with -LocalUser "
    '"O:LSD:(A;;CC;;;<SID of {user}>)"; then cmdkey /generic:{target} /user:{user} /pass:<its '
    "password> as yourself. Or accept the gap: allow_unenforced={lost} in the policy"
)

NOT_ENFORCED_TOKEN = (
    "reads: a WRITE_RESTRICTED token checks restricting SIDs for writes only; the command reads "
    "whatever the user can read",
    "paths where Everyone or the logon SID already has write access stay writable",
    "alternate data streams and case variants (.GiT) of protected names are not denied separately",
    "programs started through the shell or COM outside the job (e.g. a browser via Explorer) escape it",
)
NOT_ENFORCED_USER = (
    "reads: the command reads what the sandbox account can read (files granted to Users, "
    "Authenticated Users or Everyone: most of the system); deny-read paths are denied explicitly",
    "paths where Everyone or the sandbox logon SID already has write access stay writable",
    "alternate data streams and case variants (.GiT) of protected names are not denied separately",
    "programs started through the shell or COM outside the job (e.g. a browser via Explorer) escape it",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenPlan:
    base: str = "current process token"
    api: str = "CreateRestrictedToken"
    flags: list[str] = field(default_factory=lambda: list(TOKEN_FLAGS))
    restricting_sids: list[str]
    capability_sid: str
    capability_name: str
    privileges_kept: list[str] = field(default_factory=lambda: ["SeChangeNotifyPrivilege"])
    # GENERIC_ALL in the token's default DACL (objects the command creates); see win32.default_dacl
    default_dacl: list[str] = field(default_factory=list)
    integrity_level: str = "unchanged (medium)"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobPlan:
    limits: list[str] = field(default_factory=lambda: list(JOB_LIMITS))
    active_process_limit: int = ACTIVE_PROCESS_LIMIT
    ui_restrictions: list[str] = field(default_factory=lambda: list(UI_RESTRICTIONS))
    # Resource limits (SandboxPolicy.limits); None: not asked for.
    job_memory_limit: int | None = None  # bytes committed by the whole job
    job_time_limit: int | None = None  # user-mode CPU time of the whole job, in 100 ns units
    wall_seconds: float | None = None  # the launcher ends the job (TerminateJobObject) after this long


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitEntry:
    """How one resource limit is enforced on Windows (or why it cannot be)."""

    key: str
    value: int | float
    enforced: bool
    mechanism: str | None = None
    why: str | None = None
    # How the launcher recognises that the limit was reached, and what it then says:
    # the job object's message on its I/O completion port (JOB_OBJECT_MSG_*: id and name),
    # the exit status Windows gives the job's processes, and the end of the sentence
    # ``sandbox: KEY limit VALUE reached; DETAIL`` (sandbox.limits.reached).
    reached_by: str | None = None
    job_message: int | None = None
    job_message_name: str | None = None
    exit_code: int | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AceEntry:
    """One ACE added with SetEntriesInAclW + SetNamedSecurityInfoW.

    ``sid`` is a SID string, or ``account:NAME`` (the sandbox account's SID, looked up at
    launch). DENY_ACCESS entries are placed by SetEntriesInAclW ahead of the allow ACEs
    (canonical order), so they are evaluated first. ACEs stay after the run (see
    docs/platforms.md: removing them would race with a concurrent run of the same sandbox).
    """

    path: str
    access: str  # "grant" | "deny"
    sid: str
    rights: list[str]
    inheritance: list[str]
    reason: str
    # What happens when the path does not exist at launch:
    #   "skip": nothing to put an ACE on; the launcher says so (nothing exists to read or protect)
    #   "refuse": the run is refused (a writable root that is missing is a configuration error)
    when_absent: str = "skip"


@dataclass(frozen=True, slots=True, kw_only=True)
class FirewallRule:
    """One Windows Firewall rule that must exist (created at provisioning, probed at launch)."""

    name: str
    direction: str = "Outbound"
    action: str = "Block"
    protocol: str  # "Any" | "TCP" | "UDP"
    remote_addresses: list[str]
    remote_ports: str = "Any"
    local_user: str  # SDDL: only processes of this account match the rule


@dataclass(frozen=True, slots=True, kw_only=True)
class Requirement:
    """Something provisioned once (elevated) that the launcher probes before it runs anything."""

    kind: str  # "account" | "credential" | "firewall-rule" | "firewall-enabled"
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityPlan:
    """Who the command runs as."""

    method: str
    account: str | None = None  # the sandbox account (method sandbox-user)
    account_sid: str | None = None  # placeholder resolved at launch
    credential: str | None = None  # Credential Manager target holding its password
    # sandbox-user: CreateProcessWithLogonW starts this runner as the account (suspended, put
    # in the job); it derives the restricted token from its own token and starts the command.
    runner: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkPlan:
    mode: str
    method: str
    enforced: bool
    env: dict[str, str]
    limits: list[str]
    firewall_rules: list[FirewallRule] = field(default_factory=list)
    proxy_port: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowsPlan:
    """What runs on Windows, by part: ``identity``, ``token``, ``job``, ``acl``, ``network``."""

    platform: str = "windows"
    method: str
    argv: list[str]
    command_line: str
    cwd: str
    env: dict[str, str]
    identity: IdentityPlan
    token: TokenPlan
    job: JobPlan
    acl: list[AceEntry]
    network: NetworkPlan
    requires: list[Requirement]
    unenforced: list[str]
    not_enforced: list[str]
    resource_limits: list[LimitEntry] = field(default_factory=list)

    def as_data(self) -> dict:
        """The plan as JSON-ready data (``sandbox plan --json``; the runner's spec)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, text: str) -> WindowsPlan:
        """The plan ``as_data`` wrote as JSON (the runner's spec); ValueError if it is not one."""
        try:
            d = json.loads(text)
            net = d["network"]
            return cls(
                **{
                    **d,
                    "identity": IdentityPlan(**d["identity"]),
                    "token": TokenPlan(**d["token"]),
                    "job": JobPlan(**d["job"]),
                    "acl": [AceEntry(**a) for a in d["acl"]],
                    "network": NetworkPlan(
                        **{**net, "firewall_rules": [FirewallRule(**r) for r in net["firewall_rules"]]}
                    ),
                    "requires": [Requirement(**r) for r in d["requires"]],
                    "resource_limits": [LimitEntry(**e) for e in d["resource_limits"]],
                }
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"not a Windows plan: {e}") from None


# Resource limit -> (job object limit flag or None, how it is enforced, or why it cannot be).
WINDOWS_LIMITS = {
    "memory": ("JOB_OBJECT_LIMIT_JOB_MEMORY", "job object: memory committed by the whole job"),
    "pids": ("JOB_OBJECT_LIMIT_ACTIVE_PROCESS", "job object: active processes of the job"),
    "cpu": ("JOB_OBJECT_LIMIT_JOB_TIME", "job object: user-mode CPU time of the whole job"),
    "wall": (None, "the launcher's timer ends the job (TerminateJobObject)"),
    "file-size": (None, None),
    "tmp": (None, None),
}
# Resource limit -> (JOB_OBJECT_MSG_* name and id, or None; the exit status Windows gives the
# job's processes, or None; what happened, for the message). Windows posts the message to the
# job's I/O completion port; for hard limits it documents delivery as not guaranteed, so an
# exit status, where there is one, is evidence as well.
ERROR_NOT_ENOUGH_QUOTA = 1816  # every process of a job ended at its CPU-time limit exits so
WINDOWS_REACHED = {
    "memory": (
        ("JOB_OBJECT_MSG_JOB_MEMORY_LIMIT", 10),
        None,
        "an allocation was refused (the job's committed memory is at the limit)",
    ),
    "pids": (
        ("JOB_OBJECT_MSG_ACTIVE_PROCESS_LIMIT", 3),
        None,
        "a process could not be started (the job's active processes are at the limit)",
    ),
    "cpu": (("JOB_OBJECT_MSG_END_OF_JOB_TIME", 1), ERROR_NOT_ENOUGH_QUOTA, "the job was ended"),
    "wall": (None, 143, "the sandbox was ended"),
}
WINDOWS_LIMITS_MISSING = {
    "file-size": "Windows has no per-process limit on the size of a file written",
    "tmp": "there is no private temp folder on Windows to size",
}


def _resource_limits(policy: ResolvedPolicy) -> tuple[JobPlan, list[LimitEntry]]:
    """The job object with the policy's resource limits, and one entry per limit asked for."""
    from cordon.sandbox.limits import KEYS

    out = []
    job: dict = {"limits": list(JOB_LIMITS)}
    for key, (attr, _, _) in KEYS.items():
        value = getattr(policy.limits, attr, None)
        if value is None:
            continue
        flag, how = WINDOWS_LIMITS[key]
        if how is None:
            out.append(LimitEntry(key=key, value=value, enforced=False, why=WINDOWS_LIMITS_MISSING[key]))
            continue
        if flag and flag not in job["limits"]:
            job["limits"].append(flag)
        if key == "memory":
            job["job_memory_limit"] = int(value)
        elif key == "pids":
            job["active_process_limit"] = int(value)
        elif key == "cpu":
            job["job_time_limit"] = int(value * 10_000_000)
        else:
            job["wall_seconds"] = float(value)
        message, code, detail = WINDOWS_REACHED[key]
        if message is not None:
            by = f"{message[0]} on the job's I/O completion port"
            if code is not None:
                by += f", or the exit status ERROR_NOT_ENOUGH_QUOTA ({code})"
        else:
            by = "the launcher's own timer (it ends the job with exit status 143)"
        out.append(
            LimitEntry(
                key=key,
                value=value,
                enforced=True,
                mechanism=how,
                reached_by=by,
                job_message=message[1] if message else None,
                job_message_name=message[0] if message else None,
                exit_code=code,
                detail=detail,
            )
        )
    return JobPlan(**job), out


def limit_reached(
    plan: WindowsPlan, job_messages=(), exit_code: int | None = None, wall_ended: bool = False
) -> LimitEntry | None:
    """The limit that ended or stopped the command, from the job's completion-port messages
    (ids, in order), the command's exit status and whether the launcher's wall timer ended the
    job; None without such evidence. The launcher prints ``sandbox.limits.reached(key, value,
    entry.detail)`` for it."""
    entries = [e for e in plan.resource_limits if e.enforced]
    if wall_ended:
        return next((e for e in entries if e.key == "wall"), None)
    for msg in job_messages:
        for e in entries:
            if e.job_message is not None and e.job_message == msg:
                return e
    for e in entries:
        if e.key != "wall" and e.exit_code is not None and e.exit_code == exit_code:
            return e
    return None


def capability_name(policy: ResolvedPolicy) -> str:
    """A stable name for this sandbox: the same writable roots give the same SID.

    Deterministic on purpose: re-running in a workspace reuses its ACEs instead of
    piling up one orphan SID per run in every folder's DACL.
    """
    roots = sorted(_win(p).lower() for p in policy.writable_roots)
    digest = hashlib.sha256("\0".join(["cordon-sandbox-v1", policy.mode, *roots]).encode()).hexdigest()
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


def needed_guarantees(policy: ResolvedPolicy) -> list[str]:
    """The guarantees of ``GUARANTEES`` this policy asks for (danger-full-access asks for none)."""
    if policy.mode == "danger-full-access":
        return []
    needed = []
    if policy.network.mode != "on":
        needed.append("network")
    if policy.deny_read:
        needed.append("deny-read")
    return needed


def sandbox_account(policy: ResolvedPolicy) -> str:
    return USER_ONLINE if policy.network.mode == "on" else USER_OFFLINE


def firewall_rules(account: str, sid: str, port: int | None = None) -> list[FirewallRule]:
    """Block rules for ``account``: everything but TCP to loopback ``port`` (the proxy).

    Windows Firewall evaluates block rules before allow rules, so "only the proxy port"
    is written as blocks of everything else, not as an allow.
    """
    port = PROXY_PORT if port is None else port
    scope = f"O:LSD:(A;;CC;;;{sid})"
    return [
        FirewallRule(
            name=f"{account}-BlockRemote",
            protocol="Any",
            remote_addresses=list(NON_LOOPBACK),
            local_user=scope,
        ),
        FirewallRule(
            name=f"{account}-BlockLoopbackTCP",
            protocol="TCP",
            remote_addresses=list(LOOPBACK),
            remote_ports=f"1-{port - 1},{port + 1}-65535",
            local_user=scope,
        ),
        FirewallRule(
            name=f"{account}-BlockLoopbackUDP",
            protocol="UDP",
            remote_addresses=list(LOOPBACK),
            local_user=scope,
        ),
    ]


def build_plan(
    policy: ResolvedPolicy,
    argv: list[str],
    env: Mapping[str, str],
    *,
    proxy_url: str | None = None,
    method: str | None = None,
) -> WindowsPlan:
    """Plan ``argv`` under ``policy`` on Windows.

    ``method``: ``sandbox-user`` or ``restricted-token``; default: ``sandbox-user`` when the
    policy asks for a guarantee only that method gives (network off/proxy, deny-read),
    else ``restricted-token``. ``proxy_url``: in proxy mode, the running local proxy
    (``run`` starts one); the *_PROXY variables point there.
    """
    if not argv:
        raise ConfigError("no command given", field="argv")
    if any("\0" in a for a in argv):
        raise ConfigError("an argument contains a NUL character", field="argv")
    needed = needed_guarantees(policy)
    if method is None:
        method = METHOD_USER if needed else METHOD_TOKEN
    if method not in (METHOD_USER, METHOD_TOKEN):
        raise ConfigError(f"unknown Windows sandbox method {method!r}", field="method")
    as_user = method == METHOD_USER
    name = capability_name(policy)
    cap = derive_capability_sid(name)
    base = "the sandbox account's token (in the runner)" if as_user else "current process token"
    if policy.mode == "danger-full-access":
        # Writes are gated by restricting SIDs; only Everyone-granted paths are left. To
        # honour "full access" the token is not write-restricted at all.
        token = TokenPlan(
            base=base, flags=["DISABLE_MAX_PRIVILEGE", "LUA_TOKEN"], restricting_sids=[],
            capability_sid=cap, capability_name=name, default_dacl=[],
        )  # fmt: skip
    else:
        token = TokenPlan(
            base=base, restricting_sids=[cap, LOGON_SID, EVERYONE_SID], capability_sid=cap,
            capability_name=name, default_dacl=[LOGON_SID, cap, SYSTEM_SID],
        )  # fmt: skip
    account = sandbox_account(policy) if as_user else None
    account_sid = ACCOUNT_PREFIX + account if account else None
    identity = (
        IdentityPlan(
            method=method,
            account=account,
            account_sid=account_sid,
            credential=CREDENTIAL_TARGET.format(user=account),
            runner=list(RUNNER),
        )
        if account
        else IdentityPlan(method=method)
    )

    acl: list[AceEntry] = []
    not_enforced = list(NOT_ENFORCED_USER if as_user else NOT_ENFORCED_TOKEN)
    roots = [_win(p) for p in policy.writable_roots] if policy.mode == "workspace-write" else []
    # Under sandbox-user a write needs two grants: the normal check sees the account's SID,
    # the restricted check (write-restricted token) sees the capability SID.
    grantees = [cap, account_sid] if account_sid else [cap]
    for root in roots:
        for sid in grantees:
            acl.append(
                AceEntry(
                    path=root,
                    access="grant",
                    sid=sid,
                    rights=list(GRANT_RIGHTS),
                    inheritance=list(INHERIT),
                    reason="writable root",
                    when_absent="refuse",
                )
            )
    if account_sid and not roots and policy.mode != "danger-full-access":
        acl.append(
            AceEntry(
                path=_win(policy.cwd),
                access="grant",
                sid=account_sid,
                rights=list(READ_RIGHTS),
                inheritance=list(INHERIT),
                reason="working directory (read-only mode: the account must read it)",
                when_absent="refuse",
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
    for p in policy.read_only_paths:
        acl.append(
            AceEntry(
                path=_win(p),
                access="deny",
                sid=cap,
                rights=list(DENY_WRITE_RIGHTS),
                inheritance=list(INHERIT),
                reason="read-only path",
            )
        )
    for p in policy.deny_read:
        if account_sid:
            # Why this holds: the account's SID is the token's *user* SID, so it takes part
            # in the normal access check of every open, reads included, and an explicit
            # deny ACE (placed first by SetEntriesInAclW) fails that check. A deny ACE for
            # the capability SID would NOT stop reads: with WRITE_RESTRICTED the kernel runs
            # the second (restricting-SID) check for write access only.
            acl.append(
                AceEntry(
                    path=_win(p),
                    access="deny",
                    sid=account_sid,
                    rights=list(DENY_READ_RIGHTS),
                    inheritance=list(INHERIT),
                    reason="deny-read path",
                )
            )
        else:
            acl.append(
                AceEntry(
                    path=_win(p),
                    access="deny",
                    sid=cap,
                    rights=list(DENY_WRITE_RIGHTS),
                    inheritance=list(INHERIT),
                    reason="deny-read path (writes only: reads cannot be denied to a write-restricted token)",
                )
            )
    if roots and policy.protected_names:
        not_enforced.append(
            "a protected name that does not exist yet cannot carry an ACE, so it can be created "
            f"({', '.join(policy.protected_names)})"
        )
    if policy.allow_git_write:
        not_enforced.append("allow_git_write: Windows keeps all of .git read-only (no audited split)")
    if policy.deny_read and not as_user:
        not_enforced.append(
            "deny_read: reads of these paths are NOT blocked (write-restricted token of your own "
            "user); they only get deny-write ACEs: " + ", ".join(_win(p) for p in policy.deny_read)
        )
    if policy.deny_read and as_user:
        not_enforced += [
            "deny_read: a path absent at launch gets no ACE (nothing to read then); created later "
            "during the run, it gets its parent's ACL",
            "deny_read covers children through inheritance only: a child with a protected DACL "
            "(inheritance off) or its own explicit allow ACE for the account keeps that access",
        ]
    if not policy.share_tmp:
        not_enforced.append(
            "private temp: not provided; %TEMP% is the user's own and stays as writable as before"
            if not as_user
            else "private temp: not provided; %TEMP% is the sandbox account's own"
        )

    child_env = apply_env(policy.env, env)
    # The same markers as on Linux (sandbox.linux.assemble.sandbox_env).
    child_env["CORDON_SANDBOX"] = "windows"
    child_env["CORDON_SANDBOX_NETWORK"] = policy.network.mode
    if account:
        _account_profile_env(child_env, account)
    network = _network(policy, child_env, proxy_url, account, account_sid)
    if not network.enforced:
        not_enforced.append(
            f"network={network.mode}: {network.method} is advisory; programs opening sockets bypass it"
        )
    requires: list[Requirement] = []
    if account:
        requires += [
            Requirement(kind="account", name=account),
            Requirement(kind="credential", name=CREDENTIAL_TARGET.format(user=account)),
        ]
        for rule in network.firewall_rules:
            requires.append(Requirement(kind="firewall-rule", name=rule.name))
        if network.firewall_rules:
            requires += [Requirement(kind="firewall-enabled", name=prof) for prof in FIREWALL_PROFILES]
    unenforced = [] if as_user else needed
    job, resource_limits = _resource_limits(policy)
    if any(not e.enforced for e in resource_limits):
        unenforced.append("limits")
    return WindowsPlan(
        method=method,
        argv=list(argv),
        command_line=subprocess.list2cmdline(argv),
        cwd=_win(policy.cwd),
        env=child_env,
        identity=identity,
        token=token,
        job=job,
        acl=acl,
        network=network,
        requires=requires,
        unenforced=unenforced,
        not_enforced=not_enforced,
        resource_limits=resource_limits,
    )


def _account_profile_env(child_env: dict[str, str], account: str) -> None:
    """Point the profile variables at the account's own profile, a sibling of the user's.

    The account cannot write the invoking user's profile, so tools must not be told to use
    it for temp files or settings. Profiles normally live side by side (C:\\Users\\NAME);
    a profile created elsewhere needs these set explicitly (env set).
    """
    user_profile = child_env.get("USERPROFILE")
    if not user_profile:
        return
    profile = _join(ntpath.dirname(user_profile.rstrip("\\/")), account)
    local = _join(_join(profile, "AppData"), "Local")
    updates = {
        "USERPROFILE": profile,
        "HOME": profile,
        "APPDATA": _join(_join(profile, "AppData"), "Roaming"),
        "LOCALAPPDATA": local,
        "TEMP": _join(local, "Temp"),
        "TMP": _join(local, "Temp"),
        "USERNAME": account,
    }
    for key, value in updates.items():
        if key in child_env or key in ("USERPROFILE", "TEMP", "TMP"):
            child_env[key] = value


def _network(
    policy: ResolvedPolicy,
    child_env: dict[str, str],
    proxy_url: str | None,
    account: str | None,
    account_sid: str | None,
) -> NetworkPlan:
    mode = policy.network.mode
    limits = [
        "the system DNS client (Dnscache) resolves names on the command's behalf, so lookups "
        "(and data hidden in names) still leave the machine",
    ]
    if mode == "on":
        return NetworkPlan(mode="on", method="none", enforced=True, env={}, limits=[])
    # Proxy mode: the same NO_PROXY as on Linux (the user's entries, then loopback unless a
    # loopback destination is allowed; the firewall passes no loopback port but the proxy's).
    bypass = no_proxy_for_domains(policy.network.allow_domains, policy.env.set or {})
    if account and account_sid:
        rules = firewall_rules(account, account_sid)
        limits += [
            "the firewall matches the sandbox account's SID: anything the command gets another "
            "identity to do (services, COM servers, scheduled tasks) is not covered",
            "a firewall turned off, or overridden by group policy, disables the rules; the launcher "
            "checks the local profile settings only",
        ]
        if mode == "off":
            env = {v: DEAD_PROXY for v in PROXY_VARS} | {"NO_PROXY": "localhost,127.0.0.1,::1"} | OFFLINE_ENV
            env["CODEX_SANDBOX_NETWORK_DISABLED"] = "1"
            child_env.update(env)
            return NetworkPlan(
                mode="off",
                method=f"Windows Firewall block rules scoped to {account}'s SID (only TCP to "
                f"127.0.0.1:{PROXY_PORT} passes, and nothing listens there)",
                enforced=True,
                env=env,
                limits=limits,
                firewall_rules=rules,
                proxy_port=PROXY_PORT,
            )
        env = {v: proxy_url or f"http://127.0.0.1:{PROXY_PORT}" for v in PROXY_VARS} | {"NO_PROXY": bypass}
        child_env.update(env)
        return NetworkPlan(
            mode="proxy",
            method=f"Windows Firewall block rules scoped to {account}'s SID; only Cordon's proxy on "
            f"127.0.0.1:{PROXY_PORT} is reachable",
            enforced=True,
            env=env,
            limits=limits,
            firewall_rules=rules,
            proxy_port=PROXY_PORT,
        )
    limits.insert(
        0,
        "a per-identity firewall block needs a separate local user and one elevation: Windows "
        "Firewall and WFP match the token's user/group SIDs, not restricting SIDs, so a restricted "
        "token of the invoking user cannot be singled out",
    )
    if mode == "off":
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
    env = {v: proxy_url or DEAD_PROXY for v in PROXY_VARS} | {"NO_PROXY": bypass}
    child_env.update(env)
    return NetworkPlan(
        mode="proxy",
        method="environment (*_PROXY point at Cordon's proxy on host loopback; dead port until it runs)",
        enforced=False,
        env=env,
        limits=limits,
    )


def refusal(lost: list[str], missing: list[str], account: str | None) -> str:
    """Why a run is refused and what to do: provision, or accept the named gaps."""
    account = account or USER_OFFLINE
    what = ", ".join(lost)
    hint = PROVISION_HINT.format(
        user=account,
        target=CREDENTIAL_TARGET.format(user=account),
        lost="[" + ", ".join(f'"{g}"' for g in lost) + "]",
    )
    return (
        f"refusing to run: {what} cannot be enforced on Windows without the sandbox account "
        f"(missing: {'; '.join(missing)}). To enforce it, {hint}"
    )
