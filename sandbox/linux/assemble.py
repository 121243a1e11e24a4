"""From a resolved policy and a command to a ready-to-start ``Launch`` (Linux).

The one place that decides HOW a command runs here:
  * ``danger-full-access``: no sandbox at all, only when asked in those words (loud);
  * ``bwrap``: bubblewrap outside (sandbox.linux.bwrap) + the inner stage
    (sandbox.linux.inner: Landlock, seccomp, no_new_privs, fd closing) inside;
  * ``landlock``: only with ``fallback="landlock"`` AND when bubblewrap cannot work here;
    the inner stage alone, stated on stderr with what is lost.
Anything else that cannot be set up raises ``SandboxError`` (exit 125): never unconfined.

Shared by ``sandbox run`` (hot path: standard library only until the inner stage is
imported), the library API and ``sandbox plan``.
"""

from __future__ import annotations

import os
import stat
import sys

from cordon.sandbox.errors import SandboxError
from cordon.sandbox.fastpath import thread
from cordon.sandbox.frozen import Record
from cordon.sandbox.linux import bwrap as _bwrap
from cordon.sandbox.linux import probe
from cordon.sandbox.linux.launch import (
    STATUS_FD_TOKEN,
    Launch,
    empty_problem,
    root_locks,
    sweep_orphaned_placeholders,
)
from cordon.sandbox.resolve import apply_env

from cordon.paths import within, within_any

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cordon.sandbox.linux.plan import LinuxPlan


class Assembly(Record):
    """mode, launch (Launch), bwrap (BwrapPlan|None), bwrap_info, inner (InnerStage|None), notes."""


# AF_UNIX paths hold 108 bytes; the bridge adds "/netproxy-PID-XXXXXXXX/proxy.sock" (~40).
_SOCKET_DIR_MAX = 64


def _short_runtime_dir(preferred: str) -> str:
    """``preferred`` if a socket path under it fits AF_UNIX's limit, else ``/tmp/cordon-UID``.

    The fallback is shared /tmp, so it must be ours: a real directory (not a symlink), owned
    by us, mode 0700. Anything else is refused rather than used.
    """
    if len(os.fsencode(preferred)) <= _SOCKET_DIR_MAX:
        return preferred

    uid = os.geteuid()
    short = f"/tmp/cordon-{uid}"
    try:
        os.mkdir(short, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(short)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
        raise SandboxError(
            f"{preferred} is too long for a unix socket path and {short} is not a private directory "
            f"of uid {uid} (owner {st.st_uid}, mode {stat.filemode(st.st_mode)}); set XDG_CACHE_HOME to a "
            "shorter path"
        )
    return short


def sandbox_env(policy, environ, engine: str) -> dict[str, str]:
    """The command's environment: the env policy's result plus what tells it it is sandboxed.

    Dynamic-loader variables (``LD_PRELOAD``, ``LD_AUDIT``, ``GLIBC_TUNABLES``...) are dropped
    unless the user sets them explicitly (``--env-set``): a preloaded library in bwrap or the
    inner stage would run before Landlock and seccomp exist. Explicit ones are kept out of
    bwrap's own environment (``assemble`` hands them over with ``--setenv``); the native inner
    stage is static, so only the command loads them. Interpreter variables (``PYTHONPATH``...)
    stay: the Python inner stage runs ``python -I -S``.
    """
    from cordon.sandbox.hardening import is_dynamic_loader_variable

    explicit = policy.env.set
    env = {
        k: v
        for k, v in apply_env(policy.env, environ).items()
        if k in explicit or not is_dynamic_loader_variable(k)
    }
    _agent_variables(policy, environ, env)
    net = policy.network.mode
    env["CORDON_SANDBOX"] = engine
    env["CORDON_SANDBOX_NETWORK"] = net
    if net == "off":
        env["CODEX_SANDBOX_NETWORK_DISABLED"] = "1"  # what tools written for Codex look for
    roots = [os.fspath(r) for r in policy.writable_roots]
    if engine == "bwrap" and not policy.share_tmp:
        # A TMPDIR outside every writable place would make tools fail; the private /tmp works.
        tmp = env.get("TMPDIR")
        if tmp and not any(within(tmp, r) for r in roots):
            env["TMPDIR"] = "/tmp"
        private_tool_caches(env, roots)
    if engine in ("bwrap", "landlock") and os.geteuid() == 0 and "TAR_OPTIONS" not in env:
        # Only uid 0 is mapped inside (and no capability is left): GNU tar run by root restores
        # the archive's owners by default and fails on every file made elsewhere.
        env["TAR_OPTIONS"] = "--no-same-owner"
    return env


def _agent_variables(policy, environ, env: dict) -> None:
    """Agent sockets the environment names (sandbox.denylist.AGENT_VARIABLES): the variables of
    agents not allowed are dropped (their sockets are masked, see named_secrets); those of an
    allowed agent are kept even where a default exclude matched them (``SSH_AUTH_SOCK`` matches
    ``*_AUTH_*``), unless the user's own env policy leaves them out."""
    from cordon.policy.envfilter import matches
    from cordon.sandbox.denylist import AGENT_VARIABLES

    allowed = set(policy.allow_agents)
    e = policy.env
    inherit = e.inherit
    for agent, names in AGENT_VARIABLES.items():
        for var in names:
            if agent not in allowed:
                if var not in e.set:
                    env.pop(var, None)
            elif (
                var in environ
                and var not in env
                and inherit == "all"
                and not matches(var, e.exclude)
                and (not e.include_only or matches(var, e.include_only))
            ):
                env[var] = environ[var]


def named_secrets(policy, environ) -> list[str]:
    """Canonical paths to hide beyond the deny list (sandbox.denylist): credential files the
    environment points at, agent sockets it names (unless allowed), and for a root launch the
    files under /etc only root may read. Passed to bwrap with ``hide``."""
    from cordon.sandbox import denylist
    from cordon.sandbox.resolve import homes

    default = policy.default_deny_read
    paths, _ = denylist.env_named(
        environ,
        allow_agents=policy.allow_agents,
        homes=homes(environ.get("HOME")),
        default_deny=default,
        cwd=os.fspath(policy.cwd),
    )
    if default and os.geteuid() == 0:
        from cordon.sandbox.linux import fswatch

        paths += fswatch.root_only_files()  # rescanned whenever anything under /etc changed
    known = [os.fspath(p) for p in (*policy.deny_read, *policy.deny_sockets)]
    from cordon.sandbox.resolve import realpath_all

    named = list(dict.fromkeys(realpath_all(paths)))
    # Inside a folder masked anyway (SSH_AUTH_SOCK under ~/.ssh, the agent socket in GNUPGHOME):
    # covered already, and bwrap could not make a mount point inside the mask.
    tops = frozenset((*known, *named))
    return [p for p in named if p not in known and not (p != "/" and within_any(os.path.dirname(p), tops))]


# Tools that refuse to run with a read-only cache, and where they keep it. The host's cache
# stays read-only (a sandbox must not fill a cache the host later installs from); such a tool
# gets a private, empty one in the sandbox's /tmp, discarded at exit. Making the host's cache a
# writable root (``--writable-root ~/.npm``) means trusting what the sandbox puts there: then
# it is used as is. A variable the user set wins.
PRIVATE_TOOL_CACHES = {"npm_config_cache": (".npm", "/tmp/.cordon-cache/npm")}


def private_tool_caches(env: dict[str, str], roots: list[str]) -> None:
    home = env.get("HOME") or os.path.expanduser("~")
    for var, (host_rel, private) in PRIVATE_TOOL_CACHES.items():
        if any(k.lower() == var for k in env):
            continue
        host = os.path.join(home, host_rel)
        if not any(within(host, r) for r in roots):
            env[var] = private


def build_plan(
    policy,
    argv: list[str],
    environ=None,
    *,
    use_cache: bool = True,
    watch: str | None = None,
) -> LinuxPlan:
    """The launch of ``argv`` under ``policy`` (a ResolvedPolicy) as data: which engine, the
    bubblewrap argv, the inner stage, the environment, the limits. Reads the host (probes,
    caches it may trust, the filesystem, the host's git) and writes nothing, takes no lock:
    the cache and journal writes a launch makes are in ``plan.deferred``, Cordon's own
    folders it needs are in ``plan.folders`` (planned as the empty folders they will be) and
    the writable roots' locks are taken by ``start``. Raises ``SandboxError`` (exit 125)
    where ``start`` would have to refuse.

    ``watch``: denial observation ("all", "writes", "syscalls"; None: none), which changes
    the seccomp program the inner stage loads.
    """
    from cordon.sandbox.linux.plan import PROXY_BIND_TOKEN, PROXY_FORWARDER_TOKEN, LinuxPlan

    if not argv:
        raise SandboxError("no command given")
    environ = os.environ if environ is None else environ
    command = tuple(argv)
    mode = policy.mode
    notes: list[str] = []
    warnings: list[str] = []

    if mode == "danger-full-access":
        warnings.append(
            "WARNING: --mode danger-full-access: the command runs UNCONFINED "
            "(no filesystem, network or process isolation)"
        )
        given = [k for k, v in policy.limits.as_dict().items() if v is not None]
        if given and "limits" not in policy.allow_unenforced:
            raise SandboxError(
                f"--mode danger-full-access runs the command unconfined, so its resource limits "
                f"({', '.join(given)}) cannot be enforced; refusing to run (--allow-unenforced limits "
                "runs without them)"
            )
        env = apply_env(policy.env, environ)
        env["CORDON_SANDBOX"] = "none"
        exe = _which(argv[0], env.get("PATH", ""))
        return LinuxPlan(
            policy=policy, engine="none", command=command, program=exe, argv=command, env=env,
            source_env=dict(environ), fds={},
            warnings=tuple(warnings),
        )  # fmt: skip

    net = policy.network.mode
    from cordon.sandbox.hints import hints

    warnings.extend(f"note: {hint}" for hint in hints(policy, argv))
    bwrap_path, why_not = locate_bwrap(policy, environ)
    engine = "bwrap"
    if bwrap_path is not None and policy.fallback == "landlock":
        us = probe.userns_status()
        if not us.available:
            why_not = f"user namespaces are unavailable: {us.reason}"
    if why_not:
        from cordon.sandbox.linux.diagnose import FALLBACK_CANNOT_ENFORCE, fallback_offer

        if policy.fallback != "landlock":
            raise SandboxError(f"cannot sandbox: {why_not}. Refusing to run unconfined; {fallback_offer()}")
        engine = "landlock"
        warnings.append(
            f"FALLBACK: {why_not}; running with Landlock + seccomp only (--fallback=landlock), "
            "without namespaces. NOT in force: " + "; ".join(FALLBACK_CANNOT_ENFORCE)
        )

    from cordon.policy.statetrust import recent_launches, record_launch

    launches = recent_launches()  # what earlier launches left writable (state-trust rule 2)
    roots = [os.fspath(r) for r in policy.writable_roots]
    deferred: list = []
    check_carve_outs(policy, roots, deferred)
    info = (
        probe.bwrap_info(bwrap_path, use_cache=use_cache, launches=launches, roots=roots, deferred=deferred)
        if engine == "bwrap"
        else None
    )
    limits = limit_plan(policy, engine, info, net == "proxy")
    from cordon.sandbox.linux import inner as inner_mod

    if net == "proxy" and engine != "bwrap":
        raise SandboxError("proxy network mode needs bubblewrap (a private network namespace)")
    # The forwarder's argv names the bridge's per-launch socket: start fills it in.
    prelude = [PROXY_FORWARDER_TOKEN] if net == "proxy" else None
    under_bwrap = engine == "bwrap"
    stage = _build_inner(
        inner_mod, policy, list(argv), prelude, under_bwrap, use_cache, launches, limits, watch, deferred
    )
    plain = stage.spec.get("seccomp") if watch else None
    if watch and not _supervisable(plain):
        watch = None  # cannot answer exactly as the filter would: no observation
        stage = _build_inner(
            inner_mod, policy, list(argv), prelude, under_bwrap, use_cache, launches, limits, None, deferred
        )
    inner_argv, inner_fds, inner_bwrap = list(stage.argv), dict(stage.fds), list(stage.bwrap_args)
    # sockets.late_socket_guard: "supervisor" means the launcher answers every connect()
    unix_guard = stage.guard

    env = sandbox_env(policy, environ, engine)

    if engine == "landlock":
        deferred.append((record_launch, (roots, ()), {"launches": launches}))  # no mounts: nothing protected
        exe = _which(inner_argv[0], env.get("PATH", ""))
        return LinuxPlan(
            policy=policy, engine="landlock", command=command, program=exe, argv=tuple(inner_argv),
            env=env, source_env=dict(environ), fds=inner_fds, inner=stage, limits=limits, watch=watch,
            unix_guard=unix_guard, notes=tuple(notes),
            warnings=tuple(warnings), launches=launches, deferred=tuple(deferred), use_cache=use_cache,
        )  # fmt: skip

    empty_fd = 3
    while empty_fd in inner_fds:
        empty_fd += 1
    guard = git_guard(policy, environ, deferred)
    folders = own_folders(policy)
    empties = empty_dirs()
    plan = _bwrap.build_bwrap_args(
        policy,
        empty_fd=empty_fd,
        options=info.options,
        net_isolated=(net != "on"),
        keep_read_only=(kept := launcher_state(policy.cwd, policy.writable_roots))
        + own_install(policy.writable_roots, notes),
        empty_dirs=empties,
        hide=hidden_state() + named_secrets(policy, environ),
        git_guard=guard,
        tmp_size=limits.tmp_size,
        host_sockets=host_sockets_to_mask(policy),
        made=frozenset(folders),
    )
    notes.extend(plan.notes)
    # Only Cordon's own state is judged by the journal: its folders and project files.
    deferred.append((record_launch, (roots, kept), {"launches": launches}))
    fds = dict(inner_fds)
    if "--ro-bind-data" in plan.args:  # masks beyond the descriptor ones (or no empty file)
        fds[empty_fd] = b""
    for fd in plan.mask_fds:  # each --ro-bind-fd mask: the empty file, checked on its descriptor
        fds[fd] = ("empty-file", empties[2])
    bridge = [PROXY_BIND_TOKEN] if net == "proxy" else []
    full = ["bwrap", *plan.args, *_visible_tools(policy, inner_argv, argv), *bridge, *inner_bwrap]
    from cordon.sandbox.hardening import is_dynamic_loader_variable

    for name in [k for k in env if is_dynamic_loader_variable(k)]:  # only explicit ones are left
        # Set inside, by bwrap, after it has started: bwrap itself runs on the host.
        full += ["--setenv", name, env.pop(name)]
    if not info.has("--json-status-fd"):
        raise SandboxError(f"bubblewrap {info.version} at {bwrap_path} lacks --json-status-fd (needs >= 0.4)")
    full += ["--json-status-fd", STATUS_FD_TOKEN, "--", *inner_argv]
    return LinuxPlan(
        policy=policy, engine="bwrap", command=command, program=bwrap_path, argv=tuple(full), env=env,
        source_env=dict(environ), fds=fds, placeholders=tuple(plan.placeholders), bwrap=plan, bwrap_info=info, inner=stage,
        limits=limits, watch=watch, unix_guard=unix_guard, notes=tuple(notes), warnings=tuple(warnings), kept=tuple(kept),
        guard=guard, launches=launches, deferred=tuple(deferred), folders=folders, empty_dirs=empties,
        lock_dir=os.path.join(probe.cache_dir(), "locks"), use_cache=use_cache,
    )  # fmt: skip


def start(plan, *, start_bridge: bool = True, warn=None, denials=None) -> Assembly:
    """Carry out ``plan`` (from ``build_plan``) up to a ``Launch`` ready to run: print its
    warnings, make Cordon's folders it needs and take the writable roots' locks (``prepare``),
    do the writes it deferred, start the proxy bridge (proxy mode), attach the denial
    observers (``denials``: a ``sandbox.denials.Recorder``; its level is the plan's)."""
    warn = warn or (lambda msg: print(f"sandbox: {msg}", file=sys.stderr))
    for w in plan.warnings:
        warn(w)
    policy, environ_env = plan.policy, dict(plan.env)
    if plan.engine == "none":
        launch = Launch(plan.program, list(plan.argv), environ_env, status=False, mode="none")
        return Assembly(
            mode="none", launch=launch, bwrap=None, bwrap_info=None, inner=None, notes=[], plan=plan
        )
    locks: dict = {}
    bridge = None
    try:
        if plan.engine == "bwrap":
            plan, locks = prepare(plan)
            environ_env = dict(plan.env)  # the same unless the plan was made again
        for fn, args, kw in plan.deferred:
            fn(*args, **kw)
        argv, stage, fds = list(plan.argv), plan.inner, dict(plan.fds)
        if plan.network == "proxy":
            from cordon.sandbox.linux.inner import SPEC_FD
            from cordon.sandbox.linux.plan import PROXY_BIND_TOKEN

            bind: list[str] = []
            if start_bridge:
                from cordon.sandbox.linux import proxy_bridge

                # Not $XDG_RUNTIME_DIR: /run/user is masked inside (host control sockets live there).
                runtime = _short_runtime_dir(os.path.join(probe.cache_dir(), "run"))
                from pathlib import Path

                bridge = proxy_bridge.prepare(
                    policy.network, runtime_dir=Path(runtime), explicit_env=dict(policy.env.set or {})
                )
                bind = list(bridge.bwrap_args)
                environ_env.update(bridge.env)
            stage = stage.with_prelude(list(bridge.prelude) if bridge is not None else None)
            fds[SPEC_FD] = stage.fds[SPEC_FD]
            if PROXY_BIND_TOKEN in argv:
                i = argv.index(PROXY_BIND_TOKEN)
                argv[i : i + 1] = bind
        plain = stage.spec.get("seccomp") if plan.watch or plan.unix_guard == "supervisor" else None
        if plan.watch and denials is None:  # the inner stage will wait on the supervisor: give it one
            from cordon.sandbox.denials import Recorder

            denials = Recorder()
        watch = plan.watch
        if plan.engine == "landlock":
            launch = Launch(
                plan.program, argv, environ_env, fds=fds, status=False, mode="landlock", limits=plan.limits
            )
            _observe(
                launch, denials, watch, plain, policy, "landlock", None, plan.source_env, plan.unix_guard
            )
            return Assembly(
                mode="landlock", launch=launch, bwrap=None, bwrap_info=None, inner=stage,
                notes=list(plan.notes), limits=plan.limits, plan=plan,
            )  # fmt: skip
        launch = Launch(
            plan.program, argv, environ_env, fds=fds, placeholders=list(plan.placeholders), bridge=bridge,
            limits=plan.limits,
        )  # fmt: skip
        launch.locks = locks
        launch.lock_dir = plan.lock_dir
        if policy.allow_git_write:
            launch.after_exit.append(git_audit(policy, plan.guard))
        _observe(launch, denials, watch, plain, policy, "bwrap", plan.bwrap, plan.source_env, plan.unix_guard)
        launch.masked_sockets = list(plan.bwrap.sockets)
        launch.masked_paths = list(plan.bwrap.masked)
    except BaseException:
        for fd in set(locks.values()):  # one fd per lock bucket, shared by its roots
            os.close(fd)
        if bridge is not None:
            bridge.close()
        raise
    return Assembly(
        mode="bwrap", launch=launch, bwrap=plan.bwrap, bwrap_info=plan.bwrap_info, inner=stage,
        notes=list(plan.notes), limits=plan.limits, plan=plan,
    )  # fmt: skip


def assemble(
    policy,
    argv: list[str],
    environ=None,
    *,
    start_bridge: bool = True,
    use_cache: bool = True,
    warn=None,
    denials=None,
    watch: str = "writes",
) -> Assembly:
    """``start(build_plan(...))``: decide the engine and build the launch. ``warn(msg)``
    receives stderr notices.

    ``denials`` (a ``sandbox.denials.Recorder``) turns on denial observation for this launch:
    seccomp refusals always; filesystem calls that write (``watch="writes"``), all of them
    (``"all"``: also reads of hidden secrets, at a cost on read-heavy work) or none
    (``"syscalls"``); see sandbox.linux.supervise.
    """
    plan = build_plan(policy, argv, environ, use_cache=use_cache, watch=None if denials is None else watch)
    return start(plan, start_bridge=start_bridge, warn=warn, denials=denials)


def prepare(plan, locks: dict | None = None):
    """What a bubblewrap plan needs on the host before bubblewrap runs, done by ``start``:
    Cordon's own folders (``plan.folders``, mode 0700) and its two empty folders, the
    placeholders of launchers killed by SIGKILL swept, the writable roots' shared locks taken
    (a finishing sandbox cannot then remove a placeholder this one binds as an existing
    folder). Returns (the plan to start, the locks: root -> fd).

    The plan was read before the locks were taken: if a placeholder it binds as an existing
    folder went away in between (a sandbox of the same root ended, or the sweep removed it),
    the plan is made again, now under the locks.
    """
    make_own_folders(plan)
    if locks is None:
        sweep_orphaned_placeholders(plan.lock_dir)  # left by a launcher killed with SIGKILL
        locks = root_locks([os.fspath(r) for r in plan.policy.writable_roots], plan.lock_dir)
        try:
            gone = _vanished(plan)
            if gone:
                again = build_plan(
                    plan.policy,
                    list(plan.command),
                    plan.source_env,
                    use_cache=plan.use_cache,
                    watch=plan.watch,
                )
                return prepare(again, locks) if again.engine == "bwrap" else (again, locks)
        except BaseException:
            for fd in set(locks.values()):
                os.close(fd)
            raise
    return plan, locks


def make_own_folders(plan) -> None:
    """Cordon's folders a bubblewrap plan binds (``plan.folders``, mode 0700, and the two empty
    ones): made where absent, the empty ones checked. The first step of ``prepare``."""
    for d in plan.folders:  # shallow first
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise SandboxError(
                f"cannot make Cordon's folder {d} that this launch needs: {e.strerror}"
            ) from None
    if plan.empty_dirs:
        make_empty_dirs(plan.empty_dirs)
    _drop_legacy_entries(probe.cache_dir())


def _vanished(plan) -> list[str]:
    """Folders and files inside a writable root that ``plan`` binds as existing and that are
    gone now (placeholders others removed between the plan and the locks)."""
    b = plan.bwrap
    made = set(plan.placeholders) | set(plan.folders)
    return [
        p
        for p in (*b.pinned, *b.protected)
        if p not in made and within_any(p, set(b.writable)) and not os.path.lexists(p)
    ]


def limit_plan(policy, engine: str, info, proxied: bool):
    """How each resource limit is enforced for this launch (sandbox.linux.limits); refuses
    (SandboxError, exit 125) a limit nothing here can enforce unless "limits" is in
    allow_unenforced."""
    from cordon.sandbox.linux import limits as _limits

    lp = _limits.plan(
        policy.limits,
        bwrap_size=info is not None and info.has("--size"),
        under_bwrap=engine == "bwrap",
        private_tmp=engine == "bwrap" and not policy.share_tmp,
        prelude=proxied,
    )
    if lp.unenforced and "limits" not in policy.allow_unenforced:
        from cordon.sandbox.limits import refusal

        raise refusal("here", [(e.key, e.shown, e.why) for e in lp.entries if not e.enforced])
    return lp


def _supervisable(plain) -> bool:
    from cordon.sandbox.linux.supervise import UnsupportedProgram, check_program

    if not plain:
        return False
    try:
        check_program(plain)
    except UnsupportedProgram:
        return False
    return True


def _observe(
    launch: Launch, recorder, watch, plain, policy, engine: str, plan, environ, unix_guard=None
) -> None:
    """Attach the denial observers to ``launch``: the attribution context, the seccomp
    supervisor (its socket goes in as NOTIFY_FD) and the variables the env policy withheld.
    ``unix_guard`` (sockets.late_socket_guard == "supervisor"): the supervisor answers every
    connect() too (sandbox.linux.unixguard), with or without observation."""
    walls = None
    if recorder is not None:
        from cordon.sandbox.denials import Walls

        walls = Walls(
            policy,
            engine,
            masked=plan.masked if plan is not None else (),
            protected=plan.protected if plan is not None else (),
        )
        recorder.walls = walls
        launch.recorder = recorder
        for d in walls.env(environ, launch.env):
            recorder.add(d)
    if watch or unix_guard == "supervisor":
        from cordon.sandbox.linux.supervise import NOTIFY_FD, Supervisor

        unix = None
        if unix_guard == "supervisor":
            from cordon.sandbox.linux.unixguard import UnixGuard

            unix = UnixGuard(recorder)
        sup = Supervisor(plain, walls, recorder, level=watch or "syscalls", guard=unix)
        launch.supervisor = sup
        launch.fds[NOTIFY_FD] = ("fd", sup.child_fd())


def locate_bwrap(policy, environ) -> tuple[str | None, str | None]:
    """(the bubblewrap to use, None) or (None, why none can be used).

    Only a bwrap inside a *writable* root is refused: the command could replace it for the
    next launch. The working directory as such does not matter (a container's is ``/``, and
    read-only mode writes nowhere)."""
    skipped: list = []
    # "/" never becomes a writable root (bwrap.py refuses it, saying so); it must not hide
    # every bubblewrap first, with a less useful message.
    roots = [os.fspath(r) for r in policy.writable_roots if os.fspath(r) != "/"]
    path = probe.find_bwrap(roots, environ.get("PATH", ""), skipped)
    if path is not None:
        return path, None
    if skipped:
        where = "; ".join(f"{b} is inside the writable root {r}" for b, r in skipped)
        return None, (
            f"the only bubblewrap on PATH lies inside a writable root ({where}): a sandboxed command "
            "could replace it, so it is not used. Install bubblewrap outside every writable root "
            "(apt-get install bubblewrap) or do not make that directory writable"
        )
    return None, "bubblewrap (bwrap) was not found on PATH; install the 'bubblewrap' package"


def _visible_tools(policy, inner_argv: list[str], argv: list[str]) -> list[str]:
    """Read-only binds for the inner stage's own files when they live under the private /tmp
    (a virtualenv made in /tmp by CI, say): otherwise the sandbox could not start at all."""
    if policy.share_tmp or len(inner_argv) <= len(argv):
        return []
    roots = [os.fspath(r) for r in policy.writable_roots]
    out: list[str] = []
    for arg in inner_argv[: len(inner_argv) - len(argv)]:
        if not os.path.isabs(arg):
            continue
        for p in {arg, os.path.realpath(arg)}:
            if not within(p, "/tmp") or any(within(p, r) for r in roots):
                continue
            # the package root for sandbox/linux/inner.py (3 up); the prefix (bin/..) for an interpreter
            up = 3 if p.endswith(".py") else 2
            top = p
            for _ in range(up):
                top = os.path.dirname(top)
            if top not in out and top != "/tmp":
                out.append(top)
    return [x for t in out for x in ("--ro-bind", t, t)]


def _later(deferred, fn, *args, **kw) -> None:
    """A write ``build_plan`` leaves to ``start`` (``deferred`` is the plan's list); done now
    when there is no plan (``deferred`` None)."""
    if deferred is None:
        fn(*args, **kw)
    else:
        deferred.append((fn, args, kw))


def git_guard(policy, environ, deferred=None):
    """The paths the host's git would run or read configuration from, inside writable roots
    (sandbox.gitguard), found with the host's git: the first on PATH outside every writable root."""
    from cordon.sandbox import gitguard
    from cordon.sandbox.resolve import homes

    roots = [os.fspath(r) for r in policy.writable_roots]
    if not roots:
        return None
    git = probe.find_tool("git", [*roots, os.fspath(policy.cwd)], environ.get("PATH", ""))
    hs = homes(environ.get("HOME"))
    cache_file = os.path.join(probe.cache_dir(), "gitconfig.bin")
    cache = gitguard.load_cache(cache_file)
    before = dict(cache)
    guard = gitguard.inspect(
        roots, git=git, home=hs[0], homes=hs[1:], allow_git_write=policy.allow_git_write, cache=cache
    )
    if cache != before:
        _later(deferred, gitguard.save_cache, cache_file, cache)
    if git is None:
        guard.notes.append(
            "git was not found on PATH outside the writable roots: the real git directory and submodule "
            "entries are protected, but paths named inside git config files were not read"
        )
    return guard


def git_audit(policy, guard):
    """--allow-git-write: a snapshot of each writable git dir now, and the check to run once the
    command has exited (symlinks removed; new gitlinks and modules/worktrees entries reported)."""
    from cordon.sandbox import gitguard

    dirs = [os.path.join(os.fspath(r), ".git") for r in policy.writable_roots]
    dirs = [d for d in dirs if os.path.isdir(d) and not os.path.islink(d)]
    dirs += guard.audited if guard is not None else []
    snapshot = gitguard.audit_before(list(dict.fromkeys(dirs)))

    def audit() -> None:
        for line in gitguard.audit_after(snapshot):
            print(f"sandbox: git audit: {line}", file=sys.stderr)

    return audit


def host_sockets_to_mask(policy) -> list[str]:
    """The host's unix sockets to mask when the command may open AF_UNIX sockets of its own
    (network off or proxied, under bubblewrap: seccomp.socket_families); none with the host
    network, which keeps the host's sockets apart from the named control sockets."""
    net = policy.network.mode
    if net == "on":
        return []
    from cordon.sandbox.linux import landlock, sockets

    # The late-socket guard refuses connect() to every host socket: a mask matters only where
    # the command could replace the host's socket with its own (a writable root).
    guarded = sockets.late_socket_guard(net, True, landlock.abi_version()) is not None
    found = sockets.host_sockets(
        share_tmp=bool(policy.share_tmp),
        skip=[os.fspath(p) for p in (*policy.deny_read, *policy.deny_sockets)],
        roots=(
            [os.fspath(r) for r in policy.writable_roots]
            + (list(sockets.SHARED_TMP_DIRS) if policy.share_tmp else [])  # the host's, writable
            if guarded
            else None
        ),
    )
    if not guarded:
        return found
    # A read-only carve-out keeps the command from replacing a socket there too; a mask would
    # only add a mount point that bubblewrap cannot create if the socket goes away meanwhile.
    from cordon.paths import within

    carved = [os.fspath(p) for p in policy.read_only_paths]
    return [p for p in found if not any(within(p, c) for c in carved)]


def state_dirs(environ=None) -> list[str]:
    """Cordon's state that steers later launches: its cache and user-config folders, where
    this environment puts them and at their default places under $HOME too (a launch run
    with another XDG_CACHE_HOME/XDG_CONFIG_HOME must not leave the default ones writable)."""
    from cordon.sandbox.config import user_config_path

    environ = os.environ if environ is None else environ
    home = environ.get("HOME") or os.path.expanduser("~")
    cands = [probe.cache_dir(), os.path.dirname(user_config_path(environ))]
    cands += [os.path.join(home, ".cache", "cordon"), os.path.join(home, ".config", "cordon")]
    # Canonical: a symlinked ~/.cache inside a writable root is followed to what it names now
    # (the trust rules refuse whatever it names later, see sandbox/trust.py).
    return list(dict.fromkeys(os.path.realpath(c) for c in cands))


def launcher_state(cwd, writable_roots=()) -> list[str]:
    """Cordon's own state a sandbox must never write, for ``keep_read_only``: its cache (the
    probe and seccomp caches), the user config (trusted_projects, mode) and the project
    files. Bound read-only with their ancestors pinned (bwrap.immovable_ancestors) when
    inside a writable root. A state folder absent there is made by ``start`` first (mode
    0700, ``own_folders``), or the command could create it and plant a config.toml for the
    next launch."""
    from cordon.sandbox.config import find_project_configs, trusted_project_dirs

    roots = [os.fspath(r) for r in writable_roots]
    out = state_dirs()
    out += find_project_configs(os.fspath(cwd))  # every one counts (config.load_layers)
    # A trusted project's file may widen the sandbox: where absent, it must not be creatable.
    for d in trusted_project_dirs():
        p = os.path.join(d, ".cordon.toml")
        if p not in out and any(within(p, r) for r in roots):
            out.append(p)
    return out


def own_folders(policy) -> tuple[str, ...]:
    """Cordon's own folders a bubblewrap launch needs that are absent, which ``start`` makes
    (mode 0700) before bubblewrap runs: the per-launch state folders (``hidden_state``: a mask
    needs something to cover), the cache, and every state folder inside a writable root
    (``launcher_state``). Each with its absent parents, shallow first, and only where this
    user can make it; the plan treats them as the empty folders they will be."""
    roots = [os.fspath(r) for r in policy.writable_roots]
    state = state_dirs()
    wanted = [*hidden_state(), *(d for i, d in enumerate(state) if i == 0 or within_any(d, roots))]
    out: list[str] = []
    for d in wanted:
        out += _absent_chain(d)
    return tuple(dict.fromkeys(out))


def _absent_chain(d: str) -> list[str]:
    """``d`` and its absent parents, shallow first, when ``d`` is absent and this user may
    make it in its nearest existing parent; else nothing."""
    chain = []
    while not os.path.lexists(d):
        chain.append(d)
        parent = os.path.dirname(d)
        if parent == d:
            return []
        d = parent
    if chain and os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK):
        return chain[::-1]
    return []


def _configured_carve_outs(policy, roots: list[str]):
    """(kind, path) for the --read-only paths and the --deny-read paths beyond the defaults,
    inside a writable root (the defaults are only worked out when some deny path is there)."""

    def inside(p) -> bool:
        return any(within(p, r) for r in roots)

    out = [("--read-only", os.fspath(p)) for p in policy.read_only_paths if inside(os.fspath(p))]
    deny = [os.fspath(p) for p in policy.deny_read if inside(os.fspath(p))]
    if deny:
        from cordon.sandbox.resolve import DEFAULT_DENY_READ, canonical, homes

        defaults = {
            canonical(os.path.join(h, d[2:])) if d.startswith("~/") else d
            for d in DEFAULT_DENY_READ
            for h in homes()
        }
        out += [("--deny-read", p) for p in deny if p not in defaults]
    return out


def check_carve_outs(policy, roots: list[str], deferred=None) -> None:
    """Refuse (125) when a configured --read-only/--deny-read path inside a writable root has
    vanished since a launch saw it: a sandboxed command may have moved it (the content now
    elsewhere, readable or changed) and running again would enforce nothing there.

    A launch that sees such a path records it (an empty marker in cache/state/carve-outs,
    hidden inside every sandbox); a path never seen is not a vanished one.
    """
    from cordon.policy.statetrust import file_problem, state_dir

    todo = _configured_carve_outs(policy, roots)
    if not todo:
        return
    from cordon.sandbox.linux.bpfcache import sha256_of

    folder = os.path.join(state_dir(), "carve-outs")
    for kind, p in todo:
        b = os.fsencode(p)
        marker = os.path.join(folder, sha256_of(b).decode()[:40])
        if os.path.lexists(p):
            if not os.path.exists(marker):
                _later(deferred, _mark_seen, folder, marker, b)
            continue
        if os.path.exists(marker) and file_problem(marker) is None:
            try:
                with open(marker, "rb") as f:
                    seen = f.read() == b
            except OSError:
                seen = False
            if seen:
                root = next(r for r in roots if within(p, r))
                raise SandboxError(
                    f"{kind} {p} no longer exists, and an earlier launch saw it inside the writable root "
                    f"{root}: a sandboxed command may have moved it away, so its content could be readable "
                    f"or changed elsewhere. Refusing to run with the protection silently gone. Restore it, or "
                    f"if you removed it yourself, delete {marker} (or drop it from the configuration)"
                )


def _mark_seen(folder: str, marker: str, path: bytes) -> None:
    """Record that a launch saw the carve-out ``path`` (check_carve_outs)."""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        os.write(fd, path)
        os.close(fd)
    except OSError:
        pass


def hidden_state() -> list[str]:
    """Per-launch state in the cache (the launch journal, carve-out records, placeholder
    journals): other launches' workspaces and deny lists. Hidden inside every sandbox
    (``start`` makes the folders when absent: ``own_folders``)."""
    from cordon.policy.statetrust import state_dir

    return [state_dir(), os.path.join(probe.cache_dir(), "journals")]


def _drop_legacy_entries(cache: str) -> None:
    """Whole-stage entries of earlier versions (``inner-*.bin``) held other launches'
    policies: never read, removed."""
    try:
        for name in os.listdir(cache):
            if name.startswith("inner-") and name.endswith(".bin"):
                os.unlink(os.path.join(cache, name))
    except OSError:
        pass


def own_install(writable_roots, notes: list[str] | None = None) -> list[str]:
    """Cordon's own code (its virtualenv, the folder holding the ``cordon`` package) when
    it lies strictly inside a writable root: bound read-only, or a sandboxed command could
    change what the next launch runs on the host (a ``.pth`` file in site-packages is
    enough). Equal to a writable root means the user made it writable on purpose (or works
    on Cordon itself): left writable, and said in ``notes``."""
    import cordon

    roots = [os.fspath(r) for r in writable_roots]
    # The folder holding the cordon package: site-packages, or a checkout's root.
    cands = [os.path.dirname(os.path.dirname(os.path.realpath(cordon.__file__)))]
    if sys.prefix != sys.base_prefix:
        cands.append(os.path.realpath(sys.prefix))
    out: list[str] = []
    for p in sorted(set(cands)):  # a parent before its children: one bind covers both
        if any(within(p, o) for o in out):
            continue
        if any(p != r and within(p, r) for r in roots):
            out.append(p)
        elif notes is not None and p in roots:
            notes.append(
                f"Cordon's own code ({p}) is a writable root: a command here can change later launches"
            )
    return out


# (name, mode, is a folder). The empty file masks files (bwrap.MASK_FD_BASE): a read-only bind
# of it costs bubblewrap less than ``--ro-bind-data`` (which first writes a file of its own for
# each mask), and a root launch masks a dozen or more files under /etc.
EMPTY_DIRS = (("empty-ro", 0o555, True), ("empty-000", 0o000, True), ("empty-file-000", 0o000, False))


def empty_dirs() -> tuple[str, ...] | None:
    """Two empty directories in Cordon's cache (modes 0555 and 0000) and one empty file (mode
    0000), bound read-only as placeholders, folder masks and file masks; None when this user
    could not make them (tmpfs placeholders and ``--ro-bind-data`` masks instead). ``start``
    checks them and makes them when absent or unsound (``make_empty_dirs``); the file is
    checked again on the descriptor bubblewrap binds (launch.fd_source)."""
    base = probe.cache_dir()
    out = [os.path.join(base, name) for name, _, _ in EMPTY_DIRS]
    for p, (_, mode, folder) in zip(out, EMPTY_DIRS, strict=True):
        if empty_problem(p, mode, folder) is None:
            continue
        parent_ok = os.path.isdir(base) and os.access(base, os.W_OK | os.X_OK)
        if not (parent_ok if os.path.lexists(p) else parent_ok or _absent_chain(base)):
            return None
    return tuple(out)


def make_empty_dirs(paths: tuple[str, ...]) -> None:
    """Check the empty folders and the empty file at every launch and make them where absent;
    one someone filled or swapped for a symlink (it would show through every placeholder or
    mask) is moved aside and made afresh.

    Launches race here (parallel workers sharing one cache): each is made whole under a
    private name and renamed into place, so no launch ever sees one half made (a 0700 folder
    not yet chmodded would look unsound to it), and a launch that loses the race uses the
    winner's once it checks sound."""
    for p, (_, mode, folder) in zip(paths, EMPTY_DIRS, strict=True):
        problem = empty_problem(p, mode, folder)
        if problem is None:
            continue
        what = "folder" if folder else "file"
        try:
            if problem == "unsound":
                try:  # keep it for inspection, use a fresh one
                    os.rename(p, f"{p}.bad.{os.getpid()}.{thread.get_ident()}")
                except FileNotFoundError:
                    pass  # another launch moved it aside first
            os.makedirs(os.path.dirname(p), exist_ok=True)
            _make_empty(p, mode, folder)
        except OSError as e:
            if empty_problem(p, mode, folder) is None:
                continue  # another launch made it meanwhile
            raise SandboxError(f"cannot make Cordon's empty {what} {p}: {e.strerror}") from None
        if empty_problem(p, mode, folder) is not None:
            raise SandboxError(f"cannot make Cordon's empty {what} {p}: it changed as it was made")


def _make_empty(p: str, mode: int, folder: bool) -> None:
    """Make ``p`` (an empty folder or file of ``mode``) whole in one step, never replacing
    what is there (EEXIST: the caller checks what another launch made). Replacing would not
    do: a launch checking the one replaced can read it mid-unlink (link count 0) as unsound.
    The file: O_EXCL with mode 0 (no umask bit can matter). A folder: made under a private
    name, chmodded (the umask may have taken bits), then renamed into place without replacing."""
    if not folder:
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode))
        return
    tmp = f"{os.path.dirname(p)}/.{os.path.basename(p)}.new.{os.getpid()}.{thread.get_ident()}"
    os.mkdir(tmp, 0o700)
    try:
        os.chmod(tmp, mode)
        _rename_noreplace(tmp, p)
    except OSError:
        os.rmdir(tmp)
        raise


def _rename_noreplace(src: str, dst: str) -> None:
    """renameat2(RENAME_NOREPLACE): EEXIST when ``dst`` exists (os.rename would replace an
    empty folder)."""
    import ctypes
    import errno

    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_noreplace = -100, 1
    if libc.renameat2(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), rename_noreplace) == 0:
        return
    err = ctypes.get_errno()
    if err not in (errno.EINVAL, errno.ENOSYS):
        raise OSError(err, os.strerror(err), dst)
    # A filesystem without the flag: the narrower check-then-rename.
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    os.rename(src, dst)


def _build_inner(
    inner_mod,
    policy,
    argv,
    prelude,
    under_bwrap: bool,
    use_cache: bool,
    launches=None,
    limits=None,
    watch=None,
    deferred=None,
):
    """``build_inner`` with its one expensive input, the compiled seccomp program, from the
    on-disk cache when an entry there can be believed (sandbox/linux/bpfcache.py). Everything
    else (the program run inside, its argv, the Landlock plan) is built afresh every time:
    nothing executable or policy-shaping is read back from a file a sandbox could have written.
    ``limits``: the launch's limit plan (sandbox.linux.limits): its rlimits and the /tmp report.
    """
    extra = {}
    if limits is not None:
        extra = {"rlimits": list(limits.rlimits), "report_tmp": bool(limits.report_tmp)}
    mode = policy.mode
    if not use_cache or mode == "danger-full-access":
        return inner_mod.build_inner(
            policy, argv, prelude=prelude, under_bwrap=under_bwrap, watch=watch, **extra
        )
    from cordon.policy.statetrust import recent_launches
    from cordon.sandbox.linux import bpfcache

    launches = recent_launches() if launches is None else launches
    network = policy.network.mode
    # The program differs with the network namespace (seccomp.socket_families): its own entry.
    network += "+ns" if under_bwrap else ""
    from cordon.sandbox.linux import landlock, sockets

    if sockets.late_socket_guard(network.split("+")[0], under_bwrap, landlock.abi_version()) == "supervisor":
        network += "+guard"  # connect() and addressed sends made by the supervisor
    cache, roots = probe.cache_dir(), [os.fspath(r) for r in policy.writable_roots]
    bpf = bpfcache.load(cache, network, launches, roots)
    stage = inner_mod.build_inner(
        policy, argv, prelude=prelude, under_bwrap=under_bwrap, seccomp_bpf=bpf, watch=watch, **extra
    )
    fresh = stage.spec.get("seccomp")
    if bpf is None and fresh:
        _later(deferred, bpfcache.store, cache, network, bytes(fresh), launches, roots)
    return stage


def _which(cmd: str, path: str) -> str:
    if "/" in cmd:
        return cmd
    for d in path.split(os.pathsep):
        cand = os.path.join(d or ".", cmd)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise SandboxError(f"command not found: {cmd}")


def explain(policy, asm: Assembly) -> str:
    """A short human summary: engine, what is writable, hidden and reachable."""
    lines = [
        f"sandbox: engine {asm.mode}"
        + (f" (bwrap {asm.bwrap_info.version} at {asm.launch.path})" if asm.bwrap_info else "")
    ]
    mode = policy.mode
    if asm.mode == "none":
        lines.append("  EVERYTHING is readable, writable and reachable (danger-full-access)")
        return "\n".join(lines)
    plan = asm.bwrap
    writable = plan.writable if plan else [os.fspath(r) for r in policy.writable_roots]
    lines.append(
        f"  mode {mode}; writable: {', '.join(writable) or 'nothing'}"
        + ("" if policy.share_tmp else "; /tmp and /dev/shm private (empty, discarded)")
    )
    if plan and plan.protected:
        lines.append(f"  read-only inside writable roots: {', '.join(plan.protected)}")
    if plan and plan.pinned:
        lines.append(f"  pinned (cannot be renamed or removed): {', '.join(plan.pinned)}")
    if plan:
        lines.append(f"  hidden (unreadable): {', '.join(plan.masked) or 'none present'}")
        if plan.sockets:
            lines.append(f"  host unix sockets masked (unreachable): {', '.join(plan.sockets)}")
    net = policy.network.mode
    reach = {
        "off": "no network: only the sandbox's own loopback (local servers work; the host's is not reachable)",
        "on": "the host's network",
        "proxy": "only domains the proxy allows: " + ", ".join(policy.network.allow_domains or ["none"]),
    }
    lines.append(f"  network: {reach.get(net, net)}")
    guard = getattr(getattr(asm, "plan", None), "unix_guard", None)
    if guard is not None:  # sockets.late_socket_guard
        how = {
            "landlock": "Landlock resolve_unix",
            "supervisor": "the launcher makes each connect() and addressed send (sendto, sendmsg, "
            "sendmmsg) after checking where it goes",
        }[guard]
        lines.append(
            "  unix sockets: the sandbox's own work (stream, seqpacket, datagram); host sockets, "
            f"bound before or after the launch, are unreachable ({how})"
        )
    lp = getattr(asm, "limits", None)
    for e in lp.entries if lp is not None else ():
        state = "" if e.enforced else f"NOT ENFORCED ({e.why}) "
        lines.append(
            f"  limit {e.key} {e.shown}{' (default)' if e.default else ''}: {state}"
            + (f"{e.mechanism}; {e.scope}" if e.enforced else "")
        )
    for n in asm.notes:
        lines.append(f"  note: {n}")
    return "\n".join(lines)
