"""Process hardening for Cordon's own long-lived processes (the launcher and the proxy).

Owns: ``harden_process()`` (no core dumps, not ptrace-attachable, a sane umask, loader
variables dropped from the environment children inherit) and ``scrub_loader_env()``
(the same filter as a pure function, for building a child's environment). Must not
touch: confinement of the command itself (that is the platform backend's job).

What it protects: secrets the launcher or proxy hold in memory (the proxy credential,
environment values the env policy withheld from the command) against another process
of the same user reading them through ptrace, /proc/PID/mem, /proc/PID/environ or a core
file; and children Cordon starts (bwrap, the inner stage, the proxy) against loader or
interpreter injection they would otherwise inherit. What it cannot do: stop root (with
CAP_SYS_PTRACE), or undo an ``LD_PRELOAD`` that was already loaded into this very
process before Python ran.

Import-safe on every platform: OS calls happen only inside the functions.
"""

from __future__ import annotations

import os

from cordon.sandbox import _platform
from cordon.sandbox.errors import SandboxError

TYPE_CHECKING = False  # not typing's: importing typing/collections.abc costs ~3 ms per launch
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

# prctl(2) / ptrace(2) request numbers (stable kernel and XNU ABI).
PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
PT_DENY_ATTACH = 31

# The widest umask Cordon's processes run with: files they create are never group- or
# world-writable. A stricter umask the user already has (0o077) is kept.
UMASK_FLOOR = 0o022

# Prefixes of variables that make the dynamic loader (or the C library's allocator)
# load or log code and data chosen by whoever set them.
LOADER_PREFIXES = ("LD_", "DYLD_", "MallocStackLogging", "MallocLogFile")

# Exact names with the same power, outside those prefixes.
LOADER_NAMES = frozenset(
    {
        "GLIBC_TUNABLES",  # parsed by ld.so itself (CVE-2023-4911)
        "GCONV_PATH",  # glibc loads iconv modules from here
        "HOSTALIASES",
        "RESOLV_HOST_CONF",
        # Python: code run at start-up or on import, or a different stdlib.
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "PYTHONINSPECT",
        "PYTHONUSERBASE",
        "PYTHONEXECUTABLE",
        "PYTHONBREAKPOINT",  # names a callable to import and call
        "PYTHONWARNINGS",  # a warning category "mod.Class" imports mod
        "PYTHONPLATLIBDIR",
        # Other interpreters' equivalents: an option or module injected into every run.
        "PERL5OPT",
        "PERL5LIB",
        "PERLLIB",
        "RUBYOPT",
        "RUBYLIB",
        "NODE_OPTIONS",
        "NODE_PATH",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "BASH_ENV",  # sourced by every non-interactive bash
        "ENV",  # sourced by interactive sh
    }
)


class HardeningError(SandboxError):
    """A hardening step the platform supports failed; the process is not hardened."""


# What the dynamic loader itself obeys (not interpreters): these reach bwrap and the inner stage
# before Landlock and seccomp are in place, so the launcher never passes them on unasked.
DYNAMIC_LOADER_NAMES = frozenset({"GLIBC_TUNABLES", "GCONV_PATH", "HOSTALIASES", "RESOLV_HOST_CONF"})


def is_dynamic_loader_variable(name: str) -> bool:
    """True for ``LD_*``, ``DYLD_*`` and the other variables ld.so/dyld act on."""
    return name.startswith(("LD_", "DYLD_")) or name in DYNAMIC_LOADER_NAMES


def is_loader_variable(name: str) -> bool:
    """True for a variable ``scrub_loader_env`` removes."""
    return name in LOADER_NAMES or name.startswith(LOADER_PREFIXES)


def scrub_loader_env(env: Mapping[str, str], *, keep: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``env`` without loader- and interpreter-injection variables.

    ``keep`` names variables to let through anyway: stripping ``LD_LIBRARY_PATH`` breaks
    CUDA, MKL and conda set-ups (Codex had to revert its hardening for that), so a
    launcher should offer it as an explicit, visible choice.
    """
    kept = set(keep)
    return {k: v for k, v in env.items() if k in kept or not is_loader_variable(k)}


def harden_process(*, scrub_environ: bool = True, keep_env: Iterable[str] = ()) -> None:
    """Harden the calling process; call it first thing in a long-lived Cordon process.

    - no core dumps: RLIMIT_CORE soft and hard 0 (a core file would hold our memory);
    - Linux: ``PR_SET_DUMPABLE 0``: same-user processes can no longer ptrace-attach or
      read /proc/PID/mem, environ, maps... (they become root-owned);
    - macOS: ``PT_DENY_ATTACH``: debuggers cannot attach (and one already attached kills us);
    - umask at least ``0o022``;
    - with ``scrub_environ``, loader/interpreter injection variables are deleted from
      ``os.environ`` so no child inherits them (``keep_env`` lets named ones through).

    Raises HardeningError if a step the platform supports fails. Windows has no
    equivalent knobs here; only the umask and environment steps apply there.
    """
    _no_core_dumps()
    if _platform.NAME == "linux":
        _set_not_dumpable(_libc())
    elif _platform.NAME == "macos":
        _deny_attach(_libc())
    old = os.umask(UMASK_FLOOR)
    os.umask(old | UMASK_FLOOR)
    if scrub_environ:
        kept = set(keep_env)
        for name in [k for k in os.environ if k not in kept and is_loader_variable(k)]:
            del os.environ[name]


def _no_core_dumps() -> None:
    try:
        import resource
    except ImportError:  # Windows
        return
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError) as e:
        raise HardeningError(f"could not disable core dumps (setrlimit RLIMIT_CORE 0): {e}") from e


class _LinuxLibc:
    """prctl(2) through the ``_ctypes`` binding the inner stage uses: ``import ctypes`` costs
    ~5-10 ms of class building, at every ``sandbox run``."""

    @staticmethod
    def prctl(*args: int) -> int:
        from cordon.sandbox.linux.landlock import ffi

        _, prctl, c_long, _, _ = ffi()
        return prctl(*[c_long(a) for a in args])


def _libc():
    if _platform.NAME == "linux":
        return _LinuxLibc()
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _set_not_dumpable(libc) -> None:
    from cordon.sandbox.fastpath import ctypes as _ctypes

    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        err = _ctypes.get_errno()
        raise HardeningError(f"prctl(PR_SET_DUMPABLE, 0) failed: {os.strerror(err)}")


def _deny_attach(libc) -> None:
    from cordon.sandbox.fastpath import ctypes as _ctypes

    # ptrace(PT_DENY_ATTACH, 0, 0, 0): XNU refuses later attaches; returns 0 on success.
    if libc.ptrace(PT_DENY_ATTACH, 0, None, 0) != 0:
        err = _ctypes.get_errno()
        raise HardeningError(f"ptrace(PT_DENY_ATTACH) failed: {os.strerror(err)}")


def is_dumpable() -> bool | None:
    """This process's dumpable flag on Linux (None elsewhere); for diagnostics."""
    if _platform.NAME != "linux":
        return None
    return bool(_libc().prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))
