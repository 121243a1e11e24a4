"""What this Linux host can do, found by probing (never by matching error text).

- ``find_bwrap``: the system bubblewrap on PATH, skipping any candidate that resolves
  inside a writable root (a command there must not plant a fake for the next launch).
- ``bwrap_info``: version and supported options, probed once per bwrap binary and cached
  on disk keyed by (path, inode, size, mtime).
- ``userns_status``: can an unprivileged user namespace be created, and if not, WHY
  (sysctl values read structurally, then an actual ``unshare(CLONE_NEWUSER)`` attempt).
- ``landlock_abi`` / ``seccomp_available``: asked of the kernel directly.

Imports only the standard library; nothing runs at import time.
"""

from __future__ import annotations

import os

from cordon.paths import within

# Options Cordon uses when bwrap has them (probed, never assumed).
WANTED_OPTIONS = (
    "--disable-userns",
    "--json-status-fd",
    "--unshare-cgroup-try",
    "--perms",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "--argv0",
    "--size",
    "--chmod",
    "--ro-bind-fd",
)
_CACHE_VERSION = 4


class BwrapInfo:
    __slots__ = ("options", "path", "version")

    def __init__(self, path: str, version: str, options: list[str] | None = None) -> None:
        self.path = path
        self.version = version
        self.options = list(options or [])

    def to_dict(self) -> dict:
        return {"path": self.path, "version": self.version, "options": self.options}

    def has(self, option: str) -> bool:
        return option in self.options


def find_bwrap(exclude_roots=(), path_env: str | None = None, skipped: list | None = None) -> str | None:
    """The first ``bwrap`` on PATH whose real path is not under ``exclude_roots`` (the
    writable roots: a command there could replace it). ``skipped`` collects (candidate,
    root) pairs passed over, for the message when none is left."""
    return find_tool("bwrap", exclude_roots, path_env, skipped)


def find_tool(
    name: str, exclude_roots=(), path_env: str | None = None, skipped: list | None = None
) -> str | None:
    """The first ``name`` on PATH whose real path is not under ``exclude_roots``: a program
    the launcher runs on the host must not be one a sandbox could have planted."""
    search = os.environ.get("PATH", "") if path_env is None else path_env
    for d in search.split(os.pathsep):
        if not d or not os.path.isabs(d):
            continue  # a relative PATH entry is the workspace by another name
        cand = os.path.join(d, name)
        if not os.path.isfile(cand):  # one stat for each folder without it, not a realpath
            continue
        real = os.path.realpath(cand)
        if not os.path.isfile(real) or not os.access(real, os.X_OK):
            continue
        root = _root_of(real, exclude_roots) or _root_of(os.path.realpath(d), exclude_roots)
        if root is not None:
            if skipped is not None:
                skipped.append((real, root))
            continue
        return real
    return None


def _root_of(path: str, roots) -> str | None:
    for r in roots:
        if within(path, os.fspath(r)):
            return os.fspath(r)
    return None


def cache_dir() -> str:
    """Cordon's on-disk cache; kept read-only inside every sandbox (see bwrap.py)."""
    from cordon.policy.statetrust import cache_root

    return cache_root()


def _cache_file() -> str:
    return os.path.join(cache_dir(), "bwrap-probe.txt")


def _identity(path: str) -> list:
    st = os.stat(path)
    return [path, st.st_ino, st.st_size, st.st_mtime_ns]


def bwrap_info(path: str, *, use_cache: bool = True, launches=None, roots=(), deferred=None) -> BwrapInfo:
    """Version and options of ``path``; cached on disk per binary identity.

    The cache is one line of tab-separated fields (no json: this runs on every launch). It
    shapes the sandbox (a missing ``--disable-userns`` leaves nested user namespaces open), so
    an entry is read only under the state-trust rules (cordon.policy.statetrust; ``launches``
    and the current writable ``roots``), and only options Cordon asks about are believed.
    ``deferred``: a plan's list of writes (``(function, args, kwargs)``) to leave the cache
    write in, for ``start``; None writes it now.
    """
    ident = "\t".join(str(x) for x in _identity(path))
    cache = _cache_file()
    if use_cache:
        from cordon.policy.statetrust import file_problem, recent_launches

        launches = recent_launches() if launches is None else launches
        use_cache = launches.exposure(cache, roots) is None
    if use_cache and not (os.path.exists(cache) and file_problem(cache)):
        try:
            with open(cache) as f:
                v, rest = f.read().split("\n", 1)
            fields = rest.rstrip("\n").split("\t")
            options = fields[5].split(",") if fields[5] else []
            if (
                v == f"v{_CACHE_VERSION}"
                and "\t".join(fields[:4]) == ident
                and set(options) <= set(WANTED_OPTIONS)
            ):
                return BwrapInfo(fields[0], fields[4], options)
        except (OSError, ValueError, IndexError):
            pass
    import subprocess

    ver = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    version = (ver.stdout.strip().split() or ["?"])[-1]
    helptext = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
    words = set((helptext.stdout + helptext.stderr).split())
    info = BwrapInfo(path=path, version=version, options=[o for o in WANTED_OPTIONS if o in words])
    if use_cache:
        if deferred is None:
            _store(cache, ident, info)
        else:
            deferred.append((_store, (cache, ident, info), {}))
    return info


def _store(cache: str, ident: str, info: BwrapInfo) -> None:
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        tmp = f"{cache}.{os.getpid()}.tmp"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600), "w") as f:
            f.write(f"v{_CACHE_VERSION}\n{ident}\t{info.version}\t{','.join(info.options)}\n")
        os.replace(tmp, cache)  # atomic: concurrent launches never see half a file
    except OSError:
        pass  # an unwritable cache only costs a re-probe


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class UsernsStatus:
    __slots__ = ("available", "reason")

    def __init__(self, available: bool, reason: str | None = None) -> None:
        self.available = available
        self.reason = reason


def userns_status() -> UsernsStatus:
    """Whether a new user namespace can be created here, and the precise reason if not."""
    for path, bad, why in (
        (
            "/proc/sys/user/max_user_namespaces",
            0,
            "user namespaces are disabled: /proc/sys/user/max_user_namespaces is 0",
        ),
        (
            "/proc/sys/kernel/unprivileged_userns_clone",
            0,
            "unprivileged user namespaces are disabled: /proc/sys/kernel/unprivileged_userns_clone is 0",
        ),
    ):
        if _read_int(path) == bad and (os.geteuid() != 0 or "max_user" in path):
            return UsernsStatus(False, why)
    err = _try_unshare_user()
    if err == 0:
        return UsernsStatus(True)
    import errno as _errno

    name = _errno.errorcode.get(err, str(err))
    if _read_int("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1:
        return UsernsStatus(
            False,
            f"AppArmor restricts unprivileged user namespaces "
            f"(kernel.apparmor_restrict_unprivileged_userns=1); unshare failed with {name}",
        )
    if err == _errno.ENOSPC:
        return UsernsStatus(
            False,
            "user namespace limit reached: this process is already nested too deep "
            "or a max_user_namespaces limit in an enclosing namespace is 0 (ENOSPC)",
        )
    if err == _errno.EPERM:
        return UsernsStatus(
            False,
            "creating a user namespace is not permitted here (EPERM): a seccomp "
            "filter (e.g. a container runtime's default profile) or a security "
            "module forbids unshare(CLONE_NEWUSER)",
        )
    if err == _errno.EINVAL:
        return UsernsStatus(False, "the kernel does not support user namespaces (EINVAL)")
    return UsernsStatus(False, f"unshare(CLONE_NEWUSER) failed with {name}")


def _try_unshare_user() -> int:
    """errno of unshare(CLONE_NEWUSER) in a throw-away child (0 = success)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: try, report errno, leave
        try:
            os.close(r)
            rc = libc.unshare(0x10000000)  # CLONE_NEWUSER
            os.write(w, str(0 if rc == 0 else ctypes.get_errno()).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    try:
        return int(out)
    except ValueError:
        return -1


def landlock_abi() -> int:
    """Landlock ABI version (0 = unavailable), from landlock_create_ruleset(NULL, 0, VERSION)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    nr = {"x86_64": 444, "aarch64": 444}.get(os.uname().machine, 444)
    v = libc.syscall(nr, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    return v if v > 0 else 0


def seccomp_available() -> bool:
    """True when the kernel accepts seccomp filters (prctl GET_SECCOMP answers)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(21, 0, 0, 0, 0) >= 0  # PR_GET_SECCOMP


def bwrap_works(path: str, *, network: bool = False) -> tuple[bool, str]:
    """Run a throw-away sandbox; (ok, bwrap's stderr). The result is the exit status, not the text."""
    argv = [path, "--ro-bind", "/", "/", "--unshare-user", "--unshare-pid", "--proc", "/proc"]
    if not network:
        argv.append("--unshare-net")
    argv += ["--", "/bin/true"]
    import subprocess

    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except OSError as e:
        return False, str(e)
    return p.returncode == 0, p.stderr.strip()
