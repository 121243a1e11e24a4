"""The one module that calls Win32: carry out a ``WindowsPlan`` with ctypes.

Import-safe everywhere: ``ctypes.windll`` is looked up only in ``load_api()``, and
``launch`` takes the function table as an argument, so tests drive it with a recording
fake. Every handle and allocation is released on every path (``ExitStack``); any
failure before the process is resumed terminates it and raises ``SandboxError``
(exit 125): the command never runs with less confinement than planned.

Order (restricted-token): token -> ACLs -> job -> CreateProcessAsUserW(suspended) ->
AssignProcessToJobObject -> ResumeThread -> wait. The process is suspended until it is
inside the job, so nothing it starts can escape the kill-on-close.

Order (sandbox-user): look up the account's SID -> ACLs (as the invoking user, who owns
the files) -> job -> read the account's password from Credential Manager ->
CreateProcessWithLogonW(runner, suspended) -> AssignProcessToJobObject -> ResumeThread ->
wait. The runner (``sandbox.windows.inner``), now the account, derives the restricted
token from its own token and starts the command with the restricted-token order above.
A normal user cannot hand another account's token to CreateProcessAsUserW (that needs
SeAssignPrimaryTokenPrivilege), hence the runner. ``probe`` checks the provisioning first.
"""

from __future__ import annotations

import ctypes
import sys
from contextlib import ExitStack
from types import SimpleNamespace
from typing import Any

from cordon.sandbox.errors import SandboxError
from cordon.sandbox.windows.plan import (
    ACCOUNT_PREFIX,
    FIREWALL_PROFILES_KEY,
    FIREWALL_RULES_KEY,
    LOGON_SID,
    METHOD_TOKEN,
    METHOD_USER,
    RUNNER_PYTHON,
    WindowsPlan,
    environment_block,
    limit_reached,
)

DWORD = ctypes.c_uint32
HANDLE = ctypes.c_void_p
BOOL = ctypes.c_int
LPVOID = ctypes.c_void_p
LPWSTR = ctypes.c_wchar_p

# CreateRestrictedToken flags
FLAGS = {"DISABLE_MAX_PRIVILEGE": 0x1, "SANDBOX_INERT": 0x2, "LUA_TOKEN": 0x4, "WRITE_RESTRICTED": 0x8}
TOKEN_ASSIGN_PRIMARY, TOKEN_DUPLICATE, TOKEN_QUERY, TOKEN_ADJUST_DEFAULT = 0x1, 0x2, 0x8, 0x80
TOKEN_ADJUST_SESSIONID = 0x100
TOKEN_ACCESS = (
    TOKEN_ASSIGN_PRIMARY | TOKEN_DUPLICATE | TOKEN_QUERY | TOKEN_ADJUST_DEFAULT | TOKEN_ADJUST_SESSIONID
)
TOKEN_LOGON_SID = 28  # TOKEN_INFORMATION_CLASS.TokenLogonSid
ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND, ERROR_INSUFFICIENT_BUFFER = 2, 3, 122
# Predefined registry key: (HKEY)(LONG)0x80000002, sign-extended on 64-bit.
HKEY_LOCAL_MACHINE = -0x7FFFFFFE
RRF_RT_REG_SZ, RRF_RT_REG_DWORD = 0x2, 0x10
CRED_TYPE_GENERIC = 1
LOGON_WITH_PROFILE = 0x1

EXIT_WALL = 143  # a job ended at its wall limit: the status a Linux command ended by TERM has
JOB_LIMIT_BITS = {
    "JOB_OBJECT_LIMIT_ACTIVE_PROCESS": 0x8,
    "JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION": 0x400,
    "JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE": 0x2000,
    "JOB_OBJECT_LIMIT_JOB_TIME": 0x4,
    "JOB_OBJECT_LIMIT_JOB_MEMORY": 0x200,
}
UI_BITS = {
    "JOB_OBJECT_UILIMIT_HANDLES": 0x1,
    "JOB_OBJECT_UILIMIT_READCLIPBOARD": 0x2,
    "JOB_OBJECT_UILIMIT_WRITECLIPBOARD": 0x4,
    "JOB_OBJECT_UILIMIT_SYSTEMPARAMETERS": 0x8,
    "JOB_OBJECT_UILIMIT_DISPLAYSETTINGS": 0x10,
    "JOB_OBJECT_UILIMIT_GLOBALATOMS": 0x20,
    "JOB_OBJECT_UILIMIT_DESKTOP": 0x40,
    "JOB_OBJECT_UILIMIT_EXITWINDOWS": 0x80,
}
JOB_BASIC_UI_RESTRICTIONS, JOB_EXTENDED_LIMIT_INFORMATION = 4, 9
JOB_ASSOCIATE_COMPLETION_PORT = 7  # JOBOBJECTINFOCLASS.JobObjectAssociateCompletionPortInformation
INVALID_HANDLE_VALUE = ctypes.c_void_p(-1).value

RIGHTS = {
    "FILE_READ_DATA": 0x1,
    "FILE_LIST_DIRECTORY": 0x1,
    "FILE_READ_EA": 0x8,
    "FILE_EXECUTE": 0x20,
    "FILE_READ_ATTRIBUTES": 0x80,
    "FILE_WRITE_DATA": 0x2,
    "FILE_APPEND_DATA": 0x4,
    "FILE_WRITE_EA": 0x10,
    "FILE_DELETE_CHILD": 0x40,
    "FILE_WRITE_ATTRIBUTES": 0x100,
    "DELETE": 0x10000,
    "WRITE_DAC": 0x40000,
    "WRITE_OWNER": 0x80000,
    "FILE_GENERIC_READ": 0x120089,
    "FILE_GENERIC_WRITE": 0x120116,
    "FILE_GENERIC_EXECUTE": 0x1200A0,
}
INHERIT_BITS = {"OBJECT_INHERIT_ACE": 0x1, "CONTAINER_INHERIT_ACE": 0x2}
GRANT_ACCESS, SET_ACCESS, DENY_ACCESS = 1, 2, 3
GENERIC_ALL = 0x10000000
TOKEN_DEFAULT_DACL_CLASS = 6  # TOKEN_INFORMATION_CLASS.TokenDefaultDacl
TRUSTEE_IS_SID, TRUSTEE_IS_UNKNOWN = 0, 0
SE_FILE_OBJECT, DACL_SECURITY_INFORMATION = 1, 0x4

CREATE_SUSPENDED, CREATE_UNICODE_ENVIRONMENT = 0x4, 0x400
STARTF_USESTDHANDLES = 0x100
STD_HANDLES = (-10, -11, -12)  # input, output, error
WAIT_OBJECT_0, WAIT_TIMEOUT, WAIT_POLL_MS = 0, 0x102, 100
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as on Linux
EXIT_SETUP_FAILED = 125


class SID_AND_ATTRIBUTES(ctypes.Structure):
    _fields_ = [("Sid", LPVOID), ("Attributes", DWORD)]


class TOKEN_GROUPS(ctypes.Structure):
    _fields_ = [("GroupCount", DWORD), ("Groups", SID_AND_ATTRIBUTES * 1)]


class TRUSTEE_W(ctypes.Structure):
    _fields_ = [
        ("pMultipleTrustee", LPVOID),
        ("MultipleTrusteeOperation", DWORD),
        ("TrusteeForm", DWORD),
        ("TrusteeType", DWORD),
        ("ptstrName", LPVOID),  # a PSID with TRUSTEE_IS_SID
    ]


class EXPLICIT_ACCESS_W(ctypes.Structure):
    _fields_ = [
        ("grfAccessPermissions", DWORD),
        ("grfAccessMode", DWORD),
        ("grfInheritance", DWORD),
        ("Trustee", TRUSTEE_W),
    ]


class TOKEN_DEFAULT_DACL(ctypes.Structure):
    _fields_ = [("DefaultDacl", LPVOID)]


class JOBOBJECT_BASIC_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", DWORD),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", DWORD),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", DWORD),
        ("SchedulingClass", DWORD),
    ]


class IO_COUNTERS(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_uint64)
        for n in ("ReadOps", "WriteOps", "OtherOps", "ReadBytes", "WriteBytes", "OtherBytes")
    ]


class JOBOBJECT_EXTENDED_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", JOBOBJECT_BASIC_LIMIT_INFORMATION),
        ("IoInfo", IO_COUNTERS),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


class JOBOBJECT_BASIC_UI_RESTRICTIONS(ctypes.Structure):
    _fields_ = [("UIRestrictionsClass", DWORD)]


class JOBOBJECT_ASSOCIATE_COMPLETION_PORT(ctypes.Structure):
    _fields_ = [("CompletionKey", LPVOID), ("CompletionPort", HANDLE)]


class STARTUPINFOW(ctypes.Structure):
    _fields_ = [
        ("cb", DWORD),
        ("lpReserved", LPWSTR),
        ("lpDesktop", LPWSTR),
        ("lpTitle", LPWSTR),
        ("dwX", DWORD),
        ("dwY", DWORD),
        ("dwXSize", DWORD),
        ("dwYSize", DWORD),
        ("dwXCountChars", DWORD),
        ("dwYCountChars", DWORD),
        ("dwFillAttribute", DWORD),
        ("dwFlags", DWORD),
        ("wShowWindow", ctypes.c_uint16),
        ("cbReserved2", ctypes.c_uint16),
        ("lpReserved2", LPVOID),
        ("hStdInput", HANDLE),
        ("hStdOutput", HANDLE),
        ("hStdError", HANDLE),
    ]


class CREDENTIALW(ctypes.Structure):
    _fields_ = [
        ("Flags", DWORD),
        ("Type", DWORD),
        ("TargetName", LPWSTR),
        ("Comment", LPWSTR),
        ("LastWritten", DWORD * 2),  # FILETIME
        ("CredentialBlobSize", DWORD),
        ("CredentialBlob", LPVOID),
        ("Persist", DWORD),
        ("AttributeCount", DWORD),
        ("Attributes", LPVOID),
        ("TargetAlias", LPWSTR),
        ("UserName", LPWSTR),
    ]


class PROCESS_INFORMATION(ctypes.Structure):
    _fields_ = [("hProcess", HANDLE), ("hThread", HANDLE), ("dwProcessId", DWORD), ("dwThreadId", DWORD)]


# name -> (dll, restype, argtypes): the whole Win32 surface this backend uses.
SIGNATURES: dict[str, tuple[str, Any, list[Any]]] = {
    "GetLastError": ("kernel32", DWORD, []),
    "GetCurrentProcess": ("kernel32", HANDLE, []),
    "GetStdHandle": ("kernel32", HANDLE, [DWORD]),
    "CloseHandle": ("kernel32", BOOL, [HANDLE]),
    "LocalFree": ("kernel32", LPVOID, [LPVOID]),
    "CreateJobObjectW": ("kernel32", HANDLE, [LPVOID, LPWSTR]),
    "SetInformationJobObject": ("kernel32", BOOL, [HANDLE, ctypes.c_int, LPVOID, DWORD]),
    "AssignProcessToJobObject": ("kernel32", BOOL, [HANDLE, HANDLE]),
    "CreateIoCompletionPort": ("kernel32", HANDLE, [HANDLE, HANDLE, ctypes.c_size_t, DWORD]),
    "GetQueuedCompletionStatus": ("kernel32", BOOL, [HANDLE, LPVOID, LPVOID, LPVOID, DWORD]),
    "ResumeThread": ("kernel32", DWORD, [HANDLE]),
    "TerminateProcess": ("kernel32", BOOL, [HANDLE, ctypes.c_uint]),
    "WaitForSingleObject": ("kernel32", DWORD, [HANDLE, DWORD]),
    "TerminateJobObject": ("kernel32", BOOL, [HANDLE, ctypes.c_uint]),
    "GetExitCodeProcess": ("kernel32", BOOL, [HANDLE, LPVOID]),
    "OpenProcessToken": ("advapi32", BOOL, [HANDLE, DWORD, LPVOID]),
    "GetTokenInformation": ("advapi32", BOOL, [HANDLE, ctypes.c_int, LPVOID, DWORD, LPVOID]),
    "ConvertStringSidToSidW": ("advapi32", BOOL, [LPWSTR, LPVOID]),
    "SetTokenInformation": ("advapi32", BOOL, [HANDLE, ctypes.c_int, LPVOID, DWORD]),
    "CreateRestrictedToken": (
        "advapi32",
        BOOL,
        [HANDLE, DWORD, DWORD, LPVOID, DWORD, LPVOID, DWORD, LPVOID, LPVOID],
    ),
    "GetNamedSecurityInfoW": (
        "advapi32",
        DWORD,
        [LPWSTR, ctypes.c_int, DWORD, LPVOID, LPVOID, LPVOID, LPVOID, LPVOID],
    ),
    "SetEntriesInAclW": ("advapi32", DWORD, [ctypes.c_ulong, LPVOID, LPVOID, LPVOID]),
    "SetNamedSecurityInfoW": (
        "advapi32",
        DWORD,
        [LPWSTR, ctypes.c_int, DWORD, LPVOID, LPVOID, LPVOID, LPVOID],
    ),
    "CreateProcessAsUserW": (
        "advapi32",
        BOOL,
        [HANDLE, LPWSTR, LPVOID, LPVOID, LPVOID, BOOL, DWORD, LPVOID, LPWSTR, LPVOID, LPVOID],
    ),
    # sandbox-user method and its probe
    "LookupAccountNameW": ("advapi32", BOOL, [LPWSTR, LPWSTR, LPVOID, LPVOID, LPVOID, LPVOID, LPVOID]),
    "ConvertSidToStringSidW": ("advapi32", BOOL, [LPVOID, LPVOID]),
    "CredReadW": ("advapi32", BOOL, [LPWSTR, DWORD, DWORD, LPVOID]),
    "CredFree": ("advapi32", None, [LPVOID]),
    "RegGetValueW": ("advapi32", ctypes.c_long, [HANDLE, LPWSTR, LPWSTR, DWORD, LPVOID, LPVOID, LPVOID]),
    "CreateProcessWithLogonW": (
        "advapi32",
        BOOL,
        [LPWSTR, LPWSTR, LPVOID, DWORD, LPWSTR, LPVOID, DWORD, LPVOID, LPWSTR, LPVOID, LPVOID],
    ),
}


def load_api() -> SimpleNamespace:
    """The real function table from ``ctypes.windll`` (Windows only)."""
    windll = getattr(ctypes, "windll", None)
    if windll is None:
        from cordon.sandbox import _platform

        raise SandboxError(
            f"the Windows backend runs only on Windows (this is {_platform.NAME or 'another system'})"
        )
    funcs = {}
    for name, (dll, restype, argtypes) in SIGNATURES.items():
        fn = getattr(getattr(windll, dll), name)
        fn.restype, fn.argtypes = restype, argtypes
        funcs[name] = fn
    return SimpleNamespace(**funcs)


def _bits(table: dict[str, int], names: list[str]) -> int:
    value = 0
    for n in names:
        if n not in table:
            raise SandboxError(f"unknown Win32 flag in plan: {n}")
        value |= table[n]
    return value


class _Launch:
    def __init__(self, api: Any, stack: ExitStack):
        self.api, self.stack = api, stack
        self.port = None  # the job's I/O completion port (limit messages), when a limit needs it
        self.wall_ended = False

    def fail(self, what: str, code: int | None = None) -> SandboxError:
        code = self.api.GetLastError() if code is None else code
        return SandboxError(f"{what} failed (Win32 error {code}); the command was not run")

    def close_later(self, handle: int) -> None:
        self.stack.callback(self.api.CloseHandle, handle)

    def free_later(self, ptr: int) -> None:
        self.stack.callback(self.api.LocalFree, ptr)

    def sid(self, text: str) -> int:
        psid = LPVOID()
        if not self.api.ConvertStringSidToSidW(text, ctypes.byref(psid)):
            raise self.fail(f"ConvertStringSidToSidW({text})")
        self.free_later(psid.value)
        return psid.value

    def logon_sid(self, token: int) -> int:
        """The logon SID from ``token``; it points into a buffer kept alive by the stack."""
        needed = DWORD(0)
        self.api.GetTokenInformation(token, TOKEN_LOGON_SID, None, 0, ctypes.byref(needed))
        if needed.value < ctypes.sizeof(TOKEN_GROUPS):
            raise self.fail("GetTokenInformation(TokenLogonSid) size query")
        buf = ctypes.create_string_buffer(needed.value)
        self.stack.callback(lambda b=buf: None)  # keep the buffer alive until cleanup
        if not self.api.GetTokenInformation(token, TOKEN_LOGON_SID, buf, needed.value, ctypes.byref(needed)):
            raise self.fail("GetTokenInformation(TokenLogonSid)")
        groups = TOKEN_GROUPS.from_buffer(buf)
        if groups.GroupCount < 1 or not groups.Groups[0].Sid:
            raise self.fail("GetTokenInformation(TokenLogonSid): no logon SID", 0)
        return groups.Groups[0].Sid

    def restricted_token(self, plan: WindowsPlan) -> tuple[int, dict[str, int]]:
        api = self.api
        base = HANDLE()
        if not api.OpenProcessToken(api.GetCurrentProcess(), TOKEN_ACCESS, ctypes.byref(base)):
            raise self.fail("OpenProcessToken")
        self.close_later(base.value)
        sids = {plan.token.capability_sid: self.sid(plan.token.capability_sid)}
        restricting: list[int] = []
        for text in plan.token.restricting_sids:
            if text == LOGON_SID:
                sids[LOGON_SID] = self.logon_sid(base.value)
                restricting.append(sids[LOGON_SID])
                continue
            if text not in sids:
                sids[text] = self.sid(text)
            restricting.append(sids[text])
        arr = (SID_AND_ATTRIBUTES * max(1, len(restricting)))()
        for i, p in enumerate(restricting):
            arr[i].Sid, arr[i].Attributes = p, 0
        new = HANDLE()
        ok = api.CreateRestrictedToken(
            base.value,
            _bits(FLAGS, plan.token.flags),
            0,
            None,
            0,
            None,
            len(restricting),
            arr if restricting else None,
            ctypes.byref(new),
        )
        if not ok:
            raise self.fail("CreateRestrictedToken")
        self.close_later(new.value)
        if plan.token.default_dacl:
            self.default_dacl(new.value, plan.token.default_dacl, sids, base.value)
        return new.value, sids

    def default_dacl(self, token: int, granted: list[str], sids: dict[str, int], base: int) -> None:
        """What objects the command creates (pipes, processes, threads) grant, and to whom.

        The inherited default DACL names only the user, which a write-restricted token
        cannot use for writes: the command could not write to its own pipes. The logon SID
        is both a normal group and a restricting SID, so it passes both access checks.
        """
        for text in granted:
            if text not in sids:
                sids[text] = self.logon_sid(base) if text == LOGON_SID else self.sid(text)
        entries = (EXPLICIT_ACCESS_W * len(granted))()
        for e, text in zip(entries, granted, strict=True):
            e.grfAccessPermissions, e.grfAccessMode, e.grfInheritance = GENERIC_ALL, SET_ACCESS, 0
            e.Trustee.TrusteeForm, e.Trustee.TrusteeType, e.Trustee.ptstrName = (
                TRUSTEE_IS_SID,
                TRUSTEE_IS_UNKNOWN,
                sids[text],
            )
        acl = LPVOID()
        err = self.api.SetEntriesInAclW(len(granted), entries, None, ctypes.byref(acl))
        if err:
            raise self.fail("SetEntriesInAclW(default DACL)", err)
        self.free_later(acl.value)
        tdd = TOKEN_DEFAULT_DACL(acl.value)
        if not self.api.SetTokenInformation(
            token, TOKEN_DEFAULT_DACL_CLASS, ctypes.byref(tdd), ctypes.sizeof(tdd)
        ):
            raise self.fail("SetTokenInformation(TokenDefaultDacl)")

    def account_sid(self, name: str) -> int:
        """The SID of local account ``name`` (LookupAccountNameW); kept alive by the stack."""
        api = self.api
        cb, cch, use = DWORD(0), DWORD(0), DWORD(0)
        api.LookupAccountNameW(None, name, None, ctypes.byref(cb), None, ctypes.byref(cch), ctypes.byref(use))
        if cb.value == 0:
            raise self.fail(f"LookupAccountNameW({name})")
        sid = ctypes.create_string_buffer(cb.value)
        domain = ctypes.create_unicode_buffer(max(1, cch.value))
        self.stack.callback(lambda b=sid: None)  # keep the buffer alive until cleanup
        if not api.LookupAccountNameW(
            None, name, sid, ctypes.byref(cb), domain, ctypes.byref(cch), ctypes.byref(use)
        ):
            raise self.fail(f"LookupAccountNameW({name})")
        return ctypes.addressof(sid)

    def sid_string(self, psid: int) -> str:
        out = LPVOID()
        if not self.api.ConvertSidToStringSidW(psid, ctypes.byref(out)):
            raise self.fail("ConvertSidToStringSidW")
        try:
            return ctypes.wstring_at(out.value)
        finally:
            self.api.LocalFree(out.value)

    def password(self, target: str):
        """The account's password from Credential Manager, in a buffer zeroed at cleanup."""
        pcred = LPVOID()
        if not self.api.CredReadW(target, CRED_TYPE_GENERIC, 0, ctypes.byref(pcred)):
            raise self.fail(f"CredReadW({target})")
        try:
            cred = CREDENTIALW.from_address(pcred.value)
            n = cred.CredentialBlobSize // ctypes.sizeof(ctypes.c_wchar)
            buf = ctypes.create_unicode_buffer(n + 1)
            ctypes.memmove(buf, cred.CredentialBlob, n * ctypes.sizeof(ctypes.c_wchar))
        finally:
            self.api.CredFree(pcred.value)
        self.stack.callback(ctypes.memset, buf, 0, ctypes.sizeof(buf))
        return buf

    def reg_value(self, subkey: str, name: str, kind: str):
        """A REG_SZ (str) or REG_DWORD (int) under HKLM; None if absent or unreadable."""
        api = self.api
        if kind == "dword":
            value, cb = DWORD(0), DWORD(ctypes.sizeof(DWORD))
            err = api.RegGetValueW(
                HKEY_LOCAL_MACHINE,
                subkey,
                name,
                RRF_RT_REG_DWORD,
                None,
                ctypes.byref(value),
                ctypes.byref(cb),
            )
            return None if err else value.value
        cb = DWORD(0)
        if api.RegGetValueW(HKEY_LOCAL_MACHINE, subkey, name, RRF_RT_REG_SZ, None, None, ctypes.byref(cb)):
            return None
        buf = ctypes.create_unicode_buffer(cb.value // ctypes.sizeof(ctypes.c_wchar) + 1)
        cb = DWORD(ctypes.sizeof(buf))
        if api.RegGetValueW(HKEY_LOCAL_MACHINE, subkey, name, RRF_RT_REG_SZ, None, buf, ctypes.byref(cb)):
            return None
        return buf.value

    def apply_acl(self, plan: WindowsPlan, sids: dict[str, int], warn) -> None:
        """Add each planned ACE. ACEs stay after the run (the SIDs are stable; see AceEntry)."""
        api = self.api
        for ace in plan.acl:
            if ace.sid not in sids:
                if ace.sid.startswith(ACCOUNT_PREFIX):
                    raise SandboxError(f"plan names {ace.sid} but no sandbox account was looked up")
                sids[ace.sid] = self.sid(ace.sid)
            sid = sids[ace.sid]
            old_dacl, sd = LPVOID(), LPVOID()
            err = api.GetNamedSecurityInfoW(
                ace.path,
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                None,
                None,
                ctypes.byref(old_dacl),
                None,
                ctypes.byref(sd),
            )
            if err in (ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND) and ace.when_absent == "skip":
                warn(f"not protected (does not exist, cannot carry an ACE): {ace.path}")
                continue
            if err:
                raise self.fail(f"GetNamedSecurityInfoW({ace.path})", err)
            self.free_later(sd.value)
            entries = (EXPLICIT_ACCESS_W * 1)()
            ea = entries[0]
            ea.grfAccessPermissions = _bits(RIGHTS, ace.rights)
            ea.grfAccessMode = GRANT_ACCESS if ace.access == "grant" else DENY_ACCESS
            ea.grfInheritance = _bits(INHERIT_BITS, ace.inheritance)
            ea.Trustee.TrusteeForm, ea.Trustee.TrusteeType, ea.Trustee.ptstrName = (
                TRUSTEE_IS_SID,
                TRUSTEE_IS_UNKNOWN,
                sid,
            )
            new_dacl = LPVOID()
            err = api.SetEntriesInAclW(1, entries, old_dacl.value, ctypes.byref(new_dacl))
            if err:
                raise self.fail(f"SetEntriesInAclW({ace.path})", err)
            self.free_later(new_dacl.value)
            err = api.SetNamedSecurityInfoW(
                ace.path, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, None, None, new_dacl.value, None
            )
            if err:
                raise self.fail(f"SetNamedSecurityInfoW({ace.path})", err)

    def job(self, plan: WindowsPlan) -> int:
        api = self.api
        job = api.CreateJobObjectW(None, None)
        if not job:
            raise self.fail("CreateJobObjectW")
        # Closing the last handle kills every process in the job: our cleanup does that.
        self.close_later(job)
        ext = JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
        ext.BasicLimitInformation.LimitFlags = _bits(JOB_LIMIT_BITS, plan.job.limits)
        ext.BasicLimitInformation.ActiveProcessLimit = plan.job.active_process_limit
        if plan.job.job_time_limit is not None:
            ext.BasicLimitInformation.PerJobUserTimeLimit = plan.job.job_time_limit
        if plan.job.job_memory_limit is not None:
            ext.JobMemoryLimit = plan.job.job_memory_limit
        if not api.SetInformationJobObject(
            job, JOB_EXTENDED_LIMIT_INFORMATION, ctypes.byref(ext), ctypes.sizeof(ext)
        ):
            raise self.fail("SetInformationJobObject(ExtendedLimitInformation)")
        if any(e.job_message is not None for e in plan.resource_limits):
            # Where the job says a limit was reached (sandbox.windows.plan.WINDOWS_REACHED).
            port = api.CreateIoCompletionPort(INVALID_HANDLE_VALUE, None, 0, 1)
            if not port:
                raise self.fail("CreateIoCompletionPort")
            self.close_later(port)
            assoc = JOBOBJECT_ASSOCIATE_COMPLETION_PORT(None, port)
            if not api.SetInformationJobObject(
                job, JOB_ASSOCIATE_COMPLETION_PORT, ctypes.byref(assoc), ctypes.sizeof(assoc)
            ):
                raise self.fail("SetInformationJobObject(AssociateCompletionPort)")
            self.port = port
        ui = JOBOBJECT_BASIC_UI_RESTRICTIONS(_bits(UI_BITS, plan.job.ui_restrictions))
        if not api.SetInformationJobObject(
            job, JOB_BASIC_UI_RESTRICTIONS, ctypes.byref(ui), ctypes.sizeof(ui)
        ):
            raise self.fail("SetInformationJobObject(BasicUIRestrictions)")
        return job

    def startup_info(self) -> STARTUPINFOW:
        si = STARTUPINFOW()
        si.cb = ctypes.sizeof(si)
        si.dwFlags = STARTF_USESTDHANDLES
        si.hStdInput, si.hStdOutput, si.hStdError = (self.api.GetStdHandle(h) for h in STD_HANDLES)
        return si

    def process(self, plan: WindowsPlan, token: int, job: int) -> int:
        si, pi = self.startup_info(), PROCESS_INFORMATION()
        cmdline = ctypes.create_unicode_buffer(plan.command_line)  # CreateProcess may write into it
        env = ctypes.create_unicode_buffer(environment_block(plan.env))
        flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT
        ok = self.api.CreateProcessAsUserW(
            token, None, cmdline, None, None, True, flags, env, plan.cwd, ctypes.byref(si), ctypes.byref(pi)
        )
        if not ok:
            raise self.fail("CreateProcessAsUserW")
        return self.start_in_job(pi, job)

    def process_as_account(self, plan: WindowsPlan, password, job: int) -> int:
        """The runner as the sandbox account (CreateProcessWithLogonW), suspended, then in the job."""
        si, pi = self.startup_info(), PROCESS_INFORMATION()
        cmdline = ctypes.create_unicode_buffer(runner_command_line(plan))
        env = ctypes.create_unicode_buffer(environment_block(plan.env))
        flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT
        ok = self.api.CreateProcessWithLogonW(
            plan.identity.account,
            ".",  # a local account
            password,
            LOGON_WITH_PROFILE,
            None,
            cmdline,
            flags,
            env,
            plan.cwd,
            ctypes.byref(si),
            ctypes.byref(pi),
        )
        if not ok:
            raise self.fail(f"CreateProcessWithLogonW({plan.identity.account})")
        return self.start_in_job(pi, job)

    def start_in_job(self, pi: PROCESS_INFORMATION, job: int) -> int:
        api = self.api
        self.close_later(pi.hProcess)
        self.close_later(pi.hThread)
        try:
            if not api.AssignProcessToJobObject(job, pi.hProcess):
                raise self.fail("AssignProcessToJobObject")
            if api.ResumeThread(pi.hThread) == 0xFFFFFFFF:
                raise self.fail("ResumeThread")
        except SandboxError:
            # Still suspended: it never ran a single instruction of the command.
            api.TerminateProcess(pi.hProcess, EXIT_SETUP_FAILED)
            raise
        return pi.hProcess

    def wait(self, process: int, job: int | None = None, wall: float | None = None) -> int:
        """Wait in short slices so Ctrl+C reaches Python; the command (same console) gets it too.

        ``wall``: after that many seconds the whole job is ended (exit status 143, as the TERM
        that ends a Linux sandbox at its wall limit) and the launcher says so."""
        import time

        api = self.api
        deadline = None if wall is None else time.monotonic() + wall
        while (r := api.WaitForSingleObject(process, WAIT_POLL_MS)) == WAIT_TIMEOUT:
            if deadline is not None and time.monotonic() >= deadline and job is not None:
                from cordon.sandbox.limits import show

                api.TerminateJobObject(job, EXIT_WALL)
                self.wall_ended = True
                print(
                    f"sandbox: wall limit {show('wall', wall)} reached; the sandbox was ended",
                    file=sys.stderr,
                )
                deadline = None
        if r != WAIT_OBJECT_0:
            raise SandboxError(f"WaitForSingleObject failed (Win32 error {api.GetLastError()})")
        code = DWORD(0)
        if not api.GetExitCodeProcess(process, ctypes.byref(code)):
            raise SandboxError(f"GetExitCodeProcess failed (Win32 error {api.GetLastError()})")
        return code.value

    def job_messages(self) -> list[int]:
        """The JOB_OBJECT_MSG_* ids the job posted so far, in order (none without a port)."""
        out: list[int] = []
        if self.port is None:
            return out
        ident, key, overlapped = DWORD(0), ctypes.c_size_t(0), LPVOID()
        while self.api.GetQueuedCompletionStatus(
            self.port, ctypes.byref(ident), ctypes.byref(key), ctypes.byref(overlapped), 0
        ):
            out.append(ident.value)
        return out


def runner_command_line(plan: WindowsPlan) -> str:
    """``python -m sandbox.windows.inner SPEC``: SPEC is the plan minus env and ACL (JSON)."""
    import dataclasses
    import json
    import subprocess

    spec = dataclasses.replace(plan, method=METHOD_TOKEN, env={}, acl=[], requires=[], not_enforced=[])
    argv = [sys.executable if a == RUNNER_PYTHON else a for a in plan.identity.runner]
    return subprocess.list2cmdline([*argv, json.dumps(spec.as_data(), separators=(",", ":"))])


def _rule_problem(text: str | None, sid: str | None, rule) -> str | None:
    """Why the stored firewall rule does not do what ``rule`` says (None: it does)."""
    if text is None:
        return "not found"
    fields: dict[str, list[str]] = {}
    for part in text.split("|")[1:]:
        key, eq, value = part.partition("=")
        if eq:
            fields.setdefault(key, []).append(value)
    want = {"Action": "Block", "Active": "TRUE", "Dir": "Out"}
    for key, value in want.items():
        if fields.get(key) != [value]:
            return f"{key} is not {value}"
    protocol = {"Any": None, "TCP": "6", "UDP": "17"}[rule.protocol]
    if fields.get("Protocol", [None])[0] != protocol:
        return f"protocol is not {rule.protocol}"
    if rule.remote_ports != "Any" and sorted(fields.get("RPort", [])) != sorted(rule.remote_ports.split(",")):
        return f"remote ports are not {rule.remote_ports}"
    if sid is None or f"(A;;CC;;;{sid})" not in "".join(fields.get("LUAuth", [])):
        return "not scoped to the sandbox account"
    return None


def probe(plan: WindowsPlan, api: Any = None) -> list[str]:
    """What the plan's ``requires`` lacks on this machine (empty: provisioned). Changes nothing.

    The firewall is read from the registry (the rule store and the profiles' EnableFirewall):
    anything unreadable counts as missing, so a doubt means a refusal, never a silent gap.
    """
    api = api if api is not None else load_api()
    missing: list[str] = []
    rules = {r.name: r for r in plan.network.firewall_rules}
    with ExitStack() as stack:
        run = _Launch(api, stack)
        sid: str | None = None
        for req in plan.requires:
            if req.kind == "account":
                try:
                    sid = run.sid_string(run.account_sid(req.name))
                except SandboxError:
                    missing.append(f"local account {req.name}")
            elif req.kind == "credential":
                pcred = LPVOID()
                if api.CredReadW(req.name, CRED_TYPE_GENERIC, 0, ctypes.byref(pcred)):
                    api.CredFree(pcred.value)
                else:
                    missing.append(f"stored credential {req.name}")
            elif req.kind == "firewall-rule":
                problem = _rule_problem(
                    run.reg_value(FIREWALL_RULES_KEY, req.name, "sz"), sid, rules[req.name]
                )
                if problem:
                    missing.append(f"firewall rule {req.name} ({problem})")
            elif req.kind == "firewall-enabled":
                if run.reg_value(f"{FIREWALL_PROFILES_KEY}\\{req.name}", "EnableFirewall", "dword") != 1:
                    missing.append(f"Windows Firewall on for {req.name}")
            else:
                missing.append(f"unknown requirement {req.kind}")
    return missing


def launch(plan: WindowsPlan, api: Any = None, *, warn=None) -> int:
    """Run ``plan``; return the command's exit code. Raises ``SandboxError`` (125) on setup failure.

    ``api``: the Win32 function table (default: ``load_api()``). ``warn``: called with
    each line about what this plan does not enforce (default: stderr), so a gap is never
    silent.
    """
    if warn is None:

        def warn(line: str) -> None:
            print(f"sandbox: windows: {line}", file=sys.stderr)

    api = api if api is not None else load_api()
    for line in plan.not_enforced:
        warn(f"NOT ENFORCED: {line}")
    with ExitStack() as stack:
        run = _Launch(api, stack)
        if plan.method == METHOD_USER:
            if not plan.identity.account or not plan.identity.account_sid or not plan.identity.credential:
                raise SandboxError("sandbox-user plan without an account; refusing")
            sids = {plan.identity.account_sid: run.account_sid(plan.identity.account)}
            run.apply_acl(plan, sids, warn)
            job = run.job(plan)
            process = run.process_as_account(plan, run.password(plan.identity.credential), job)
        else:
            token, sids = run.restricted_token(plan)
            run.apply_acl(plan, sids, warn)
            job = run.job(plan)
            process = run.process(plan, token, job)
        try:
            code = run.wait(process, job, plan.job.wall_seconds)
        except KeyboardInterrupt:
            # Leaving the stack closes the job handle, which kills the whole process tree.
            return EXIT_INTERRUPTED
        hit = limit_reached(plan, run.job_messages(), code, run.wall_ended)
        if hit is not None and hit.key != "wall":  # the wall timer said so as it fired
            from cordon.sandbox.limits import reached

            print(f"sandbox: {reached(hit.key, hit.value, hit.detail)}", file=sys.stderr)
        return code
