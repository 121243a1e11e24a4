"""``LinuxPlan``: one Linux launch as data, the object ``sandbox plan`` prints and ``start`` runs.

``assemble.build_plan(policy, argv, environ)`` makes it (reads the host, runs nothing);
``assemble.start(plan)`` carries it out (Cordon's folders, the locks, the cache and journal
writes, the proxy, the supervisor, the ``Launch``). What only exists once started is a token in the plan: ``{STATUS_FD}`` (the fd
bubblewrap reports on), ``{PROXY_BIND}`` (the bind of the proxy bridge's folder) and the
inner stage's prelude ``{PROXY_FORWARDER}`` (the forwarder, with the per-launch socket and
credential); ``start`` fills them in. Standard library only (the ``sandbox run`` hot path).
"""

from __future__ import annotations

from cordon.sandbox.frozen import Frozen

PROXY_BIND_TOKEN = "{PROXY_BIND}"
PROXY_FORWARDER_TOKEN = "{PROXY_FORWARDER}"


class LinuxPlan(Frozen):
    """How one command runs confined here. ``engine``: bwrap | landlock | none."""

    policy: object  # the ResolvedPolicy it was built from
    engine: str
    command: tuple  # the user's command
    program: str  # what is executed: bubblewrap, the inner stage (landlock) or the command (none)
    argv: tuple  # the full argv (tokens above filled in by start)
    env: dict  # the environment bubblewrap (and so the command) gets; the proxy's added at start
    source_env: dict  # the environment it was made from (denials name what the env policy withheld)
    fds: dict  # fd -> bytes readable on it inside, or ("file", host path) opened read-only
    placeholders: tuple = ()  # host paths bubblewrap creates as mount points (removed after)
    bwrap: object = None  # sandbox.linux.bwrap.BwrapPlan: masks, carve-outs, pins, sockets
    bwrap_info: object = None  # sandbox.linux.probe: the bubblewrap used (version, options)
    inner: object = None  # sandbox.linux.inner.InnerStage: Landlock, seccomp, prelude
    limits: object = None  # sandbox.linux.limits.plan(): how each resource limit is enforced
    watch: str | None = None  # denial observation level the inner stage was built for
    unix_guard: str | None = None  # sockets.late_socket_guard: "landlock", "supervisor" or None
    notes: tuple = ()  # said by --explain
    warnings: tuple = ()  # printed on stderr when the plan is started
    kept: tuple = ()  # Cordon's own state bound read-only (recorded in the launch journal)
    guard: object = None  # sandbox.gitguard: what git state is protected (the audit uses it)
    launches: object = None  # policy.statetrust.recent_launches() the plan was judged against
    deferred: tuple = ()  # (function, args): cache and record writes start performs
    folders: tuple = ()  # Cordon's own folders start makes (absent when planned; assemble.own_folders)
    empty_dirs: tuple | None = None  # the empty folders bound as placeholders (start checks them)
    lock_dir: str | None = None  # where start takes the writable roots' locks
    use_cache: bool = True  # whether it may use Cordon's caches (start plans again with the same)

    @property
    def network(self) -> str:
        return self.policy.network.mode

    def as_data(self) -> dict:
        """The plan as JSON-ready data (``sandbox plan --json``)."""
        import hashlib

        def fd(v) -> str:
            if isinstance(v, tuple):
                return f"{v[1]} (opened read-only on the host)"
            return f"{len(v)} bytes, sha256 {hashlib.sha256(bytes(v)).hexdigest()[:16]}"

        net = self.policy.network
        b = self.bwrap
        return {
            "platform": "linux",
            "engine": self.engine,
            "command": list(self.command),
            "program": self.program,
            "argv": list(self.argv),
            "fds": {str(k): fd(v) for k, v in sorted(self.fds.items())},
            "bwrap": None
            if b is None
            else {
                "version": self.bwrap_info.version if self.bwrap_info is not None else None,
                "placeholders": list(self.placeholders),
                "masked": [*b.masked, *b.sockets],
                "read_only": list(b.protected),
                "pinned": list(b.pinned),
                "writable": list(b.writable),
            },
            "inner": self.inner.describe() if self.inner is not None else None,
            "network": {"mode": "host"}
            if self.engine == "none"
            else {
                "mode": net.mode,
                "allow_domains": list(net.allow_domains),
                "deny_domains": list(net.deny_domains),
            },
            "env": dict(self.env),
            "limits": [_limit(e) for e in self.limits.entries] if self.limits is not None else [],
            "observe": self.watch,
            "late_socket_guard": self.unix_guard,
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }


def _limit(e) -> dict:
    from cordon.sandbox.linux.limits import as_data

    return as_data(e)
