"""How each resource limit is enforced on this Linux host, and the cgroup of one launch.

Mechanisms, strongest first (``plan`` picks per key; ``sandbox doctor`` and ``--explain``
show the choice):
  * a cgroup made for the launch, under the launcher's own cgroup: v2 where that cgroup
    delegates the controller to its children (root; a delegated subtree), v1 where the
    launcher may create a child in the controller's hierarchy (root; a chowned, i.e.
    delegated, cgroup). memory (memory.max / memory.limit_in_bytes, no swap), pids
    (pids.max), cpu (usage read by the launcher's watcher, which ends the sandbox);
  * without a cgroup (an unprivileged user nobody delegated one to, a container with a
    read-only cgroupfs), under bubblewrap: the launcher's monitor, a thread that samples the
    sandbox's process tree (bwrap, its PID 1 and everything below: the PID namespace is
    closed, orphans go to that PID 1) from /proc, needing no privilege. memory: the sum of
    the tree's resident memory (RSS; when that crosses the limit, PSS, shared pages divided
    among their sharers, decides); cpu: the sum of the tree's CPU time, reaped children
    included; both end the whole sandbox (SIGKILL). pids: the tree's processes and threads;
    RLIMIT_NPROC refuses the fork, the monitor names the limit when it sees the tree at it
    (root is exempt from RLIMIT_NPROC: for root the monitor ends the sandbox above it).
    A polling monitor can overshoot between samples: by what the tree allocates, uses or
    forks in one interval (``SAMPLE_EVERY``, ``SAMPLE_NEAR`` near a limit, stretched to
    ``SAMPLE_COST_FACTOR`` times the cost of one sample for large trees). The per-process
    rlimits stay as the hard backstop: RLIMIT_AS at ``AS_BACKSTOP`` x the memory limit
    (address space is not memory: programs reserve far more than they touch), RLIMIT_CPU
    at the cpu limit;
  * rlimits set by the inner stage right before exec: RLIMIT_AS (memory, per process, the
    fallback without bubblewrap), RLIMIT_NPROC (pids: inside the sandbox's own user
    namespace it counts the sandbox only), RLIMIT_CPU (cpu, per process), RLIMIT_FSIZE
    (file-size);
  * bubblewrap's ``--size`` for the private /tmp and /dev/shm (tmp), with the launcher
    checking at the end whether either was full (an O_PATH descriptor of each, sent by the
    inner stage, keeps the tmpfs readable after the sandbox is gone);
  * the launcher's watcher thread for wall (TERM, grace, KILL of the whole sandbox).

A cgroup is named ``cordon-<launcher pid>-<launcher start time>-<random>``: a later launch
removes those whose launcher is gone (``sweep``), as with the placeholder journals.
Standard library only; nothing here runs unless a limit needs it.
"""

from __future__ import annotations

import os

from cordon.sandbox.errors import SandboxError
from cordon.sandbox.frozen import Record

RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NPROC, RLIMIT_AS = 0, 1, 6, 9
# Processes Cordon itself keeps in the sandbox besides the command's tree: bubblewrap's PID 1
# (inside the user namespace) and, in the cgroup, bwrap's outer process too; the proxy
# forwarder when the network goes through the proxy.
PIDS_OVERHEAD_RLIMIT = 1
PIDS_OVERHEAD_CGROUP = 2
CGROUP_PREFIX = "cordon-"
# v1 hierarchy / v2 controller for each key that a cgroup can enforce.
V1_CONTROLLER = {"memory": "memory", "pids": "pids", "cpu": "cpuacct"}
V2_CONTROLLER = {"memory": "memory", "pids": "pids", "cpu": None}  # cpu.stat is always there
# The monitor (no cgroup): seconds between samples of the tree, and near a limit (at
# NEAR_FRACTION of it); never more often than SAMPLE_COST_FACTOR x the time one sample took.
SAMPLE_EVERY = 0.02
SAMPLE_NEAR = 0.005
NEAR_FRACTION = 0.75
SAMPLE_COST_FACTOR = 4
# Until the command has started (the monitor watches its exit when pids is monitored).
COMMAND_POLL = 0.002
# RLIMIT_AS under the monitor: this many times the memory limit, at least the limit + 1 GiB.
AS_BACKSTOP = 4
# bwrap's outer process and its PID 1, counted in the tree the monitor walks.
PIDS_OVERHEAD_TREE = 2
MONITOR_HOW = (
    f"samples the sandbox's process tree every {int(SAMPLE_EVERY * 1000)} ms, "
    f"{int(SAMPLE_NEAR * 1000)} ms near a limit"
)
MONITOR_BOUND = (
    "may overshoot by what the tree allocates, uses or forks in one sample interval (large trees "
    f"are sampled less often: at most every {SAMPLE_COST_FACTOR}x the time one sample takes)"
)


class Hierarchies(Record):
    """Where the launcher's cgroups are: v2 (dir or None) and v1 {controller: dir}."""


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def hierarchies(proc_self: str = "/proc/self", sysfs: str | None = None) -> Hierarchies:
    """The launcher's own cgroup in each mounted hierarchy (from mountinfo and /proc/self/cgroup).

    ``sysfs`` prefixes every mount point (tests point it at a fake tree)."""
    mounts_v1: dict[str, str] = {}
    mount_v2 = None
    for line in (_read(f"{proc_self}/mountinfo") or "").splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        fstype, point, root = rfields[0], fields[4], fields[3]
        if root != "/":
            continue  # a bind of a sub-cgroup: paths would not line up
        if fstype == "cgroup2" and mount_v2 is None:
            mount_v2 = point
        elif fstype == "cgroup":
            for opt in rfields[2].split(","):
                if opt in ("memory", "pids", "cpuacct") and opt not in mounts_v1:
                    mounts_v1[opt] = point
    own_v1: dict[str, str] = {}
    own_v2 = None
    for line in (_read(f"{proc_self}/cgroup") or "").splitlines():
        num, _, rest = line.partition(":")
        ctrls, _, path = rest.partition(":")
        if num == "0" and ctrls == "":
            own_v2 = path
        for c in ctrls.split(","):
            if c in mounts_v1:
                own_v1[c] = path
    pre = sysfs or ""
    v1 = {c: pre + os.path.join(mounts_v1[c], p.lstrip("/")).rstrip("/") for c, p in own_v1.items()}
    v2 = (
        pre + os.path.join(mount_v2, own_v2.lstrip("/")).rstrip("/")
        if mount_v2 and own_v2 is not None
        else None
    )
    return Hierarchies(v1=v1, v2=v2)


def _v2_delegates(d: str, controller: str | None) -> bool:
    if not os.access(d, os.W_OK | os.X_OK):
        return False
    if controller is None:
        return True
    # Only a controller already enabled for the children: turning one on is the host's
    # business (it changes accounting for every sibling, and fails where processes live).
    return controller in (_read(os.path.join(d, "cgroup.subtree_control")) or "").split()


def cgroup_for(key: str, h: Hierarchies) -> tuple[str, str] | None:
    """(version, parent dir) of the cgroup that would enforce ``key``, or None."""
    if key not in V1_CONTROLLER:
        return None
    # v1 first: on a hybrid host the controllers live there (v2 has only its own accounting).
    d = h.v1.get(V1_CONTROLLER[key])
    if d and os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK):
        return "v1", d
    if h.v2 and os.path.isdir(h.v2) and _v2_delegates(h.v2, V2_CONTROLLER[key]):
        return "v2", h.v2
    return None


# ---- the plan: which mechanism enforces each limit --------------------------------------------
class Enforcement(Record):
    """key, value (number), shown (as written), mechanism (text), scope, enforced, why."""


def plan(
    limits,
    *,
    h: Hierarchies | None = None,
    bwrap_size: bool = True,
    under_bwrap: bool = True,
    private_tmp: bool = True,
    prelude: bool = False,
    is_root: bool | None = None,
) -> Record:
    """Decide, per limit, how it is enforced here. The result carries:
    ``entries`` (list of Enforcement, in key order, including the default tmp size),
    ``cgroup`` ({key: (version, parent dir, setting)}), ``rlimits`` ([(resource, soft, hard)]),
    ``tmp_size`` (bytes or None), ``wall``, ``cpu``, ``unenforced`` (keys), ``shown`` ({key: text}),
    ``monitor`` ({key: (value, "kill" | "name")}: what the launcher's monitor enforces or names).
    ``is_root``: whether the launcher runs as root (default: asked; root is exempt from
    RLIMIT_NPROC)."""
    from cordon.sandbox import limits as L

    entries: list = []
    cg: dict = {}
    rl: list = []
    unenforced: list[str] = []
    monitor: dict = {}
    if is_root is None:
        is_root = os.geteuid() == 0
    values = {key: getattr(limits, attr, None) for key, (attr, _, _) in L.KEYS.items()} if limits else {}
    needs_cgroup = any(values.get(k) for k in V1_CONTROLLER)
    if needs_cgroup and h is None:
        h = hierarchies()
    overhead = 1 if prelude else 0

    def add(key, value, mechanism, scope, enforced=True, why=None, default=False):
        entries.append(
            Enforcement(
                key=key,
                value=value,
                shown=L.show(key, value),
                mechanism=mechanism,
                scope=scope,
                enforced=enforced,
                why=why,
                default=default,
            )
        )
        if not enforced:
            unenforced.append(key)

    for key in L.KEYS:
        v = values.get(key)
        if key == "tmp":
            if not private_tmp:
                if v is not None:
                    add(key, v, "none", "-", False, "there is no private /tmp (--share-tmp or no bubblewrap)")
                continue
            size = v if v is not None else L.default_tmp_size()
            if bwrap_size:
                add(
                    key,
                    size,
                    "tmpfs size (bubblewrap --size)",
                    "each of /tmp and /dev/shm",
                    default=v is None,
                )
                tmp_size = size
            elif v is not None:
                add(key, v, "none", "-", False, "this bubblewrap has no --size option (needs >= 0.5)")
            continue
        if v is None:
            continue
        if key == "wall":
            add(
                key,
                v,
                f"launcher timer (TERM, {L.show('wall', L.WALL_GRACE)} grace, KILL)",
                "the whole sandbox",
            )
            continue
        if key == "file-size":
            rl.append((RLIMIT_FSIZE, v, v))
            add(key, v, "rlimit RLIMIT_FSIZE", "each file written")
            continue
        where = cgroup_for(key, h)
        if where is not None:
            version, parent = where
            if key == "memory":
                cg[key] = (version, parent, v)
                add(key, v, f"cgroup {version} memory controller", "the whole tree (no swap)")
            elif key == "pids":
                cg[key] = (version, parent, v + PIDS_OVERHEAD_CGROUP + overhead)
                add(key, v, f"cgroup {version} pids controller", "the whole tree")
            else:  # cpu: the tree's usage, read by the launcher's watcher; RLIMIT_CPU per process too
                cg[key] = (version, parent, v)
                rl.append((RLIMIT_CPU, _ceil(v), _ceil(v) + 1))
                add(
                    key,
                    v,
                    f"cgroup {version} CPU accounting, checked by the launcher; RLIMIT_CPU per process",
                    "the whole tree",
                )
            continue
        if under_bwrap:
            # No cgroup: the launcher's monitor, with the per-process rlimits as the backstop.
            if key == "memory":
                backstop = max(AS_BACKSTOP * v, v + (1 << 30))
                rl.append((RLIMIT_AS, backstop, backstop))
                monitor[key] = (v, "kill")
                add(
                    key,
                    v,
                    f"launcher monitor ({MONITOR_HOW}; SIGKILL of the sandbox); rlimit RLIMIT_AS per "
                    f"process as the backstop, at {AS_BACKSTOP}x the limit, at least the limit + 1G "
                    f"({L.show('memory', backstop)}) (no cgroup available)",
                    f"the whole tree (RSS, PSS when RSS crosses the limit); {MONITOR_BOUND}",
                )
            elif key == "pids":
                if is_root:
                    monitor[key] = (v, "kill")
                    add(
                        key,
                        v,
                        f"launcher monitor ({MONITOR_HOW}; SIGKILL of the sandbox above the limit; "
                        "root is exempt from RLIMIT_NPROC) (no cgroup available)",
                        f"the processes and threads of the whole tree; {MONITOR_BOUND}",
                    )
                    continue
                n = v + PIDS_OVERHEAD_RLIMIT + overhead
                rl.append((RLIMIT_NPROC, n, n))
                monitor[key] = (v, "name")
                add(
                    key,
                    v,
                    "rlimit RLIMIT_NPROC (refuses the fork); named by the launcher monitor when it "
                    f"sees the tree at the limit ({MONITOR_HOW}, and as the command exits) "
                    "(no cgroup available)",
                    "the sandbox's processes and threads (it has its own user namespace); a tree "
                    "that reaches the limit and shrinks again between two samples goes unnamed",
                )
            else:
                rl.append((RLIMIT_CPU, _ceil(v), _ceil(v) + 1))
                monitor[key] = (v, "kill")
                add(
                    key,
                    v,
                    f"launcher monitor ({MONITOR_HOW}; SIGKILL of the sandbox); rlimit RLIMIT_CPU "
                    "per process as the backstop (no cgroup available)",
                    "the whole tree, reaped children included (not children whose parent never "
                    f"waits for them); {MONITOR_BOUND}",
                )
            continue
        if key == "memory":
            rl.append((RLIMIT_AS, v, v))
            add(
                key,
                v,
                "rlimit RLIMIT_AS (no cgroup available, no bubblewrap)",
                "each process's address space (not the tree; programs that reserve large "
                "virtual ranges, e.g. node, a JVM or Go, may not start)",
            )
        elif key == "pids":
            add(
                key,
                v,
                "none",
                "-",
                False,
                "no cgroup available and no user namespace of its own (--fallback=landlock): "
                "RLIMIT_NPROC would count every process of this user",
            )
        elif key == "cpu":
            rl.append((RLIMIT_CPU, _ceil(v), _ceil(v) + 1))
            add(
                key,
                v,
                "rlimit RLIMIT_CPU (no cgroup available, no bubblewrap)",
                "each process (not the tree)",
            )
    return Record(
        entries=entries,
        cgroup=cg,
        rlimits=rl,
        monitor=monitor,
        tree_overhead=PIDS_OVERHEAD_TREE + overhead,
        tmp_size=locals().get("tmp_size"),
        # Whenever the private /tmp is sized (by tmp= or the default): a full one is named.
        report_tmp=locals().get("tmp_size") is not None,
        wall=values.get("wall"),
        cpu=values.get("cpu"),
        unenforced=unenforced,
        shown={e.key: e.shown for e in entries},
        values={e.key: e.value for e in entries},
    )


def as_data(e: Enforcement) -> dict:
    """One entry of a plan as JSON-ready data (``sandbox plan``, ``sandbox doctor``)."""
    return {
        "key": e.key,
        "value": e.value,
        "shown": e.shown,
        "default": e.default,
        "enforced": e.enforced,
        "mechanism": e.mechanism if e.enforced else None,
        "scope": e.scope if e.enforced else None,
        "why": e.why,
    }


def _ceil(x: float) -> int:
    n = int(x)
    return n if n == x else n + 1


# ---- one launch's cgroup ---------------------------------------------------------------------
def _start_time(pid: int) -> str | None:
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return None
    return stat.rpartition(")")[2].split()[19]  # field 22: starttime


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class LaunchCgroup:
    """The cgroup(s) one sandbox runs in: made before bwrap starts, removed after it ended."""

    def __init__(self, settings: dict):
        # settings: {key: (version, parent, value)}
        self.settings = settings
        self.dirs: dict[str, tuple[str, str]] = {}  # key -> (version, dir)
        self.created: list[str] = []
        me = os.getpid()
        self.name = f"{CGROUP_PREFIX}{me}-{_start_time(me) or 0}-{os.urandom(4).hex()}"

    def create(self) -> None:
        """Sweep what dead launchers left, then make the directories and write the limits."""
        try:
            by_dir: dict[tuple[str, str], str] = {}
            for key, (version, parent, value) in self.settings.items():
                d = os.path.join(parent, self.name)
                if (version, parent) not in by_dir:
                    sweep(parent)
                    os.mkdir(d)
                    self.created.append(d)
                    by_dir[(version, parent)] = d
                self.dirs[key] = (version, d)
                for fname, text in _limit_files(key, version, value):
                    try:
                        _write(os.path.join(d, fname), text)
                    except OSError:
                        if fname.startswith(("memory.memsw", "memory.swap")):
                            continue  # no swap accounting here: nothing to limit
                        raise
        except OSError as e:
            self.remove()
            raise SandboxError(f"could not set up the cgroup for the resource limits: {e}") from None

    def join(self):
        """Move the calling thread (v1) / this process (v2) into the cgroup; returns the undo.

        Done around spawning bwrap, so bwrap and everything it starts is born inside; the
        memory this thread already uses stays charged where it was."""
        from cordon.sandbox.fastpath import thread as _thread

        tid = _thread.get_native_id()
        undo: list[tuple[str, str]] = []
        for version, d in dict.fromkeys(self.dirs.values()):
            parent = os.path.dirname(d)
            if version == "v1":
                _write(os.path.join(d, "tasks"), str(tid))
                undo.append((os.path.join(parent, "tasks"), str(tid)))
            else:
                _write(os.path.join(d, "cgroup.procs"), str(os.getpid()))
                undo.append((os.path.join(parent, "cgroup.procs"), str(os.getpid())))

        def leave() -> None:
            for path, ident in undo:
                try:
                    _write(path, ident)
                except OSError:
                    pass

        return leave

    def cpu_seconds(self) -> float | None:
        entry = self.dirs.get("cpu")
        if entry is None:
            return None
        version, d = entry
        if version == "v1":
            text = _read(os.path.join(d, "cpuacct.usage"))
            return int(text) / 1e9 if text and text.strip().isdigit() else None
        for line in (_read(os.path.join(d, "cpu.stat")) or "").splitlines():
            k, _, v = line.partition(" ")
            if k == "usage_usec":
                return int(v) / 1e6
        return None

    def events(self) -> dict[str, int]:
        """{"oom_kill": n, "pids_max": n}: what the kernel refused or killed in this cgroup."""
        out = {}
        if "memory" in self.dirs:
            version, d = self.dirs["memory"]
            fname = "memory.events" if version == "v2" else "memory.oom_control"
            for line in (_read(os.path.join(d, fname)) or "").splitlines():
                k, _, v = line.partition(" ")
                if k == "oom_kill" and v.strip().isdigit():
                    out["oom_kill"] = int(v)
        if "pids" in self.dirs:
            _, d = self.dirs["pids"]
            for line in (_read(os.path.join(d, "pids.events")) or "").splitlines():
                k, _, v = line.partition(" ")
                if k == "max" and v.strip().isdigit():
                    out["pids_max"] = int(v)
        return out

    def kill(self) -> None:
        """SIGKILL every process still in the cgroup (the sandbox is ending)."""
        for d in self.created:
            if os.path.exists(os.path.join(d, "cgroup.kill")):
                try:
                    _write(os.path.join(d, "cgroup.kill"), "1")
                    continue
                except OSError:
                    pass
            _kill_listed(d)

    def remove(self) -> None:
        """rmdir the cgroups (processes just killed may take a moment to leave)."""
        for d in self.created:
            _remove(d)
        self.created = []


def _remove(d: str) -> None:
    """rmdir a launch's cgroup; whatever still runs in it is killed first (for up to ~0.5 s:
    dying processes leave the cgroup a moment after SIGKILL). Left in place otherwise: a
    later sweep tries again."""
    import time

    for attempt in range(100):
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError:
            if attempt % 20 == 0:
                _kill_listed(d)
            time.sleep(0.005)


def _kill_listed(d: str) -> None:
    for pid in (_read(os.path.join(d, "cgroup.procs")) or "").split():
        try:
            os.kill(int(pid), 9)
        except (OSError, ValueError):
            pass


def _limit_files(key: str, version: str, value) -> list[tuple[str, str]]:
    if key == "memory":
        if version == "v2":
            return [("memory.max", str(value)), ("memory.swap.max", "0")]
        return [("memory.limit_in_bytes", str(value)), ("memory.memsw.limit_in_bytes", str(value))]
    if key == "pids":
        return [("pids.max", str(value))]
    return []  # cpu: only read


def sweep(parent: str) -> None:
    """Remove cgroups under ``parent`` left by launchers that are gone (e.g. SIGKILLed)."""
    try:
        names = [n for n in os.listdir(parent) if n.startswith(CGROUP_PREFIX)]
    except OSError:
        return
    for name in names:
        parts = name[len(CGROUP_PREFIX) :].split("-")
        if len(parts) != 3 or not parts[0].isdigit():
            continue
        if _start_time(int(parts[0])) == parts[1]:
            continue  # its launcher still runs
        _remove(os.path.join(parent, name))  # normally empty: --die-with-parent ended the sandbox


# ---- while the sandbox runs: the watcher (wall, the tree's CPU, the monitor) --------------------
def _tree(root: int) -> list[list[str]]:
    """/proc/<pid>/stat fields (after the command name) of ``root`` and all its descendants,
    found through each thread's ``children`` list. Under bubblewrap the tree from bwrap's pid
    is the whole sandbox: its PID namespace's orphans are reparented to its PID 1."""
    out = []
    todo = [root]
    seen = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stat = _read(f"/proc/{pid}/stat")
        if not stat:
            continue  # gone since its parent listed it
        f = stat.rpartition(")")[2].split()
        f.append(str(pid))
        out.append(f)
        if f[17] == "1":
            tids = [str(pid)]
        else:
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                tids = [str(pid)]
        for tid in tids:
            kids = _read(f"/proc/{pid}/task/{tid}/children")
            if kids:
                todo.extend(int(k) for k in kids.split())
    return out


def _pss(pid: str) -> int | None:
    """A process's proportional set size in bytes (shared pages divided among sharers)."""
    for line in (_read(f"/proc/{pid}/smaps_rollup") or "").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return None


class TreeUsage(Record):
    """One sample: memory (bytes), cpu (seconds), tasks (processes and threads, overhead
    excluded), the tree's ``pids`` (host pids), and the sample's own cost (seconds)."""


def sample_tree(root: int, overhead: int = PIDS_OVERHEAD_TREE, memory_limit: int | None = None) -> TreeUsage:
    """The sandbox's usage now. Memory is the sum of RSS; when that reaches ``memory_limit``,
    the sum of PSS (RSS counts a page shared by N processes N times), RSS where PSS is not
    readable."""
    import time

    t0 = time.perf_counter()
    tree = _tree(root)
    page = os.sysconf("SC_PAGE_SIZE")
    tick = os.sysconf("SC_CLK_TCK")
    memory = sum(int(f[21]) for f in tree) * page
    if memory_limit is not None and memory >= memory_limit:
        memory = sum((_pss(f[-1]) or int(f[21]) * page) if f[0] != "Z" else 0 for f in tree)
    cpu = sum(int(f[11]) + int(f[12]) + int(f[13]) + int(f[14]) for f in tree) / tick
    tasks = sum(max(int(f[17]), 1) for f in tree) - overhead
    return TreeUsage(
        memory=memory, cpu=cpu, tasks=tasks, pids=[int(f[-1]) for f in tree], cost=time.perf_counter() - t0
    )


class Watcher:
    """A thread that ends the sandbox at the wall-clock limit (TERM, grace, KILL), when the
    tree's CPU time in its cgroup passes the cpu limit, or, as the monitor (no cgroup), when
    the sampled tree passes the memory, cpu or (root) pids limit; it also notes a tree held at
    the pids limit (``at_limit``), which RLIMIT_NPROC enforces. Waits on a pidfd of bwrap (and
    of the command, for one last sample as it exits): it wakes only for a deadline or a sample,
    and leaves as soon as bwrap is gone."""

    def __init__(self, proc, lplan, cgroup: LaunchCgroup | None):
        self.proc = proc
        self.wall = lplan.wall
        self.cpu = lplan.cpu if cgroup is not None and "cpu" in cgroup.dirs else None
        self.cgroup = cgroup
        self.monitor = dict(getattr(lplan, "monitor", None) or {})
        self.overhead = getattr(lplan, "tree_overhead", PIDS_OVERHEAD_TREE)
        self.fired: str | None = None
        self.at_limit: set[str] = set()
        self.peak: dict[str, float] = {}  # the largest usage the monitor saw, per key
        self.pidfd = os.pidfd_open(proc.pid)
        self._running = None
        self._parent = None  # the sandbox's PID 1 (host pid), once the command is found

    def start(self) -> None:
        from cordon.sandbox.fastpath import thread as _thread

        self._running = _thread.allocate_lock()
        self._running.acquire()
        _thread.start_new_thread(self._run, ())

    def join(self, timeout: float = 1.0) -> None:
        """Until the thread has left (bwrap is gone, so it leaves at once or after its sample)."""
        if self._running is not None and self._running.acquire(timeout=timeout):
            self._running.release()

    def _check(self, command_exited: bool = False) -> float | None:
        """One sample of the tree: end the sandbox over a "kill" limit, note a "name" one.
        Returns how long to wait for the next sample (None: the sandbox was ended).
        ``command_exited``: the command's first process has just ended; what it left counts
        as it was a moment before, with that process (at least one task) still in it."""
        mon = self.monitor
        mem = mon.get("memory", (None,))[0]
        u = sample_tree(self.proc.pid, self.overhead, mem)
        near = False
        for key, used in (("memory", u.memory), ("cpu", u.cpu), ("pids", u.tasks)):
            if key not in mon:
                continue
            limit, action = mon[key]
            self.peak[key] = max(self.peak.get(key, 0), used)
            over = used > limit if key == "pids" else used >= limit
            if action == "kill" and over:
                self.fired = key
                self.proc.kill()
                return None
            if action == "name" and used + (1 if command_exited else 0) >= limit:
                self.at_limit.add(key)
            near = near or used >= NEAR_FRACTION * limit
        return max(SAMPLE_NEAR if near else SAMPLE_EVERY, SAMPLE_COST_FACTOR * u.cost)

    def _orphans_at_exit(self) -> None:
        """The command's first process has exited: its orphans, reparented to the sandbox's
        PID 1, plus itself, held at least this many tasks a moment ago."""
        if self.monitor.get("pids", (None, None))[1] != "name" or self._parent is None:
            return
        left = len((_read(f"/proc/{self._parent}/task/{self._parent}/children") or "").split())
        left -= self.overhead - PIDS_OVERHEAD_TREE  # the proxy forwarder, when there is one
        if left + 1 >= self.monitor["pids"][0]:
            self.at_limit.add("pids")

    def _command_pidfd(self) -> int | None:
        """A pidfd of the command's first process (bwrap -> its PID 1 -> the command)."""
        pid = self.proc.pid
        for _ in range(2):
            kids = (_read(f"/proc/{pid}/task/{pid}/children") or "").split()
            if not kids:
                return None
            self._parent, pid = pid, int(kids[0])
        try:
            return os.pidfd_open(pid)
        except OSError:
            return None

    def _run(self) -> None:
        import select
        import time

        from cordon.sandbox.limits import WALL_GRACE

        start = time.monotonic()
        ncpu = os.cpu_count() or 1
        command_fd = None  # -1: the command's exit was sampled already
        try:
            while True:
                waits = []
                if self.wall is not None:
                    waits.append(self.wall - (time.monotonic() - start))
                if self.cpu is not None:
                    used = self.cgroup.cpu_seconds() or 0.0
                    if used >= self.cpu:
                        self.fired = "cpu"
                        self.proc.kill()
                        return
                    waits.append(max((self.cpu - used) / ncpu, 0.02))
                if self.monitor:
                    nxt = self._check()
                    if nxt is None:
                        return
                    waits.append(nxt)
                    if command_fd is None and "pids" in self.monitor:
                        command_fd = self._command_pidfd()
                        if command_fd is None:
                            waits.append(COMMAND_POLL)  # bubblewrap is still setting up
                left = max(min(waits), 0) if waits else None
                fds = [self.pidfd] + ([command_fd] if command_fd not in (None, -1) else [])
                ready = select.select(fds, [], [], left)[0]
                if command_fd in ready:
                    # The command ended: what it left (e.g. children at the pids limit) is
                    # still there until its PID 1 goes, which is a moment. First the one read
                    # that counts the orphans (now PID 1's children), then a full look.
                    self._orphans_at_exit()
                    if self._check(command_exited=True) is None:
                        return
                    os.close(command_fd)
                    command_fd = -1
                if self.pidfd in ready:
                    return  # bwrap has exited
                if self.wall is not None and time.monotonic() - start >= self.wall:
                    self.fired = "wall"
                    self.proc.send_signal(15)
                    if not select.select([self.pidfd], [], [], WALL_GRACE)[0]:
                        self.proc.kill()
                    return
        except OSError:
            return
        finally:
            os.close(self.pidfd)
            if command_fd not in (None, -1):
                os.close(command_fd)
            self._running.release()


# ---- afterwards: which limit ended or stopped the command ---------------------------------------
def tmp_report_channel() -> tuple[int, object]:
    """(the fd to hand to the inner stage, the launcher's end) of the /tmp report socket."""
    from cordon.sandbox.fastpath import socket as _socket

    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    return theirs.detach(), ours


def tmp_was_full(sock) -> bool:
    """Whether /tmp or /dev/shm, as the inner stage sent them, is full now (tmpfs --size)."""
    from cordon.sandbox.fastpath import socket as _socket

    fds: list[int] = []
    try:
        sock.setblocking(False)
        # CLOEXEC as they arrive: a launch in another thread must not inherit them.
        _, anc, _, _ = sock.recvmsg(8, _socket.CMSG_LEN(64), _socket.MSG_CMSG_CLOEXEC)
        for level, kind, data in anc:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += [
                    int.from_bytes(data[i : i + 4], "little", signed=True) for i in range(0, len(data) - 3, 4)
                ]
        return any(os.fstatvfs(fd).f_bavail == 0 for fd in fds)
    except OSError:
        return False  # nothing was sent (the inner stage failed first)
    finally:
        for fd in fds:
            os.close(fd)
        sock.close()


SIGXCPU, SIGXFSZ, SIGKILL = 24, 25, 9


def verdict(
    lplan, returncode: int, rusage, events: dict, fired: str | None, tmp_full: bool = False, at_limit=()
):
    """The limit that ended or stopped the command, as a ``LimitHit`` record, or None.

    Only from evidence: the watcher's own action, the cgroup's counters, the signal the
    kernel sends for an rlimit (SIGXCPU, SIGXFSZ), the tree's CPU time, a full /tmp, the
    monitor having seen the tree at the pids limit (``at_limit``; named only when the
    command failed: holding exactly the limit is allowed)."""
    from cordon.sandbox import limits as L

    key = None
    detail = None
    if fired:
        key = fired
    elif events.get("oom_kill"):
        key = "memory"
    elif events.get("pids_max"):
        key = "pids"
        detail = f"{events['pids_max']} process creation(s) were refused"
    elif "pids" in at_limit and returncode != 0:
        key = "pids"
        detail = "the command's processes and threads were at the limit, so it could start no more"
    elif lplan.cpu is not None and (
        returncode == 128 + SIGXCPU
        or (
            returncode == 128 + SIGKILL
            and rusage is not None
            and rusage.ru_utime + rusage.ru_stime >= lplan.cpu
        )
    ):
        key = "cpu"
    elif returncode == 128 + SIGXFSZ and "file-size" in lplan.values:
        key = "file-size"
    elif tmp_full and returncode != 0 and "tmp" in lplan.values:
        key = "tmp"
        detail = "/tmp or /dev/shm was full"
        if next(e for e in lplan.entries if e.key == "tmp").default:
            detail += " (the default size; --limit tmp=SIZE sets another)"
    if key is None:
        return None
    killed = returncode >= 128
    if detail is None:
        if key == "wall":
            detail = "the sandbox was ended"
        elif key == "memory" and not killed:
            detail = "the kernel killed a process of the command"
        else:
            detail = "the command was killed" if killed else "the command was stopped"
    entry = next(e for e in lplan.entries if e.key == key)
    message = L.reached(key, entry.value, detail)
    return Record(key=key, value=entry.value, shown=entry.shown, mechanism=entry.mechanism, message=message)
