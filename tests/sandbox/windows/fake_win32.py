"""A recording fake of the Win32 functions ``sandbox.windows.win32`` calls.

Each method decodes its ctypes arguments into plain values and appends
``(name, *values)`` to ``calls``. Handles and LocalAlloc'd pointers are tracked, so a
test can assert that every one was released exactly once. ``fail`` makes the named
function fail (``fail_error`` becomes GetLastError / the returned status).
"""

from __future__ import annotations

import ctypes
import itertools

from cordon.sandbox.windows import win32

LOGON_SID_TEXT = "S-1-5-5-0-271828"
ACCOUNT_SIDS = {
    "CordonSandboxOffline": "S-1-5-21-111-222-333-1001",
    "CordonSandboxOnline": "S-1-5-21-111-222-333-1002",
}
PASSWORD = "pw-0123456789abcdefghijklmn"
STD = {-10: 0x11, -11: 0x12, -12: 0x13}
PSEUDO_PROCESS = 0xFFFFFFFFFFFFFFFF  # GetCurrentProcess() pseudo handle (never closed)


def _out(ref):
    """The object behind a ctypes.byref()."""
    return ref._obj


class FakeWin32:
    def __init__(
        self,
        *,
        fail=(),
        fail_error=5,
        missing=(),
        exit_code=0,
        timeouts=0,
        logon_groups=1,
        accounts=(),
        credentials=(),
        registry=None,
        job_messages=(),
    ):
        """``accounts``: local accounts that exist; ``credentials``: Credential Manager targets;
        ``registry``: {(HKLM subkey, value name): str | int}; ``job_messages``: the
        JOB_OBJECT_MSG_* ids the job posts to its completion port (once one is associated)."""
        self.job_messages = list(job_messages)
        self.port_of_job: dict[int, int] = {}
        self.accounts = {a: ACCOUNT_SIDS[a] for a in accounts}
        self.credentials = set(credentials)
        self.registry = dict(registry or {})
        self._keep: list = []  # real ctypes memory handed out (credentials, strings)
        self.calls: list[tuple] = []
        self.fail = set(fail)
        self.fail_error = fail_error
        self.missing = set(missing)
        self.exit_code = exit_code
        self.timeouts = timeouts
        self.logon_groups = logon_groups
        self.last_error = 0
        self._ids = itertools.count(0x1000, 4)
        self.handles: dict[int, str] = {}  # open handle -> what it is
        self.closed: list[int] = []
        self.allocs: dict[int, str] = {}  # LocalAlloc'd pointer -> what it is
        self.sid_text: dict[int, str] = {}
        self.dacl_ace: dict[int, dict] = {}
        self.process_state: dict[int, str] = {}
        self._logon_sid_ptr = next(self._ids)
        self.sid_text[self._logon_sid_ptr] = LOGON_SID_TEXT

    # -- helpers -----------------------------------------------------------------
    def _failing(self, name) -> bool:
        if name in self.fail:
            self.last_error = self.fail_error
            return True
        return False

    def _handle(self, kind) -> int:
        h = next(self._ids)
        self.handles[h] = kind
        return h

    def _alloc(self, kind) -> int:
        p = next(self._ids)
        self.allocs[p] = kind
        return p

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    # -- kernel32 --------------------------------------------------------------------
    def GetLastError(self):
        return self.last_error

    def GetCurrentProcess(self):
        self.calls.append(("GetCurrentProcess",))
        return PSEUDO_PROCESS

    def GetStdHandle(self, which):
        self.calls.append(("GetStdHandle", which))
        return STD[which]

    def CloseHandle(self, h):
        self.calls.append(("CloseHandle", self.handles.get(h, f"UNKNOWN {h:#x}")))
        if h not in self.handles:
            raise AssertionError(f"CloseHandle of a handle that is not open: {h:#x}")
        kind = self.handles.pop(h)
        self.closed.append(h)
        if kind == "job":
            # KILL_ON_JOB_CLOSE: everything in the job dies with the last handle.
            for p, state in self.process_state.items():
                if state.startswith("in-job"):
                    self.process_state[p] = "killed-by-job"
        return 1

    def LocalFree(self, p):
        self.calls.append(("LocalFree", self.allocs.get(p, f"UNKNOWN {p}")))
        if p not in self.allocs:
            raise AssertionError(f"LocalFree of memory not allocated: {p}")
        del self.allocs[p]
        return None

    def CreateJobObjectW(self, attrs, name):
        self.calls.append(("CreateJobObjectW", attrs, name))
        return 0 if self._failing("CreateJobObjectW") else self._handle("job")

    def SetInformationJobObject(self, job, cls, ref, size):
        info = _out(ref)
        assert size == ctypes.sizeof(info)
        if cls == win32.JOB_EXTENDED_LIMIT_INFORMATION:
            b = info.BasicLimitInformation
            self.calls.append(
                ("SetInformationJobObject", self.handles[job], "extended", b.LimitFlags, b.ActiveProcessLimit)
            )
            self.job_limits = {"memory": info.JobMemoryLimit, "time": b.PerJobUserTimeLimit}
        elif cls == win32.JOB_ASSOCIATE_COMPLETION_PORT:
            assert self.handles[info.CompletionPort] == "completion-port"
            self.calls.append(("SetInformationJobObject", self.handles[job], "completion-port"))
            self.port_of_job[job] = info.CompletionPort
        else:
            assert cls == win32.JOB_BASIC_UI_RESTRICTIONS
            self.calls.append(("SetInformationJobObject", self.handles[job], "ui", info.UIRestrictionsClass))
        return 0 if self._failing("SetInformationJobObject") else 1

    def CreateIoCompletionPort(self, file, existing, key, threads):
        self.calls.append(("CreateIoCompletionPort", file, existing, key, threads))
        assert file == win32.INVALID_HANDLE_VALUE and existing is None
        return 0 if self._failing("CreateIoCompletionPort") else self._handle("completion-port")

    def GetQueuedCompletionStatus(self, port, ident_ref, key_ref, overlapped_ref, ms):
        self.calls.append(("GetQueuedCompletionStatus", self.handles[port], ms))
        if port not in self.port_of_job.values() or not self.job_messages:
            self.last_error = 258  # WAIT_TIMEOUT: nothing queued
            return 0
        _out(ident_ref).value = self.job_messages.pop(0)
        return 1

    def AssignProcessToJobObject(self, job, proc):
        self.calls.append(("AssignProcessToJobObject", self.handles[job], self.handles[proc]))
        if self._failing("AssignProcessToJobObject"):
            return 0
        self.process_state[proc] = "in-job-suspended"
        return 1

    def ResumeThread(self, thread):
        self.calls.append(("ResumeThread", self.handles[thread]))
        if self._failing("ResumeThread"):
            return 0xFFFFFFFF
        proc = self._thread_proc[thread]
        assert self.process_state[proc] == "in-job-suspended", "resumed before it was in the job"
        self.process_state[proc] = "in-job-running"
        return 1

    def TerminateProcess(self, proc, code):
        self.calls.append(("TerminateProcess", self.handles[proc], code))
        self.process_state[proc] = f"terminated:{code}"
        return 1

    def TerminateJobObject(self, job, code):
        self.calls.append(("TerminateJobObject", self.handles[job], code))
        self.exit_code = code
        self.timeouts = 0  # the job's processes are gone: the next wait returns
        return 1

    def WaitForSingleObject(self, h, ms):
        self.calls.append(("WaitForSingleObject", self.handles[h], ms))
        if self.timeouts:
            self.timeouts -= 1
            return win32.WAIT_TIMEOUT
        if self._failing("WaitForSingleObject"):
            return 0xFFFFFFFF
        return win32.WAIT_OBJECT_0

    def GetExitCodeProcess(self, proc, ref):
        self.calls.append(("GetExitCodeProcess", self.handles[proc]))
        if self._failing("GetExitCodeProcess"):
            return 0
        _out(ref).value = self.exit_code
        return 1

    # -- advapi32 --------------------------------------------------------------------
    def OpenProcessToken(self, proc, access, ref):
        self.calls.append(("OpenProcessToken", proc, access))
        if self._failing("OpenProcessToken"):
            return 0
        _out(ref).value = self._handle("process-token")
        return 1

    def GetTokenInformation(self, token, cls, buf, size, needed_ref):
        self.calls.append(("GetTokenInformation", self.handles[token], cls, size))
        assert cls == win32.TOKEN_LOGON_SID
        needed = ctypes.sizeof(win32.TOKEN_GROUPS)
        if buf is None:
            _out(needed_ref).value = needed
            self.last_error = win32.ERROR_INSUFFICIENT_BUFFER
            return 0
        if self._failing("GetTokenInformation"):
            return 0
        assert size >= needed
        groups = win32.TOKEN_GROUPS.from_buffer(buf)
        groups.GroupCount = self.logon_groups
        groups.Groups[0].Sid = self._logon_sid_ptr if self.logon_groups else None
        groups.Groups[0].Attributes = 0xC0000007
        return 1

    def ConvertStringSidToSidW(self, text, ref):
        self.calls.append(("ConvertStringSidToSidW", text))
        if self._failing("ConvertStringSidToSidW"):
            return 0
        p = self._alloc(f"sid {text}")
        self.sid_text[p] = text
        _out(ref).value = p
        return 1

    def CreateRestrictedToken(
        self, token, flags, n_disable, disable, n_del, delete, n_restrict, restrict, ref
    ):
        sids = [self.sid_text[restrict[i].Sid] for i in range(n_restrict)] if n_restrict else []
        assert (n_disable, disable, n_del, delete) == (0, None, 0, None)
        self.calls.append(("CreateRestrictedToken", self.handles[token], flags, sids))
        if self._failing("CreateRestrictedToken"):
            return 0
        _out(ref).value = self._handle("restricted-token")
        return 1

    def GetNamedSecurityInfoW(self, path, objtype, info, owner, group, dacl_ref, sacl, sd_ref):
        self.calls.append(("GetNamedSecurityInfoW", path, objtype, info))
        assert (owner, group, sacl) == (None, None, None)
        if path in self.missing:
            return win32.ERROR_FILE_NOT_FOUND
        if self._failing("GetNamedSecurityInfoW"):
            return self.fail_error
        sd = self._alloc(f"security-descriptor {path}")
        _out(sd_ref).value = sd
        _out(dacl_ref).value = sd + 1  # points inside the descriptor; freed with it
        return 0

    def SetEntriesInAclW(self, count, entries, old, new_ref):
        aces = [
            {
                "rights": ea.grfAccessPermissions,
                "mode": ea.grfAccessMode,
                "inherit": ea.grfInheritance,
                "trustee_form": ea.Trustee.TrusteeForm,
                "sid": self.sid_text[ea.Trustee.ptstrName],
            }
            for ea in entries[:count]
        ]
        self.calls.append(("SetEntriesInAclW", count, "old" if old else None, *aces))
        if self._failing("SetEntriesInAclW"):
            return self.fail_error
        p = self._alloc("acl")
        self.dacl_ace[p] = aces[0]
        _out(new_ref).value = p
        return 0

    def SetTokenInformation(self, token, cls, ref, size):
        info = _out(ref)
        assert cls == win32.TOKEN_DEFAULT_DACL_CLASS and size == ctypes.sizeof(info)
        assert info.DefaultDacl in self.allocs, "default DACL is not a live ACL"
        self.calls.append(
            ("SetTokenInformation", self.handles[token], "default-dacl", self.allocs[info.DefaultDacl])
        )
        return 0 if self._failing("SetTokenInformation") else 1

    def SetNamedSecurityInfoW(self, path, objtype, info, owner, group, dacl, sacl):
        self.calls.append(("SetNamedSecurityInfoW", path, objtype, info, self.dacl_ace[dacl]["sid"]))
        assert (owner, group, sacl) == (None, None, None)
        return self.fail_error if self._failing("SetNamedSecurityInfoW") else 0

    def CreateProcessAsUserW(self, token, app, cmdline, pa, ta, inherit, flags, env, cwd, si_ref, pi_ref):
        si = _out(si_ref)
        self.calls.append(
            (
                "CreateProcessAsUserW",
                self.handles[token],
                app,
                cmdline.value,
                inherit,
                flags,
                env[: len(env) - 1],  # drop the NUL create_unicode_buffer adds
                cwd,
                (si.cb == ctypes.sizeof(si), si.dwFlags, si.hStdInput, si.hStdOutput, si.hStdError),
            )
        )
        if self._failing("CreateProcessAsUserW"):
            return 0
        pi = _out(pi_ref)
        pi.hProcess = self._handle("process")
        pi.hThread = self._handle("thread")
        self._thread_proc = {pi.hThread: pi.hProcess}
        self.process_state[pi.hProcess] = (
            "suspended" if flags & win32.CREATE_SUSPENDED else "running-outside-job"
        )
        return 1

    # -- sandbox-user method --------------------------------------------------------
    def LookupAccountNameW(self, system, name, sid, cb_ref, domain, cch_ref, use_ref):
        self.calls.append(("LookupAccountNameW", system, name, "size" if sid is None else "fill"))
        assert system is None
        if name not in self.accounts or self._failing("LookupAccountNameW"):
            self.last_error = 1332  # ERROR_NONE_MAPPED
            return 0
        if sid is None:
            _out(cb_ref).value, _out(cch_ref).value = 28, 16
            self.last_error = win32.ERROR_INSUFFICIENT_BUFFER
            return 0
        assert _out(cb_ref).value >= 28 and len(domain) >= 16
        self.sid_text[ctypes.addressof(sid)] = self.accounts[name]
        _out(use_ref).value = 1  # SidTypeUser
        return 1

    def ConvertSidToStringSidW(self, psid, ref):
        self.calls.append(("ConvertSidToStringSidW", self.sid_text[psid]))
        buf = ctypes.create_unicode_buffer(self.sid_text[psid])
        self._keep.append(buf)
        p = ctypes.addressof(buf)
        self.allocs[p] = "sid-string"
        _out(ref).value = p
        return 1

    def CredReadW(self, target, kind, flags, ref):
        self.calls.append(("CredReadW", target, kind, flags))
        if target not in self.credentials or self._failing("CredReadW"):
            self.last_error = 1168  # ERROR_NOT_FOUND
            return 0
        blob = ctypes.create_unicode_buffer(PASSWORD)
        cred = win32.CREDENTIALW()
        cred.Type = kind
        cred.CredentialBlobSize = len(PASSWORD) * ctypes.sizeof(ctypes.c_wchar)
        cred.CredentialBlob = ctypes.addressof(blob)
        self._keep += [blob, cred]
        p = ctypes.addressof(cred)
        self.allocs[p] = f"credential {target}"
        _out(ref).value = p
        return 1

    def CredFree(self, p):
        self.calls.append(("CredFree", self.allocs.get(p, f"UNKNOWN {p}")))
        assert self.allocs.pop(p).startswith("credential ")

    def RegGetValueW(self, hkey, subkey, name, flags, type_ref, data, cb_ref):
        self.calls.append(("RegGetValueW", hkey, subkey, name, flags, "size" if data is None else "fill"))
        assert hkey == win32.HKEY_LOCAL_MACHINE and type_ref is None
        value = self.registry.get((subkey, name))
        if value is None or self._failing("RegGetValueW"):
            return win32.ERROR_FILE_NOT_FOUND
        if flags == win32.RRF_RT_REG_DWORD:
            assert isinstance(value, int)
            _out(data).value = value
            return 0
        assert flags == win32.RRF_RT_REG_SZ and isinstance(value, str)
        need = (len(value) + 1) * ctypes.sizeof(ctypes.c_wchar)
        if data is None:
            _out(cb_ref).value = need
            return 0
        assert _out(cb_ref).value >= need
        data.value = value
        return 0

    def CreateProcessWithLogonW(
        self, user, domain, password, logon_flags, app, cmdline, flags, env, cwd, si_ref, pi_ref
    ):
        si = _out(si_ref)
        self.calls.append(
            (
                "CreateProcessWithLogonW",
                user,
                domain,
                password.value,
                logon_flags,
                app,
                cmdline.value,
                flags,
                env[: len(env) - 1],
                cwd,
                (si.cb == ctypes.sizeof(si), si.dwFlags, si.hStdInput, si.hStdOutput, si.hStdError),
            )
        )
        self.password_buffer = password  # the test checks it is zeroed afterwards
        if self._failing("CreateProcessWithLogonW"):
            return 0
        pi = _out(pi_ref)
        pi.hProcess = self._handle("process")
        pi.hThread = self._handle("thread")
        self._thread_proc = {pi.hThread: pi.hProcess}
        self.process_state[pi.hProcess] = (
            "suspended" if flags & win32.CREATE_SUSPENDED else "running-outside-job"
        )
        return 1


def firewall_registry(plan, *, sid=None, **override) -> dict:
    """The registry entries of a provisioned machine for ``plan``'s firewall rules.

    Format of the rule store values (v2.x, as Windows Firewall writes them; unverified here):
    ``v2.30|Action=Block|Active=TRUE|Dir=Out|Protocol=6|RPort=1-80|...|LUAuth=O:LSD:(A;;CC;;;SID)|``.
    ``override``: field -> value replacing the normal one in every rule (None drops it).
    """
    sid = sid or ACCOUNT_SIDS[plan.identity.account]
    reg = {}
    for rule in plan.network.firewall_rules:
        fields = [("Action", "Block"), ("Active", "TRUE"), ("Dir", "Out")]
        proto = {"Any": None, "TCP": "6", "UDP": "17"}[rule.protocol]
        if proto:
            fields.append(("Protocol", proto))
        if rule.remote_ports != "Any":
            fields += [("RPort", p) for p in rule.remote_ports.split(",")]
        fields += [("Name", rule.name), ("LUAuth", f"O:LSD:(A;;CC;;;{sid})")]
        for key, value in override.items():
            fields = [(k, v) for k, v in fields if k != key]
            if value is not None:
                fields.append((key, value))
        reg[(win32.FIREWALL_RULES_KEY, rule.name)] = "v2.30|" + "".join(f"{k}={v}|" for k, v in fields)
    for prof in ("DomainProfile", "StandardProfile", "PublicProfile"):
        reg[(f"{win32.FIREWALL_PROFILES_KEY}\\{prof}", "EnableFirewall")] = 1
    return reg


def provisioned(plan, **kw) -> FakeWin32:
    """A fake machine where ``plan``'s sandbox account, credential and firewall rules exist."""
    account = plan.identity.account
    return FakeWin32(
        accounts=[account],
        credentials=[plan.identity.credential],
        registry=firewall_registry(plan),
        **kw,
    )
