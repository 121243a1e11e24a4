"""The Linux inner stage: the last step inside the namespaces before the command runs.

Owns both sides of the hand-over from the launcher to the sandbox:

- launcher side, ``build_inner(policy, argv, prelude=...) -> InnerStage``: turns a
  ``ResolvedPolicy`` into a spec (Landlock roots, a compiled seccomp program, the optional
  prelude) that the launcher hands to the sandbox on one file descriptor;
- sandbox side, ``python -I -S -B -c BOOTSTRAP --spec-fd N -- CMD...``: reads the spec (which
  carries this module's code and its two siblings' as code objects), starts the prelude and
  waits for its ``ready`` line, sets no_new_privs, applies Landlock, closes every fd above 2,
  drops every capability, makes itself a process-group leader, installs seccomp, and execs
  CMD. Any failing step exits 125 with a message.

Must not touch: mounts and namespaces (launch.py / bwrap do that), the policy model.

Start-up cost matters (this runs on every launch): the sandbox half imports only builtins,
``os``, ``struct`` and ``_ctypes`` (no json/re/pydantic; the spec is ``marshal``-encoded) and
never imports the ``sandbox`` package (whose ``__init__`` pulls in pydantic). Shipping the code
means nothing is read from the install location inside the sandbox. ``python inner.py
--spec-fd N -- CMD`` (siblings loaded from files) still works; the tests use it.

Why seccomp is loaded here and not by bwrap (``--seccomp FD``): bwrap would install it before
exec'ing this program, so the prelude (the proxy forwarder, which needs unix sockets the filter
denies) would run under it, contrary to the contract; and the filter could not come after
Landlock. Loading it last, right before ``execve``, means every syscall this program makes is
done before the filter exists, and the command starts with all three walls in place.
"""

from __future__ import annotations

import os
import sys

SPEC_FD = 200  # the fd the launcher fills with the spec; high to stay clear of bwrap's own
NATIVE_FD = 201  # the native inner stage's executable, opened read-only by the launcher
# A unix datagram socket back to the launcher (tmp= given): the inner stage sends it O_PATH
# descriptors of /tmp and /dev/shm, so the launcher can tell afterwards that a full /tmp
# (not the command's own error) stopped the command. Sent before any wall exists; closed.
REPORT_FD = 203  # (202 is warm.HANDOFF_FD)
EXIT_SETUP_FAILED = 125
PRELUDE_TIMEOUT = 5.0
PR_SET_NO_NEW_PRIVS = 38
SYS_CLOSE_RANGE = 436  # same number on x86_64 and aarch64
DEVICES = (
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/ptmx",
    "/dev/pts",
)
_HERE = os.path.dirname(os.path.abspath(globals().get("__file__") or "."))


# ============================ launcher side ==============================================
class InnerStage:
    """What the launcher needs to run the inner stage: its argv, the fds to map, the spec."""

    def __init__(
        self,
        argv: list[str],
        fds: dict[int, bytes],
        spec: dict,
        abi: int,
        network: str,
        isolated: bool = False,
    ):
        self.argv = argv  # goes after bwrap's `--`
        self.fds = fds  # fd -> exact bytes readable on it inside, or ("file", host path)
        self.bwrap_args: list[str] = []  # seccomp is loaded by the inner program, see module doc
        self._spec, self._abi, self._network, self._isolated = spec, abi, network, isolated
        self.executor = "python"  # or "native" (cordon-inner)
        self.guard: str | None = None  # sockets.late_socket_guard: "landlock", "supervisor" or None

    @property
    def spec(self) -> dict:
        """The plan as data (whatever the executor's encoding on the spec fd)."""
        return self._spec

    def with_prelude(self, prelude: list[str] | None) -> InnerStage:
        """The same stage with another prelude (the proxy forwarder, known once the bridge runs):
        the spec is encoded again; the Landlock plan and the seccomp program are unchanged."""
        spec = dict(self._spec)
        spec["prelude"] = list(prelude) if prelude else None
        fds = dict(self.fds)
        if self.executor == "native":
            fds[SPEC_FD] = encode_native(spec)
        else:
            import marshal

            fds[SPEC_FD] = marshal.dumps(spec)
        stage = InnerStage(list(self.argv), fds, spec, self._abi, self._network, self._isolated)
        stage.executor = self.executor
        stage.bwrap_args = list(self.bwrap_args)
        stage.guard = self.guard
        return stage

    def describe(self) -> dict:
        """Landlock and seccomp rules as data, for ``sandbox plan``."""
        from cordon.sandbox.linux import landlock, seccomp

        spec = self._spec
        out: dict = {
            "program": self.argv[: self.argv.index("--")] if "--" in self.argv else self.argv,
            "executor": self.executor,
            "spec_fd": SPEC_FD,
            "order": [
                "prelude (if any)",
                "no_new_privs",
                "landlock",
                "close fds > 2",
                "drop capabilities",
                "own process group",
                "resource limits (rlimits)",
                "seccomp",
                "exec",
            ],
            "prelude": spec.get("prelude"),
            "rlimits": [
                {"resource": RLIMIT_NAMES.get(r, str(r)), "soft": soft, "hard": hard}
                for r, soft, hard in spec.get("rlimits") or ()
            ],
        }
        ll = spec.get("landlock")
        out["landlock"] = (
            landlock.describe(ll, self._abi)
            if ll is not None
            else {"enforced": False, "why": spec.get("landlock_off")}
        )
        bpf = spec.get("seccomp")
        out["seccomp"] = (
            {
                "network": self._network,
                "instructions": len(bpf) // 8,
                "default": "ALLOW",
                "rules": seccomp.rules(self._network, self._isolated, self.guard == "supervisor"),
                "loaded_by": "the inner program, right before exec",
            }
            if bpf
            else {"enforced": False}
        )
        out["late_host_sockets"] = {
            "landlock": "Landlock resolve_unix: only sockets made inside the sandbox are reachable by path",
            "supervisor": "every connect() and addressed send (sendto with an address, sendmsg, sendmmsg) "
            "is made by the launcher's supervisor, which reaches a pathname socket only when it is "
            "bound in the sandbox's own network namespace",
            None: "not applicable (host network, or no AF_UNIX sockets of the command's own)",
        }[self.guard]
        return out


def build_inner(
    policy,
    argv: list[str],
    *,
    prelude: list[str] | None = None,
    under_bwrap: bool = True,
    python: str | None = None,
    seccomp_bpf: bytes | None = None,
    rlimits=(),
    report_tmp: bool = False,
    watch: str | None = None,
) -> InnerStage:
    """Plan the inner stage for ``policy`` (a ``ResolvedPolicy``) running ``argv``.

    ``under_bwrap=False`` is the explicit ``--fallback=landlock`` mode: Landlock becomes
    required (it is then the only filesystem wall) and /tmp is the host's. ``python`` overrides
    the interpreter run inside; it must be this Python's version (the code travels in this
    interpreter's marshal format). Raises ``SandboxError`` when the kernel cannot give what
    the mode requires. ``rlimits``: ``(resource, soft, hard)`` set right before seccomp and
    exec (sandbox.linux.limits chooses them).
    """
    from cordon.sandbox.errors import SandboxError
    from cordon.sandbox.linux import landlock, seccomp, sockets

    if not argv:
        raise SandboxError("no command given")
    mode = policy.mode
    network = policy.network.mode
    abi = landlock.abi_version()  # the kernel, asked directly (the PyPI package costs ~10 ms of imports)
    # Host sockets bound after the launch (sockets.py): Landlock where the kernel can, else the
    # launcher's seccomp supervisor performs every connect().
    guard = None if mode == "danger-full-access" else sockets.late_socket_guard(network, under_bwrap, abi)
    spec: dict = {"v": 1, "prelude": list(prelude) if prelude else None}
    if rlimits:
        spec["rlimits"] = [tuple(int(x) for x in r) for r in rlimits]
    if report_tmp:
        spec["report_fd"] = REPORT_FD

    if mode == "danger-full-access":
        spec["landlock"] = None
        spec["landlock_off"] = "danger-full-access"
        spec["seccomp"] = b""
    else:
        if abi < 1 and not under_bwrap:
            raise SandboxError(
                "--fallback=landlock needs Landlock, and this kernel has none "
                "(CONFIG_SECURITY_LANDLOCK off or 'landlock' missing from lsm=); refusing to run unconfined"
            )
        write = [str(p) for p in policy.writable_roots]
        # /tmp and /dev/shm: writable when they are bubblewrap's private tmpfs (writes vanish with
        # the sandbox), or, in workspace-write, when the host's are shared (--share-tmp) or there
        # is no bubblewrap (--fallback=landlock), as Codex's workspace-write does. /var/tmp never.
        private_tmp = under_bwrap and not policy.share_tmp
        if private_tmp or mode == "workspace-write":
            write += ["/tmp", "/dev/shm"]
        deny = [str(p) for p in (*policy.deny_read, *policy.deny_sockets)]
        # Also where the policy names a socket through a symlink (/var/run -> /run); deny_read
        # is canonical already (resolve.py).
        from cordon.sandbox.resolve import realpath_all

        deny += [r for r in realpath_all([str(p) for p in policy.deny_sockets]) if r not in deny]
        # /dev: only the devices in DEVICES. Without bubblewrap's fresh /dev, a root command would
        # otherwise open raw disks, /dev/kvm or a VT as their owner, capabilities or not.
        deny.append("/dev")
        spec["landlock"] = (
            {
                "read": ["/"],
                "write": write,
                "devices": list(DEVICES),
                "list": ["/dev"],
                "deny": deny,
                # TCP bind/connect: under bubblewrap the network namespace is the wall (only the
                # sandbox's own loopback, where servers must work); without it, network off
                # has nothing but Landlock and seccomp, so both deny.
                "net": network == "off" and not under_bwrap,
                "scope": True,
                "resolve_unix": guard == "landlock",
                "required": True,
            }
            if abi >= 1
            else None
        )
        if abi < 1:
            spec["landlock_off"] = "kernel has no Landlock (bubblewrap is the only filesystem wall)"
        try:
            # ``seccomp_bpf``: the same program, from the launcher's verified cache (bpfcache)
            spec["seccomp"] = seccomp_bpf or seccomp.compile_bpf(
                network, isolated=under_bwrap, guard=guard == "supervisor"
            )
        except OSError as exc:
            raise SandboxError(f"cannot build the seccomp filter: {exc}") from exc
        if watch or guard == "supervisor":
            # The listener goes to the launcher's supervisor (sandbox.linux.supervise). Denial
            # observation: the same filter, notifying where it refuses and on path-taking
            # filesystem calls (watch: "all", "writes" or "syscalls"). The late-socket guard:
            # the filter notifies every connect() already, and the supervisor needs a
            # sock_diag socket of the sandbox's network namespace (made before seccomp).
            from cordon.sandbox.linux.supervise import NOTIFY_FD, watch_program

            spec["seccomp_watch"] = watch_program(spec["seccomp"], watch) if watch else spec["seccomp"]
            spec["notify_fd"] = NOTIFY_FD
            spec["diag"] = guard == "supervisor"

    helper = None if python else native_helper()
    if helper is not None:
        # Executed through a descriptor the launcher opens on the host: wherever the install
        # lives (a masked home, the private /tmp), the sandbox runs exactly this file.
        program = f"/proc/self/fd/{NATIVE_FD}"
        fds = {SPEC_FD: encode_native(spec), NATIVE_FD: ("file", helper)}
        stage = InnerStage(
            [program, "--spec-fd", str(SPEC_FD), "--", *argv], fds, spec, abi, network, under_bwrap
        )
        stage.executor = "native"
        stage.guard = guard
        return stage

    import marshal

    spec["code"] = _code_objects()
    # The interpreter's real path: with -I -S no venv is needed, and a venv (or a checkout)
    # under /tmp or a masked folder would not be visible inside the sandbox.
    interpreter = python or os.path.realpath(sys.executable)
    inner = [interpreter, "-I", "-S", "-B", "-c", BOOTSTRAP, "--spec-fd", str(SPEC_FD), "--"]
    stage = InnerStage([*inner, *argv], {SPEC_FD: marshal.dumps(spec)}, spec, abi, network, under_bwrap)
    stage.guard = guard
    return stage


# ---- the native executor ------------------------------------------------------------------
NATIVE_NAME = "cordon-inner"  # built from cordon_inner.c at install time (build_native.py)
_native: list = []


def native_helper() -> str | None:
    """The installed native inner stage, or None (then the Python one runs: same steps, same
    order, ~10 ms slower per launch). ``CORDON_INNER=python`` asks for the Python one.

    Only a regular file that nobody but its owner (us or root) can write is used: it runs
    inside every sandbox before the walls exist.
    """
    if os.environ.get("CORDON_INNER") == "python":
        return None
    return native_status()[0]


def native_status() -> tuple[str | None, str]:
    """(path or None, why not) for ``sandbox doctor``."""
    if not _native:
        _native.append(_find_native())
    return _native[0]


def untrusted(st) -> str | None:
    """Why a file with stat ``st`` must not run inside a sandbox before the walls, or None:
    it must be a regular file only its owner (this user or root) can change."""
    import stat

    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if st.st_mode & 0o022 or st.st_uid not in (0, os.geteuid()):
        return f"is writable by others or owned by uid {st.st_uid}"
    return None


def _find_native() -> tuple[str | None, str]:
    path = os.path.join(_HERE, NATIVE_NAME)
    try:
        st = os.stat(path)
    except OSError:
        return None, f"{path} was not built (no C compiler when Cordon was installed)"
    why = untrusted(st) or (None if st.st_mode & 0o100 else "is not executable")
    return (None, f"{path} {why}: not used") if why else (path, "")


def encode_native(spec: dict) -> bytes:
    """The spec in cordon_inner.c's record format (see that file's header)."""
    import struct

    out = [b"CORDONI1"]

    def rec(tag: bytes, data: bytes) -> None:
        if b"\0" in data and tag not in (b"L", b"S", b"R", b"T", b"W"):  # binary records
            from cordon.sandbox.errors import SandboxError

            raise SandboxError(f"the inner-stage plan holds a NUL byte in {data!r} (record {tag.decode()})")
        out.append(tag + struct.pack("<I", len(data)) + data)

    for arg in spec.get("prelude") or ():
        rec(b"P", os.fsencode(arg))
    ll = spec.get("landlock")
    if ll is not None:
        flags = 1 | 2 * bool(ll.get("required")) | 4 * bool(ll.get("net")) | 8 * bool(ll.get("scope"))
        flags |= 16 * bool(ll.get("resolve_unix"))
        rec(b"L", struct.pack("<I", flags))
        for key, tag in (("read", b"r"), ("write", b"w"), ("devices", b"d"), ("list", b"l"), ("deny", b"x")):
            for path in ll.get(key, ()):
                rec(tag, os.fsencode(path))
    elif spec.get("landlock_off"):
        rec(b"O", str(spec["landlock_off"]).encode())
    for resource, soft, hard in spec.get("rlimits") or ():
        rec(b"R", struct.pack("<QQQ", resource, soft, hard))
    if spec.get("report_fd") is not None:
        rec(b"T", struct.pack("<I", spec["report_fd"]))
    if spec.get("seccomp"):
        rec(b"S", bytes(spec["seccomp"]))
    if spec.get("seccomp_watch"):
        rec(b"W", bytes(spec["seccomp_watch"]))
        rec(b"N", str(int(spec["notify_fd"])).encode())
        if spec.get("diag"):
            rec(b"D", b"1")
    return b"".join(out)


# The whole in-sandbox program travels in the spec as code objects (this interpreter's own
# marshal format): nothing is read from the install location inside the sandbox, so a
# checkout or venv under the private /tmp or a masked folder works, and a sandboxed command
# that can write the install location cannot change what an already-planned launch runs.
BOOTSTRAP = """import os,sys,marshal
def b():
    a=sys.argv[1:]
    try:
        f=int(a[1]);d=[]
        while 1:
            c=os.read(f,65536)
            if not c:break
            d.append(c)
        os.close(f)
        s=marshal.loads(b"".join(d))
        m=type(sys)("_cordon_inner");exec(s["code"]["inner"],m.__dict__)
    except Exception as e:
        os.write(2,("sandbox: inner stage failed at bootstrap: %s; the command was not run\\n"%e).encode())
        return 125
    return m.main(a,spec=s)
sys.exit(b())
"""

_code_cache: dict | None = None


def _code_objects() -> dict:
    """Code objects of inner.py, landlock.py and seccomp.py (once per process): from the
    up-to-date ``__pycache__`` entry the import of this package left, else compiled (~7 ms)."""
    global _code_cache
    if _code_cache is None:
        _code_cache = {
            name: _code_of(os.path.join(_HERE, f"{name}.py")) for name in ("inner", "landlock", "seccomp")
        }
    return _code_cache


def _code_of(path: str):
    import marshal

    with open(path, "rb") as f:
        source = f.read()
    try:
        from importlib._bootstrap_external import MAGIC_NUMBER, cache_from_source

        st = os.stat(path)
        with open(cache_from_source(path), "rb") as f:
            data = f.read()
        # PEP 552 header: magic, flags (0 = validated by mtime and size), mtime, size.
        if (
            data[:4] == MAGIC_NUMBER
            and int.from_bytes(data[4:8], "little") == 0
            and int.from_bytes(data[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
            and int.from_bytes(data[12:16], "little") == len(source) & 0xFFFFFFFF
        ):
            return marshal.loads(data[16:])
    except (ImportError, OSError, ValueError, EOFError):
        pass
    return compile(source, path, "exec", dont_inherit=True)


# ============================ sandbox side ===============================================
class _Fail(Exception):
    """A confinement step failed: exit 125 with ``step: message``."""


def _module(name: str, spec: dict):
    """A sibling module: from the code shipped in the spec, else (``inner.py`` run as a file,
    as the tests do) loaded from its file."""
    code = (spec.get("code") or {}).get(name)
    if code is None:
        return _load(name)
    module = type(sys)(f"_cordon_inner_{name}")
    exec(code, module.__dict__)
    return module


def _load(name: str):
    # Load a sibling by path: importing `sandbox.linux.X` would run sandbox/__init__ (pydantic).
    import _frozen_importlib as bootstrap
    import _frozen_importlib_external as external

    spec = external.spec_from_file_location(f"_cordon_inner_{name}", os.path.join(_HERE, f"{name}.py"))
    module = bootstrap.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return b"".join(chunks)


def _start_prelude(argv: list[str]) -> None:
    """Start ``argv`` detached (double fork: it must not be a child of the command, whose
    ``wait`` would otherwise see it) and wait until it prints ``ready``."""
    import select

    out_r, out_w = os.pipe()
    pid_r, pid_w = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        try:
            grandchild = os.fork()
            if grandchild == 0:
                os.dup2(out_w, 1)
                null = os.open("/dev/null", os.O_RDONLY)
                os.dup2(null, 0)
                os.execvp(argv[0], argv)
            os.write(pid_w, str(grandchild).encode())
            os._exit(0)
        except BaseException as exc:  # report and leave, never return into the parent code
            os.write(2, f"sandbox: prelude {argv[0]}: {exc}\n".encode())
            os._exit(127)
    os.close(out_w)
    os.close(pid_w)
    os.waitpid(child, 0)
    gpid = int(_read_all(pid_r) or b"0")
    buf = b""
    deadline = _now() + PRELUDE_TIMEOUT
    while b"\n" not in buf:
        left = deadline - _now()
        ready, _, _ = select.select([out_r], [], [], max(left, 0))
        chunk = os.read(out_r, 4096) if ready else b""
        if not chunk:
            _kill(gpid)
            why = "timed out" if not ready else "exited"
            raise _Fail(f"prelude {argv[0]} {why} before printing 'ready' (output: {buf[:200]!r})")
        buf += chunk
    os.close(out_r)  # the prelude must not write to stdout after `ready` (it would get EPIPE)
    if buf.split(b"\n", 1)[0].strip() != b"ready":
        _kill(gpid)
        raise _Fail(f"prelude {argv[0]} printed {buf[:200]!r} instead of 'ready'")


def _now() -> float:
    import time

    return time.monotonic()


def _kill(pid: int) -> None:
    if pid > 0:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def _no_new_privs(ll) -> None:
    try:
        _prctl(ll, PR_SET_NO_NEW_PRIVS, 1)
    except OSError as exc:
        raise _Fail(f"no_new_privs: {exc.strerror}") from None


def _prctl(ll, option: int, arg: int) -> None:
    _, prctl, c_long, get_errno, _ = ll.ffi()
    if prctl(c_long(option), c_long(arg), c_long(0), c_long(0), c_long(0)) < 0:
        err = get_errno()
        raise OSError(err, os.strerror(err))


SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 28, 47, 4
# NOROOT, NO_SETUID_FIXUP, NO_CAP_AMBIENT_RAISE and the locks of those and of KEEP_CAPS: uid 0
# does not regain capabilities on exec, and nothing can undo that.
SECUREBITS = 0b1110_1111


def _capabilities() -> dict[str, int]:
    out = {}
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"Cap"):
                name, _, value = line.partition(b":")
                out[name.decode()] = int(value.strip(), 16)
    return out


def _drop_capabilities(ll) -> None:
    """Leave the command no capability in any set. Under bubblewrap (--cap-drop ALL) there is
    none left already; with --fallback=landlock a root launcher still has all of them."""
    # uid 0 regains the bounding set on exec, so for root it must be empty too; any other uid
    # gains nothing from it under no_new_privs (and could not drop it without CAP_SETPCAP).
    root = os.getuid() == 0 or os.geteuid() == 0
    checked = (
        ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd")
        if root
        else ("CapInh", "CapPrm", "CapEff", "CapAmb")
    )
    if not any(v for k, v in _capabilities().items() if k in checked):
        return
    try:
        _prctl(ll, PR_SET_SECUREBITS, SECUREBITS)
    except OSError:
        pass  # no CAP_SETPCAP: the bounding-set drop below fails too, the check reports it
    for cap in range(64):
        try:
            _prctl(ll, PR_CAPBSET_DROP, cap)
        except OSError:
            break  # EINVAL past the last capability this kernel knows
    try:
        _prctl(ll, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass
    header = (0x20080522).to_bytes(4, "little") + (0).to_bytes(4, "little")  # v3, this process
    ll.sys_call(SYS_CAPSET[os.uname().machine], header, bytes(24))
    left = {k: hex(v) for k, v in _capabilities().items() if v and k in checked}
    if left:
        raise _Fail(f"capabilities still held: {left}")


def _close_fds_above_2(ll, keep: int | None = None) -> None:
    """Close every fd above 2 but ``keep`` (the socket the seccomp listener leaves on)."""
    ranges = [(3, 0xFFFFFFFF)] if keep is None else [(3, keep - 1), (keep + 1, 0xFFFFFFFF)]
    try:
        for lo, hi in ranges:
            if lo <= hi:
                ll.sys_call(SYS_CLOSE_RANGE, lo, hi, 0)
    except OSError:
        os.closerange(3, 65536)  # close_range missing (< 5.9): bounded fallback
        for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
            fd = int(name)
            if fd > 2 and fd != keep:
                try:
                    os.close(fd)
                except OSError:
                    pass


def _report_tmp(fd: int) -> None:
    """Send O_PATH descriptors of /tmp and /dev/shm to the launcher over ``fd``; then close it."""
    import _socket
    import struct

    flags = getattr(os, "O_PATH", 0o10000000) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    fds = []
    for path in ("/tmp", "/dev/shm"):
        try:
            fds.append(os.open(path, flags))
        except OSError:
            pass
    try:
        sock = _socket.socket(fileno=fd)
        try:
            data = struct.pack(f"{len(fds)}i", *fds)
            sock.sendmsg([b"tmp"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, data)] if fds else [])
        finally:
            sock.close()
    finally:
        for f in fds:
            os.close(f)


RLIMIT_NAMES = {0: "RLIMIT_CPU", 1: "RLIMIT_FSIZE", 6: "RLIMIT_NPROC", 9: "RLIMIT_AS"}


def _set_rlimits(rlimits) -> None:
    """Lower each limit to ``(soft, hard)``; one already lower (inherited) stays as it is."""
    import resource

    for res, soft, hard in rlimits:
        cur_soft, cur_hard = resource.getrlimit(res)
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
        if cur_soft != resource.RLIM_INFINITY:
            soft = min(soft, cur_soft)
        resource.setrlimit(res, (min(soft, hard), hard))


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def _summary(report: dict) -> str:
    if not report.get("enforced"):
        return f"abi={report.get('abi', 0)} not-enforced"
    parts = [
        f"abi={report['abi']}",
        f"fs-rules={report['fs_rules']}",
        f"tcp={'denied' if report['net'] else 'open'}",
    ]
    parts.append("scope=" + (",".join(report["scope"]) or "none"))
    if report.get("resolve_unix"):
        parts.append("unix=resolve_unix")
    if report.get("missing"):
        parts.append("missing=" + ",".join(m.split(" (")[0].replace(" ", "-") for m in report["missing"]))
    return " ".join(parts)


def main(args: list[str] | None = None, *, spec: dict | None = None) -> int:
    """``--spec-fd N -- CMD...``; ``spec`` is given when the bootstrap already read it."""
    args = sys.argv[1:] if args is None else args
    step = "arguments"
    try:
        if len(args) < 4 or args[0] != "--spec-fd" or args[2] != "--":
            raise _Fail("usage: inner.py --spec-fd N -- CMD [ARGS...]")
        fd, command = int(args[1]), args[3:]
        step = "spec"
        if spec is None:
            import marshal

            spec = marshal.loads(_read_all(fd))
        ll = _module("landlock", spec)  # also the syscall helper for prctl and close_range
        sc = _module("seccomp", spec) if spec.get("seccomp") else None
        if spec.get("report_fd") is not None:
            step = "tmp report"
            _report_tmp(spec["report_fd"])
        if spec.get("prelude"):
            step = "prelude"
            _start_prelude(spec["prelude"])
        step = "no_new_privs"
        _no_new_privs(ll)
        if spec.get("landlock") is not None:
            step = "landlock"
            report = ll.apply(spec["landlock"])
            # Tell the command (and whoever debugs it) which Landlock ABI is actually in force.
            os.environ["CORDON_LANDLOCK"] = _summary(report)
            if os.environ.get("CORDON_INNER_DEBUG"):
                os.write(2, f"sandbox: inner: landlock {report}\n".encode())
        elif spec.get("landlock_off"):
            os.environ["CORDON_LANDLOCK"] = "not-enforced"
        step = "close fds"
        notify = spec.get("notify_fd") if spec.get("seccomp_watch") else None
        _close_fds_above_2(ll, notify)
        step = "capabilities"
        _drop_capabilities(ll)
        step = "process group"
        # The command leads its own process group, so the launcher's killpg(command) reaches it
        # and every process it starts (but not the prelude, which stays in bwrap's group).
        try:
            os.setpgid(0, 0)
        except PermissionError:
            pass  # already a session leader (no bwrap, --fallback): it leads its group already
        if spec.get("rlimits"):
            step = "resource limits"
            _set_rlimits(spec["rlimits"])
        if sc is not None:
            step = "seccomp"
            # With a watch program, the listener goes to the launcher's supervisor (it answers
            # exactly what the plain filter would); without a listener (EBUSY: one exists up the
            # process tree), the plain filter: the same walls, no observation.
            # No supervisor socket (the stage run alone): the plain filter; its notified calls
            # (the late-socket guard's connect) then fail with ENOSYS, as without a listener.
            if (
                notify is None
                or not _fd_open(notify)
                or not sc.load_watch(spec["seccomp_watch"], notify, ll.ffi(), spec.get("diag"))
            ):
                sc.load_bpf(spec["seccomp"], ll.ffi())
    except Exception as exc:  # any failure before exec: refuse to run the command
        os.write(2, f"sandbox: inner stage failed at {step}: {exc}; the command was not run\n".encode())
        return EXIT_SETUP_FAILED
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        # The command's own failure, reported the way a shell would.
        os.write(2, f"sandbox: {command[0]}: {exc.strerror}\n".encode())
        return 127 if isinstance(exc, FileNotFoundError) else 126
    return 0  # pragma: no cover - exec does not return


if __name__ == "__main__":
    sys.exit(main())
